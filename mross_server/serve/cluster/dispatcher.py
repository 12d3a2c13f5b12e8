"""The dispatcher of a Ray-pool server: jobs run on a pool of Ray actors, each with a warm engine.

The front door never imports Ray. A child process, the bridge (`cluster/bridge.py`), is the Ray driver:
Ray ends a driver's process when the cluster's head has been gone for a minute, and the front door
must outlive that. One thread here owns the pool's book (`pool.WorkerPool`) and the bridge's pipe:
it hands waiting jobs to free workers, forwards cancels and finishes, turns the bridge's news into WorkerEvents
for the I/O thread, and, once the cluster is gone, fails the jobs it had and reconnects when the head
answers again. Until then new jobs are refused with `cluster_unavailable`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import zmq

from mross_server.job import required_backbones
from mross_server.serve.cluster.link import (
    BridgeMessage,
    CancelJob,
    ClusterLost,
    FinishJob,
    FrontDoorCommand,
    JobEvent,
    Joined,
    PoolReady,
    PoolSettings,
    RunJob,
    StartFailed,
    WorkerBack,
    WorkerGone,
    WorkerLost,
    head_answers,
)
from mross_server.serve.cluster.pool import WorkerPool
from mross_server.serve.dispatch import FINAL_STATES, Job, WorkerEvent, event_outlet
from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.messages import Error, JobState, WorkerInfo

log = logging.getLogger(__name__)

#: How long joining the cluster may take (Ray itself retries for minutes, e.g. when TLS settings differ),
#: and then warming every worker's engine (the bridge gives up a little earlier, with a better sentence).
JOIN_TIMEOUT_S = 60.0
WARM_UP_TIMEOUT_S = 900.0
#: How often a server whose cluster went away checks whether its head answers again.
RECONNECT_INTERVAL_S = 5.0
#: How long the head has to accept a TCP connection before it counts as not answering.
HEAD_TIMEOUT_S = 3.0


class ClusterError(Exception):
    """The pool cannot start; the message is one sentence for the operator."""


@dataclass(frozen=True)
class _Submitted:
    job: Job


@dataclass(frozen=True)
class _Cancelled:
    job: Job


@dataclass(frozen=True)
class _Finishing:
    job: Job


@dataclass(frozen=True)
class _BridgeExited:
    pass


_STOP = object()


class _Bridge:
    """The front door's end of a bridge process: its pipe, and a thread that posts what it says to an inbox."""

    def __init__(self, settings: PoolSettings) -> None:
        context = multiprocessing.get_context("spawn")  # no fork: this process runs threads and zmq
        self.link, child_end = context.Pipe()
        self.process: BaseProcess = context.Process(target=_bridge_main, args=(child_end, settings), name="mross-ray-bridge", daemon=True)
        self.process.start()
        child_end.close()

    def await_ready(self, address: str) -> tuple[WorkerInfo, ...]:
        """Wait for the bridge to join the cluster and start the pool; the workers, or ClusterError with one sentence."""
        joined = self._receive(
            JOIN_TIMEOUT_S,
            f"could not join the Ray cluster at {address} within {JOIN_TIMEOUT_S:.0f} s; if its nodes use TLS (RAY_USE_TLS) "
            "or token authentication (RAY_AUTH_MODE), start this server with the same settings",
        )
        assert isinstance(joined, Joined), f"the bridge's first message was {joined!r}"
        ready = self._receive(WARM_UP_TIMEOUT_S, f"the Ray pool at {address} did not start within {WARM_UP_TIMEOUT_S:.0f} s")
        assert isinstance(ready, PoolReady), f"the bridge's second message was {ready!r}"
        return ready.workers

    def _receive(self, timeout_s: float, too_late: str) -> BridgeMessage:
        """The bridge's next message during start-up; ClusterError (and the bridge ended) on `StartFailed`, silence or exit."""
        if not self.link.poll(timeout_s):
            self.close()
            raise ClusterError(too_late)
        try:
            message: BridgeMessage = self.link.recv()
        except EOFError:
            self.close()
            raise ClusterError(f"the Ray bridge process ended while starting the pool (exit status {self.process.exitcode})") from None
        if isinstance(message, StartFailed):
            self.close()
            raise ClusterError(message.reason)
        return message

    def listen(self, inbox: queue.Queue[object]) -> None:
        """Post each message of the bridge (then `_BridgeExited`) to `inbox`, tagged with this bridge, from a thread."""

        def pump() -> None:
            while True:
                try:
                    message = self.link.recv()
                except (EOFError, OSError):
                    inbox.put((self, _BridgeExited()))
                    return
                inbox.put((self, message))

        threading.Thread(target=pump, name="mross-ray-link", daemon=True).start()

    def send(self, command: FrontDoorCommand) -> None:
        """Pass a command to the bridge (a lost bridge is noticed by the listening thread)."""
        try:
            self.link.send(command)
        except OSError:
            log.warning("the Ray bridge process is gone; dropped a %s", type(command).__name__)

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the pipe, which ends the bridge (and with it the workers Ray ran for it); kill it if it lingers."""
        self.link.close()
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _bridge_main(link: Connection, settings: PoolSettings) -> None:
    # Read when Ray is imported: the workers' lines reach the server's log as plain text, and every one
    # of them (Ray would fold lines that differ only in their job ids).
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Imported in the child only: this is where Ray enters.
    from mross_server.serve.cluster.bridge import main

    main(link, settings)


class ClusterDispatcher:
    """Runs jobs on a pool of Ray actors; see the module docstring. `connect` joins the cluster, `start` serves."""

    def __init__(self, settings: PoolSettings) -> None:
        self.events: queue.SimpleQueue[WorkerEvent] = queue.SimpleQueue()
        self._settings = settings
        self._inbox: queue.Queue[object] = queue.Queue()
        self._bridge: _Bridge | None = None
        self._pool = WorkerPool()
        # Written by the dispatch thread, read by the I/O thread: each a whole new value, never changed in place.
        self._workers: tuple[WorkerInfo, ...] = ()
        self._capabilities: tuple[frozenset[str], ...] = ()
        self._unavailable: str | None = f"the server has not joined the Ray cluster at {settings.address} yet"
        self._thread: threading.Thread | None = None

    def connect(self) -> None:
        """Join the cluster and wait until every worker has its engine warm (start-up; blocks).

        Raises:
            ClusterError: the head does not answer, or the pool could not start (one sentence).
        """
        address = self._settings.address
        if not head_answers(address, HEAD_TIMEOUT_S):
            raise ClusterError(f"no Ray cluster answers at {address}; start its head with `ray start --head --port PORT`, or check the address")
        bridge = _Bridge(self._settings)
        workers = bridge.await_ready(address)
        bridge.listen(self._inbox)
        self._bridge, self._pool = bridge, WorkerPool(workers)
        self._publish()
        self._unavailable = None

    def start(self, context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str) -> None:
        """Start the dispatch thread."""
        self._thread = threading.Thread(target=self._run, args=(context, wake_endpoint), name="mross-ray-dispatch", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the dispatch thread is still alive."""
        return self._thread is not None and self._thread.is_alive()

    def enqueue(self, job: Job) -> None:
        """Queue a job for the pool.

        Raises:
            ProtocolError: `cluster_unavailable` while the cluster is away; `bad_input` when no worker has the backbones the job needs.
        """
        if self._unavailable is not None:
            raise ProtocolError(ErrorCode.CLUSTER_UNAVAILABLE, self._unavailable)
        needed = required_backbones(job.params)
        if not any(needed <= backbones for backbones in self._capabilities):
            raise ProtocolError(ErrorCode.BAD_INPUT, f"this job needs {', '.join(sorted(needed))}, which no worker of the Ray pool has loaded")
        self._inbox.put(_Submitted(job))

    def cancel(self, job: Job) -> None:
        """Stop a job: a waiting one never starts, a running one stops within an iteration of its worker."""
        job.cancel.set()
        self._inbox.put(_Cancelled(job))

    def finish(self, job: Job) -> None:
        """Stop and keep: a running job ends within an iteration of its worker, with the round under way."""
        job.finish.set()
        self._inbox.put(_Finishing(job))

    def workers(self) -> tuple[WorkerInfo, ...]:
        """The pool's workers that are up, busy or not."""
        return self._workers

    def stop(self, timeout_s: float) -> None:
        """Stop the dispatch thread and the bridge (which ends the workers' actors)."""
        self._inbox.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._bridge is not None:
            self._bridge.close(timeout_s)

    # ---- the dispatch thread ----------------------------------------------------------------------

    def _run(self, context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str) -> None:
        with event_outlet(self.events, context, wake_endpoint) as report:
            while True:
                try:
                    item = self._inbox.get(timeout=None if self._bridge is not None else RECONNECT_INTERVAL_S)
                except queue.Empty:
                    self._reconnect()
                    continue
                if item is _STOP:
                    return
                self._handle(item, report)
                if self._bridge is not None:
                    for worker, job in self._pool.assign():
                        log.info("job %s goes to Ray worker %s", job.job_id, worker)
                        waited = time.monotonic() - job.submitted_at
                        self._bridge.send(RunJob(worker, job.job_id, job.image, job.rois, job.params, waited, job.start, job.preview))
                self._publish()

    def _publish(self) -> None:
        """Let the I/O thread see the pool as it is now."""
        self._workers, self._capabilities = self._pool.workers(), self._pool.capabilities()

    def _handle(self, item: object, report: Callable[[WorkerEvent], None]) -> None:
        if isinstance(item, _Submitted):
            if self._bridge is None:  # the cluster went away after enqueue checked
                report(_unavailable_event(item.job.job_id, self._unavailable or "the Ray cluster is unavailable"))
            else:
                self._pool.add(item.job)
        elif isinstance(item, _Cancelled):
            worker = self._pool.cancel(item.job.job_id)
            if worker is not None and self._bridge is not None:
                self._bridge.send(CancelJob(worker, item.job.job_id))
        elif isinstance(item, _Finishing):
            worker = self._pool.worker_of(item.job.job_id)
            if worker is not None and self._bridge is not None:
                self._bridge.send(FinishJob(worker, item.job.job_id))
        elif isinstance(item, tuple):
            bridge, message = item
            if bridge is self._bridge:  # a replaced bridge's last words no longer matter
                self._on_bridge(message, report)

    def _on_bridge(self, message: BridgeMessage | _BridgeExited, report: Callable[[WorkerEvent], None]) -> None:
        if isinstance(message, JobEvent):
            event = message.event
            if event.state is JobState.RUNNING:
                job = self._pool.started(event.job_id)
                if job is not None and self._bridge is not None:  # cancelled or finished on its way to the worker
                    if job.cancel.is_set():
                        self._bridge.send(CancelJob(message.worker, job.job_id))
                    elif job.finish.is_set():
                        self._bridge.send(FinishJob(message.worker, job.job_id))
            elif event.state in FINAL_STATES:
                self._pool.finished(event.job_id)
            report(event)
        elif isinstance(message, WorkerLost):
            lost = self._pool.lost(message.worker)
            if lost is not None:
                report(lost)
        elif isinstance(message, WorkerBack):
            log.info("Ray worker %s is back (%s)", message.worker.name, message.worker.device)
            self._pool.back(message.worker)
        elif isinstance(message, WorkerGone):
            log.warning("Ray worker %s is gone for good", message.worker)
            for job in self._pool.gone(message.worker):
                report(_unavailable_event(job.job_id, f"no worker left in the Ray pool can run job {job.job_id}; it was not finished"))
            if not self._pool.capabilities():  # start a fresh pool
                self._lose_cluster("no worker is left in the Ray pool", report)
        else:
            reason = message.reason if isinstance(message, ClusterLost) else "the Ray bridge process ended"
            self._lose_cluster(reason, report)

    def _lose_cluster(self, reason: str, report: Callable[[WorkerEvent], None]) -> None:
        """Fail every job the pool had, refuse new ones, and start looking for the head again."""
        address = self._settings.address
        log.error("the Ray cluster at %s is unavailable: %s; refusing jobs until it answers again", address, reason)
        self._unavailable = f"the Ray cluster at {address} is unavailable ({reason}); try again later"
        for job in self._pool.jobs():
            report(_unavailable_event(job.job_id, f"the Ray cluster at {address} went away ({reason}); job {job.job_id} was not finished"))
        self._pool = WorkerPool()
        self._publish()
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    def _reconnect(self) -> None:
        """Join the cluster again if its head answers (blocks while the workers warm up)."""
        if not head_answers(self._settings.address, HEAD_TIMEOUT_S):
            return
        log.info("the Ray head at %s answers again; starting the pool", self._settings.address)
        try:
            self.connect()
        except ClusterError as error:
            log.warning("could not rejoin the Ray cluster: %s", error)
            return
        log.info("rejoined the Ray cluster at %s with %d worker(s)", self._settings.address, len(self._workers))


def _unavailable_event(job_id: str, sentence: str) -> WorkerEvent:
    return WorkerEvent(job_id, Error(ErrorCode.CLUSTER_UNAVAILABLE, sentence, job_id), JobState.FAILED)
