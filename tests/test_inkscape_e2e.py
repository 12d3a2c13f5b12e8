"""End to end through real Inkscape 1.2 under Xvfb: install.py into a fresh HOME, then run the effect.

The document holds an embedded photo and two ROI rectangles; the extension runs from Inkscape's menu
action with a short job against a server it starts itself (auto-start). The saved SVG must have three
round layers with the right stroke counts, lying on the photo. A PNG of the result is kept under
$MROSS_TEST_ARTEFACTS (default: the test's temporary folder) for a person to look at.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.extension_dir import REPO_ROOT, TEST_DATA
from tests.server_process import SERVER_PYTHON

pytestmark = pytest.mark.skipif(
    not (shutil.which("inkscape") and shutil.which("xvfb-run")), reason="needs Inkscape and xvfb-run (apt)"
)

INKSCAPE_PYTHON = "/usr/bin/python3"
STROKES = 16
# Written as Inkscape's own preferences, because `.noprefs` actions take their parameters from there.
PARAMETERS = {"strokes": STROKES, "preset": "fast", "iterations": 3, "layer_mode": "snapshot", "autostart": "true"}
SVG_NS = {"svg": "http://www.w3.org/2000/svg", "inkscape": "http://www.inkscape.org/namespaces/inkscape"}
LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
# The photo (240×160 px) is drawn at 120×80 user units from (20, 30).
PHOTO_BOX = (20.0, 30.0, 140.0, 110.0)

DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" width="160mm" height="140mm" viewBox="0 0 160 140">
  <g id="photo_layer" inkscape:groupmode="layer" inkscape:label="Photo">
    <image id="image1" x="20" y="30" width="120" height="80" xlink:href="data:image/jpeg;base64,{photo}"/>
  </g>
  <g id="roi_layer" inkscape:groupmode="layer" inkscape:label="Regions">
    <rect id="roi1" x="45" y="45" width="50" height="40" style="fill:none;stroke:#e00000;stroke-width:0.6"/>
    <rect id="roi2" x="100" y="35" width="35" height="30" style="fill:none;stroke:#0000e0;stroke-width:0.6"/>
  </g>
</svg>
"""


@pytest.fixture
def home(tmp_path):
    """A fresh HOME, with the real weights folder so nothing is downloaded."""
    path = tmp_path / "home"
    path.mkdir()
    yield path
    _stop_autostarted_server(path)


def test_installed_extension_sketches_a_photo_inside_real_inkscape(home, tmp_path):
    env = _environment(home)
    installed = subprocess.run(
        [INKSCAPE_PYTHON, str(REPO_ROOT / "install.py"), "--server-python", SERVER_PYTHON],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    _write_preferences(home / ".config" / "inkscape" / "preferences.xml")

    document = tmp_path / "scene.svg"
    photo = base64.b64encode((TEST_DATA / "images" / "coffee_240.jpg").read_bytes()).decode()
    document.write_text(DOCUMENT.format(photo=photo))
    result = tmp_path / "sketched.svg"
    actions = f"select-by-id:image1,roi1,roi2;org.mross.sketch.noprefs;export-filename:{result};export-do"
    run = subprocess.run(
        ["timeout", "180", "xvfb-run", "-a", "inkscape", "--with-gui", "--batch-process", f"--actions={actions}", str(document)],
        env=env, capture_output=True, text=True, timeout=200,
    )
    assert run.returncode == 0, run.stderr
    assert result.is_file(), run.stderr

    layers = _round_layers(result)
    labels = [layer.get(LABEL) for layer in layers]
    counts = [len(layer.findall(".//svg:path", SVG_NS)) for layer in layers]
    assert len(layers) == 3, labels
    assert labels[0].startswith("MROSS round 1 — ") and labels[0].endswith("(whole image)")
    assert labels[1].endswith("(ROI 1)") and labels[2].endswith("(ROI 2)")
    assert [f"— {n} strokes" in label for n, label in zip(counts, labels)] == [True] * 3
    assert counts[0] < counts[1] < counts[2] == STROKES
    assert [layer.get("style") for layer in layers[:2]] == ["display:none"] * 2
    for layer in layers:
        _assert_strokes_on_photo(layer)

    picture = _artefact_dir(tmp_path) / "inkscape_e2e_sketch.png"
    exported = subprocess.run(
        ["inkscape", str(result), "--export-type=png", f"--export-filename={picture}", "--export-dpi=150"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert exported.returncode == 0 and picture.stat().st_size > 1000, exported.stderr


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MROSS_CONFIG_DIR", "XDG_", "PYTHON"))}
    weights = os.environ.get("MROSS_WEIGHTS_DIR") or str(Path.home() / ".cache" / "mross" / "weights")
    return {**env, "HOME": str(home), "MROSS_WEIGHTS_DIR": weights}


def _write_preferences(path: Path) -> None:
    """Set the extension's parameters in the preferences.xml Inkscape created during install."""
    tree = ET.parse(path)
    root = tree.getroot()
    group = root.find("group[@id='extensions']")
    if group is None:
        group = ET.SubElement(root, "group", id="extensions")
    for name, value in PARAMETERS.items():
        group.set(f"org.mross.sketch.{name}", str(value))
    tree.write(path)


def _round_layers(svg: Path) -> list[ET.Element]:
    root = ET.parse(svg).getroot()
    return [g for g in root.findall("svg:g", SVG_NS) if (g.get(LABEL) or "").startswith("MROSS round")]


def _assert_strokes_on_photo(layer: ET.Element) -> None:
    """Every control point, mapped through the group's translate/scale, lies on the photo (1 unit slack)."""
    group = layer.find("svg:g", SVG_NS)
    scale_x, _, _, scale_y, shift_x, shift_y = _matrix(group.get("transform"))
    left, top, right, bottom = PHOTO_BOX
    for path in group.findall("svg:path", SVG_NS):
        numbers = [float(token) for token in path.get("d").replace(",", " ").split() if token not in ("M", "C")]
        for x, y in zip(numbers[0::2], numbers[1::2]):
            doc_x, doc_y = shift_x + scale_x * x, shift_y + scale_y * y
            assert left - 1 <= doc_x <= right + 1 and top - 1 <= doc_y <= bottom + 1, (doc_x, doc_y)


def _matrix(transform: str) -> tuple[float, ...]:
    """Inkscape writes a group transform as scale(...), translate(...) or matrix(...)."""
    name, _, args = transform.partition("(")
    values = [float(v) for v in args.rstrip(")").replace(",", " ").split()]
    if name == "matrix":
        return tuple(values)
    if name == "scale":
        return (values[0], 0, 0, values[-1], 0, 0)
    if name == "translate":
        return (1, 0, 0, 1, values[0], values[1] if len(values) > 1 else 0)
    raise AssertionError(f"unexpected group transform {transform}")


def _artefact_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MROSS_TEST_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stop_autostarted_server(home: Path) -> None:
    connection_file = home / ".config" / "mross" / "server.json"
    if connection_file.is_file():
        pid = json.loads(connection_file.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
