"""The attack set of issue 15, replayed against a real `mross-server` on loopback and the `mross` command.

Bad photos (bomb, truncated, 1×1, 20000×5, CMYK, 16-bit, alpha, grey, animated GIF, renamed SVG, text,
empty, EXIF-rotated), bad fields (zero, negative, huge, NaN/inf, 1e308, wrong types, extra fields, 1,000
ROIs), protocol abuse (forged, replayed, stale, malformed, oversized, 200 connections, a junk flood),
faults (a server killed or restarted after round 1, Ctrl-C after round 1, a killed client), the CLI's
output paths, and jobs at every limit. Each case ends in one of:

  clean  - refused with one sentence and the right code or exit status, or (for odd but valid photos)
           sketched right; inputs unchanged, server alive, no traceback in its log
  wrong  - accepted what should be refused, or a result that does not match the photo
  crash  - a traceback, an `internal` error, exit status 70, no answer, or the server died
  lost   - an input changed, or finished rounds were not kept

It also measures the server's peak memory (VmHWM, reset before each job) for the largest photos it admits.
Prints a table per category and the non-clean cases; the last line is one JSON object. Goal: 0 wrong,
crash and lost; peak memory <= 1.5 GB.

    python benchmarks/abuse.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq
from PIL import Image, ImageDraw

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from mross_server import cli  # noqa: E402
from mross_server.io.photo import load_photo  # noqa: E402
from mross_server.io.svg import read_svg  # noqa: E402
from mross_shared import connection  # noqa: E402
from mross_shared.client import SketchClient  # noqa: E402
from mross_shared.errors import ErrorCode, JobCancelled, JobFailed, MrossError  # noqa: E402
from mross_shared.messages import PROTOCOL_VERSION, SERVER_MESSAGES, Done, Error, JobParams, Limits, RoiBox, Status, StatusRequest  # noqa: E402
from mross_shared.protocol import DELIMITER, Codec  # noqa: E402
from mross_shared.signing import Signer  # noqa: E402
from tests.server_process import SAMPLE_PHOTO, ServerProcess, environment, free_port, start_server  # noqa: E402

VERDICTS = ("clean", "wrong", "crash", "lost")
MEMORY_TARGET_MB = 1536
QUICK = JobParams(strokes=6, preset="test", iterations=2)
INPUT_CODES = {ErrorCode.BAD_FIELD, ErrorCode.BAD_INPUT, ErrorCode.BAD_IMAGE, ErrorCode.IMAGE_TOO_LARGE, ErrorCode.LIMIT_EXCEEDED}


@dataclass(frozen=True)
class Outcome:
    category: str
    case: str
    verdict: str
    detail: str


class Harness:
    """Runs cases, checks the server's health and log after each, and keeps the outcomes."""

    def __init__(self, work: Path, server: ServerProcess) -> None:
        self.work = work
        self.server = server
        self.outcomes: list[Outcome] = []
        self.info = connection.read(server.connection_file)

    def case(self, category: str, name: str, run: Callable[[], tuple[str, str]]) -> None:
        log_before = len(self.server.log())
        try:
            verdict, detail = run()
        except Exception as error:  # the harness itself must not stop; an unexpected error is a crash
            verdict, detail = "crash", f"{type(error).__name__}: {error} | {traceback.format_exc(limit=2).splitlines()[-1]}"
        new_log = self.server.log()[log_before:]
        if "Traceback" in new_log or " internal:" in new_log:
            verdict, detail = "crash", f"server log: {new_log[new_log.find('Traceback'):][:200]!r}"
        elif self.server.process.poll() is not None:
            verdict, detail = "crash", f"the server exited ({self.server.process.returncode})"
        self.outcomes.append(Outcome(category, name, verdict, detail))
        print(f"  {verdict:5s} {category:14s} {name}: {detail}"[:220], flush=True)

    # ---- ways in ---------------------------------------------------------------------------------------

    def job(self, image: bytes, rois: list[RoiBox] | tuple[RoiBox, ...] = (), params: JobParams = QUICK) -> tuple[Any, ...]:
        """('done', Done, rounds) or ('error', code, message) for one job through the client."""
        try:
            with SketchClient(self.server.connection_file, silence_timeout_s=60) as client:
                job_id = client.submit(image, rois, params)
                events = list(client.events(job_id))
        except (JobFailed, JobCancelled) as error:
            return ("error", getattr(error, "code", ErrorCode.CANCELLED), str(error))
        except MrossError as error:
            return ("error", None, f"{type(error).__name__}: {error}")
        return ("done", events[-1], [e for e in events if not isinstance(e, (Done,)) and e.msg_type == "round"])

    def refused(self, outcome: tuple[Any, ...], codes: set[ErrorCode], fragment: str = "") -> tuple[str, str]:
        """clean when the job was refused with one of `codes` in one sentence (containing `fragment`)."""
        if outcome[0] == "done":
            return "wrong", f"accepted and sketched ({outcome[1].width}×{outcome[1].height})"
        _, code, message = outcome
        if code is None or code is ErrorCode.INTERNAL:
            return "crash", message
        if code not in codes or fragment not in message or "\n" in message:
            return "wrong", f"{code.value}: {message}"
        return "clean", f"{code.value}: {message}"

    def raw(self, frames: list[bytes]) -> list[Any]:
        """Send raw frames, then a valid status; the replies that came before its answer (None: no answer)."""
        codec = Codec(self.info.key_bytes, SERVER_MESSAGES, Limits())
        with zmq.Context() as context, context.socket(zmq.DEALER) as dealer:
            dealer.linger = 0
            dealer.connect(self.info.endpoint)
            dealer.send_multipart(frames, copy=False)
            marker = codec.encode(StatusRequest())
            dealer.send_multipart(marker.frames)
            replies = []
            while dealer.poll(10_000):
                envelope = codec.decode(dealer.recv_multipart())
                if envelope.header.parent_id == marker.msg_id and isinstance(envelope.message, Status):
                    return replies
                replies.append(envelope.message)
            return [None]

    def signed(self, msg_type: str, content: Any, binary: list[bytes], key: bytes | None = None, **header: Any) -> list[bytes]:
        fields = {"version": PROTOCOL_VERSION, "msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": "abuse", "time": time.time(), "parent_id": None}
        fields.update(header)
        body = [json.dumps(fields).encode(), json.dumps(content).encode() if not isinstance(content, bytes) else content, *binary]
        return [DELIMITER, Signer(key or self.info.key_bytes).sign(body), *body]

    def rejected(self, replies: list[Any], codes: set[ErrorCode], fragment: str = "") -> tuple[str, str]:
        if replies == [None]:
            return "crash", "no answer within 10 s"
        errors = [reply for reply in replies if isinstance(reply, Error)]
        if not errors:
            return "wrong", f"not refused: {[type(r).__name__ for r in replies]}"
        error = errors[0]
        if error.code is ErrorCode.INTERNAL:
            return "crash", error.message
        if error.code not in codes or fragment not in error.message:
            return "wrong", f"{error.code.value}: {error.message}"
        return "clean", f"{error.code.value}: {error.message}"


def mross(*args: str) -> tuple[int, str]:
    """`mross ARGS` in this process: (exit status, stderr)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(list(args))
    return status, stderr.getvalue()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    stream = io.BytesIO()
    image.save(stream, fmt, **options)
    return stream.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak resident set size (Linux)


# ---- the cases -------------------------------------------------------------------------------------------


def bad_photos(h: Harness, memory: dict[str, float]) -> None:
    coffee = Image.open(SAMPLE_PHOTO).convert("RGB")
    grey = coffee.convert("L")
    rgb_bytes = SAMPLE_PHOTO.read_bytes()
    cat = "bad photos"
    h.case(cat, "bomb: PNG header of 20000×20000", lambda: h.refused(h.job(png_declaring(20_000, 20_000)), {ErrorCode.IMAGE_TOO_LARGE}, "too many"))
    h.case(cat, "over the limit: 9000×9000", lambda: h.refused(h.job(png_declaring(9_000, 9_000)), {ErrorCode.IMAGE_TOO_LARGE}, "the limit is"))
    h.case(cat, "truncated JPEG", lambda: h.refused(h.job(rgb_bytes[: len(rgb_bytes) // 2]), {ErrorCode.BAD_INPUT, ErrorCode.BAD_IMAGE}, "not an image"))
    h.case(cat, "renamed SVG", lambda: h.refused(h.job(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), {ErrorCode.BAD_IMAGE}))
    h.case(cat, "text", lambda: h.refused(h.job(b"hello, this is not a photo"), {ErrorCode.BAD_IMAGE}))
    h.case(cat, "empty", lambda: h.refused(h.job(b""), {ErrorCode.BAD_FIELD}, "empty"))

    def sketched(image: bytes, size: tuple[int, int], rois: tuple[RoiBox, ...] = ()) -> tuple[str, str]:
        outcome = h.job(image, rois, JobParams(strokes=6, preset="test", iterations=2))
        if outcome[0] != "done":
            return ("crash" if outcome[1] in (None, ErrorCode.INTERNAL) else "wrong"), str(outcome[1:])
        done = outcome[1]
        if (done.width, done.height) != size or len(outcome[2]) != 1 + len(rois):
            return "wrong", f"{done.width}×{done.height}, {len(outcome[2])} rounds"
        return "clean", f"sketched {done.width}×{done.height} in {len(outcome[2])} round(s)"

    def decoded_as(image: bytes, expected: np.ndarray, tolerance: float) -> tuple[str, str]:
        error = float(np.abs(load_photo(image) - expected).mean())
        verdict, detail = sketched(image, (expected.shape[1], expected.shape[0]))
        if verdict == "clean" and error > tolerance:
            return "wrong", f"decoded {error:.3f} away from the photo"
        return verdict, f"{detail}; decoded within {error:.4f} of the photo"

    rgb = np.asarray(coffee, dtype=np.float32) / 255
    grey_rgb = np.repeat((np.asarray(grey, dtype=np.float32) / 255)[..., None], 3, axis=2)
    h.case(cat, "1×1 PNG", lambda: sketched(encoded(Image.new("RGB", (1, 1), "gray"), "PNG"), (1, 1)))
    h.case(cat, "20000×5 PNG", lambda: sketched(encoded(Image.new("RGB", (20_000, 5), "gray"), "PNG"), (20_000, 5)))
    h.case(cat, "CMYK JPEG", lambda: decoded_as(encoded(coffee.convert("CMYK"), "JPEG", quality=95), rgb, 0.03))
    deep = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    h.case(cat, "16-bit grey PNG (I;16)", lambda: decoded_as(encoded(deep, "PNG"), grey_rgb, 0.002))
    h.case(cat, "8-bit grey PNG", lambda: decoded_as(encoded(grey, "PNG"), grey_rgb, 0.002))
    alpha = coffee.copy()
    alpha.putalpha(Image.linear_gradient("L").resize(coffee.size))
    white = Image.new("RGB", coffee.size, "white")
    white.paste(alpha, mask=alpha.getchannel("A"))
    h.case(cat, "RGBA PNG (alpha onto white)", lambda: decoded_as(encoded(alpha, "PNG"), np.asarray(white, dtype=np.float32) / 255, 0.004))
    palette = coffee.convert("P", palette=Image.Palette.ADAPTIVE)
    frames = encoded(palette, "GIF", save_all=True, append_images=[palette.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    h.case(cat, "animated GIF (first frame)", lambda: decoded_as(frames, np.asarray(palette.convert("RGB"), dtype=np.float32) / 255, 0.01))
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = encoded(coffee.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif.tobytes())
    h.case(cat, "EXIF-rotated JPEG + ROI as shown", lambda: sketched(turned, (600, 400), (RoiBox(450, 100, 120, 120),)))

    # The largest photos admitted: peak memory of the server process while it sketches them.
    canvas = Image.new("RGB", (7_900, 7_900), "white")
    draw = ImageDraw.Draw(canvas)
    for offset in range(0, 7_900, 400):
        draw.line((offset, 0, 7_900 - offset, 7_900), fill="black", width=9)
    flat_png = encoded(canvas, "PNG", optimize=True)
    largest = encoded(canvas.resize((8_000, 8_000)), "PNG")
    for name, image, rois, size in (
        (f"7900×7900 PNG of {len(flat_png) // 1000} KB, no ROI", flat_png, (), (7_900, 7_900)),
        ("8000×8000 PNG (64 MP, the limit), 300-px ROI: full size needed", largest, (RoiBox(100, 100, 300, 300),), (8_000, 8_000)),
    ):
        def measured(image: bytes = image, rois: tuple[RoiBox, ...] = rois, size: tuple[int, int] = size, name: str = name) -> tuple[str, str]:
            pid = h.server.process.pid
            reset_peak(pid)
            verdict, detail = sketched(image, size, rois)
            memory[name] = peak_mb(pid)
            return verdict, f"{detail}; server peak {memory[name]:.0f} MB"

        h.case(cat, name, measured)


def bad_fields(h: Harness) -> None:
    cat = "bad fields"
    photo = SAMPLE_PHOTO.read_bytes()
    base = {"job_id": "fields", "rois": [{"x": 10, "y": 10, "width": 50, "height": 50}], "params": {"strokes": 6, "preset": "test", "iterations": 2}}

    def with_json(old: str, new: str) -> bytes:
        return json.dumps(base).replace(old, new).encode()

    def submit(params: dict | None = None, rois: Any = None, extra: dict | None = None, raw: bytes | None = None) -> list[Any]:
        content = {**base, "job_id": uuid.uuid4().hex[:12], **(extra or {})}
        if params is not None:
            content["params"] = {**base["params"], **params}
        if rois is not None:
            content["rois"] = rois
        frames = h.signed("submit", raw if raw is not None else content, [photo])
        return h.raw(frames)

    field_cases: list[tuple[str, Callable[[], list[Any]], set[ErrorCode], str]] = [
        ("strokes 0", lambda: submit({"strokes": 0}), {ErrorCode.BAD_FIELD}, "params.strokes"),
        ("strokes -5", lambda: submit({"strokes": -5}), {ErrorCode.BAD_FIELD}, "params.strokes"),
        ("strokes 10**400", lambda: submit({"strokes": 10**400}), {ErrorCode.BAD_FIELD}, "params.strokes"),
        ("strokes 1e308 (a float)", lambda: submit({"strokes": 1e308}), {ErrorCode.BAD_FIELD}, "params.strokes"),
        ("strokes '8' (a string)", lambda: submit({"strokes": "8"}), {ErrorCode.BAD_FIELD}, "params.strokes"),
        ("iterations -1", lambda: submit({"iterations": -1}), {ErrorCode.BAD_FIELD}, "params.iterations"),
        ("iterations 10**9", lambda: submit({"iterations": 10**9}), {ErrorCode.LIMIT_EXCEEDED}, "iterations"),
        ("sketches 0", lambda: submit({"sketches": 0}), {ErrorCode.BAD_FIELD}, "params.sketches"),
        ("sketches 10**6", lambda: submit({"sketches": 10**6}), {ErrorCode.LIMIT_EXCEEDED}, "sketches"),
        ("seed -1", lambda: submit({"seed": -1}), {ErrorCode.BAD_FIELD}, "params.seed"),
        ("seed 2**70", lambda: submit({"seed": 2**70}), {ErrorCode.BAD_FIELD}, "params.seed"),
        ("roi_weight -1", lambda: submit({"roi_weight": -1}), {ErrorCode.BAD_FIELD}, "params.roi_weight"),
        ("roi_weight 1e300", lambda: submit({"roi_weight": 1e300}), {ErrorCode.BAD_FIELD}, "params.roi_weight"),
        ("roi_weight 1e999 (inf)", lambda: submit(raw=with_json('"iterations": 2', '"iterations": 2, "roi_weight": 1e9999')), {ErrorCode.BAD_FIELD}, "weight"),
        ("roi_weight NaN", lambda: submit(raw=with_json('"iterations": 2', '"iterations": 2, "roi_weight": NaN')), {ErrorCode.BAD_JSON}, ""),
        ("objective weight 10**41", lambda: submit({"objective": "1" + "0" * 41 + "*ink"}), {ErrorCode.BAD_FIELD}, "params.objective"),
        ("objective weight 1e41", lambda: submit({"objective": "1e41*ink"}), {ErrorCode.BAD_FIELD}, "params.objective"),
        ("objective -1*ink", lambda: submit({"objective": "-1*ink"}), {ErrorCode.BAD_FIELD}, "params.objective"),
        ("objective of 9 terms", lambda: submit({"objective": "+".join(["ink"] * 9)}), {ErrorCode.BAD_FIELD}, "params.objective"),
        ("preset 'nope'", lambda: submit({"preset": "nope"}), {ErrorCode.BAD_INPUT}, "nope"),
        ("preset 'fast; rm -rf'", lambda: submit({"preset": "fast; rm -rf /"}), {ErrorCode.BAD_FIELD}, "params.preset"),
        ("orientation 9", lambda: submit({"orientation": 9}), {ErrorCode.BAD_FIELD}, "params.orientation"),
        ("ROI x 1e308", lambda: submit(rois=[{"x": 1e308, "y": 0, "width": 5, "height": 5}]), {ErrorCode.BAD_FIELD}, "ROI's x"),
        ("ROI x -1e308", lambda: submit(rois=[{"x": -1e308, "y": 0, "width": 5, "height": 5}]), {ErrorCode.BAD_FIELD}, "ROI's x"),
        ("ROI width 1e999 (inf)", lambda: submit(raw=with_json('"width": 50', '"width": 1e999')), {ErrorCode.BAD_FIELD}, "rois[0].width"),
        ("ROI x NaN", lambda: submit(raw=with_json('"x": 10', '"x": NaN')), {ErrorCode.BAD_JSON}, ""),
        ("ROI width 0", lambda: submit(rois=[{"x": 1, "y": 1, "width": 0, "height": 5}]), {ErrorCode.BAD_FIELD}, "positive"),
        ("ROI width -3", lambda: submit(rois=[{"x": 1, "y": 1, "width": -3, "height": 5}]), {ErrorCode.BAD_FIELD}, "positive"),
        ("ROI x 'a'", lambda: submit(rois=[{"x": "a", "y": 1, "width": 3, "height": 5}]), {ErrorCode.BAD_FIELD}, "rois[0].x"),
        ("rois as an object", lambda: submit(rois={"x": 1}), {ErrorCode.BAD_FIELD}, "'rois' must be a list"),
        ("1,000 ROIs", lambda: submit(rois=[{"x": 1, "y": 1, "width": 3, "height": 5}] * 1000), {ErrorCode.LIMIT_EXCEEDED}, "1000 ROIs"),
        ("params as a list", lambda: submit(extra={"params": [1, 2]}), {ErrorCode.BAD_FIELD}, "'params' must be a JSON object"),
        ("extra field params.colour", lambda: submit({"colour": "red"}), {ErrorCode.BAD_FIELD}, "params.colour"),
        ("extra top-level field", lambda: submit(extra={"evil": True}), {ErrorCode.BAD_FIELD}, "unexpected field 'evil'"),
        ("job_id with spaces", lambda: submit(extra={"job_id": "has space"}), {ErrorCode.BAD_FIELD}, "job_id"),
        ("job_id of 200 characters", lambda: submit(extra={"job_id": "x" * 200}), {ErrorCode.BAD_FIELD}, "job_id"),
    ]
    for name, send, codes, fragment in field_cases:
        h.case(cat, name, lambda send=send, codes=codes, fragment=fragment: h.rejected(send(), codes, fragment))
    # Valid on the wire, refused by the engine when the job starts: through the client, which follows the job.
    unknown_term = JobParams(strokes=6, preset="test", objective="nosuchterm")
    h.case(cat, "objective with an unknown term", lambda: h.refused(h.job(photo, [], unknown_term), {ErrorCode.BAD_INPUT}, "nosuchterm"))
    h.case(cat, "ROI outside the photo", lambda: h.refused(h.job(photo, [RoiBox(5000, 1, 3, 5)]), {ErrorCode.BAD_INPUT}, "outside"))


def protocol_abuse(h: Harness) -> None:
    cat = "protocol"
    ping = {"job_id": "nosuchjob"}
    replayed = h.signed("status", {"job_id": None}, [])
    cases: list[tuple[str, Callable[[], list[Any]], set[ErrorCode]]] = [
        ("one junk frame", lambda: h.raw([b"junk"]), {ErrorCode.BAD_FRAMES}),
        ("no signature", lambda: h.raw([DELIMITER, b"", *h.signed("ping", ping, [])[2:]]), {ErrorCode.BAD_SIGNATURE}),
        ("another key", lambda: h.raw(h.signed("ping", ping, [], key=b"k" * 32)), {ErrorCode.BAD_SIGNATURE}),
        ("replayed message", lambda: (h.raw(replayed), h.raw(replayed))[1], {ErrorCode.REPLAYED}),
        ("stale (an hour old)", lambda: h.raw(h.signed("ping", ping, [], time=time.time() - 3600)), {ErrorCode.STALE}),
        ("protocol version 1", lambda: h.raw(h.signed("ping", ping, [], version=1)), {ErrorCode.BAD_VERSION}),
        ("unknown type", lambda: h.raw(h.signed("launch_missiles", {}, [])), {ErrorCode.UNKNOWN_TYPE}),
        ("header without msg_id", lambda: h.raw(h.signed("ping", ping, [], msg_id=None)), {ErrorCode.BAD_HEADER}),
        ("content NaN", lambda: h.raw(h.signed("ping", b'{"job_id": NaN}', [])), {ErrorCode.BAD_JSON}),
        ("content nested 100,000 deep", lambda: h.raw(h.signed("ping", b"[" * 100_000, [])), {ErrorCode.BAD_JSON}),
        ("9 frames", lambda: h.raw([DELIMITER, *[b"x"] * 8]), {ErrorCode.TOO_MANY_FRAMES}),
        ("submit without its image frame", lambda: h.raw(h.signed("submit", {"job_id": "noimage"}, [])), {ErrorCode.BAD_FRAMES}),
        ("64 MiB + 1 frame", lambda: h.raw(h.signed("submit", {"job_id": "huge"}, [bytes(Limits().max_frame_bytes + 1)])), {ErrorCode.FRAME_TOO_LARGE}),
        ("cancel of an unknown job", lambda: h.raw(h.signed("cancel", ping, [])), {ErrorCode.UNKNOWN_JOB}),
        ("ping of an unknown job", lambda: h.raw(h.signed("ping", ping, [])), {ErrorCode.UNKNOWN_JOB}),
    ]
    for name, send, codes in cases:
        h.case(cat, name, lambda send=send, codes=codes: h.rejected(send(), codes))

    def over_libzmq_cap() -> tuple[str, str]:
        with zmq.Context() as context, context.socket(zmq.DEALER) as rogue:
            rogue.linger = 0
            rogue.connect(h.info.endpoint)
            rogue.send_multipart([DELIMITER, bytes(Limits().max_total_bytes + 1)])
            answered = rogue.poll(1000)
        if answered:
            return "wrong", "libzmq passed a frame over MAXMSGSIZE"
        # By design: libzmq drops the connection before the application sees a byte; the server carries on.
        return h.rejected(h.raw([b"junk"]), {ErrorCode.BAD_FRAMES})[0], "connection dropped by libzmq (MAXMSGSIZE), the server still answers"

    h.case(cat, "frame over libzmq's cap (65 MiB + 1)", over_libzmq_cap)

    def duplicate_job() -> tuple[str, str]:
        with SketchClient(h.server.connection_file) as client:
            job_id = client.submit(SAMPLE_PHOTO.read_bytes(), [], QUICK)
            list(client.events(job_id))
            try:
                client.submit(SAMPLE_PHOTO.read_bytes(), [], QUICK, job_id=job_id)
            except JobFailed as error:
                return ("clean" if error.code is ErrorCode.DUPLICATE_JOB else "wrong"), f"{error.code.value}: {error}"
        return "wrong", "a second job with the same id was accepted"

    h.case(cat, "duplicate job id", duplicate_job)

    def many_connections() -> tuple[str, str]:
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(SketchClient(h.server.connection_file, connect_timeout_s=20)) for _ in range(200)]
        return "clean", f"{len(clients)} connections each got a hello"

    h.case(cat, "200 connections at once", many_connections)

    def flood() -> tuple[str, str]:
        before = h.server.log()
        started = time.monotonic()
        with zmq.Context() as context, context.socket(zmq.DEALER) as rogue:
            rogue.linger = 0
            rogue.connect(h.info.endpoint)
            for _ in range(10):
                for _ in range(500):
                    rogue.send_multipart([b"junk"])
                for _ in range(500):
                    if not rogue.poll(20_000):
                        return "crash", "the server stopped answering the flood"
                    rogue.recv_multipart()
        seconds = time.monotonic() - started
        time.sleep(10.5)
        new = h.server.log()[len(before) :]
        lines = len(new.splitlines())
        bound = 21 * (2 + seconds / 10)
        verdict = "clean" if lines <= bound else "wrong"
        return verdict, f"5,000 junk messages answered in {seconds:.1f} s, {lines} log lines ({len(new)} bytes)"

    h.case(cat, "junk flood: 5,000 messages", flood)


def curve_mismatch(h: Harness, work: Path) -> None:
    keys = work / "keys"
    for name in ("server", "client"):
        keygen = [sys.executable, "-m", "mross_server.serve.cli", "keygen", str(keys), "--name", name]
        subprocess.run(keygen, env=environment(work), check=True, capture_output=True)
    allow = work / "allow"
    allow.mkdir()
    shutil.copy(keys / "client.key", allow)
    server = start_server(work / "curve", "--curve-keys", str(keys), "--allow", str(allow))
    try:
        keyless = work / "keyless.json"
        keyless.write_text(json.dumps({**json.loads(server.connection_file.read_text()), "server_public_key": None}))

        def run() -> tuple[str, str]:
            started = time.monotonic()
            try:
                SketchClient(keyless, client_keys=keys / "client.key_secret").close()
            except MrossError as error:
                seconds = time.monotonic() - started
                good = "uses CurveZMQ" in str(error) and seconds < 4
                return ("clean" if good else "wrong"), f"{type(error).__name__} after {seconds:.1f} s: {error}"
            return "wrong", "connected without CURVE"

        h.case("protocol", "connection file without the CURVE key", run)
    finally:
        server.stop()


def faults(h: Harness, work: Path) -> None:
    cat = "faults"
    photo = work / "fault.png"
    Image.open(SAMPLE_PHOTO).save(photo)
    before = sha256(photo)

    def sketch_until_round_1(out: Path, after_round_1: Callable[[subprocess.Popen[str]], None], server: ServerProcess | None) -> tuple[int, str]:
        command = [sys.executable, "-m", "mross_server.cli", "sketch", str(photo), "-o", str(out), "--roi", "185,190,230,145"]
        command += ["--preset", "test", "--strokes", "8", "--iterations", "40", "--device", "cpu"]
        if server is not None:
            command += ["--server", str(server.connection_file)]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment(work))
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if line.startswith("round 1/2 done"):
                after_round_1(process)
                break
        rest = process.stderr.read()
        return process.wait(timeout=120), "".join(lines) + rest

    def kept(out: Path, status: int, stderr: str, expected_status: int) -> tuple[str, str]:
        partial = out.with_name(out.stem + ".partial.svg")
        if sha256(photo) != before:
            return "lost", "the input photo changed"
        if not partial.exists() or len(read_svg(partial)[2]) != 1:
            return "lost", f"no partial SVG with round 1 (exit {status}): {stderr[-200:]!r}"
        if status != expected_status or "Traceback" in stderr:
            return "crash", f"exit {status}: {stderr[-200:]!r}"
        return "clean", f"exit {status}, round 1 kept in {partial.name}"

    def killed() -> tuple[str, str]:
        doomed = start_server(work / "doomed")
        out = work / "killed.svg"
        status, stderr = sketch_until_round_1(out, lambda _: doomed.stop(signal.SIGKILL), doomed)
        return kept(out, status, stderr, cli.EXIT_FAILED)

    def restarted() -> tuple[str, str]:
        port = str(free_port())
        first = start_server(work / "restarted", "--port", port)
        second: list[ServerProcess] = []
        out = work / "restarted.svg"
        try:
            def crash_and_restart(_: subprocess.Popen[str]) -> None:
                first.stop(signal.SIGKILL)
                second.append(start_server(work / "restarted", "--port", port))

            status, stderr = sketch_until_round_1(out, crash_and_restart, first)
        finally:
            for server in second:
                server.stop()
        return kept(out, status, stderr, cli.EXIT_FAILED)

    def interrupted() -> tuple[str, str]:
        out = work / "interrupted.svg"
        status, stderr = sketch_until_round_1(out, lambda process: process.send_signal(signal.SIGINT), None)
        return kept(out, status, stderr, cli.EXIT_CANCELLED)

    h.case(cat, "server killed after round 1 (--server)", killed)
    h.case(cat, "server restarted after round 1 (--server)", restarted)
    h.case(cat, "Ctrl-C after round 1 (local)", interrupted)

    def killed_client() -> tuple[str, str]:
        script = (
            "import sys\nfrom mross_shared.client import SketchClient\nfrom mross_shared.messages import JobParams\n"
            "with SketchClient(sys.argv[2]) as c:\n"
            "    j = c.submit(open(sys.argv[1],'rb').read(), (), JobParams(strokes=8, preset='test', iterations=20000))\n"
            "    print(j, flush=True)\n    [e for e in c.events(j)]\n"
        )
        command = [sys.executable, "-c", script, str(SAMPLE_PHOTO), str(h.server.connection_file)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment(work))
        assert process.stdout is not None
        job_id = process.stdout.readline().strip()
        time.sleep(1.0)
        process.kill()
        process.wait()
        killed_at = time.monotonic()
        with SketchClient(h.server.connection_file) as client:
            while client.status(job_id).state.value not in ("cancelled", "done", "failed"):
                if time.monotonic() - killed_at > 15:
                    return "crash", "the killed client's job still runs after 15 s"
                time.sleep(0.2)
            return "clean", f"job {client.status(job_id).state.value} {time.monotonic() - killed_at:.1f} s after its client died"

    h.case(cat, "client killed mid-job", killed_client)


def outputs(h: Harness, work: Path) -> None:
    cat = "output paths"
    folder = work / "outputs"
    folder.mkdir()
    photo = folder / "p.png"
    Image.open(SAMPLE_PHOTO).save(photo)
    renamed = folder / "photo.svg"
    renamed.write_bytes(SAMPLE_PHOTO.read_bytes())
    (folder / "link.svg").symlink_to(photo)
    stroke_svg = folder / "s.svg"
    stroke_svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M 1 1 C 2 2 3 3 4 4"/></svg>')
    inputs = [photo, renamed, stroke_svg]
    quick = ("--preset", "test", "--strokes", "6", "--iterations", "2", "--device", "cpu", "--quiet")

    def refused(args: tuple[str, ...], fragment: str) -> Callable[[], tuple[str, str]]:
        def run() -> tuple[str, str]:
            sums = {path: sha256(path) for path in inputs}
            listing = sorted(p.name for p in folder.iterdir())
            status, stderr = mross(*args)
            if {path: sha256(path) for path in inputs} != sums:
                return "lost", "an input changed"
            if sorted(p.name for p in folder.iterdir()) != listing:
                return "wrong", f"files appeared: {sorted({p.name for p in folder.iterdir()} - set(listing))}"
            if status == cli.EXIT_INTERNAL or "Traceback" in stderr:
                return "crash", stderr.strip()
            if status != 2 or fragment not in stderr or len(stderr.strip().splitlines()) != 1:
                return "wrong", f"exit {status}: {stderr.strip()}"
            return "clean", stderr.strip()

        return run

    cases = [
        ("-o the photo itself (named .svg)", ("sketch", str(renamed), "-o", str(renamed), *quick), "is the input"),
        ("-o a symlink to the photo", ("sketch", str(photo), "-o", str(folder / "link.svg"), *quick), "is the input"),
        ("-o the photo (.png)", ("sketch", str(photo), "-o", str(photo), *quick), "must be a .svg file name"),
        ("-o result.png", ("sketch", str(photo), "-o", str(folder / "result.png"), *quick), "must be a .svg file name"),
        ("--preview the photo", ("sketch", str(photo), "-o", str(folder / "x.svg"), "--preview", str(photo), *quick), "is the input"),
        ("-o into a missing directory", ("sketch", str(photo), "-o", str(folder / "nope" / "x.svg"), *quick), "does not exist"),
        ("-o a directory", ("sketch", str(photo), "-o", str(folder), *quick), "must be a .svg file name"),
        ("render -o its own input", ("render", str(stroke_svg), "-o", str(stroke_svg)), "must be a .png file name"),
        ("render of a text file", ("render", str(folder / "p.png"), "-o", str(folder / "r.png")), "is not a stroke SVG"),
        ("--roi nan,1,2,3", ("sketch", str(photo), "-o", str(folder / "x.svg"), "--roi", "nan,1,2,3", *quick), "finite number"),
        ("--roi 0,0,inf,10", ("sketch", str(photo), "-o", str(folder / "x.svg"), "--roi", "0,0,inf,10", *quick), "finite number"),
        ("--roi 1e308,0,5,5", ("sketch", str(photo), "-o", str(folder / "x.svg"), "--roi", "1e308,0,5,5", *quick), "finite number"),
        ("--roi-weight 1e300", ("sketch", str(photo), "-o", str(folder / "x.svg"), "--roi-weight", "1e300", *quick), "roi_weight"),
        ("--objective 1e41*ink", ("sketch", str(photo), "-o", str(folder / "x.svg"), "--objective", "1" + "0" * 41 + "*ink", *quick), "at most 1000"),
    ]
    for name, args, fragment in cases:
        h.case(cat, name, refused(args, fragment))

    def local_bad_photo(data: bytes, fragment: str) -> Callable[[], tuple[str, str]]:
        path = folder / f"bad-{hashlib.sha1(data[:64]).hexdigest()[:8]}.png"
        path.write_bytes(data)
        inputs.append(path)
        return refused(("sketch", str(path), "-o", str(folder / "x.svg"), *quick), fragment)

    for name, data, fragment in (
        ("local: bomb PNG", png_declaring(20_000, 20_000), "too many to decode safely"),
        ("local: 9000×9000 PNG", png_declaring(9_000, 9_000), "the limit is"),
        ("local: truncated JPEG", SAMPLE_PHOTO.read_bytes()[:3000], "not an image"),
        ("local: text", b"hello", "not an image"),
        ("local: empty file", b"", "not an image"),
    ):
        h.case(cat, name, local_bad_photo(data, fragment))

    def preview_beside() -> tuple[str, str]:
        sums = sha256(photo)
        status, stderr = mross("sketch", str(photo), "-o", str(folder / "p.svg"), *quick)
        if sha256(photo) != sums:
            return "lost", "the photo changed"
        if status != 0 or not (folder / "p.preview.png").exists():
            return "wrong", f"exit {status}: {stderr.strip()}"
        return "clean", "p.png -o p.svg wrote p.svg and p.preview.png"

    h.case(cat, "p.png -o p.svg (preview beside)", preview_beside)


def limits(h: Harness) -> None:
    cat = "limits"
    photo = SAMPLE_PHOTO.read_bytes()
    every_limit = JobParams(strokes=1024, sketches=16, iterations=20_000)
    rois = [RoiBox(10, 10, 50, 50)] * 32
    h.case(cat, "every limit at once (the ~22-day job)", lambda: h.refused(h.job(photo, rois, every_limit), {ErrorCode.LIMIT_EXCEEDED}, "the job is too large"))
    h.case(cat, "33 ROIs", lambda: h.refused(h.job(photo, [RoiBox(10, 10, 50, 50)] * 33, QUICK), {ErrorCode.LIMIT_EXCEEDED}, "33 ROIs"))
    long_job = JobParams(iterations=20_000, strokes=1024, sketches=2)
    h.case(
        cat, "20,000 iterations × 1,024 strokes × 2 sketches, 2 ROIs",
        lambda: h.refused(h.job(photo, rois[:2], long_job), {ErrorCode.LIMIT_EXCEEDED}, "iterations"),
    )
    h.case(cat, "bad input exits 2 through the server", lambda: exit_status_through_server(h))


def exit_status_through_server(h: Harness) -> tuple[str, str]:
    args = ("sketch", str(SAMPLE_PHOTO), "-o", str(h.work / "x.svg"), "--roi", "900,10,5,5", "--quiet")
    status, stderr = mross(*args, "--server", str(h.server.connection_file))
    return ("clean" if status == cli.EXIT_USAGE else "wrong"), f"exit {status}: {stderr.strip()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the work files in this directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mross-abuse-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MROSS_CONFIG_DIR"] = str(work / "config")
    started = time.monotonic()
    server = start_server(work / "config")
    memory: dict[str, float] = {}
    baseline = peak_mb(server.process.pid)
    harness = Harness(work, server)
    try:
        bad_photos(harness, memory)
        bad_fields(harness)
        protocol_abuse(harness)
        curve_mismatch(harness, work)
        faults(harness, work)
        outputs(harness, work)
        limits(harness)
    finally:
        server.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report(harness.outcomes, memory, baseline, time.monotonic() - started)
    bad = sum(o.verdict != "clean" for o in harness.outcomes)
    return 0 if bad == 0 and all(mb <= MEMORY_TARGET_MB for mb in memory.values()) else 1


def report(outcomes: list[Outcome], memory: dict[str, float], baseline: float, seconds: float) -> None:
    categories = list(dict.fromkeys(o.category for o in outcomes))
    print(f"\n{'category':16s} {'tried':>6s} {'clean':>6s} {'wrong':>6s} {'crash':>6s} {'lost':>6s}")
    totals = dict.fromkeys(VERDICTS, 0)
    for category in categories:
        counts = {v: sum(o.category == category and o.verdict == v for o in outcomes) for v in VERDICTS}
        for verdict, count in counts.items():
            totals[verdict] += count
        print(f"{category:16s} {sum(counts.values()):6d} " + " ".join(f"{counts[v]:6d}" for v in VERDICTS))
    print(f"{'all':16s} {len(outcomes):6d} " + " ".join(f"{totals[v]:6d}" for v in VERDICTS))
    for outcome in outcomes:
        if outcome.verdict != "clean":
            print(f"  {outcome.verdict}: {outcome.category} / {outcome.case}: {outcome.detail}")
    print(f"\nserver memory: {baseline:.0f} MB after start-up; peak while sketching (target <= {MEMORY_TARGET_MB} MB):")
    for name, mb in memory.items():
        print(f"  {mb:6.0f} MB  {name}")
    print(f"{seconds:.0f} s in all")
    print(json.dumps({
        "tried": len(outcomes), **totals, "server_startup_mb": round(baseline),
        "server_peak_mb": {name: round(mb) for name, mb in memory.items()}, "memory_target_mb": MEMORY_TARGET_MB,
        "memory_ok": all(mb <= MEMORY_TARGET_MB for mb in memory.values()), "seconds": round(seconds),
    }))


if __name__ == "__main__":
    sys.exit(main())
