"""The sketch client: submit a photo with ROIs to a running `mross-server`, stream its events, cancel.

    with SketchClient() as client:              # default connection file; or an endpoint / file path
        job_id = client.submit(png_bytes, [RoiBox(10, 20, 100, 80)], JobParams(strokes=32))
        for event in client.events(job_id):    # ProgressUpdate, RoundUpdate ..., then Done
            ...

One DEALER socket (LINGER 0, so closing never hangs on a dead server) with a fixed routing id, so
a reconnect after a network blip keeps receiving the same job. While it waits the client pings the
server (the server cancels jobs whose client went quiet) and gives up after a silence timeout or an
overall deadline. A `SketchClient` belongs to the thread that made it, as its zmq socket does.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from mross_shared import connection
from mross_shared.errors import ErrorCode, JobCancelled, JobFailed, NotAuthorised, ProtocolError, ServerUnreachable
from mross_shared.messages import (
    SERVER_MESSAGES,
    Accepted,
    Cancel,
    Done,
    Error,
    Hello,
    HelloRequest,
    JobParams,
    Limits,
    Ping,
    ProgressUpdate,
    RoiBox,
    RoundUpdate,
    Status,
    StatusRequest,
    Submit,
)
from mross_shared.protocol import Codec, Encoded, Envelope, check_frame_limits

#: What `events` yields.
JobEvent = ProgressUpdate | RoundUpdate | Done

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
            self._info = connection.locate(target, key)
        except connection.ConnectionFileError as error:
            raise ServerUnreachable(str(error)) from None
        self.endpoint = self._info.endpoint
        self._connect_timeout_s = connect_timeout_s
        self._silence_timeout_s = silence_timeout_s
        self._deadline_s = deadline_s
        self._ping_interval_s = ping_interval_s
        # Decoding limits for what the server sends; its own limits arrive in `hello`.
        self._codec = Codec(self._info.key_bytes, SERVER_MESSAGES, Limits())
        self._inbox: dict[str, deque[Envelope[Any]]] = {}
        self._last_heard = time.monotonic()
        self._public_key_file: Path | None = None
        self._context = zmq.Context()
        try:
            self._socket = self._open_socket(client_keys)
            self._monitor = self._socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
            self._socket.connect(self.endpoint)
            self.server: Hello = self._request(
                HelloRequest(), (Hello,), connect_timeout_s,
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
        """Close the socket at once, discarding anything unsent."""
        self._context.destroy(linger=0)

    def submit(self, image: bytes, rois: Sequence[RoiBox] = (), params: JobParams | None = None, job_id: str | None = None) -> str:
        """Upload a photo (encoded PNG/JPEG/... bytes) with ROIs in its pixels; return the job id once queued.

        Raises:
            JobFailed: a malformed job id, the server's limits broken, or the server refused the job (code says why).
        """
        try:
            message = Submit(job_id or uuid.uuid4().hex, bytes(image), tuple(rois), params or JobParams())
            encoded = self._codec.encode(message)
            check_frame_limits(encoded.frames, self.server.limits)
            self.server.limits.check_submit(message)
        except ProtocolError as error:
            raise JobFailed(error.code, str(error)) from None
        self._inbox[message.job_id] = deque()
        self._transmit(encoded)
        try:
            self._await_reply(encoded, (Accepted,), self._silence_timeout_s)
        except BaseException:
            del self._inbox[message.job_id]
            raise
        return message.job_id

    def events(self, job_id: str, cancelled: Callable[[], bool] | None = None) -> Iterator[JobEvent]:
        """Yield the job's ProgressUpdate and RoundUpdate events as they arrive, then its Done.

        `cancelled` is polled about four times a second; once it returns True the job is cancelled
        (so the caller's cancel button may live in another thread). Leaving the loop early cancels
        the job too.

        Raises:
            JobCancelled: the job was cancelled.
            JobFailed: the server reported an error, lost the job (restart), or the deadline passed.
            ServerUnreachable: the server went silent for `silence_timeout_s`.
        """
        if job_id not in self._inbox:
            raise ValueError(f"job {job_id} was not submitted through this client, or its events were already read")
        started = last_ping = time.monotonic()
        cancel_sent = finished = False
        try:
            while True:
                now = time.monotonic()
                if self._deadline_s is not None and now - started > self._deadline_s:
                    raise JobFailed(ErrorCode.DEADLINE, f"job {job_id} did not finish within {self._deadline_s:.0f} s, so it was cancelled")
                if not cancel_sent and cancelled is not None and cancelled():
                    self._send(Cancel(job_id))
                    cancel_sent = True
                if now - last_ping >= self._ping_interval_s:
                    self._send(Ping(job_id))
                    last_ping = now
                envelope = self._next_for(job_id)
                if envelope is None:
                    if time.monotonic() - self._last_heard > self._silence_timeout_s:
                        raise ServerUnreachable(self._silent_message(self._silence_timeout_s))
                    continue
                message = envelope.message
                if isinstance(message, Error):
                    finished = True
                    raise _job_error(message, self.endpoint)
                if isinstance(message, (ProgressUpdate, RoundUpdate, Done)):
                    finished = isinstance(message, Done)
                    yield message
                    if finished:
                        return
        except NotAuthorised:
            # Mid-job, a key the server no longer accepts means a new server process took the port.
            raise JobFailed(ErrorCode.JOB_LOST, f"the MROSS server at {self.endpoint} was restarted and lost job {job_id} — submit it again") from None
        finally:
            self._inbox.pop(job_id, None)
            if not finished and not self._socket.closed:
                self._send(Cancel(job_id))

    def cancel(self, job_id: str) -> Status:
        """Ask the server to cancel a job; returns its state (the job's events then end with JobCancelled)."""
        return self._request(Cancel(job_id), (Status,), self._connect_timeout_s)

    def status(self, job_id: str | None = None) -> Status:
        """Where a job stands (`unknown` if the server never saw it), or just the queue length."""
        return self._request(StatusRequest(job_id), (Status,), self._connect_timeout_s)

    # ---- plumbing ---------------------------------------------------------------------------------

    def _open_socket(self, client_keys: Path | None) -> zmq.Socket[bytes]:
        socket = self._context.socket(zmq.DEALER)
        socket.linger = 0
        socket.routing_id = uuid.uuid4().bytes
        if self._info.server_public_key:
            path = Path(client_keys) if client_keys else connection.default_client_keys()
            pair = connection.load_key_pair(path)
            if pair is None:
                raise NotAuthorised(f"the server at {self.endpoint} needs this client's CurveZMQ key pair, which is not at {path} — make one with `mross-server keygen`")
            socket.curve_publickey, socket.curve_secretkey = pair
            socket.curve_serverkey = self._info.server_public_key.encode("ascii")
            self._public_key_file = path.with_suffix(".key")
        return socket

    def _send(self, message: Any) -> Encoded:
        encoded = self._codec.encode(message)
        self._transmit(encoded)
        return encoded

    def _transmit(self, encoded: Encoded) -> None:
        # The send queue is full only when the server has been gone for a while; waiting for the
        # reply then reports it, and a lost ping or cancel does not matter.
        with contextlib.suppress(zmq.Again):
            self._socket.send_multipart(encoded.frames, flags=zmq.NOBLOCK, copy=False)

    def _request(self, message: Any, reply_types: tuple[type, ...], timeout_s: float, unreachable: str | None = None) -> Any:
        return self._await_reply(self._send(message), reply_types, timeout_s, unreachable)

    def _await_reply(self, request: Encoded, reply_types: tuple[type, ...], timeout_s: float, unreachable: str | None = None) -> Any:
        """The reply to `request`; ServerUnreachable with `unreachable` (or a generic sentence) after `timeout_s`."""
        end = time.monotonic() + timeout_s
        while (remaining := end - time.monotonic()) > 0:
            envelope = self._receive(remaining)
            if envelope is None:
                break
            # Errors about an undecodable message cannot name it, so they answer whatever is pending.
            if envelope.header.parent_id in (request.msg_id, None) and isinstance(envelope.message, (*reply_types, Error)):
                if isinstance(envelope.message, Error):
                    raise JobFailed(envelope.message.code, envelope.message.message)
                return envelope.message
            self._stash(envelope)
        raise ServerUnreachable(unreachable or self._silent_message(timeout_s))

    def _next_for(self, job_id: str) -> Envelope[Any] | None:
        inbox = self._inbox[job_id]
        end = time.monotonic() + _TICK_S
        while not inbox:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            envelope = self._receive(remaining)
            if envelope is not None:
                self._stash(envelope)
        return inbox.popleft()

    def _stash(self, envelope: Envelope[Any]) -> None:
        inbox = self._inbox.get(getattr(envelope.message, "job_id", None) or "")
        if inbox is not None:
            inbox.append(envelope)

    def _receive(self, timeout_s: float) -> Envelope[Any] | None:
        """The next verified message, or None after `timeout_s`."""
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        ready = dict(poller.poll(max(1, int(timeout_s * 1000))))
        if self._monitor in ready and recv_monitor_message(self._monitor)["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise NotAuthorised(
                f"the server at {self.endpoint} did not accept this client's CurveZMQ key (not authorised) — "
                f"ask its operator to add {self._public_key_file} to the server's --allow directory"
            )
        if self._socket not in ready:
            return None
        frames = self._socket.recv_multipart()
        self._last_heard = time.monotonic()
        try:
            return self._codec.decode(frames)
        except ProtocolError as error:
            if error.code is ErrorCode.BAD_SIGNATURE:
                raise NotAuthorised(
                    f"the server at {self.endpoint} signs with a different key than this client has — "
                    "use its current connection file (was the server restarted?)"
                ) from None
            raise JobFailed(error.code, f"the server sent a message this client cannot read: {error}") from None

    def _silent_message(self, waited_s: float) -> str:
        return f"the MROSS server at {self.endpoint} stopped answering (no reply within {waited_s:.0f} s)"


def _job_error(error: Error, endpoint: str) -> Exception:
    if error.code is ErrorCode.CANCELLED:
        return JobCancelled(error.message)
    if error.code is ErrorCode.UNKNOWN_JOB:
        return JobFailed(ErrorCode.JOB_LOST, f"the MROSS server at {endpoint} no longer knows this job (was it restarted?) — submit it again")
    return JobFailed(error.code, error.message)
