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
def test_progress_window_previews_and_its_buttons_work_under_a_real_display():
    """The window with a preview, its Stop and keep and Cancel buttons, and the error window, pressed by
    GLib timeouts as a person would; one printed line per scenario."""
    photo = REPO_ROOT / "tests" / "data" / "images" / "coffee.jpg"
    done = run_with_gtk(
        f"""
        import time
        from mross_ext.preview_picture import PreviewFrame
        from mross_ext.progress_window import ERROR_TITLE, WINDOW_TITLE, run_with_window, show_error
        from mross_ext.sketch_job import JobMonitor
        from mross_shared.messages import StrokePath
        seen = {{}}

        def press(label):
            for window in toolkit.gtk.Window.list_toplevels():
                if window.get_title() == WINDOW_TITLE:
                    picture, *_, buttons = window.get_child().get_children()
                    pixels = picture.get_pixbuf().get_pixels()
                    seen["picture"] = (picture.get_pixbuf().get_width(), sum(1 for i in range(0, len(pixels), 3) if pixels[i] < 60))
                    for button in buttons.get_children():
                        if button.get_label() == label:
                            button.clicked()
            return False

        def job(monitor):
            def work():
                monitor.show_preview((StrokePath("M 5 5 C 30 60 60 0 90 60", 3.0),))
                deadline = time.monotonic() + 20
                while not (monitor.cancel_requested() or monitor.finish_requested()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                return "finished" if monitor.finish_requested() else "cancelled" if monitor.cancel_requested() else "timed out"
            return work

        frame = PreviewFrame.for_photo(toolkit, open({str(photo)!r}, "rb").read(), (96, 64), "#000000")
        for label in ("Stop and keep", "Cancel"):
            monitor = JobMonitor()
            toolkit.glib.timeout_add(800, press, label)
            print(run_with_window(toolkit, monitor, job(monitor), frame, "a note"), *seen["picture"])

        def close_error():
            for window in toolkit.gtk.Window.list_toplevels():
                if window.get_title() == ERROR_TITLE and window.get_visible():
                    window.response(toolkit.gtk.ResponseType.OK)
            return False

        toolkit.glib.timeout_add(500, close_error)
        show_error(toolkit, "MROSS: an error sentence.")
        print("error closed")
        """
    )
    lines = done.stdout.split("\n")
    assert [line.split()[0] for line in lines if line] == ["finished", "cancelled", "error"], done.stderr
    width, dark = (int(v) for v in lines[0].split()[1:])
    assert width == 480 and dark > 20, "the preview shows the photo (grown to 480 px wide) with the dark stroke over it"
    assert done.stderr == "", "GTK's diagnostics must not reach stderr (Inkscape shows them in a dialog)"


def test_preview_frames_are_svg_of_the_strokes_over_the_photo():
    from mross_ext.preview_picture import PreviewFrame
    from mross_shared.messages import StrokePath

    frame = PreviewFrame((1200, 800), (480, 320), "data:image/png;base64,AAAA", "#123456")
    svg = frame.svg((StrokePath("M 0 0 C 1 1 2 2 3 3", 0.5), StrokePath("M 5 5 C 6 6 7 7 8 8", 9.0)))
    assert svg.startswith(b"<svg") and b'viewBox="0 0 1200 800"' in svg and b'width="480"' in svg
    assert b'xlink:href="data:image/png;base64,AAAA"' in svg and b'stroke="#123456"' in svg
    # A thin stroke is widened to stay visible at the preview's scale (0.8 screen px = 2 photo px).
    assert b'stroke-width="2"' in svg and b'stroke-width="9"' in svg
    assert b"<image" not in PreviewFrame((10, 10), (10, 10), None, "#000000").svg(())
