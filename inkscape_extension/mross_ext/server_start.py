"""Reaching the sketch server, starting the locally installed one when nothing answers.

install.py records the command that runs the server in `mross_vendor/mross_install.json`. A server
started from here is detached from Inkscape (its own session, no inherited pipes, so Inkscape never
waits on it) and exits by itself after `IDLE_EXIT_S` without jobs. It logs to `server.log` in the
config directory, which the server rotates itself (`--log-file`), so the log stays bounded however
long it runs; its raw output (only ever a failed start-up) goes to `server-output.log`, replaced
at each start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mross_shared import connection
from mross_shared.client import SketchClient
from mross_shared.errors import JobCancelled, ServerUnreachable
from mross_shared.install_record import InstallRecord, InstallRecordError

from .errors import ExtensionError
from .sketch_job import JobMonitor, ProgressView

IDLE_EXIT_S = 900
LOG_NAME = "server.log"
OUTPUT_NAME = "server-output.log"
START_TIMEOUT_S = 120.0
_RETRY_S = 0.5
# Environment Inkscape sets for its own Python; the server's interpreter must not inherit it.
_INKSCAPE_ONLY_ENV = ("PYTHONPATH", "PYTHONHOME")


@dataclass(frozen=True)
class ServerChoice:
    """Which server the user asked for (None: the default connection file) and whether to start one."""

    target: str | None
    autostart: bool
    record: Path


def connect(choice: ServerChoice, monitor: JobMonitor) -> SketchClient:
    """A client talking to the chosen server, starting the local one first when allowed and needed.

    Auto-start applies only to the default server: a server named explicitly is never started here.
    Raises ServerUnreachable when nothing answers, ExtensionError when auto-start cannot work.
    """
    try:
        return SketchClient(choice.target)
    except ServerUnreachable:
        if not choice.autostart or choice.target:
            raise
    monitor.show(ProgressView("Starting the sketch server (this takes a few seconds)…", 0.0))
    log_dir = connection.config_dir()
    process = start_detached(read_launch(choice.record), log_dir)
    return wait_until_answering(process, log_dir, monitor)


def read_launch(record: Path) -> InstallRecord:
    """The server command install.py recorded; ExtensionError when there is none."""
    try:
        return InstallRecord.read(record)
    except InstallRecordError:
        raise ExtensionError(
            "no sketch server answers and none is installed for auto-start; run install.py, or start `mross-server` yourself"
        ) from None


def start_detached(launch: InstallRecord, log_dir: Path) -> subprocess.Popen:
    """Start the server in the background, logging into `log_dir`, and return its process."""
    env = {name: value for name, value in os.environ.items() if name not in _INKSCAPE_ONLY_ENV}
    env.update(launch.server_env)
    detach: dict = {"start_new_session": True}
    if sys.platform == "win32":
        detach = {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
    try:
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(log_dir / OUTPUT_NAME, "wb") as output:
            return subprocess.Popen(
                [*launch.server_command, "--idle-exit", str(IDLE_EXIT_S), "--log-file", str(log_dir / LOG_NAME)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=Path.home(),
                **detach,
            )
    except OSError as err:
        raise ExtensionError(f"the sketch server could not be started ({err.strerror}); run install.py again") from None


def wait_until_answering(process: subprocess.Popen, log_dir: Path, monitor: JobMonitor) -> SketchClient:
    """Poll until the freshly started server answers; ExtensionError if it dies or times out, JobCancelled
    when the user cancels meanwhile (the server keeps starting, for next time)."""
    logs = f"{log_dir / LOG_NAME} and {log_dir / OUTPUT_NAME}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and not monitor.cancel_requested():
        if process.poll() is not None:
            raise ExtensionError(f"the sketch server stopped right after starting; see {logs}")
        try:
            return SketchClient(None, connect_timeout_s=1.0)
        except ServerUnreachable:
            time.sleep(_RETRY_S)
    if monitor.cancel_requested():
        raise JobCancelled("cancelled while the sketch server was starting")
    raise ExtensionError(f"the sketch server did not answer within {START_TIMEOUT_S:.0f} s of starting; see {logs}")
