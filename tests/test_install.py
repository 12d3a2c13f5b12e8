"""install.py, run as a user would (a stdlib-only script under Debian's python3) into a fresh HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.extension_dir import REPO_ROOT
from tests.server_process import SERVER_PYTHON

INSTALLER = REPO_ROOT / "install.py"
# Any python3 >= 3.9 must do; Debian's is also the one Inkscape runs extensions with.
USER_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
needs_inkscape = pytest.mark.skipif(not shutil.which("inkscape"), reason="needs Inkscape (apt)")


def _install(home: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_", "MROSS_CONFIG_DIR"))}
    env.update(HOME=str(home), MROSS_HOME=str(home / "mross"))
    env["MROSS_WEIGHTS_DIR"] = os.environ.get("MROSS_WEIGHTS_DIR") or str(Path.home() / ".cache" / "mross" / "weights")
    if path is not None:
        env["PATH"] = path
    return subprocess.run([USER_PYTHON, str(INSTALLER), *args], env=env, capture_output=True, text=True, timeout=600)


@needs_inkscape
def test_install_check_reinstall_and_uninstall(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    first = _install(home, "--server-python", SERVER_PYTHON)
    assert first.returncode == 0, first.stderr
    target = home / ".config" / "inkscape" / "extensions" / "mross_sketch"
    vendor = target / "mross_vendor"
    assert {p.name for p in target.iterdir()} >= {"mross_sketch.inx", "mross_sketch.py", "mross_ext", "mross_vendor"}
    assert (vendor / "mross_shared" / "client.py").is_file()
    assert not list((target / "mross_ext").rglob("__pycache__")) and not list((vendor / "mross_shared").rglob("__pycache__"))

    record = json.loads((vendor / "mross_install.json").read_text())
    assert record["server_command"] == [SERVER_PYTHON, "-m", "mross_server.serve.cli"]
    assert record["server_env"]["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT), str(REPO_ROOT / "shared")]
    assert "MROSS_WEIGHTS_DIR" in record["server_env"]

    probe = "import sys; sys.path.insert(0, sys.argv[1]); import zmq; print(zmq.__file__)"
    where = subprocess.run(["/usr/bin/python3", "-c", probe, str(vendor)], capture_output=True, text=True)
    assert where.stdout.startswith(str(vendor)), "Inkscape's Python must import the vendored pyzmq"

    check = _install(home, "--check")
    assert check.returncode == 0, check.stdout
    assert "[FAIL]" not in check.stdout and "[ok] client under Inkscape's Python: Python 3." in check.stdout

    again = _install(home, "--server-python", SERVER_PYTHON)
    assert again.returncode == 0 and "pyzmq already importable" in again.stdout

    (target / "mross_sketch.py").write_text("# edited by hand\n")
    stale = _install(home, "--check")
    assert stale.returncode == 1 and "[FAIL] extension up to date: differs: mross_sketch.py" in stale.stdout

    removed = _install(home, "--uninstall")
    assert removed.returncode == 0 and not target.exists()
    after = _install(home, "--check")
    assert after.returncode == 1 and "[FAIL] extension files: missing" in after.stdout


def test_without_inkscape_the_extension_part_is_skipped_with_a_note(tmp_path):
    result = _install(tmp_path, "--no-server", path=str(tmp_path / "empty-bin"))
    assert result.returncode == 0, result.stderr
    assert "Inkscape was not found, so the extension was not installed" in result.stdout


def test_a_missing_inkscape_path_is_one_sentence(tmp_path):
    result = _install(tmp_path, "--no-server", "--inkscape", str(tmp_path / "no-inkscape"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"install.py: --inkscape {tmp_path / 'no-inkscape'} is not a file"


def test_an_inkscape_python_without_pip_gets_a_hint(tmp_path):
    """A bundled python3 beside the inkscape binary is the one used; here it is a venv without pip."""
    bundle = tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bundle)], check=True)
    profile = tmp_path / "profile"
    launcher = bundle / "bin" / "inkscape"
    launcher.write_text(f"#!/bin/sh\necho {profile}\n")
    launcher.chmod(0o755)
    result = _install(tmp_path, "--no-server", "--inkscape", str(launcher))
    assert result.returncode == 1
    assert f"install.py: Inkscape's Python ({bundle / 'bin' / 'python3'}) has no pip" in result.stderr
    assert (profile / "extensions" / "mross_sketch" / "mross_sketch.inx").is_file()
