"""A real `mross-server` on loopback for tests, writing its connection file into a folder of the test's own.

The server needs torch, so it runs under MROSS_SERVER_PYTHON when the tests themselves run under a
Python without it (Inkscape's /usr/bin/python3 for the inkex 1.2 run); by default, under this Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from tests.extension_dir import REPO_ROOT

SERVER_PYTHON = os.environ.get("MROSS_SERVER_PYTHON") or sys.executable
SOURCE_PATH = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "shared")])
START_TIMEOUT_S = 180.0


@contextmanager
def running_server(config_dir: Path, idle_exit_s: float = 600.0) -> Iterator[Path]:
    """Run the server until the block ends; yields its connection file (in `config_dir`)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    connection_file = config_dir / "server.json"
    env = {**os.environ, "PYTHONPATH": SOURCE_PATH, "MROSS_CONFIG_DIR": str(config_dir)}
    command = [SERVER_PYTHON, "-m", "mross_server.server_cli", "--idle-exit", str(idle_exit_s), "--device", "cpu"]
    with open(config_dir / "server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_file(connection_file, process, config_dir / "server.log")
        yield connection_file
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_file(path: Path, process: subprocess.Popen, log: Path, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the server wrote `path`; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"mross-server did not start (exit {process.poll()}):\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
