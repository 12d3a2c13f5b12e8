"""Over a thousand malformed, random, forged and replayed messages against a live `mross-server`.

Every message must be answered with an `error` (or dropped), the server must still run a valid job
afterwards, and its log must hold exactly one line per rejected message and no traceback. After
each fuzz message the prober sends a valid `status` request; the replies that come before its answer
are the server's reaction to the fuzz message (a ROUTER serves one connection in order).
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mross_shared import connection
from mross_shared.client import SketchClient
from mross_shared.messages import PROTOCOL_VERSION, SERVER_MESSAGES, Done, Error, Hello, JobParams, Limits, Status, StatusRequest
from mross_shared.protocol import DELIMITER, Codec
from mross_shared.signing import Signer
from tests.server_process import SAMPLE_PHOTO, ServerProcess, start_server

FUZZ_SETTINGS = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} mross-server (INFO|WARNING): ")
HELD_BACK = re.compile(r"held back (\d+) more warnings like the above")
CLIENT_TYPES = ["hello", "submit", "cancel", "finish", "status", "ping"]
# Contents that are valid or nearly so, for mutation. The submit's image frame is never a real
# image, so even a mutation that happens to be valid is rejected (bad_image) instead of running.
BASE_CONTENT = {
    "submit": {
        "job_id": "fuzz-job",
        "rois": [{"x": 1, "y": 2, "width": 3, "height": 4}],
        "params": {"strokes": 8, "preset": "test", "iterations": 2},
        "strokes": [{"d": "M 1 2 C 3 4 5 6 7 8", "width": 1.5, "color": "#000000"}],
        "frozen": [0],
        "preview": True,
    },
    "cancel": {"job_id": "fuzz-job"},
    "finish": {"job_id": "fuzz-job"},
    "ping": {"job_id": "fuzz-job"},
    "status": {"job_id": "fuzz-job"},
    "hello": {"client": "fuzz"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


class Prober:
    """A raw DEALER socket that sends arbitrary frames and collects what the server answers to each."""

    def __init__(self, info: connection.ConnectionInfo) -> None:
        self.key = info.key_bytes
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(info.endpoint)
        self.codec = Codec(self.key, SERVER_MESSAGES, Limits())
        self.sent = 0
        self.errors = 0

    def signed(self, header: Any, content: Any, binary: list[bytes], key: bytes | None = None) -> list[bytes]:
        """A message with arbitrary header and content JSON, signed with `key` (the server's by default)."""
        body = [_json(header), _json(content), *binary]
        return [DELIMITER, Signer(key or self.key).sign(body), *body]

    def probe(self, frames: list[bytes]) -> list[Any]:
        """Send `frames`, then a valid status request; return the replies that came before its answer."""
        self.socket.send_multipart(frames)
        self.sent += 1
        marker = self.codec.encode(StatusRequest())
        self.socket.send_multipart(marker.frames)
        replies = []
        while True:
            assert self.socket.poll(10_000), "the server stopped answering"
            envelope = self.codec.decode(self.socket.recv_multipart())
            if envelope.header.parent_id == marker.msg_id and isinstance(envelope.message, Status):
                return replies
            replies.append(envelope.message)

    def expect_rejected_or_dropped(self, frames: list[bytes]) -> None:
        """Probe, allowing only `error` replies, or the answer to a mutation that became a valid hello/status."""
        replies = self.probe(frames)
        assert len(replies) <= 1, replies
        assert all(isinstance(reply, (Error, Status, Hello)) for reply in replies), replies
        self.errors += sum(isinstance(reply, Error) for reply in replies)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("ascii")  # non-ASCII (even lone surrogates) is \u-escaped


def header_for(msg_type: str, **changes: Any) -> dict[str, Any]:
    header = {"version": PROTOCOL_VERSION, "msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": "fuzz", "time": time.time(), "parent_id": None}
    header.update(changes)
    return header


@st.composite
def mutated(draw, document: Any) -> Any:
    """`document` with one value replaced, one key or item removed, or one key or item added."""
    document = copy.deepcopy(document)
    places = list(_places(document))
    container, key = draw(st.sampled_from(places))
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        container[key] = draw(json_values)
    elif action == "remove":
        del container[key]
    elif isinstance(container, dict):
        container[draw(st.text(max_size=12))] = draw(json_values)
    else:
        container.append(draw(json_values))
    return document


def _places(document: Any):
    items = document.items() if isinstance(document, dict) else enumerate(document)
    for key, value in list(items):
        yield document, key
        if isinstance(value, (dict, list)) and value:
            yield from _places(value)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    process = start_server(tmp_path_factory.mktemp("fuzz"), "--client-timeout", "60")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def prober(server) -> Prober:
    prober = Prober(connection.read(server.connection_file))
    yield prober
    prober.context.destroy(linger=0)


raw_frames = st.lists(st.binary(max_size=120), min_size=1, max_size=12)


@settings(max_examples=350, **FUZZ_SETTINGS)
@given(frames=raw_frames, envelope=st.booleans())
def test_random_frames(prober, frames, envelope):
    prober.expect_rejected_or_dropped([DELIMITER, *frames] if envelope else frames)


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(msg_type=st.sampled_from(CLIENT_TYPES), data=st.data())
def test_signed_messages_with_a_mutated_header(prober, msg_type, data):
    header = data.draw(mutated(header_for(msg_type)))
    prober.expect_rejected_or_dropped(prober.signed(header, BASE_CONTENT[msg_type], [b"not an image"] if msg_type == "submit" else []))


@settings(max_examples=400, **FUZZ_SETTINGS)
@given(msg_type=st.sampled_from(CLIENT_TYPES), data=st.data(), image=st.binary(max_size=64))
def test_signed_messages_with_mutated_content(prober, msg_type, data, image):
    content = data.draw(mutated(BASE_CONTENT[msg_type]))
    binary = [b"GIF87a" + image] if msg_type == "submit" else []
    prober.expect_rejected_or_dropped(prober.signed(header_for(msg_type), content, binary))


@settings(max_examples=120, **FUZZ_SETTINGS)
@given(attack=st.sampled_from(["other key", "no signature", "cut signature", "replay", "stale", "future"]), job=st.uuids())
def test_forged_replayed_and_stale_messages(prober, attack, job):
    content = {"job_id": job.hex}
    header = header_for("ping", time=time.time() + {"stale": -3600, "future": 3600}.get(attack, 0))
    frames = prober.signed(header, content, [], key=b"a key that is not the server's!!" if attack == "other key" else None)
    if attack == "no signature":
        frames[1] = b""
    elif attack == "cut signature":
        frames[1] = frames[1][:32]
    elif attack == "replay":
        prober.expect_rejected_or_dropped(frames)  # unknown_job the first time
    prober.expect_rejected_or_dropped(frames)


def test_oversized_frame_is_dropped_by_libzmq_and_the_server_carries_on(prober, server):
    """A frame above MAXMSGSIZE never reaches the application: libzmq closes that connection."""
    with zmq.Context() as context, context.socket(zmq.DEALER) as rogue:
        rogue.linger = 0
        rogue.connect(connection.read(server.connection_file).endpoint)
        rogue.send_multipart([DELIMITER, b"x" * (Limits().max_total_bytes + 1)])
        assert rogue.poll(1000) == 0
    errors = prober.errors
    prober.expect_rejected_or_dropped([DELIMITER, b"sig", b"{}", b"{}"])
    assert prober.errors == errors + 1  # still answering


def test_server_still_runs_a_job_and_logged_every_rejection_at_a_bounded_rate(prober, server):
    with SketchClient(server.connection_file) as client:
        job_id = client.submit(SAMPLE_PHOTO.read_bytes(), [], JobParams(strokes=8, preset="test"))
        assert isinstance(list(client.events(job_id))[-1], Done)
    assert prober.sent >= 1000
    server.stop()  # a clean stop writes the summary of the last rate window
    lines = server.log().splitlines()
    assert all(LOG_LINE.match(line) for line in lines), [line for line in lines if not LOG_LINE.match(line)][:5]
    written = sum("rejected a message from client" in line for line in lines)
    held = sum(int(match.group(1)) for line in lines if (match := HELD_BACK.search(line)))
    assert written + held == prober.errors, "each rejection is either a line of its own or counted in a summary"
    assert "Traceback" not in server.log()

