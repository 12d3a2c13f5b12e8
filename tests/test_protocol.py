"""The wire protocol without sockets: framing, signing, replay protection, validation, connection file.

Also the bridge to the pipeline's types (mross_server.serve.wire), and that mross_shared imports
under a Python with nothing but pyzmq (Inkscape's /usr/bin/python3).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mross_server.io.svg import round_layers, to_svg
from mross_server.job import RoundResult, SketchParams, SketchResult
from mross_server.serve.wire import round_result, round_update, sketch_inputs, sketch_result
from mross_shared import connection
from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.layers import standing_rounds
from mross_shared.messages import (
    CLIENT_MESSAGES,
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    Accepted,
    Cancel,
    Done,
    Error,
    Finish,
    Hello,
    HelloRequest,
    JobParams,
    JobState,
    Limits,
    Ping,
    PreviewUpdate,
    ProgressUpdate,
    RoiBox,
    RoundUpdate,
    Status,
    StatusRequest,
    StrokePath,
    Submit,
    WorkerInfo,
)
from mross_shared.protocol import DELIMITER, Codec
from mross_shared.signing import Signer
from tests.extension_dir import REPO_ROOT

KEY = bytes(range(32))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
SUBMIT = Submit("job-1", PNG, (RoiBox(10, 20, 30, 40), RoiBox(0, 0, 5.5, 6.5)), JobParams(strokes=8, preset="test", iterations=3, objective="ink + 0.2*vgg"))
PATH = StrokePath("M 1 2 C 3.5 4 5 6 7.25 -8", 3.0)
# A job continuing a sketch: two kept strokes (the second frozen), one new ROI, previews on.
CONTINUE = dataclasses.replace(
    SUBMIT, rois=SUBMIT.rois[:1], strokes=(PATH, StrokePath("M 10 20 C 30 40 50 60 70 80", 2.5, "#ff0000")), frozen=(1,), preview=True
)

CLIENT_SAMPLES = [HelloRequest(), SUBMIT, CONTINUE, Cancel("job-1"), Finish("job-1"), StatusRequest(), StatusRequest("job-1"), Ping("job-1")]
SERVER_SAMPLES = [
    Hello(
        "0.1.0", Limits(), ("cuda:0 on gpu-1", "cuda:0 on gpu-2"), ("vgg16-hed", "clip-RN101"), 2,
        (WorkerInfo("gpu-1-0", "cuda:0 on gpu-1", ("vgg16-hed", "clip-RN101"), True), WorkerInfo("gpu-2-0", "cuda:0 on gpu-2", ("vgg16-hed",), False)),
    ),
    Accepted("job-1", 3),
    ProgressUpdate("job-1", JobState.RUNNING, 0, 1, 2, 5, 6, 0.5, 0.25, None, 1.5),
    PreviewUpdate("job-1", 2, 3, 40, (PATH, PATH)),
    RoundUpdate("job-1", 2, 2, RoiBox(1, 2, 3, 4), (PATH, PATH), (1,), None, 0.7),
    Done("job-1", 600, 400, 2, "ink", ("vgg16-hed",), ("CLIP weights not found",), 3.5),
    Error(ErrorCode.CANCELLED, "job job-1 was cancelled", "job-1"),
    Status(None, JobState.UNKNOWN, 0, 4),
]


class FakeClock:
    """Seconds since the epoch under the test's control."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def server_codec(**kwargs) -> Codec:
    return Codec(KEY, CLIENT_MESSAGES, Limits(max_frames=6, max_frame_bytes=4096, max_total_bytes=6000, max_json_bytes=1024), **kwargs)


def code_of(codec: Codec, frames) -> ErrorCode:
    with pytest.raises(ProtocolError) as caught:
        codec.decode(frames)
    return caught.value.code


def resigned(frames, header_change=None, content_change=None, key=KEY) -> list[bytes]:
    """Frames with the header/content JSON edited by the given functions, signed again with `key`."""
    header, content = json.loads(frames[2]), json.loads(frames[3])
    if header_change:
        header_change(header)
    if content_change:
        content_change(content)
    body = [json.dumps(header).encode(), json.dumps(content).encode(), *frames[4:]]
    return [DELIMITER, Signer(key).sign(body), *body]


@pytest.mark.parametrize("message", CLIENT_SAMPLES, ids=lambda m: type(m).__name__)
def test_client_messages_survive_encode_and_decode(message):
    envelope = server_codec().decode(Codec(KEY, SERVER_MESSAGES, Limits()).encode(message, parent_id="p1").frames)
    assert envelope.message == message
    assert envelope.header.msg_type == message.msg_type and envelope.header.version == PROTOCOL_VERSION and envelope.header.parent_id == "p1"


@pytest.mark.parametrize("message", SERVER_SAMPLES, ids=lambda m: type(m).__name__)
def test_server_messages_survive_encode_and_decode(message):
    encoded = Codec(KEY, CLIENT_MESSAGES, Limits()).encode(message)
    envelope = Codec(KEY, SERVER_MESSAGES, Limits()).decode(encoded.frames)
    assert envelope.message == message and envelope.header.msg_id == encoded.msg_id


def test_image_travels_as_its_own_frame_not_inside_json():
    frames = server_codec().encode(SUBMIT).frames
    assert frames[0] == DELIMITER and frames[4] == PNG and len(frames) == 5
    content = json.loads(frames[3])
    assert "image" not in content and content["rois"][0] == {"x": 10, "y": 20, "width": 30, "height": 40}


def test_signature_covers_every_frame_including_the_image():
    codec = server_codec()
    frames = list(codec.encode(SUBMIT).frames)
    for index in (2, 3, 4):
        tampered = list(frames)
        tampered[index] = tampered[index][:-1] + bytes([tampered[index][-1] ^ 1])
        assert code_of(codec, tampered) is ErrorCode.BAD_SIGNATURE
    assert code_of(codec, [DELIMITER, b"", *frames[2:]]) is ErrorCode.BAD_SIGNATURE
    assert code_of(codec, resigned(frames, key=b"another key of 32 bytes........")) is ErrorCode.BAD_SIGNATURE
    assert codec.decode(frames).message == SUBMIT


def test_signature_tells_apart_bytes_moved_between_frames():
    signer = Signer(KEY)
    assert signer.sign([b"ab", b"c"]) != signer.sign([b"a", b"bc"])
    with pytest.raises(ValueError, match="16 bytes"):
        Signer(b"short")


def test_replayed_and_stale_messages_are_rejected():
    clock = FakeClock()
    codec = server_codec(clock=clock, replay_window_s=60)
    frames = codec.encode(Ping("job-1")).frames
    codec.decode(frames)
    assert code_of(codec, frames) is ErrorCode.REPLAYED
    clock.now += 61
    assert codec.decode(codec.encode(Ping("job-1")).frames).message == Ping("job-1")
    assert code_of(codec, frames) is ErrorCode.STALE
    clock.now += 1000  # long after the window the signature is forgotten, and the time check still holds
    assert code_of(codec, frames) is ErrorCode.STALE


def test_frame_count_and_size_limits():
    codec = server_codec()
    frames = list(codec.encode(SUBMIT).frames)
    assert code_of(codec, resigned([*frames, b"x"])) is ErrorCode.BAD_FRAMES  # a binary frame a submit does not have
    # Limits are checked before the signature, so an oversized message costs no hashing.
    assert code_of(codec, [*frames, b"x", b"y"]) is ErrorCode.TOO_MANY_FRAMES
    assert code_of(codec, [*frames[:4], b"x" * 5000]) is ErrorCode.FRAME_TOO_LARGE
    assert code_of(codec, [*frames[:3], b" " * 2000, b"x"]) is ErrorCode.FRAME_TOO_LARGE  # JSON frames are capped lower
    assert code_of(codec, [*frames[:4], b"x" * 4000, b"y" * 4000]) is ErrorCode.MESSAGE_TOO_LARGE


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([], ErrorCode.BAD_FRAMES),
        ([b"hello"], ErrorCode.BAD_FRAMES),
        ([DELIMITER, b"sig", b"{}"], ErrorCode.BAD_FRAMES),
    ],
)
def test_frames_without_the_envelope_are_rejected(frames, code):
    assert code_of(server_codec(), frames) is code


@pytest.mark.parametrize(
    ("header_change", "code"),
    [
        (lambda h: h.update(version=PROTOCOL_VERSION + 1), ErrorCode.BAD_VERSION),
        (lambda h: h.update(version="1"), ErrorCode.BAD_HEADER),
        (lambda h: h.update(msg_type="progress"), ErrorCode.UNKNOWN_TYPE),  # a server-to-client type
        (lambda h: h.update(msg_type="shutdown"), ErrorCode.UNKNOWN_TYPE),
        (lambda h: h.pop("msg_id"), ErrorCode.BAD_HEADER),
        (lambda h: h.update(msg_id="x" * 65), ErrorCode.BAD_HEADER),
        (lambda h: h.update(extra=1), ErrorCode.BAD_HEADER),
    ],
)
def test_header_errors_have_their_own_codes(header_change, code):
    codec = server_codec()
    assert code_of(codec, resigned(codec.encode(Ping("job-1")).frames, header_change)) is code


@pytest.mark.parametrize(
    ("content_change", "fragment"),
    [
        (lambda c: c["params"].update(strokes="8"), "'params.strokes' must be an integer"),
        (lambda c: c["params"].update(strokes=True), "'params.strokes' must be an integer"),
        (lambda c: c["params"].update(strokes=0), "'params.strokes' must be at least 1"),
        (lambda c: c["params"].update(iterations=-1), "'params.iterations' must not be negative"),
        (lambda c: c["params"].update(sketches=0), "'params.sketches' must be at least 1"),
        (lambda c: c["params"].update(seed=2**70), "'params.seed'"),
        (lambda c: c["params"].update(freeze_previous=1), "'params.freeze_previous' must be true or false"),
        (lambda c: c["params"].update(preset="fast; rm -rf"), "'params.preset' must be a short name"),
        (lambda c: c["params"].update(objective="x" * 65), "'params.objective' must be a short name"),
        (lambda c: c["params"].update(roi_weight=-1), "'params.roi_weight' must be between 0 and 1000"),
        (lambda c: c["params"].update(roi_weight=1e300), "'params.roi_weight' must be between 0 and 1000"),
        (lambda c: c["params"].update(objective="1" + "0" * 41 + "*ink"), "'params.objective': the weight of objective term 'ink'"),
        (lambda c: c["params"].update(objective="ink+-2*vgg"), "'params.objective': cannot read objective term '-2\\*vgg'"),
        (lambda c: c["params"].update(orientation=9), "'params.orientation' must be an EXIF orientation"),
        (lambda c: c["rois"][0].update(x=1e308), "an ROI's x must be a finite number of at most 1e\\+07"),
        (lambda c: c["params"].update(colour="red"), "unexpected field 'params.colour'"),
        (lambda c: c["rois"][1].update(width=-3), "width and height must be positive"),
        (lambda c: c["rois"][1].update(x=10**400), "'rois[1].x' must be a finite number"),
        (lambda c: c["rois"][0].pop("height"), "missing field 'rois[0].height'"),
        (lambda c: c.update(rois={"x": 1}), "'rois' must be a list"),
        (lambda c: c.update(rois=[1]), "'rois[0]' must be a JSON object"),
        (lambda c: c.update(job_id="has space"), "'job_id' must be 1-64 letters"),
        (lambda c: c.pop("job_id"), "missing field 'job_id'"),
    ],
)
def test_every_malformed_field_is_named(content_change, fragment):
    codec = server_codec()
    with pytest.raises(ProtocolError, match=fragment.replace("[", r"\[").replace("]", r"\]")) as caught:
        codec.decode(resigned(codec.encode(SUBMIT).frames, content_change=content_change))
    assert caught.value.code is ErrorCode.BAD_FIELD


@pytest.mark.parametrize("content", [b"\xff\xfe{", b'{"job_id": NaN}', b"[" * 100_000, b"{"])
def test_content_that_is_not_json_is_rejected_without_a_crash(content):
    codec = Codec(KEY, CLIENT_MESSAGES, Limits())
    frames = codec.encode(Ping("job-1")).frames
    body = [frames[2], content]
    assert code_of(codec, [DELIMITER, Signer(KEY).sign(body), *body]) is ErrorCode.BAD_JSON


def test_limits_reject_oversized_jobs():
    limits = Limits(max_rois=1, max_strokes=100)
    limits.check_submit(dataclasses.replace(SUBMIT, rois=SUBMIT.rois[:1]))
    with pytest.raises(ProtocolError, match="2 ROIs; at most 1 are allowed") as caught:
        limits.check_submit(SUBMIT)
    assert caught.value.code is ErrorCode.LIMIT_EXCEEDED
    with pytest.raises(ProtocolError, match="500 strokes"):
        limits.check_submit(dataclasses.replace(SUBMIT, rois=(), params=JobParams(strokes=500)))


def test_progress_names_its_method_in_one_printable_line():
    fields = {"job_id": "j", "state": JobState.RUNNING, "queue_position": 0, "round": 1, "rounds": 1, "iteration": 1,
              "iterations": 2, "loss": None, "best_loss": None, "eta_s": None, "elapsed_s": 1.0}
    assert ProgressUpdate(**fields, method="offline objective (no CLIP weights)").method == "offline objective (no CLIP weights)"
    assert ProgressUpdate(**fields).method is None and JobParams().sketches is None, "both mean: the server decides"
    for bad in ("x" * 121, "two\nlines"):
        with pytest.raises(ProtocolError, match="field 'method' must be at most 120 printable characters"):
            ProgressUpdate(**fields, method=bad)


def test_workers_in_hello_are_checked():
    for bad, fragment in ((("",) * 2, "'workers[].name'"), (("w", "x" * 201), "'workers[].device'")):
        with pytest.raises(ProtocolError, match=re.escape(fragment)):
            WorkerInfo(*bad, (), False)
    with pytest.raises(ProtocolError, match=re.escape("'workers[].backbones'")):
        WorkerInfo("w", "cpu", ("clip; rm",), False)


def test_a_round_sent_again_replaces_the_earlier_one():
    """A job requeued after its worker died sends rounds 1, 2, ... again; the last of each index stands."""
    first = [RoundUpdate("j", i, 3, None, (PATH,), (0,), 0.5, 1.0) for i in (1, 2)]
    again = [RoundUpdate("j", i, 3, None, (PATH, PATH), (1,), 0.25, 2.0) for i in (1, 2, 3)]
    assert standing_rounds(first + again) == tuple(again)
    assert standing_rounds([first[1], first[0]]) == tuple(first)


def test_round_paths_must_be_plain_cubics():
    for bad in ("M 1 2 C 3 4 5 6 7", "M 1 2 C 3 4 5 6 7 8 Z", "M nan 2 C 3 4 5 6 7 8", "M 1 2 C 3 4 5 6 7 8 <script>"):
        with pytest.raises(ProtocolError, match="cubic"):
            StrokePath(bad, 1.0)
    with pytest.raises(ProtocolError, match="added"):
        RoundUpdate("j", 1, 1, None, (PATH,), (1,), 0.5, 1.0)


def test_connection_file_is_private_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("MROSS_CONFIG_DIR", str(tmp_path / "cfg"))
    info = connection.ConnectionInfo("tcp://127.0.0.1:5555", KEY.hex(), "Z" * 40, pid=1234)
    path = connection.write(info)
    assert path == tmp_path / "cfg" / "server.json" == connection.default_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert connection.read() == info == connection.locate(None) == connection.locate(path)
    assert connection.locate("tcp://10.0.0.5:6000").key == info.key  # key from the default file
    assert connection.locate("tcp://10.0.0.5:6000", key=b"k" * 32).key_bytes == b"k" * 32
    connection.remove(path, pid=999)
    assert path.exists()  # another process's file is left alone
    connection.remove(path, pid=1234)
    assert not path.exists()


def test_connection_file_problems_are_one_sentence(tmp_path):
    with pytest.raises(connection.ConnectionFileError, match=r"no MROSS server connection file at .* start the server with `mross-server`"):
        connection.read(tmp_path / "missing.json")
    for text in ("not json", "[1, 2]", '{"endpoint": "tcp://h:1", "key": "zz"}', '{"endpoint": "h:1", "key": "00"}'):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(connection.ConnectionFileError, match="is not an MROSS connection file"):
            connection.read(tmp_path / "bad.json")


def test_a_submit_becomes_the_pipelines_inputs():
    rois, params, start = sketch_inputs(SUBMIT)
    assert rois == [RoiBox(10, 20, 30, 40), RoiBox(0, 0, 5.5, 6.5)]
    assert params == SketchParams(strokes=8, preset="test", iterations=3, objective="ink + 0.2*vgg")
    assert start is None


def test_a_continued_sketch_arrives_as_the_pipelines_starting_strokes():
    codec = server_codec()
    received = codec.decode(codec.encode(CONTINUE).frames).message
    _, _, start = sketch_inputs(received)
    np.testing.assert_array_equal(start.points, [[[1, 2], [3.5, 4], [5, 6], [7.25, -8]], [[10, 20], [30, 40], [50, 60], [70, 80]]])
    np.testing.assert_array_equal(start.half_widths, [1.5, 1.25])
    np.testing.assert_array_equal(start.frozen, [False, True])


HOSTILE_STROKES = [
    (lambda c: c["strokes"][0].update(d="M 1e999 2 C 3 4 5 6 7 8"), "field 'strokes[0]': a path's coordinates must be finite"),
    (lambda c: c["strokes"][0].update(d="M 1 2 C 3 4 5 6 7 2e7"), "field 'strokes[0]': a path's coordinates must be finite"),
    (lambda c: c["strokes"][1].update(d="M 1 2 C 3 4 5 6 7"), "field 'strokes[1]': a path's 'd' must be one"),
    (lambda c: c["strokes"][1].update(d="M 1 2 L 3 4"), "field 'strokes[1]': a path's 'd' must be one"),
    (lambda c: c["strokes"][1].update(d="M 1 2 C 3 4 5 6 7 8 C 9 10 11 12 13 14"), "field 'strokes[1]': a path's 'd' must be one"),
    (lambda c: c["strokes"][1].update(d="M NaN 2 C 3 4 5 6 7 8"), "field 'strokes[1]': a path's 'd' must be one"),
    (lambda c: c["strokes"][1].update(d=[1, 2, 3]), "field 'strokes[1].d' must be a string"),
    (lambda c: c["strokes"][0].update(width=10**400), "field 'strokes[0].width' must be a finite number"),
    (lambda c: c["strokes"][0].update(width=0), "field 'strokes[0]': a path's width must be positive"),
    (lambda c: c["strokes"][0].update(width=1e300), "field 'strokes[0]': a path's width must be positive and at most"),
    (lambda c: c["strokes"][0].update(color="red"), "field 'strokes[0]': a path's color must be #rrggbb"),
    (lambda c: c["strokes"][0].pop("width"), "missing field 'strokes[0].width'"),
    (lambda c: c["strokes"].append([[1, 2], [3, 4]]), "field 'strokes[2]' must be a JSON object"),
    (lambda c: c.update(strokes={"d": "M 1 2 C 3 4 5 6 7 8"}), "field 'strokes' must be a list"),
    (lambda c: c.update(frozen=[2]), "field 'frozen' must index into 'strokes'"),
    (lambda c: c.update(frozen=[-1]), "field 'frozen' must index into 'strokes'"),
    (lambda c: c.update(frozen=[1, 1]), "field 'frozen' must not name a stroke twice"),
    (lambda c: c.update(frozen=[0.5]), "field 'frozen[0]' must be an integer"),
    (lambda c: c.update(preview="yes"), "field 'preview' must be true or false"),
]


@pytest.mark.parametrize(("content_change", "fragment"), HOSTILE_STROKES)
def test_hostile_strokes_of_a_continued_sketch_are_refused_naming_the_field(content_change, fragment):
    codec = server_codec()
    with pytest.raises(ProtocolError, match=re.escape(fragment)) as caught:
        codec.decode(resigned(codec.encode(CONTINUE).frames, content_change=content_change))
    assert caught.value.code is ErrorCode.BAD_FIELD
    assert len(str(caught.value).splitlines()) == 1


def test_kept_strokes_count_against_the_stroke_limit():
    many = dataclasses.replace(CONTINUE, strokes=(PATH,) * 95, frozen=(), params=JobParams(strokes=5))
    Limits(max_strokes=100).check_submit(many)
    with pytest.raises(ProtocolError, match="the job asks for 101 strokes; at most 100 are allowed") as caught:
        Limits(max_strokes=100).check_submit(dataclasses.replace(many, params=JobParams(strokes=6)))
    assert caught.value.code is ErrorCode.LIMIT_EXCEEDED
    # A huge stroke list cannot even be sent: the JSON frame limit stops it before anything is parsed.
    huge = dataclasses.replace(many, strokes=(PATH,) * 50_000)
    codec = Codec(KEY, CLIENT_MESSAGES, Limits())
    assert code_of(codec, codec.encode(huge).frames) is ErrorCode.FRAME_TOO_LARGE


def test_round_messages_rebuild_the_same_layered_svg():
    rng = np.random.default_rng(0)
    rounds = [
        RoundResult(1, 2, None, rng.uniform(0, 500, (3, 4, 2)), np.full(3, 1.25), (0, 1, 2), float("inf"), 0.5),
        RoundResult(2, 2, RoiBox(10, 20, 100, 80), rng.uniform(0, 500, (5, 4, 2)), np.full(5, 0.75), (3, 4), 0.125, 0.25),
    ]
    updates = [round_update("job-1", result) for result in rounds]
    assert updates[0].loss is None and updates[1].paths[0].width == 1.5
    done = Done("job-1", 600, 400, 2, "ink", ("vgg16-hed",), (), 1.0)
    remote = sketch_result(done, updates)
    local = SketchResult(600, 400, tuple(rounds), "ink", ("vgg16-hed",))
    for mode in ("snapshot", "delta"):
        assert to_svg(round_layers(remote.rounds, mode), 600, 400) == to_svg(round_layers(local.rounds, mode), 600, 400)
    rebuilt = round_result(updates[1])
    assert rebuilt.roi == RoiBox(10, 20, 100, 80) and rebuilt.added == (3, 4)
    np.testing.assert_allclose(rebuilt.points, rounds[1].points, atol=0.005)


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system Python")
def test_shared_package_imports_with_only_pyzmq_beside_it():
    """Inkscape's Python has no numpy, Pillow or torch; the client must not pull them in."""
    system = "/usr/bin/python3"
    if subprocess.run([system, "-c", "import zmq"], capture_output=True, check=False).returncode != 0:
        pytest.skip("the system Python has no pyzmq (python3-zmq)")
    script = "import sys, mross_shared.client, mross_shared.protocol; print(sorted({'numpy', 'PIL', 'torch'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "shared")}
    result = subprocess.run([system, "-s", "-c", script], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]", result.stderr
