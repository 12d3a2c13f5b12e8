"""Protocol and transport overhead of the sketch server on loopback, for a 4 MB photo.

Starts a real `mross-server` (CPU) and talks to it over a raw DEALER socket with the protocol codec,
so the figures are the wire's cost, not the pipeline's:
  * hello round trip;
  * submit of a 4 MB photo -> `accepted` (upload, HMAC over 4 MB on both sides, header check);
  * round payload delivery: the `round` message's send time on the server (its header) to the
    client having verified and decoded it, for a 1024-stroke round;
  * the codec alone (sign+encode, verify+decode of the 4 MB submit), in this process.
Prints a table; the last line is one JSON object. Target: <= 100 ms for submit -> accepted.

    python benchmarks/roundtrip.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zmq
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from mross_shared import connection  # noqa: E402
from mross_shared.messages import (  # noqa: E402
    CLIENT_MESSAGES,
    SERVER_MESSAGES,
    Accepted,
    Cancel,
    Done,
    Hello,
    HelloRequest,
    JobParams,
    JobState,
    Limits,
    RoiBox,
    RoundUpdate,
    Status,
    StatusRequest,
    Submit,
)
from mross_shared.protocol import Codec, Envelope  # noqa: E402
from tests.server_process import SAMPLE_PHOTO, start_server  # noqa: E402

TARGET_MS = 100.0
PHOTO_BYTES = 4_000_000
ROUND_JOB = JobParams(strokes=1024, preset="test", iterations=1)
ROUND_ROIS = (RoiBox(200, 180, 250, 200), RoiBox(100, 20, 300, 180))


def noise_png(size_bytes: int) -> bytes:
    """A PNG of random RGB noise (which does not compress) of about `size_bytes`."""
    side = int((size_bytes / 3) ** 0.5)
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


class Peer:
    """A DEALER socket speaking the protocol, timing what it receives."""

    def __init__(self, info: connection.ConnectionInfo) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(info.endpoint)
        self.codec = Codec(info.key_bytes, SERVER_MESSAGES, Limits())

    def send(self, message: object) -> str:
        encoded = self.codec.encode(message)
        self.socket.send_multipart(encoded.frames, copy=False)
        return encoded.msg_id

    def receive(self) -> tuple[Envelope, float, int]:
        """The next message, the wall-clock time (time.time) at which it was decoded, and its size in bytes."""
        assert self.socket.poll(60_000), "the server went silent"
        frames = self.socket.recv_multipart()
        envelope = self.codec.decode(frames)
        return envelope, time.time(), sum(len(frame) for frame in frames)

    def wait_for(self, kind: type, parent_id: str) -> Envelope:
        """Skip messages until one of type `kind` answering `parent_id` arrives."""
        while True:
            envelope, _, _ = self.receive()
            if isinstance(envelope.message, kind) and envelope.header.parent_id == parent_id:
                return envelope


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def submit_to_accepted(peer: Peer, photo: bytes, repeats: int) -> list[float]:
    """Milliseconds from sending a 4 MB submit to its `accepted`, each job cancelled and gone before the next."""
    samples = []
    for index in range(repeats):
        job_id = f"bench-ack-{index}"
        started = time.perf_counter()
        msg_id = peer.send(Submit(job_id, photo, (), JobParams(strokes=8, preset="test", iterations=1)))
        peer.wait_for(Accepted, msg_id)
        samples.append((time.perf_counter() - started) * 1000)
        peer.send(Cancel(job_id))
        # Let the worker go idle so that every sample starts from the same state.
        while peer.wait_for(Status, peer.send(StatusRequest(job_id))).message.state is not JobState.CANCELLED:
            time.sleep(0.05)
    return samples


def round_delivery(peer: Peer, photo: bytes, jobs: int) -> tuple[list[float], int]:
    """Milliseconds from the server encoding each `round` to this side having decoded it; and one round's size."""
    samples, size = [], 0
    for index in range(jobs):
        msg_id = peer.send(Submit(f"bench-round-{index}", photo, ROUND_ROIS, ROUND_JOB))
        while True:
            envelope, at, size_bytes = peer.receive()
            if envelope.header.parent_id != msg_id:
                continue
            if isinstance(envelope.message, RoundUpdate):
                samples.append((at - envelope.header.time) * 1000)
                size = size_bytes
            if isinstance(envelope.message, Done):
                break
    return samples, size


def row(name: str, samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"name": name, "median_ms": statistics.median(ordered), "p90_ms": ordered[int(0.9 * (len(ordered) - 1))], "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    photo = noise_png(PHOTO_BYTES)
    client_codec, server_codec = Codec(b"k" * 32, SERVER_MESSAGES, Limits()), Codec(b"k" * 32, CLIENT_MESSAGES, Limits())
    submit = Submit("bench", photo, (), JobParams())
    encode_ms = timed(lambda: client_codec.encode(submit), args.repeats)
    decode_ms = timed(lambda: server_codec.decode(client_codec.encode(submit).frames), args.repeats)
    decode_ms = [total - encode for total, encode in zip(decode_ms, encode_ms, strict=True)]

    with tempfile.TemporaryDirectory() as config_dir:
        server = start_server(Path(config_dir))
        try:
            peer = Peer(connection.read(server.connection_file))
            peer.wait_for(Hello, peer.send(HelloRequest()))  # connect before timing
            hello_ms = timed(lambda: peer.wait_for(Hello, peer.send(HelloRequest())), args.repeats * 2)
            ack_ms = submit_to_accepted(peer, photo, args.repeats)
            delivery_ms, round_bytes = round_delivery(peer, SAMPLE_PHOTO.read_bytes(), jobs=3)
            peer.context.destroy(linger=0)
        finally:
            server.stop()

    rows = [
        row("codec: sign + encode 4 MB submit (in process)", encode_ms),
        row("codec: verify + decode 4 MB submit (in process)", decode_ms),
        row("hello round trip", hello_ms),
        row("submit 4 MB photo -> accepted", ack_ms),
        row(f"round delivery ({ROUND_JOB.strokes} paths, {round_bytes / 1024:.0f} KiB)", delivery_ms),
    ]
    print(f"photo: {len(photo):,} bytes PNG; loopback TCP; {args.repeats} repeats")
    print(f"{'measurement':58} {'median ms':>10} {'p90 ms':>8} {'n':>4}")
    for r in rows:
        print(f"{r['name']:58} {r['median_ms']:10.2f} {r['p90_ms']:8.2f} {r['n']:4}")
    ack = statistics.median(ack_ms)
    print(f"target check: submit -> accepted = {ack:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    print(json.dumps({
        "photo_bytes": len(photo),
        "rows": rows,
        "submit_to_accepted_ms": ack,
        "round_delivery_ms": statistics.median(delivery_ms),
        "round_bytes": round_bytes,
        "hello_ms": statistics.median(hello_ms),
        "target_ms": TARGET_MS,
        "within_target": ack <= TARGET_MS and statistics.median(delivery_ms) <= TARGET_MS,
    }))


if __name__ == "__main__":
    main()
