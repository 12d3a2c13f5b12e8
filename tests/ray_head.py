"""A real local Ray cluster for the tests and benchmarks: a head node started with `ray start --head --block`,
and a Ray driver in its own process that kills workers on request.

The head gets its own free ports, temporary directory and process group, so it shares nothing with any
other Ray on the machine, and killing its group takes down every process it started, as if its machine
had died (Ray's graceful stop takes half a minute). Its workers import this checkout (PYTHONPATH), as the
server under test does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.server_process import SERVER_PYTHON, SOURCE_PATH, free_port

START_TIMEOUT_S = 120.0
# Printed by `ray start --block` once the head's processes all run.
_READY_LINE = "will now block forever"
_RAY = [SERVER_PYTHON, "-m", "ray.scripts.scripts"]

# A Ray driver that kills the named worker actors it reads from stdin ("NAME restart" or "NAME final").
_KILLER = """
import sys, ray
ray.init(address=sys.argv[1], namespace=sys.argv[2], logging_level="ERROR", log_to_driver=False)
print("ready", flush=True)
for line in sys.stdin:
    name, mode = line.split()
    ray.kill(ray.get_actor(name), no_restart=(mode == "final"))
    print("killed", flush=True)
"""


@dataclass
class RayHead:
    """A started head node: its `ray start --block` process, address (host:port) and log."""

    process: subprocess.Popen[bytes]
    address: str
    port: int
    cpus: int
    temp_dir: Path
    log_path: Path

    def kill(self) -> None:
        """Kill the head and every process it started at once, and remove its temporary directory."""
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def restart(self) -> RayHead:
        """A new head on this one's port (the address the server knows), once this one is killed."""
        return start_ray_head(self.cpus, self.log_path.parent, self.port)


def start_ray_head(cpus: int, log_dir: Path, port: int | None = None) -> RayHead:
    """Start a head with `cpus` CPUs (no GPU) on 127.0.0.1 and wait until it runs."""
    port = port or free_port()
    # Ray's socket paths must stay short, so the directory is directly under /tmp.
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-mross-", dir="/tmp"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "ray-head.log"
    ports = {
        "--node-manager-port": free_port(), "--object-manager-port": free_port(), "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(), "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port(),
    }
    command = [
        *_RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(cpus),
        "--num-gpus", "0", "--temp-dir", str(temp_dir), "--include-dashboard", "false", "--disable-usage-stats",
        *(str(part) for option in ports.items() for part in option),
    ]
    # No metrics agent without the dashboard: without this, the head logs that it cannot reach one.
    env = {**_environment(), "RAY_enable_metrics_collection": "0"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    head = RayHead(process, f"127.0.0.1:{port}", port, cpus, temp_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while _READY_LINE not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            head.kill()
            raise RuntimeError(f"the Ray head did not start (exit {process.poll()}):\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return head


class ActorKiller:
    """A Ray driver in a process of its own (so the test process never becomes one) that kills actors by name."""

    def __init__(self, head: RayHead, namespace: str) -> None:
        self._process = subprocess.Popen(
            [SERVER_PYTHON, "-c", _KILLER, head.address, namespace],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_environment(),
        )
        assert self._process.stdout is not None and self._process.stdout.readline().strip() == "ready"

    def kill(self, name: str, restart: bool) -> None:
        """Kill actor `name`'s process; Ray restarts it when `restart`."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{name} {'restart' if restart else 'final'}\n")
        self._process.stdin.flush()
        assert self._process.stdout.readline().strip() == "killed"

    def close(self) -> None:
        """End the driver."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SOURCE_PATH, "RAY_USAGE_STATS_ENABLED": "0"}
