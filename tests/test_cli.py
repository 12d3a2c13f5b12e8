"""The `mross` command as a user runs it: local sketches, bad input, and the same job through a server."""

from __future__ import annotations

import subprocess
import sys
import time

from lxml import etree

from mross_server.io.svg import INKSCAPE_NS, read_svg
from tests.server_process import SAMPLE_PHOTO, environment, start_server

LABEL = f"{{{INKSCAPE_NS}}}label"


def mross(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mross_server.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def labels(path) -> list[str]:
    return [g.get(LABEL) for g in etree.parse(str(path)).getroot() if g.get(LABEL)]


def test_local_sketch_writes_layered_svg_and_preview(tmp_path):
    out = tmp_path / "cup.svg"
    args = ("--roi", "185,190,230,145", "--strokes", "12", "--preset", "test", "--layers", "delta")
    run = mross("sketch", str(SAMPLE_PHOTO), "-o", str(out), *args, env=environment(tmp_path))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "cup.preview.png").stat().st_size > 1000
    width, height, layers = read_svg(out)
    assert (width, height) == (600, 400)
    assert sum(len(layer.points) for layer in layers) == 12
    assert labels(out)[0].startswith("MROSS round 1 — ") and labels(out)[1].endswith("(ROI 1)")
    assert "round 2/2 done" in run.stderr


def test_bad_input_is_one_sentence_and_exit_code_2(tmp_path):
    env = environment(tmp_path)
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    cases = [
        (["sketch", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "a.svg")], "cannot read"),
        (["sketch", str(not_image), "-o", str(tmp_path / "a.svg")], "not an image"),
        (["sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "a.svg"), "--roi", "10,10,0,5"], "must be positive"),
        (["sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "a.svg"), "--roi", "900,10,5,5"], "outside"),
        (["sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "a.svg"), "--roi", "1,1,5,5", "--strokes", "1"], "cannot be spread"),
    ]
    for args, message in cases:
        run = mross(*args, env=env)
        assert run.returncode == 2, (args, run.stderr)
        assert message in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


def test_partly_outside_roi_is_clipped_with_a_note(tmp_path):
    args = ("--roi", "500,300,300,300", "--strokes", "6", "--preset", "test", "--quiet")
    run = mross("sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "a.svg"), *args, env=environment(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "clipped to 100×100 px at (500, 300)" in run.stderr


def test_same_job_through_the_server_gives_the_same_layers(tmp_path):
    server = start_server(tmp_path / "config")
    try:
        env = environment(tmp_path / "config")
        args = ["sketch", str(SAMPLE_PHOTO), "--roi", "185,190,230,145", "--strokes", "10", "--preset", "test", "--quiet"]
        local = mross(*args, "-o", str(tmp_path / "local.svg"), env=env)
        remote = mross(*args, "-o", str(tmp_path / "remote.svg"), "--server", str(server.connection_file), env=env)
        assert local.returncode == 0 and remote.returncode == 0, remote.stderr
        assert (tmp_path / "local.svg").read_bytes() == (tmp_path / "remote.svg").read_bytes()
    finally:
        server.stop()


def test_unreachable_server_is_reported_quickly(tmp_path):
    started = time.monotonic()
    run = mross("sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "a.svg"), "--server", "tcp://127.0.0.1:9", env=environment(tmp_path))
    assert run.returncode == 1
    assert "mross-server" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 30  # includes the interpreter's start-up; the client gives up within 5 s


def test_an_internal_error_is_not_blamed_on_the_input(tmp_path, monkeypatch, capsys):
    """A bug inside the engine (here: NaN reaching the renderer) exits 70 with one sentence, not the usage code 2."""
    from mross_server import cli
    from mross_server.engine.pipeline import SketchEngine

    def broken(*args, **kwargs):
        raise ValueError("stroke control points contain NaN or infinite values")

    monkeypatch.setattr(SketchEngine, "sketch", broken)
    status = cli.main(["sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "a.svg"), "--preset", "test", "--device", "cpu", "--quiet"])
    error = capsys.readouterr().err
    assert status == cli.EXIT_INTERNAL != cli.EXIT_USAGE
    assert error.count("\n") == 1 and "internal error (ValueError: stroke control points contain NaN" in error
    assert not (tmp_path / "a.svg").exists()
