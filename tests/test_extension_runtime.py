"""The extension's run-time helpers: noticing Inkscape left, auto-starting the server, progress display."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mross_ext.errors import ExtensionError
from mross_ext.server_start import IDLE_EXIT_S, ServerChoice, connect, read_launch
from mross_ext.sketch_job import JobMonitor, ProgressView, describe_progress, format_duration
from mross_shared.errors import ServerUnreachable
from mross_shared.messages import JobState, ProgressUpdate
from tests.extension_dir import EXTENSION_DIR, REPO_ROOT
from tests.gtk_script import needs_xvfb, run_with_gtk
from tests.server_process import SERVER_PYTHON, SOURCE_PATH

CHILD_PATH = os.pathsep.join([str(EXTENSION_DIR), str(REPO_ROOT / "shared")])


def test_closing_the_result_pipe_is_noticed():
    child = textwrap.dedent(
        """
        import sys, time
        from mross_ext.inkscape_watch import InkscapeWatch
        watch = InkscapeWatch()
        print(watch.inkscape_gone(), file=sys.stderr, flush=True)
        deadline = time.monotonic() + 10
        while not watch.inkscape_gone() and time.monotonic() < deadline:
            time.sleep(0.05)
        print("gone" if watch.inkscape_gone() else "still there", file=sys.stderr, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": CHILD_PATH}
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    assert process.stderr.readline().strip() == "False"
    closed_at = time.monotonic()
    process.stdout.close()
    assert process.stderr.readline().strip() == "gone"
    assert time.monotonic() - closed_at < 2
    process.wait(timeout=5)
    process.stderr.close()


def test_progress_is_described_for_a_person():
    def update(**fields):
        base = {"job_id": "j", "state": JobState.RUNNING, "queue_position": 0, "round": 0, "rounds": 3, "iteration": 0,
                "iterations": 150, "loss": None, "best_loss": None, "eta_s": None, "elapsed_s": 1.0}
        return ProgressUpdate(**{**base, **fields})

    assert describe_progress(update(state=JobState.QUEUED, queue_position=2)).text.startswith("Waiting for the server (place 2")
    assert describe_progress(update()) == ProgressView("Preparing the photo…", 0.0)
    view = describe_progress(update(round=2, iteration=75, eta_s=125))
    assert view.text == "Round 2 of 3 · iteration 75 of 150 · about 2 min 5 s left"
    assert view.fraction == pytest.approx(0.5)
    offline = describe_progress(update(round=1, iteration=3, method="offline objective (no CLIP weights)"))
    assert offline.text == "Round 1 of 3 · iteration 3 of 150 · offline objective (no CLIP weights)"
    assert [format_duration(s) for s in (4.4, 59.6, 3725)] == ["4 s", "1 min 0 s", "1 h 2 min"]


def test_monitor_carries_cancel_and_progress_between_threads():
    monitor = JobMonitor()
    assert not monitor.cancel_requested() and monitor.view().fraction == 0.0
    monitor.show(ProgressView("Round 1 of 1", 0.5))
    monitor.request_cancel()
    assert monitor.cancel_requested() and monitor.view() == ProgressView("Round 1 of 1", 0.5)


def test_missing_or_broken_install_record_explains_itself(tmp_path):
    with pytest.raises(ExtensionError, match=r"none is installed for auto-start; run install\.py"):
        read_launch(tmp_path / "mross_install.json")
    (tmp_path / "mross_install.json").write_text('{"server_env": {}}')
    with pytest.raises(ExtensionError, match=r"run install\.py"):
        read_launch(tmp_path / "mross_install.json")


def test_without_auto_start_an_absent_server_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("MROSS_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ServerUnreachable, match="start the server with `mross-server`"):
        connect(ServerChoice(None, autostart=False, record=tmp_path / "none.json"), JobMonitor())


# An install record written before the engine/serve/io layout names the old module; it must still start.
@pytest.mark.parametrize("module", ["mross_server.serve.cli", "mross_server.server_cli"])
def test_auto_start_runs_the_recorded_server_detached_and_connects(tmp_path, monkeypatch, module):
    config_dir = tmp_path / "config"
    monkeypatch.setenv("MROSS_CONFIG_DIR", str(config_dir))
    # Inkscape's own PYTHONPATH must not leak into the server; the record says what the server needs.
    monkeypatch.setenv("PYTHONPATH", "/usr/share/inkscape/extensions")
    record = tmp_path / "mross_install.json"
    launch = {"server_command": [SERVER_PYTHON, "-m", module], "server_env": {"PYTHONPATH": SOURCE_PATH}}
    record.write_text(json.dumps(launch))
    monitor = JobMonitor()
    client = connect(ServerChoice(None, autostart=True, record=record), monitor)
    try:
        assert client.server.backbones, "the started server answered its hello"
        assert monitor.view().text.startswith("Starting the sketch server")
        pid = json.loads((config_dir / "server.json").read_text())["pid"]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert command[-5:-1] == [b"--idle-exit", str(IDLE_EXIT_S).encode(), b"--log-file", str(config_dir / "server.log").encode()]
        assert os.getsid(pid) == pid, "the server leads its own session, detached from the extension"
        assert "listening on" in (config_dir / "server.log").read_text(), "the server logs into its own rotated file"
        assert (config_dir / "server-output.log").read_bytes() == b"", "nothing else on its stdout or stderr"
    finally:
        client.close()
        os.kill(json.loads((config_dir / "server.json").read_text())["pid"], 15)


@needs_xvfb
def test_progress_window_cancels_and_closes_under_a_real_display():
    """GTK runs in Debian's python3 (PyGObject from apt) on a virtual X display; Cancel is clicked."""
    done = run_with_gtk(
        """
        import time
        from mross_ext.progress_window import run_with_window
        from mross_ext.sketch_job import JobMonitor, ProgressView
        monitor = JobMonitor()

        def click_cancel():
            for window in toolkit.gtk.Window.list_toplevels():
                if window.get_title() == "MROSS test":
                    window.get_child().get_children()[-1].clicked()
            return False

        def work():
            monitor.show(ProgressView("Round 1 of 2", 0.25))
            deadline = time.monotonic() + 20
            while not monitor.cancel_requested() and time.monotonic() < deadline:
                time.sleep(0.05)
            return "cancelled" if monitor.cancel_requested() else "timed out"

        toolkit.glib.timeout_add(500, click_cancel)
        print(run_with_window(toolkit, "MROSS test", monitor, work))
        """
    )
    assert done.stdout.strip() == "cancelled", done.stderr
    assert done.stderr == "", "GTK's diagnostics must not reach stderr (Inkscape shows them in a dialog)"
