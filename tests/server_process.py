"""A real `mross-server` process on loopback under a test's control: arguments, signals, restart, its log.

The server needs torch, so it runs under MROSS_SERVER_PYTHON when the tests themselves run under a
Python without it (Inkscape's /usr/bin/python3 for the inkex 1.2 run); by default, under this Python.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mross_shared import connection
from tests.extension_dir import REPO_ROOT

SERVER_PYTHON = os.environ.get("MROSS_SERVER_PYTHON") or sys.executable
SOURCE_PATH = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "shared")])
START_TIMEOUT_S = 180.0

#: The photo the transport tests sketch (600×400).
SAMPLE_PHOTO = REPO_ROOT / "examples" / "coffee.jpg"


@dataclass
class ServerProcess:
    """A started server: its process, config folder (connection file, log) and connection details."""

    process: subprocess.Popen[bytes]
    config_dir: Path

    @property
    def connection_file(self) -> Path:
        """Where this server wrote its connection file."""
        return self.config_dir / connection.FILE_NAME

    @property
    def log_path(self) -> Path:
        """The server's combined stdout and stderr."""
        return self.config_dir / "server.log"

    def log(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send `signum` and wait for the exit status (killing it if it does not exit in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(config_dir: Path) -> dict[str, str]:
    """Environment for a server or client subprocess that uses `config_dir` as its MROSS config folder."""
    return {**os.environ, "PYTHONPATH": SOURCE_PATH, "MROSS_CONFIG_DIR": str(config_dir)}


def start_server(config_dir: Path, *args: str) -> ServerProcess:
    """Start `python -m mross_server.serve.cli --device cpu ARGS` and wait until it wrote its connection file."""
    config_dir.mkdir(parents=True, exist_ok=True)
    command = [SERVER_PYTHON, "-m", "mross_server.serve.cli", "--device", "cpu", *args]
    with open(config_dir / "server.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment(config_dir))
    server = ServerProcess(process, config_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    # A file left by a killed server may still be there, so wait for one naming this process.
    while not _written_by(server.connection_file, process.pid):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise RuntimeError(f"mross-server did not start (exit {process.poll()}):\n{server.log()}")
        time.sleep(0.1)
    return server


@contextmanager
def running_server(config_dir: Path, idle_exit_s: float = 600.0) -> Iterator[Path]:
    """Run a server until the block ends; yields its connection file (in `config_dir`)."""
    server = start_server(config_dir, "--idle-exit", str(idle_exit_s))
    try:
        yield server.connection_file
    finally:
        server.stop(timeout_s=15)


def _written_by(path: Path, pid: int) -> bool:
    try:
        return connection.read(path).pid == pid
    except connection.ConnectionFileError:
        return False
