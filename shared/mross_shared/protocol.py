"""Messages to ZeroMQ frames and back: delimiter, signature, JSON header and content, binary frames.

On the wire (after any routing ids a ROUTER adds) a message is

    [b"<MROSS|MSG>", signature, header-json, content-json, *binary-frames]

modelled on Jupyter's session.py: an explicit delimiter, a header with `version`, `msg_type`,
`msg_id` and the `parent_id` of the request it answers, and an HMAC-SHA256 signature (see
signing.py) over every frame after the signature. Binary fields (the photo) are raw frames, never
base64 in JSON. No sockets here, so the codec can be tested and fuzzed on its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.fields import bad_field, binary_fields, from_json, to_json
from mross_shared.messages import PROTOCOL_VERSION, Limits
from mross_shared.signing import ReplayGuard, Signer

DELIMITER = b"<MROSS|MSG>"
#: Delimiter, signature, header and content: the frames every message has.
FIXED_FRAMES = 4

M = TypeVar("M")


@dataclass(frozen=True)
class Header:
    """Who sent what, when (Unix seconds, used for replay protection) and in answer to which message."""

    version: int
    msg_id: str
    msg_type: str
    session: str
    time: float
    parent_id: str | None = None

    def __post_init__(self) -> None:
        # Ids are echoed back in replies, so a huge one must not get through.
        for name in ("msg_id", "msg_type", "session", "parent_id"):
            if len(getattr(self, name) or "") > 64:
                raise bad_field(f"field 'header.{name}' must be at most 64 characters")


@dataclass(frozen=True)
class Envelope(Generic[M]):
    """A decoded, verified message and its header."""

    header: Header
    message: M


@dataclass(frozen=True)
class Encoded:
    """Frames ready to send, and the `msg_id` a reply will name as its `parent_id`."""

    msg_id: str
    frames: tuple[bytes, ...]


def check_frame_limits(frames: Sequence[bytes], limits: Limits) -> None:
    """Raise a ProtocolError if `frames` (delimiter onwards) break the frame count or size limits.

    The server runs this on every message before hashing it; the client runs it against the limits
    in the server's `hello` before uploading a photo.
    """
    if len(frames) > limits.max_frames:
        raise ProtocolError(ErrorCode.TOO_MANY_FRAMES, f"the message has {len(frames)} frames; at most {limits.max_frames} are allowed")
    total = sum(len(frame) for frame in frames)
    if total > limits.max_total_bytes:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, f"the message is {total:,} bytes; at most {limits.max_total_bytes:,} are allowed")
    for index, frame in enumerate(frames):
        limit = limits.max_json_bytes if index in (2, 3) else limits.max_frame_bytes
        if len(frame) > limit:
            raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"frame {index} is {len(frame):,} bytes; at most {limit:,} are allowed")


class Codec:
    """Encodes outgoing messages and decodes, verifies and validates incoming ones for one peer role.

    `accepts` maps msg_type to message class for the direction this side receives
    (`CLIENT_MESSAGES` on the server, `SERVER_MESSAGES` on the client). A codec remembers the
    signatures it has accepted, so each side needs its own and uses it from one thread.
    """

    def __init__(
        self,
        key: bytes,
        accepts: Mapping[str, type],
        limits: Limits,
        replay_window_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = Signer(key)
        self._accepts = accepts
        self._limits = limits
        self._replay = ReplayGuard(replay_window_s, clock)
        self._clock = clock
        self._session = uuid.uuid4().hex

    def encode(self, message: Any, parent_id: str | None = None) -> Encoded:
        """Sign and serialize a message dataclass; `parent_id` is the msg_id of the request it answers."""
        cls = type(message)
        header = Header(PROTOCOL_VERSION, uuid.uuid4().hex, cls.msg_type, self._session, self._clock(), parent_id)
        body = [_dump(to_json(header)), _dump(to_json(message)), *(getattr(message, name) for name in binary_fields(cls))]
        return Encoded(header.msg_id, (DELIMITER, self._signer.sign(body), *body))

    def decode(self, frames: Sequence[bytes]) -> Envelope[Any]:
        """Check limits, signature, replay, version, type and every field of a received message.

        `frames` start at the delimiter (routing ids already removed).

        Raises:
            ProtocolError: with the code of the first rule the message breaks.
        """
        if not frames or frames[0] != DELIMITER:
            raise ProtocolError(ErrorCode.BAD_FRAMES, f"the message does not start with the {DELIMITER.decode()} delimiter frame")
        if len(frames) < FIXED_FRAMES:
            raise ProtocolError(ErrorCode.BAD_FRAMES, "the message lacks its signature, header or content frame")
        check_frame_limits(frames, self._limits)
        signature, header_frame, content_frame, *binary = frames[1:]
        self._signer.verify(signature, frames[2:])
        header = _header(header_frame)
        if header.version != PROTOCOL_VERSION:
            raise ProtocolError(ErrorCode.BAD_VERSION, f"the peer speaks protocol version {str(header.version)[:12]}; this side speaks {PROTOCOL_VERSION}")
        self._replay.check(signature, header.time)
        cls = self._accepts.get(header.msg_type)
        if cls is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {header.msg_type[:40]!r}; expected one of {', '.join(self._accepts)}")
        names = binary_fields(cls)
        if len(binary) != len(names):
            raise ProtocolError(ErrorCode.BAD_FRAMES, f"a {header.msg_type!r} message carries {len(names)} binary frame(s), not {len(binary)}")
        content = _load(content_frame, "content")
        return Envelope(header, from_json(cls, content, dict(zip(names, binary, strict=True))))


def _header(frame: bytes) -> Header:
    try:
        return from_json(Header, _load(frame, "header"), where="header")
    except ProtocolError as error:
        raise ProtocolError(ErrorCode.BAD_HEADER, str(error)) from None


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _load(frame: bytes, what: str) -> Any:
    try:
        return json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays ("[[[[...") exhaust the parser's stack.
        raise ProtocolError(ErrorCode.BAD_JSON, f"the {what} frame is not valid UTF-8 JSON") from None
