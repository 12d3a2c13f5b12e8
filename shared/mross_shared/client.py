"""The sketch client: submit a photo with ROIs to a running `mross-server`, stream its events, cancel.

    with SketchClient() as client:              # default connection file; or an endpoint / file path
        job_id = client.submit(png_bytes, [RoiBox(10, 20, 100, 80)], JobParams(strokes=32))
        for event in client.events(job_id):    # ProgressUpdate, PreviewUpdate, RoundUpdate ..., then Done
            ...

The socket, signing and decoding live in `channel.py`; this module is the job API on top: which reply
answers which request, each job's stream of events, pings while waiting (the server cancels jobs whose
client went quiet), a silence timeout and an overall deadline. A `SketchClient` belongs to the thread
that made it, as its zmq socket does.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mross_shared import connection
from mross_shared.channel import ServerChannel
from mross_shared.errors import ErrorCode, JobCancelled, JobFailed, NotAuthorised, ProtocolError, ServerUnreachable
from mross_shared.messages import (
    Accepted,
    Cancel,
    ClientMessage,
    Done,
    Error,
    Finish,
    Hello,
    HelloRequest,
    JobParams,
    Ping,
    PreviewUpdate,
    ProgressUpdate,
    RoiBox,
    RoundUpdate,
    Status,
    StatusRequest,
    StrokePath,
    Submit,
)
from mross_shared.protocol import Encoded, Envelope, check_frame_limits

#: A reply a request waits for.
Reply = TypeVar("Reply", Hello, Accepted, Status)
#: What `events` yields.
JobEvent = ProgressUpdate | PreviewUpdate | RoundUpdate | Done

_TICK_S = 0.25


class SketchClient:
    """A connection to one sketch server, checked with a `hello` before the constructor returns.

    `target`: an endpoint (`tcp://127.0.0.1:5555`, signing key from `key` or the default connection
    file), a connection-file path, or None for the default connection file. `client_keys`: this
    client's CurveZMQ `.key_secret` file, needed only when the server uses CURVE (default: the one
    `mross-server keygen` writes into the config directory).

    Raises:
        ServerUnreachable: no connection file, or nothing answered within `connect_timeout_s`.
        NotAuthorised: the server rejected this client's key.
    """

    def __init__(
        self,
        target: str | Path | None = None,
        *,
        key: bytes | None = None,
        client_keys: Path | None = None,
        connect_timeout_s: float = 4.0,
        silence_timeout_s: float = 15.0,
        deadline_s: float | None = None,
        ping_interval_s: float = 2.0,
    ) -> None:
        try:
            info = connection.locate(target, key)
        except connection.ConnectionFileError as error:
            raise ServerUnreachable(str(error)) from None
        self.endpoint = info.endpoint
        self._connect_timeout_s = connect_timeout_s
        self._silence_timeout_s = silence_timeout_s
        self._deadline_s = deadline_s
        self._ping_interval_s = ping_interval_s
        self._inbox: dict[str, deque[Envelope[Any]]] = {}
        self._channel = ServerChannel(info, client_keys)
        try:
            self.server: Hello = self._request(
                HelloRequest(), Hello, connect_timeout_s,
                f"MROSS server not reachable at {self.endpoint} — start it with `mross-server`",
            )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SketchClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection at once, discarding anything unsent."""
        self._channel.close()

    def submit(
        self,
        image: bytes,
        rois: Sequence[RoiBox] = (),
        params: JobParams | None = None,
        job_id: str | None = None,
        *,
        strokes: Sequence[StrokePath] = (),
        frozen: Sequence[int] = (),
        preview: bool = False,
    ) -> str:
        """Upload a photo (encoded PNG/JPEG/... bytes) with ROIs in its pixels; return the job id once queued.

        `strokes` (photo pixels) continue a sketch, those indexed by `frozen` staying where they are;
        `preview` asks for PreviewUpdate events with the strokes as they stand.

        Raises:
            JobFailed: a malformed job id or stroke, the server's limits broken, or the server refused the job (code says why).
        """
        try:
            message = Submit(
                job_id or uuid.uuid4().hex, bytes(image), tuple(rois), params or JobParams(), tuple(strokes), tuple(frozen), preview
            )
            encoded = self._channel.encode(message)
            check_frame_limits(encoded.frames, self.server.limits)
            self.server.limits.check_submit(message)
        except ProtocolError as error:
            raise JobFailed(error.code, str(error)) from None
        self._inbox[message.job_id] = deque()
        self._channel.transmit(encoded)
        try:
            self._await_reply(encoded, Accepted, self._silence_timeout_s)
        except BaseException:
            del self._inbox[message.job_id]
            raise
        return message.job_id

    def events(
        self, job_id: str, cancelled: Callable[[], bool] | None = None, finish: Callable[[], bool] | None = None
    ) -> Iterator[JobEvent]:
        """Yield the job's ProgressUpdate, PreviewUpdate and RoundUpdate events as they arrive, then its Done.

        `cancelled` and `finish` are polled about four times a second (so the caller's buttons may
        live in another thread): once `cancelled` returns True the job is cancelled; once `finish`
        does, the server ends the job early, delivering the round under way as it stands. Leaving
        the loop early cancels the job too.

        Raises:
            JobCancelled: the job was cancelled.
            JobFailed: the server reported an error, lost the job (restart), or the deadline passed.
            ServerUnreachable: the server went silent for `silence_timeout_s`.
        """
        if job_id not in self._inbox:
            raise ValueError(f"job {job_id} was not submitted through this client, or its events were already read")
        started = last_ping = time.monotonic()
        cancel_sent = finish_sent = finished = False
        try:
            while True:
                now = time.monotonic()
                if self._deadline_s is not None and now - started > self._deadline_s:
                    raise JobFailed(ErrorCode.DEADLINE, f"job {job_id} did not finish within {self._deadline_s:.0f} s, so it was cancelled")
                if not cancel_sent and cancelled is not None and cancelled():
                    self._channel.send(Cancel(job_id))
                    cancel_sent = True
                if not finish_sent and finish is not None and finish():
                    self._channel.send(Finish(job_id))
                    finish_sent = True
                if now - last_ping >= self._ping_interval_s:
                    self._channel.send(Ping(job_id))
                    last_ping = now
                envelope = self._next_for(job_id)
                if envelope is None:
                    if time.monotonic() - self._channel.last_heard > self._silence_timeout_s:
                        raise ServerUnreachable(self._silent_message(self._silence_timeout_s))
                    continue
                message = envelope.message
                if isinstance(message, Error):
                    finished = True
                    raise _job_error(message, self.endpoint)
                if isinstance(message, (ProgressUpdate, PreviewUpdate, RoundUpdate, Done)):
                    finished = isinstance(message, Done)
                    yield message
                    if finished:
                        return
        except NotAuthorised:
            # Mid-job, a key the server no longer accepts means a new server process took the port.
            raise JobFailed(ErrorCode.JOB_LOST, f"the MROSS server at {self.endpoint} was restarted and lost job {job_id} — submit it again") from None
        finally:
            self._inbox.pop(job_id, None)
            if not finished and not self._channel.closed:
                self._channel.send(Cancel(job_id))

    def cancel(self, job_id: str) -> Status:
        """Ask the server to cancel a job; returns its state (the job's events then end with JobCancelled)."""
        return self._request(Cancel(job_id), Status, self._connect_timeout_s)

    def status(self, job_id: str | None = None) -> Status:
        """Where a job stands (`unknown` if the server never saw it), or just the queue length."""
        return self._request(StatusRequest(job_id), Status, self._connect_timeout_s)

    # ---- plumbing ---------------------------------------------------------------------------------

    def _request(self, message: ClientMessage, reply_type: type[Reply], timeout_s: float, unreachable: str | None = None) -> Reply:
        return self._await_reply(self._channel.send(message), reply_type, timeout_s, unreachable)

    def _await_reply(self, request: Encoded, reply_type: type[Reply], timeout_s: float, unreachable: str | None = None) -> Reply:
        """The reply to `request`; ServerUnreachable with `unreachable` (or a generic sentence) after `timeout_s`."""
        end = time.monotonic() + timeout_s
        while (remaining := end - time.monotonic()) > 0:
            envelope = self._channel.receive(remaining)
            if envelope is None:
                break
            message = envelope.message
            # Errors about an undecodable message cannot name it, so they answer whatever is pending.
            if envelope.header.parent_id in (request.msg_id, None):
                if isinstance(message, Error):
                    raise JobFailed(message.code, message.message)
                if isinstance(message, reply_type):
                    return message
            self._stash(envelope)
        raise ServerUnreachable(unreachable or self._silent_message(timeout_s))

    def _next_for(self, job_id: str) -> Envelope[Any] | None:
        inbox = self._inbox[job_id]
        end = time.monotonic() + _TICK_S
        while not inbox:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            envelope = self._channel.receive(remaining)
            if envelope is not None:
                self._stash(envelope)
        return inbox.popleft()

    def _stash(self, envelope: Envelope[Any]) -> None:
        inbox = self._inbox.get(getattr(envelope.message, "job_id", None) or "")
        if inbox is not None:
            inbox.append(envelope)

    def _silent_message(self, waited_s: float) -> str:
        return f"the MROSS server at {self.endpoint} stopped answering (no reply within {waited_s:.0f} s)"


def _job_error(error: Error, endpoint: str) -> Exception:
    if error.code is ErrorCode.CANCELLED:
        return JobCancelled(error.message)
    if error.code is ErrorCode.UNKNOWN_JOB:
        return JobFailed(ErrorCode.JOB_LOST, f"the MROSS server at {endpoint} no longer knows this job (was it restarted?) — submit it again")
    return JobFailed(error.code, error.message)
