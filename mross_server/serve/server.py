"""The sketch server's I/O thread: one ROUTER socket, answering at once while the workers compute.

The I/O thread owns the socket and the job table. It answers `hello`, `status`, `cancel`, `finish` and
`ping` immediately, hands `submit`s to its Dispatcher (one local engine, or a pool of Ray actors), forwards
the workers' progress, previews, rounds and results to the job's client as soon as they arrive, sends a
heartbeat `progress` per job at least every half second, tells a client at once when its job waits
again because its worker died, and cancels the job of a client that vanished (a send fails with
EHOSTUNREACH thanks to ROUTER_MANDATORY, or no message from it for `client_timeout_s`). Every
rejected message gets an `error` reply, never a traceback, and a rejected CURVE key is noted; both
are logged one line each, at most `log_burst` lines per `log_window_s` seconds and then one summary
line per window, so a flood of junk cannot flood the log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from mross_server.serve.curve import CurveKeys, secure
from mross_server.serve.dispatch import FINAL_STATES, Dispatcher, WorkerEvent, prepare_job
from mross_server.serve.jobs import JobRecord, JobTable
from mross_server.serve.log_limit import RateLimitedLog
from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.messages import (
    CLIENT_MESSAGES,
    Accepted,
    Cancel,
    Error,
    Finish,
    Hello,
    HelloRequest,
    JobState,
    Limits,
    Ping,
    ProgressUpdate,
    ServerMessage,
    Status,
    StatusRequest,
    Submit,
)
from mross_shared.protocol import Codec, Envelope

log = logging.getLogger(__name__)

#: Longest pause between two `progress` messages of an active job (the spec asks for >= 1 per second).
HEARTBEAT_S = 0.5
_TICK_MS = 100
#: Messages read per wake-up before the worker's events get a turn.
_BATCH = 64


@dataclass(frozen=True)
class ServerConfig:
    """How the server listens and what it accepts.

    `endpoint` is what to bind, e.g. `tcp://127.0.0.1:*` for a free port; `key` signs messages;
    `idle_exit_s` (None = never) ends `serve` after that long with no job and no message.
    """

    endpoint: str
    key: bytes
    limits: Limits
    server_version: str
    client_timeout_s: float = 10.0
    idle_exit_s: float | None = None
    max_queue: int = 32
    curve: CurveKeys | None = None
    log_burst: int = 20
    log_window_s: float = 10.0


class SketchServer:
    """Binds the ROUTER socket on construction; `serve` runs the I/O loop in the calling thread; `close` ends it."""

    def __init__(self, dispatcher: Dispatcher, config: ServerConfig) -> None:
        self._dispatcher = dispatcher
        self._config = config
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._router = self._context.socket(zmq.ROUTER)
        self._router.linger = 0
        self._router.router_mandatory = 1
        self._router.ipv6 = "[" in config.endpoint  # only for an IPv6 host, else the endpoint reads [::ffff:…]
        # libzmq drops a peer that sends a larger frame without telling anyone, so this is only a
        # backstop; the codec answers frames between max_frame_bytes and this size with an error.
        self._router.maxmsgsize = config.limits.max_total_bytes
        self._authenticator = secure(self._router, config.curve) if config.curve else None
        # The application never sees a rejected CURVE handshake; the socket monitor does.
        self._auth_failures = self._router.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        self._router.bind(config.endpoint)
        self.endpoint = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._wake_endpoint = f"inproc://mross-wake-{uuid.uuid4().hex}"
        self._wake = self._context.socket(zmq.PAIR)
        self._wake.linger = 0
        self._wake.bind(self._wake_endpoint)
        self._codec = Codec(config.key, CLIENT_MESSAGES, config.limits)
        self._jobs = JobTable()
        self._warnings = RateLimitedLog(log, config.log_burst, config.log_window_s)
        self._last_activity = time.monotonic()
        self._handlers: dict[type, Callable[[bytes, Envelope[Any]], None]] = {
            HelloRequest: self._on_hello,
            Submit: self._on_submit,
            Cancel: self._on_cancel,
            Finish: self._on_finish,
            StatusRequest: self._on_status,
            Ping: self._on_ping,
        }

    def serve(self, stop: threading.Event) -> None:
        """Answer clients until `stop` is set or the idle timeout passes."""
        self._dispatcher.start(self._context, self._wake_endpoint)
        poller = zmq.Poller()
        for socket in (self._router, self._wake, self._auth_failures):
            poller.register(socket, zmq.POLLIN)
        while not stop.is_set():
            ready = dict(poller.poll(_TICK_MS))
            if self._router in ready:
                self._read_requests()
            if self._wake in ready:
                self._read_worker_events()
            if self._auth_failures in ready:
                recv_monitor_message(self._auth_failures)
                self._warnings.warning("curve_key", "rejected a client's CurveZMQ key: it is not in the --allow directory")
            self._warnings.flush()
            now = time.monotonic()
            self._send_heartbeats(now)
            self._cancel_silent_clients(now)
            if self._idle_for(now):
                log.info("no job and no message for %.0f s; exiting (--idle-exit)", self._config.idle_exit_s)
                return

    def close(self) -> None:
        """Tell the clients of unfinished jobs that the server is stopping, cancel those jobs, close the sockets."""
        for record in self._jobs.records():
            self._dispatcher.cancel(record.job)
            job_id = record.job.job_id
            self._send_to_job(record, Error(ErrorCode.SERVER_STOPPING, f"the MROSS server is shutting down; job {job_id} did not finish", job_id))
        self._dispatcher.stop(timeout_s=5.0)
        self._warnings.close()
        if self._authenticator is not None:
            self._authenticator.stop()
        self._router.disable_monitor()
        for socket in (self._auth_failures, self._router, self._wake):
            socket.close(linger=0)
        if not self._dispatcher.running:
            self._context.term()

    # ---- requests ---------------------------------------------------------------------------------

    def _read_requests(self) -> None:
        for _ in range(_BATCH):
            try:
                peer, *frames = self._router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._on_request(peer, frames)

    def _on_request(self, peer: bytes, frames: list[bytes]) -> None:
        now = self._last_activity = time.monotonic()
        try:
            envelope = self._codec.decode(frames)
        except ProtocolError as error:
            self._reject(peer, error, None, None)
            return
        for record in self._jobs.records():
            if record.peer == peer:
                record.last_seen = now
        try:
            self._handlers[type(envelope.message)](peer, envelope)
        except ProtocolError as error:
            self._reject(peer, error, envelope.header.msg_id, getattr(envelope.message, "job_id", None))

    def _reject(self, peer: bytes, error: ProtocolError, parent_id: str | None, job_id: str | None) -> None:
        self._warnings.warning(error.code.value, "rejected a message from client %s: %s: %s", _label(peer), error.code.value, error)
        self._send(peer, Error(error.code, str(error), job_id), parent_id)

    def _on_hello(self, peer: bytes, envelope: Envelope[HelloRequest]) -> None:
        workers = self._dispatcher.workers()
        hello = Hello(
            server_version=self._config.server_version,
            limits=self._config.limits,
            devices=tuple(dict.fromkeys(worker.device for worker in workers)),
            backbones=tuple(dict.fromkeys(backbone for worker in workers for backbone in worker.backbones)),
            queue_length=self._jobs.queue_length,
            workers=workers,
        )
        self._send(peer, hello, envelope.header.msg_id)

    def _on_submit(self, peer: bytes, envelope: Envelope[Submit]) -> None:
        submit = envelope.message
        if self._jobs.known(submit.job_id):
            raise ProtocolError(ErrorCode.DUPLICATE_JOB, f"job id {submit.job_id} is already taken; use a new one")
        if self._jobs.queue_length >= self._config.max_queue:
            raise ProtocolError(ErrorCode.QUEUE_FULL, f"the server's queue is full ({self._config.max_queue} jobs); try again later")
        now = time.monotonic()
        job = prepare_job(submit, self._config.limits, now)
        self._dispatcher.enqueue(job)
        self._jobs.add(JobRecord(job, peer, envelope.header.msg_id, last_seen=now, last_sent=now))
        position = self._jobs.queue_position(job.job_id)
        log.info("job %s from client %s queued at position %d (%d ROIs, %d strokes)", job.job_id, _label(peer), position, len(job.rois), job.params.strokes)
        self._send(peer, Accepted(job.job_id, position), envelope.header.msg_id)

    def _on_cancel(self, peer: bytes, envelope: Envelope[Cancel]) -> None:
        self._on_stop_request(peer, envelope.message.job_id, envelope.header.msg_id, "cancel", lambda record: self._cancel(record, notify=True))

    def _on_finish(self, peer: bytes, envelope: Envelope[Finish]) -> None:
        self._on_stop_request(peer, envelope.message.job_id, envelope.header.msg_id, "finish", self._finish_early)

    def _on_stop_request(self, peer: bytes, job_id: str, msg_id: str, what: str, stop: Callable[[JobRecord], None]) -> None:
        """Apply `stop` to an active job and answer with its status; unknown jobs are an error."""
        record = self._jobs.get(job_id)
        if record is None and not self._jobs.known(job_id):
            raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"this server does not know job {job_id}")
        if record is not None:
            log.info("job %s: %s requested by client %s", job_id, what, _label(peer))
            stop(record)
        self._send(peer, self._status(job_id), msg_id)

    def _on_status(self, peer: bytes, envelope: Envelope[StatusRequest]) -> None:
        self._send(peer, self._status(envelope.message.job_id), envelope.header.msg_id)

    def _on_ping(self, peer: bytes, envelope: Envelope[Ping]) -> None:
        # The heartbeat itself was noted in _on_request; a ping only needs an answer when the job is
        # unknown, which tells a client that a restarted server lost its job.
        job_id = envelope.message.job_id
        if not self._jobs.known(job_id):
            raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"this server does not know job {job_id} (was it restarted?)")

    def _status(self, job_id: str | None) -> Status:
        if job_id is None:
            return Status(None, JobState.UNKNOWN, 0, self._jobs.queue_length)
        return Status(job_id, self._jobs.state(job_id), self._jobs.queue_position(job_id), self._jobs.queue_length)

    # ---- the worker's events ------------------------------------------------------------------------

    def _read_worker_events(self) -> None:
        while True:
            try:
                self._wake.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        while True:
            try:
                event = self._dispatcher.events.get_nowait()
            except queue.Empty:
                break
            self._on_worker_event(event)
        # Progress is coalesced: of a burst of fast iterations only the newest goes out.
        for record in self._jobs.records():
            self._flush_progress(record)

    def _on_worker_event(self, event: WorkerEvent) -> None:
        record = self._jobs.get(event.job_id)
        if record is None:
            return  # finished meanwhile, e.g. cancelled while queued
        if event.state in FINAL_STATES:
            self._finish(record, event.message, event.state)
        elif event.state is JobState.RUNNING:
            record.mark_running()
            log.info("job %s started", record.job.job_id)
        elif event.state is JobState.QUEUED:
            self._requeue(record)
        elif isinstance(event.message, ProgressUpdate):
            record.note_progress(event.message)
        elif event.message is not None:
            self._flush_progress(record)
            self._send_to_job(record, event.message)

    def _requeue(self, record: JobRecord) -> None:
        """The job's worker died and the dispatcher queued the job again: the client hears `queued` at once."""
        job_id = record.job.job_id
        if not record.requeue():  # the client cancelled it meanwhile; the dispatcher has dropped it
            self._finish(record, _cancelled(job_id), JobState.CANCELLED)
            return
        log.warning("job %s: its worker was lost; queued to run again from the start", job_id)
        self._send_to_job(record, record.heartbeat(self._jobs.queue_position(job_id), time.monotonic()))

    def _flush_progress(self, record: JobRecord) -> None:
        progress = record.take_progress()
        if progress is not None:
            self._send_to_job(record, progress)

    def _finish(self, record: JobRecord, message: ServerMessage | None, state: JobState) -> None:
        self._flush_progress(record)
        # Out of the table before sending: a failed send must not find the job still active.
        self._jobs.finish(record.job.job_id, state)
        self._last_activity = time.monotonic()
        reason = f": {message.code.value}: {message.message}" if isinstance(message, Error) else ""
        log.info("job %s %s%s", record.job.job_id, state.value, reason)
        if message is not None:
            self._send_to_job(record, message)

    # ---- timers -------------------------------------------------------------------------------------

    def _send_heartbeats(self, now: float) -> None:
        for record in self._jobs.records():
            if now - record.last_sent < HEARTBEAT_S:
                continue
            self._send_to_job(record, record.heartbeat(self._jobs.queue_position(record.job.job_id), now))

    def _cancel_silent_clients(self, now: float) -> None:
        timeout = self._config.client_timeout_s
        for record in self._jobs.records():
            if record.unfinished and now - record.last_seen > timeout:
                log.warning("job %s: no message from client %s for %.0f s; cancelling", record.job.job_id, _label(record.peer), timeout)
                self._cancel(record, notify=True)

    def _idle_for(self, now: float) -> bool:
        idle_exit = self._config.idle_exit_s
        return idle_exit is not None and not self._jobs.records() and now - self._last_activity >= idle_exit

    # ---- sending and cancelling -----------------------------------------------------------------

    def _finish_early(self, record: JobRecord) -> None:
        """Stop and keep: a running job delivers what it has; a queued one has nothing yet, so it is cancelled."""
        if record.state is JobState.QUEUED:
            self._cancel(record, notify=True)
        elif record.state is JobState.RUNNING:
            self._dispatcher.finish(record.job)

    def _cancel(self, record: JobRecord, notify: bool) -> None:
        """Stop a job: a queued one ends now (with an `error cancelled` if `notify`), a running one within an iteration."""
        self._dispatcher.cancel(record.job)
        if record.request_cancel():
            self._finish(record, _cancelled(record.job.job_id) if notify else None, JobState.CANCELLED)

    def _send_to_job(self, record: JobRecord, message: ServerMessage) -> None:
        record.last_sent = time.monotonic()
        self._send(record.peer, message, record.submit_id)

    def _send(self, peer: bytes, message: ServerMessage, parent_id: str | None) -> None:
        frames = self._codec.encode(message, parent_id).frames
        try:
            self._router.send_multipart([peer, *frames], zmq.NOBLOCK)
        except zmq.Again:
            self._warnings.warning("not_reading", "client %s is not reading its messages; dropped a %s message", _label(peer), message.msg_type)
        except zmq.ZMQError as error:
            if error.errno != zmq.EHOSTUNREACH:
                raise
            self._client_gone(peer)

    def _client_gone(self, peer: bytes) -> None:
        for record in self._jobs.records():
            if record.peer == peer and record.unfinished:
                log.warning("job %s: client %s disconnected; cancelling", record.job.job_id, _label(peer))
                self._cancel(record, notify=False)


def _cancelled(job_id: str) -> Error:
    return Error(ErrorCode.CANCELLED, f"job {job_id} was cancelled", job_id)


def _label(peer: bytes) -> str:
    """A short, log-safe name for a client's routing id."""
    return peer.hex()[:8]
