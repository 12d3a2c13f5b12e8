#!/usr/bin/env python3
"""Set a fresh Debian machine up for testing, then run the checks CI runs, in order:

    python3 tests/run_suite.py            lint (ruff), types (mypy), then the test suite twice:
                                          in the server environment with inkex 1.4.1 from PyPI, and
                                          the extension tests under Debian's python3 with Inkscape's inkex 1.2

Set-up goes through install.py (the server's virtual environment with the [test] and [cluster] extras, the offline
weights), plus the Debian packages the suite needs. Standard library only, like install.py. Extra
arguments go to both pytest runs (e.g. `-k protocol`). The exit status is 0 only when every step passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import install  # noqa: E402

# Real Inkscape under Xvfb with a window manager (end-to-end and GUI tests), and inkex 1.2's own Python
# with pytest, pyzmq and GTK for the extension tests that run as Inkscape runs them.
APT_PACKAGES = (
    "inkscape", "xvfb", "xauth", "openbox", "xdotool", "x11-utils", "imagemagick",
    "python3-pip", "python3-pytest", "python3-zmq", "python3-gi", "gir1.2-gtk-3.0",
)
# inkex from PyPI pulls PyGObject, which does not build on Debian 12: install it alone, then its light needs.
INKEX = ("inkex==1.4.1",)
INKEX_DEPS = ("cssselect>=1.2,<2", "pyparsing>=3.0.9", "scour>=0.37,<0.38", "pyserial", "tinycss2>=1.0.1,<2", "packaging>=20.3")
# The extension's tests, run again under Debian's python3 with the inkex 1.2 that ships with Inkscape.
INKEX_12_TESTS = (
    "tests/test_extension_bitmap.py", "tests/test_extension_geometry.py", "tests/test_extension_layers.py",
    "tests/test_extension_effect.py", "tests/test_extension_runtime.py", "tests/test_extension_continue.py",
)
DEBIAN_PYTHON = "/usr/bin/python3"
INKSCAPE_EXTENSIONS = "/usr/share/inkscape/extensions"


def main(pytest_args: list[str]) -> int:
    """Set up, then run every step; print a summary line per step and return the combined status."""
    try:
        python, env = set_up()
    except install.InstallError as error:
        print(f"run_suite.py: {error}", file=sys.stderr)
        return 1
    steps = [
        ("ruff", [python, "-m", "ruff", "check", "."], env),
        ("mypy", [python, "-m", "mypy"], env),
        ("pytest (inkex 1.4.1)", [python, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args], env),
    ]
    if Path(DEBIAN_PYTHON).is_file() and Path(INKSCAPE_EXTENSIONS, "inkex").is_dir():
        path = os.pathsep.join([str(REPO), str(REPO / "shared"), str(REPO / "inkscape_extension"), INKSCAPE_EXTENSIONS])
        command = [DEBIAN_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", *INKEX_12_TESTS, *pytest_args]
        steps.append(("pytest (Inkscape's inkex 1.2)", command, {**env, "PYTHONPATH": path}))
    results = [(name, *run(name, command, step_env)) for name, command, step_env in steps]
    print("\nSummary:")
    for name, status, seconds in results:
        print(f"  {'ok  ' if status == 0 else 'FAIL'} {name} ({seconds:.0f} s)")
    return next((status for _, status, _ in results if status != 0), 0)


def set_up() -> tuple[str, dict[str, str]]:
    """Install what the suite needs; return the server environment's Python and the tests' environment."""
    install.ensure_venv_support()
    install.ensure_apt_packages(APT_PACKAGES)
    print("Test environment:")
    options = install.parse_args(["--test-deps"])
    server = install.setup_server(options)
    python = server.server_python[0]
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    install.run_step([*pip, "--no-deps", *INKEX], "installing inkex")
    install.run_step([*pip, *INKEX_DEPS], "installing inkex's dependencies")
    install.fetch_weights(server)
    return python, {**server.server_env, "MROSS_SERVER_PYTHON": python}


def run(name: str, command: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Run one step in the repository with its output streaming through; return its status and duration."""
    print(f"\n=== {name}", flush=True)
    started = time.monotonic()
    status = subprocess.run(command, cwd=REPO, env=install.environment_with(env), check=False).returncode
    return status, time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
