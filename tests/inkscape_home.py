"""A fresh HOME for real Inkscape: the extension installed by install.py, its settings, a scene to sketch.

Shared by the end-to-end test (batch actions) and the GUI test (menu clicks). The installed extension
starts the sketch server itself (auto-start) from this source tree; `stop_autostarted_server` ends it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.extension_dir import REPO_ROOT, TEST_DATA
from tests.server_process import SERVER_PYTHON

INKSCAPE_PYTHON = "/usr/bin/python3"
# The photo (240×160 px) is drawn at 120×80 user units from (20, 30); roi3 is left for a continued sketch.
PHOTO_BOX = (20.0, 30.0, 140.0, 110.0)
SCENE = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" width="160mm" height="140mm" viewBox="0 0 160 140">
  <g id="photo_layer" inkscape:groupmode="layer" inkscape:label="Photo">
    <image id="image1" x="20" y="30" width="120" height="80" xlink:href="data:image/jpeg;base64,{photo}"/>
  </g>
  <g id="roi_layer" inkscape:groupmode="layer" inkscape:label="Regions">
    <rect id="roi1" x="45" y="45" width="50" height="40" style="fill:none;stroke:#e00000;stroke-width:0.6"/>
    <rect id="roi2" x="100" y="35" width="35" height="30" style="fill:none;stroke:#0000e0;stroke-width:0.6"/>
    <rect id="roi3" x="30" y="80" width="30" height="25" style="fill:none;stroke:#00a000;stroke-width:0.6"/>
  </g>
</svg>
"""


def environment(home: Path) -> dict[str, str]:
    """This process's environment with `home` as HOME, the real weights folder, and no MROSS/XDG/Python overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MROSS_CONFIG_DIR", "XDG_", "PYTHON", "DISPLAY"))}
    weights = os.environ.get("MROSS_WEIGHTS_DIR") or str(Path.home() / ".cache" / "mross" / "weights")
    return {**env, "HOME": str(home), "MROSS_WEIGHTS_DIR": weights, "LANG": "C.UTF-8"}


def install_extension(env: dict[str, str]) -> None:
    """Run install.py as a user would, with the server taken from this source tree (no download)."""
    installed = subprocess.run(
        [INKSCAPE_PYTHON, str(REPO_ROOT / "install.py"), "--server-python", SERVER_PYTHON],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert installed.returncode == 0, installed.stderr


def set_up(home: Path, folder: Path, parameters: dict[str, object]) -> tuple[dict[str, str], Path]:
    """Install the extension under `home`, store its `parameters`, write the scene into `folder`;
    returns the environment to run Inkscape in and the scene's path."""
    env = environment(home)
    install_extension(env)
    write_preferences(home, parameters)
    return env, write_scene(folder / "scene.svg")


def write_preferences(home: Path, parameters: dict[str, object]) -> None:
    """Set the extension's parameters in the preferences.xml Inkscape created during install."""
    path = home / ".config" / "inkscape" / "preferences.xml"
    tree = ET.parse(path)
    root = tree.getroot()
    group = root.find("group[@id='extensions']")
    if group is None:
        group = ET.SubElement(root, "group", id="extensions")
    for name, value in parameters.items():
        group.set(f"org.mross.sketch.{name}", str(value))
    tree.write(path)


def write_scene(path: Path) -> Path:
    """The scene document with the 240×160 coffee photo embedded."""
    photo = base64.b64encode((TEST_DATA / "images" / "coffee_240.jpg").read_bytes()).decode()
    path.write_text(SCENE.format(photo=photo))
    return path


def artefact_dir(tmp_path: Path) -> Path:
    """Where pictures for a person go: $MROSS_TEST_ARTEFACTS, else the test's temporary folder."""
    folder = Path(os.environ.get("MROSS_TEST_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stop_autostarted_server(home: Path) -> None:
    """Stop the server the extension started under `home`, by the pid in its connection file."""
    connection_file = home / ".config" / "mross" / "server.json"
    if connection_file.is_file():
        pid = json.loads(connection_file.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
