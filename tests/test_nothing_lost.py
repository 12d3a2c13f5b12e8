"""Issue 15, one test per item: the user's files are never overwritten, finished rounds are kept, odd photos
come out right, extreme values get a sentence, and a flood of junk or a giant job cannot exhaust the server.

Real files in a temporary directory (checksummed before and after), real servers on loopback, the `mross`
command in-process where it refuses before any work and in a subprocess where a server must die mid-job.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import signal
import struct
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
import zmq
from PIL import Image

from mross_server import cli
from mross_server.io.photo import load_photo, open_photo, photo_size
from mross_server.io.svg import read_svg
from mross_server.serve import cli as server_cli
from mross_shared import connection
from mross_shared.client import SketchClient
from mross_shared.errors import ErrorCode, JobFailed
from mross_shared.messages import PROTOCOL_VERSION, SERVER_MESSAGES, Error, JobParams, Limits, RoiBox, Status, StatusRequest
from mross_shared.protocol import DELIMITER, Codec
from mross_shared.signing import Signer
from tests.server_process import SAMPLE_PHOTO, ServerProcess, environment, free_port, start_server

QUICK = ("--preset", "test", "--strokes", "6", "--device", "cpu", "--quiet")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_mross(capsys, *args: str) -> tuple[int, str]:
    """`mross ARGS` in this process: (exit status, stderr)."""
    status = cli.main(list(args))
    return status, capsys.readouterr().err


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width × height pixels, with one tiny (wrong-sized) IDAT: a decompression bomb's header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def exif_rotated_coffee(path: Path) -> Path:
    """The sample photo as a phone stores it: pixels turned a quarter left, EXIF orientation 6 to show it upright (600×400)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(SAMPLE_PHOTO).transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    process = start_server(tmp_path_factory.mktemp("server"))
    yield process
    process.stop()
    assert "Traceback" not in process.log()


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "p.png"
    Image.open(SAMPLE_PHOTO).save(path)
    return path


# ---- 1, 2, 3, 5: outputs checked before the job, preview beside the SVG ---------------------------------


def test_1_preview_goes_beside_the_svg_never_onto_the_photo(tmp_path, photo, capsys):
    before = sha256(photo)
    status, error = run_mross(capsys, "sketch", str(photo), "-o", str(tmp_path / "p.svg"), *QUICK)
    assert status == 0, error
    assert sha256(photo) == before
    assert (tmp_path / "p.svg").read_bytes().startswith(b"<?xml")
    assert Image.open(tmp_path / "p.preview.png").format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "p.preview.png", "p.svg"], "no other file, no staging file left"
    status, error = run_mross(capsys, "sketch", str(photo), "-o", str(tmp_path / "q.svg"), "--preview", str(photo), *QUICK)
    assert status == 2 and "the preview (--preview)" in error and "is the input" in error
    assert sha256(photo) == before and not (tmp_path / "q.svg").exists()


def test_2_3_5_outputs_that_cannot_be_written_are_refused_before_the_job(tmp_path, photo, capsys):
    renamed = tmp_path / "photo.svg"  # a JPEG that happens to be named .svg
    renamed.write_bytes(SAMPLE_PHOTO.read_bytes())
    (tmp_path / "link.svg").symlink_to(photo)
    (tmp_path / "sub").mkdir()
    (tmp_path / "old.svg").write_text("an earlier sketch")
    (tmp_path / "preview.png").symlink_to(tmp_path / "old.svg")
    sums = {path: sha256(path) for path in (photo, renamed, tmp_path / "old.svg")}
    cases = [
        ([str(renamed), "-o", str(renamed)], "is the input"),  # 2: -o is the photo itself
        ([str(photo), "-o", str(tmp_path / "link.svg")], "is the input"),  # 2: through a symlink
        ([str(photo), "-o", str(tmp_path / "sub" / ".." / "p.png")], "must be a .svg file name"),  # 2 and 3
        ([str(photo), "-o", str(tmp_path / "result.png")], "must be a .svg file name (it holds SVG data)"),  # 3
        ([str(photo), "-o", str(tmp_path / "missing_dir" / "x.svg")], "the directory"),  # 5
        ([str(photo), "-o", str(tmp_path / "sub")], "must be a .svg file name"),
        ([str(photo), "-o", str(tmp_path / "old.svg"), "--preview", str(tmp_path / "preview.png")], "would both be"),
        ([str(photo), "-o", str(tmp_path / "a.svg"), "--preview", str(tmp_path / "a.svg")], "must be a .png file name"),
    ]
    for args, fragment in cases:
        started = time.monotonic()
        status, error = run_mross(capsys, "sketch", *args, *QUICK)
        assert status == 2 and fragment in error, (args, error)
        assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
        assert time.monotonic() - started < 2.0, "refused before any work"
    assert {path: sha256(path) for path in sums} == sums
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.svg", "old.svg", "p.png", "photo.svg", "preview.png", "sub"]


def test_9_render_refuses_bad_input_and_never_overwrites_it(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an SVG")
    status, error = run_mross(capsys, "render", str(notes), "-o", str(tmp_path / "n.png"))
    assert status == 2 and "is not a stroke SVG" in error and len(error.splitlines()) == 1
    stroke_svg = tmp_path / "s.svg"
    stroke_svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M 1 1 C 2 2 3 3 4 4"/></svg>')
    before = sha256(stroke_svg)
    for output, fragment in ((stroke_svg, "must be a .png file name"), (tmp_path / "nowhere" / "s.png", "does not exist")):
        status, error = run_mross(capsys, "render", str(stroke_svg), "-o", str(output))
        assert status == 2 and fragment in error
    assert sha256(stroke_svg) == before


# ---- 4: finished rounds are kept -------------------------------------------------------------------------


def _sketch_until_round_1(tmp_path: Path, photo: Path, server: ServerProcess, after_round_1) -> subprocess.CompletedProcess:
    """Run `mross sketch --server` in a subprocess; call `after_round_1()` once it reports round 1 done."""
    command = [
        sys.executable, "-m", "mross_server.cli", "sketch", str(photo), "-o", str(tmp_path / "p.svg"),
        "--roi", "185,190,230,145", "--preset", "test", "--strokes", "8", "--iterations", "40", "--server", str(server.connection_file),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment(server.config_dir))
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("round 1/2 done"):
            after_round_1()
            break
    out, rest = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, out, "".join(lines) + rest)


def _assert_round_1_kept(tmp_path: Path, photo: Path, before: str, run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 1, run.stderr
    assert f"kept its 1 finished round(s) of 2 in {tmp_path / 'p.partial.svg'}" in run.stderr
    width, height, layers = read_svg(tmp_path / "p.partial.svg")
    assert (width, height) == (600, 400) and len(layers) == 1 and len(layers[0].points) > 0
    assert not (tmp_path / "p.svg").exists() and sha256(photo) == before


def test_4_server_killed_after_round_1_leaves_a_partial_svg(tmp_path, photo):
    before = sha256(photo)
    doomed = start_server(tmp_path / "config")
    run = _sketch_until_round_1(tmp_path, photo, doomed, lambda: doomed.stop(signal.SIGKILL))
    _assert_round_1_kept(tmp_path, photo, before, run)
    assert "stopped answering" in run.stderr


def test_4_server_restarted_after_round_1_leaves_a_partial_svg(tmp_path, photo):
    before = sha256(photo)
    port = str(free_port())
    first = start_server(tmp_path / "config", "--port", port)
    restarted = []

    def crash_and_restart() -> None:
        first.stop(signal.SIGKILL)
        restarted.append(start_server(tmp_path / "config", "--port", port))

    try:
        run = _sketch_until_round_1(tmp_path, photo, first, crash_and_restart)
    finally:
        for process in restarted:
            process.stop()
    _assert_round_1_kept(tmp_path, photo, before, run)
    # Which the client notices first depends on how long the new server takes to start (the client
    # gives up after 15 s of silence); either way the finished round is kept.
    assert "was restarted and lost job" in run.stderr or "stopped answering" in run.stderr, run.stderr


def test_4_local_engine_failing_after_round_1_leaves_a_partial_svg(tmp_path, photo, capsys, monkeypatch):
    from mross_server.engine import pipeline

    optimize, calls = pipeline.optimize_strokes, []

    def fails_in_round_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated engine fault in round 2")
        return optimize(*args, **kwargs)

    monkeypatch.setattr(pipeline, "optimize_strokes", fails_in_round_2)
    before = sha256(photo)
    status, error = run_mross(capsys, "sketch", str(photo), "-o", str(tmp_path / "p.svg"), "--roi", "185,190,230,145", *QUICK)
    assert status == cli.EXIT_INTERNAL and "simulated engine fault" in error
    assert "kept its 1 finished round(s) of 2" in error
    assert len(read_svg(tmp_path / "p.partial.svg")[2]) == 1 and not (tmp_path / "p.svg").exists()
    assert sha256(photo) == before


# ---- 6, 7: photos as they are shown ----------------------------------------------------------------------


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    stream = io.BytesIO()
    image.save(stream, fmt, **options)
    return stream.getvalue()


def test_6_deep_and_unusual_modes_decode_to_what_they_show():
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    grey16 = load_photo(_encoded(Image.fromarray(ramp), "PNG"))
    np.testing.assert_allclose(grey16[..., 0], ramp / 65535.0, atol=1 / 255)
    assert grey16.mean() == pytest.approx(0.5, abs=0.01), "a 16-bit ramp is a ramp, not white"
    red = Image.new("RGB", (30, 20), (200, 30, 30))
    expected = np.array([200, 30, 30]) / 255
    for converted, fmt in ((red.convert("CMYK"), "TIFF"), (red.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), (red.convert("RGBA"), "PNG")):
        np.testing.assert_allclose(load_photo(_encoded(converted, fmt))[5, 5], expected, atol=0.02)
    grey = red.convert("L")
    level = np.asarray(grey)[0, 0] / 255
    for converted, fmt in ((grey.convert("LA"), "PNG"), (grey.convert("I"), "TIFF"), (grey.convert("F"), "TIFF")):
        np.testing.assert_allclose(load_photo(_encoded(converted, fmt))[5, 5], [level] * 3, atol=0.01)
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert load_photo(_encoded(clear, "PNG")).min() == 1.0, "transparent pixels are white paper"
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    assert load_photo(_encoded(palette, "PNG", transparency=0)).min() == 1.0


def test_7_exif_orientation_is_applied_locally_and_on_the_server(tmp_path, server, capsys):
    rotated = exif_rotated_coffee(tmp_path / "phone.jpg")
    assert Image.open(rotated).size == (400, 600) and photo_size(rotated.read_bytes()) == (600, 400)
    upright = open_photo(rotated).pixels()
    plain = load_photo(SAMPLE_PHOTO)
    assert upright.shape == plain.shape and np.abs(upright - plain).mean() < 0.03, "shown as the camera meant it"
    before = sha256(rotated)
    # Inside the photo as shown (600×400), outside it as stored (400×600).
    roi = ("--roi", "450,100,120,120")
    outputs = {}
    for where in ("local", "server"):
        extra = ("--server", str(server.connection_file)) if where == "server" else ()
        status, error = run_mross(capsys, "sketch", str(rotated), "-o", str(tmp_path / f"{where}.svg"), *roi, *QUICK, *extra)
        assert status == 0, error
        outputs[where] = tmp_path / f"{where}.svg"
        assert read_svg(outputs[where])[:2] == (600, 400)
    assert outputs["local"].read_bytes() == outputs["server"].read_bytes()
    assert sha256(rotated) == before
    # A client that shows the photo as stored (orientation 1) gets strokes in stored pixels.
    with SketchClient(server.connection_file) as client:
        job_id = client.submit(rotated.read_bytes(), [], JobParams(strokes=4, preset="test", orientation=1))
        done = list(client.events(job_id))[-1]
        assert (done.width, done.height) == (400, 600)
        job_id = client.submit(rotated.read_bytes(), [RoiBox(450, 100, 120, 120)], JobParams(strokes=4, preset="test", orientation=1))
        with pytest.raises(JobFailed, match="lies outside the 400×600 photo"):
            list(client.events(job_id))


# ---- 8, 9, 10, 11: sentences and exit codes ---------------------------------------------------------------


def _raw_submit(server: ServerProcess, content: dict) -> list:
    """Send one signed `submit` with this JSON content; return the server's replies before a status marker."""
    info = connection.read(server.connection_file)
    codec = Codec(info.key_bytes, SERVER_MESSAGES, Limits())
    with zmq.Context() as context, context.socket(zmq.DEALER) as socket_:
        socket_.linger = 0
        socket_.connect(info.endpoint)
        header = {"version": PROTOCOL_VERSION, "msg_id": uuid.uuid4().hex, "msg_type": "submit", "session": "t", "time": time.time(), "parent_id": None}
        body = [json.dumps(header).encode(), json.dumps(content).encode(), SAMPLE_PHOTO.read_bytes()]
        socket_.send_multipart([DELIMITER, Signer(info.key_bytes).sign(body), *body])
        marker = codec.encode(StatusRequest())
        socket_.send_multipart(marker.frames)
        replies = []
        while True:
            assert socket_.poll(10_000)
            envelope = codec.decode(socket_.recv_multipart())
            if envelope.header.parent_id == marker.msg_id and isinstance(envelope.message, Status):
                return replies
            replies.append(envelope.message)


def test_8_extreme_values_are_refused_at_the_wire_with_the_fields_name(server, tmp_path, capsys):
    base = {"job_id": "extreme", "rois": [], "params": {"strokes": 8, "preset": "test"}}
    cases = [
        ({"rois": [{"x": 1e308, "y": 0, "width": 10, "height": 10}]}, "an ROI's x must be a finite number"),
        ({"params": {"strokes": 8, "objective": "1" + "0" * 41 + "*ink"}}, "field 'params.objective': the weight of objective term 'ink'"),
        ({"params": {"strokes": 8, "roi_weight": 1e300}}, "field 'params.roi_weight' must be between 0 and 1000"),
        ({"params": {"strokes": 8, "roi_weight": 10**400}}, "field 'params.roi_weight' must be a finite number"),
    ]
    for change, fragment in cases:
        (reply,) = _raw_submit(server, {**base, **change})
        assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_FIELD and fragment in reply.message, reply
    assert "Traceback" not in server.log() and "OverflowError" not in server.log()
    for args, fragment in (
        (("--roi-weight", "1e300"), "'params.roi_weight' must be between 0 and 1000"),
        (("--objective", "1" + "0" * 41 + "*ink"), "the weight of objective term 'ink' must be at most 1000"),
        (("--roi", "1e308,0,10,10"), "ROI 1 (1e308,0,10,10): an ROI's x must be a finite number"),
    ):
        status, error = run_mross(capsys, "sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "x.svg"), *QUICK, *args)
        assert status == 2 and fragment in error and len(error.splitlines()) == 1, error


def test_9_10_bad_input_exits_2_locally_and_through_the_server(server, tmp_path, capsys):
    bomb, oversized, text = tmp_path / "bomb.png", tmp_path / "big.png", tmp_path / "notes.jpg"
    bomb.write_bytes(png_declaring(20_000, 20_000))
    oversized.write_bytes(png_declaring(9_000, 9_000))
    text.write_text("hello")
    cases = [
        ((str(bomb),), "too many to decode safely"),
        ((str(oversized),), "the limit is 64,000,000"),
        ((str(text),), "not"),
        ((str(SAMPLE_PHOTO), "--roi", "900,10,5,5"), "outside"),
        ((str(SAMPLE_PHOTO), "--strokes", "5000"), "at most 1024"),
        ((str(SAMPLE_PHOTO), "--iterations", "20000", "--sketches", "16", "--strokes", "1024", "--preset", "fast"), "the job is too large"),
    ]
    for args, fragment in cases:
        for extra in ((), ("--server", str(server.connection_file))):
            status, error = run_mross(capsys, "sketch", "-o", str(tmp_path / "x.svg"), "--preset", "test", "--device", "cpu", "--quiet", *args, *extra)
            assert status == 2 and fragment in error, (args, extra, error)
            assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.parametrize(
    ("roi", "fragment"),
    [
        ("nan,1,2,3", "an ROI's x must be a finite number"),
        ("0,0,inf,10", "an ROI's width must be a finite number"),
        ("1,2,-inf,4", "an ROI's width must be a finite number"),
        ("1,2,3", "must be X,Y,W,H"),
        ("1,2,0,4", "must be positive"),
    ],
)
def test_11_roi_values_get_the_sentence_that_fits(roi, fragment, tmp_path, capsys):
    status, error = run_mross(capsys, "sketch", str(SAMPLE_PHOTO), "-o", str(tmp_path / "x.svg"), "--roi", roi, *QUICK)
    assert status == 2 and fragment in error and "JSON" not in error


# ---- 12, 13: resources ------------------------------------------------------------------------------------


def test_12_a_flood_of_junk_is_logged_at_a_bounded_rate(server):
    info = connection.read(server.connection_file)
    log_before = server.log()
    started = time.monotonic()
    with zmq.Context() as context, context.socket(zmq.DEALER) as rogue:
        rogue.linger = 0
        rogue.connect(info.endpoint)
        for _ in range(6):  # in batches, reading the replies, as a client that reads its socket
            for _ in range(500):
                rogue.send_multipart([b"junk"])
            for _ in range(500):
                assert rogue.poll(20_000), "every junk message still gets its error reply"
                rogue.recv_multipart()
    flood_s = time.monotonic() - started
    time.sleep(10.5)  # the rate window ends; the server's next tick writes its summary
    new = server.log()[len(log_before) :]
    written = new.count("rejected a message from client")
    held = sum(int(n) for n in re.findall(r"held back (\d+) more warnings like the above in the last 10 s \(bad_frames: ", new))
    assert written + held == 3000
    assert written <= 20 * (2 + flood_s / 10), f"{written} lines in {flood_s:.1f} s"
    assert len(new.splitlines()) < 60


def test_12_server_log_file_is_rotated(tmp_path):
    log_file = tmp_path / "logs" / "server.log"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        server_cli._configure_logging(log_file)
        line = "x" * 200
        for _ in range(4 * server_cli.LOG_FILE_BYTES // 200):
            logging.getLogger("mross-server").info(line)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = saved
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["server.log", "server.log.1", "server.log.2"]
    assert all((log_file.parent / name).stat().st_size <= server_cli.LOG_FILE_BYTES for name in files)


def test_13_a_job_costing_days_is_refused_at_submit_naming_what_to_reduce(server):
    with SketchClient(server.connection_file) as client:
        started = time.monotonic()
        with pytest.raises(JobFailed) as caught:
            client.submit(SAMPLE_PHOTO.read_bytes(), [RoiBox(10, 10, 50, 50)] * 32, JobParams(strokes=1024, sketches=16, iterations=20_000))
        assert time.monotonic() - started < 2.0
    assert caught.value.code is ErrorCode.LIMIT_EXCEEDED
    message = str(caught.value)
    assert message.startswith("the job is too large: 33 rounds × 20,000 iterations × (1,024 strokes × 16 sketches + 500 for the loss)")
    assert "over the limit of 100 million; ask for fewer iterations, strokes, sketches, ROIs" in message


def test_13_large_photos_are_decoded_straight_to_working_size():
    big = _encoded(Image.new("RGB", (4000, 3000), "gray"), "JPEG")
    drafted = open_photo(big, scale=0.1)
    assert drafted.image.size == (500, 375) and (drafted.width, drafted.height) == (4000, 3000), "JPEG decoded at 1/8"
    reduced = open_photo(_encoded(Image.new("RGB", (4000, 3000), "gray"), "PNG"), scale=0.1)
    assert reduced.image.size == (400, 300), "PNG box-reduced by a whole factor"
    assert reduced.view((0, 0, 4000, 3000), (30, 40)).shape == (30, 40, 3), "boxes stay in full-size pixels"
