"""Everything that can go wrong between the extension and the sketch server, as types.

`ProtocolError` is what the codec raises for a malformed message; the server turns it into an
`error` reply with the same code. The other exceptions are what `SketchClient` raises to its caller;
each message is one sentence that can be shown to an illustrator as is.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Machine-readable reason carried by every `error` message.

    A `str` mix-in rather than StrEnum: Inkscape 1.2 on Windows bundles Python 3.10.
    """

    BAD_FRAMES = "bad_frames"
    TOO_MANY_FRAMES = "too_many_frames"
    FRAME_TOO_LARGE = "frame_too_large"
    MESSAGE_TOO_LARGE = "message_too_large"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"
    STALE = "stale"
    BAD_JSON = "bad_json"
    BAD_HEADER = "bad_header"
    BAD_VERSION = "bad_version"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    LIMIT_EXCEEDED = "limit_exceeded"
    BAD_IMAGE = "bad_image"
    IMAGE_TOO_LARGE = "image_too_large"
    DUPLICATE_JOB = "duplicate_job"
    UNKNOWN_JOB = "unknown_job"
    QUEUE_FULL = "queue_full"
    BAD_INPUT = "bad_input"
    CANCELLED = "cancelled"
    SERVER_STOPPING = "server_stopping"
    INTERNAL = "internal"
    # A Ray-pool server only: the job's worker died twice, or the cluster is gone.
    WORKER_LOST = "worker_lost"
    CLUSTER_UNAVAILABLE = "cluster_unavailable"
    # Raised by the client only, never sent by the server.
    JOB_LOST = "job_lost"
    DEADLINE = "deadline"


class ProtocolError(ValueError):
    """A message that breaks the protocol; `code` says which rule, the message says how, in one sentence."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class MrossError(Exception):
    """Base class of the errors `SketchClient` raises."""


class ServerUnreachable(MrossError):
    """Nothing answered at the endpoint, or the server went silent mid-job."""


class NotAuthorised(MrossError):
    """The server rejected this client's CurveZMQ key or HMAC signature."""


class JobCancelled(MrossError):
    """The job was cancelled (by this client or another) before it finished."""


class JobFailed(MrossError):
    """The server (or the client's own checks) ended the job with an error `code` and a one-sentence `message`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
