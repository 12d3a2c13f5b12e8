"""Running a snippet of extension code under GTK: Debian's python3 (PyGObject from apt) on a virtual X display."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap

import pytest

from tests.extension_dir import EXTENSION_DIR, REPO_ROOT

# What every snippet starts with: the extension's own way to load GTK, as `toolkit`.
_PREAMBLE = """
from mross_ext.gtk_toolkit import load_toolkit
toolkit = load_toolkit()
if toolkit is None:
    print("no-gtk")
    raise SystemExit(0)
"""

needs_xvfb = pytest.mark.skipif(not shutil.which("xvfb-run"), reason="needs xvfb-run (apt)")


def run_with_gtk(snippet: str) -> subprocess.CompletedProcess[str]:
    """Run `snippet` (with `toolkit` defined) in /usr/bin/python3 under xvfb-run; skip the test without GTK."""
    path = os.pathsep.join([str(EXTENSION_DIR), str(REPO_ROOT / "shared")])
    script = _PREAMBLE + textwrap.dedent(snippet)
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(["xvfb-run", "-a", "/usr/bin/python3", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    if done.stdout.strip() == "no-gtk":
        pytest.skip("Debian's python3 has no PyGObject with GTK 3 (apt install python3-gi gir1.2-gtk-3.0)")
    return done
