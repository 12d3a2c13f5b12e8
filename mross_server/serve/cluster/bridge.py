"""The Ray bridge: a child process of the front door that is the Ray driver of the pool.

It joins the cluster, starts the workers (one actor per GPU, or CPU actors) and waits until each has
its engine warm, then does what the front door asks: one thread per running job streams the job's
events from its actor back over the pipe. A worker that dies is reported (`WorkerLost`) and awaited:
Ray restarts it (`WorkerBack`) unless it was killed for good (`WorkerGone`). Every second the bridge
checks that the head still answers; when it does not, the bridge says `ClusterLost` and exits, before
Ray's driver would end the process on its own a minute later.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import ray
from ray import ObjectRefGenerator
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError

from mross_server.serve.cluster.link import (
    NAMESPACE,
    BridgeMessage,
    CancelJob,
    ClusterLost,
    FinishJob,
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
from mross_server.serve.cluster.worker import SketchWorker
from mross_server.serve.dispatch import WorkerEvent
from mross_shared.errors import ErrorCode
from mross_shared.messages import Error, JobState, WorkerInfo

log = logging.getLogger("mross-server.ray")

#: A handle of a SketchWorker actor (Ray's type hints do not cover calls on actor methods).
Actor = Any

#: How often the bridge checks that the head answers, and how many misses in a row mean it is gone.
PROBE_INTERVAL_S = 1.0
PROBE_MISSES = 2
#: How long the workers together may take to load their engines.
WARM_UP_S = 600.0
#: A worker that Ray is restarting answers again within this long, or it counts as gone.
RESTART_WAIT_S = 600.0


class PoolError(Exception):
    """The pool cannot start; the message is one sentence for the operator."""


def main(link: Connection, settings: PoolSettings) -> None:
    """The bridge process: join, start the pool, report `Joined` and `PoolReady` (or `StartFailed`), then serve until the
    front door closes the link or the head goes away. Ends with os._exit: Ray's exit handlers would
    wait for a head that may be gone."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mross-server %(levelname)s: %(message)s")
    # Ctrl-C in the server's terminal reaches this process too; the front door decides when it ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ray.init(address=settings.address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=True)
        link.send(Joined())
        actors, workers = start_workers(settings)
    except PoolError as error:
        link.send(StartFailed(str(error)))
        os._exit(0)
    except (RayError, ConnectionError, ValueError) as error:
        link.send(StartFailed(f"cannot join the Ray cluster at {settings.address}: {_first_line(error)}"))
        os._exit(0)
    link.send(PoolReady(workers))
    if not Bridge(link, actors).serve(settings.address):
        ray.shutdown()
    os._exit(0)


def start_workers(settings: PoolSettings) -> tuple[dict[str, Actor], tuple[WorkerInfo, ...]]:
    """Start the pool's actors and wait until each has its engine warm; returns them by name, and their descriptions.

    Raises:
        PoolError: no GPU when one is asked for, too few free resources, or a worker's engine did not load.
    """
    address = settings.address
    gpus = int(ray.cluster_resources().get("GPU", 0))
    use_gpu = settings.device == "cuda" or (settings.device == "auto" and gpus > 0)
    if use_gpu and gpus == 0:
        raise PoolError(f"the Ray cluster at {address} has no GPU; start GPU nodes with `ray start --address {address} --num-gpus N`, or pass --device cpu")
    count = settings.workers or (gpus if use_gpu else 1)
    need_gpus, need_cpus = (count if use_gpu else 0), count * settings.worker_cpus
    free = ray.available_resources()
    if free.get("GPU", 0) < need_gpus or free.get("CPU", 0) < need_cpus:
        raise PoolError(
            f"the Ray cluster at {address} has {free.get('GPU', 0):g} GPU(s) and {free.get('CPU', 0):g} CPU(s) free, "
            f"but {count} worker(s) need {need_gpus} and {need_cpus:g}"
        )
    # Two calls at once: a job's `run`, and a `cancel` or `finish` for it. Ray restarts a worker whose process died.
    actor_class = ray.remote(SketchWorker)
    actors: dict[str, Actor] = {}
    for index in range(count):
        name = f"{settings.prefix}-{index}"
        options = actor_class.options(name=name, num_cpus=settings.worker_cpus, num_gpus=1 if use_gpu else 0, max_restarts=-1, max_concurrency=2)
        actors[name] = options.remote(name, "cuda" if use_gpu else "cpu", settings.clip_weights, settings.limits)
    try:
        described: list[WorkerInfo | str] = ray.get([actor.describe.remote() for actor in actors.values()], timeout=WARM_UP_S)
    except GetTimeoutError:
        raise PoolError(f"the {count} worker(s) did not load their engines within {WARM_UP_S:.0f} s") from None
    except RayActorError as error:
        raise PoolError(f"a worker died while loading its engine: {_first_line(error)}") from None
    workers = tuple(entry for entry in described if isinstance(entry, WorkerInfo))
    if len(workers) < count:
        raise PoolError(next(entry for entry in described if isinstance(entry, str)))
    return actors, workers


class Bridge:
    """Runs jobs on the actors as the front door asks, and tells it what happens."""

    def __init__(self, link: Connection, actors: dict[str, Actor]) -> None:
        self._link = link
        self._actors = actors
        # The link is written by every job's thread; each message must go out whole.
        self._send_lock = threading.Lock()

    def serve(self, address: str) -> bool:
        """Obey the front door until it closes the link (returns False) or the head is gone (True)."""
        misses = 0
        next_probe = time.monotonic() + PROBE_INTERVAL_S
        while True:
            if self._link.poll(max(0.0, next_probe - time.monotonic())):
                try:
                    command = self._link.recv()
                except EOFError:
                    return False
                if isinstance(command, RunJob):
                    threading.Thread(target=self._stream, args=(command,), name=f"job-{command.job_id}", daemon=True).start()
                elif isinstance(command, CancelJob):
                    self._actors[command.worker].cancel.remote(command.job_id)
                elif isinstance(command, FinishJob):
                    self._actors[command.worker].finish.remote(command.job_id)
            if time.monotonic() >= next_probe:
                misses = 0 if head_answers(address, PROBE_INTERVAL_S) else misses + 1
                if misses >= PROBE_MISSES:
                    self._send(ClusterLost(f"its head at {address} stopped answering"))
                    return True
                next_probe = time.monotonic() + PROBE_INTERVAL_S

    def _send(self, message: BridgeMessage) -> None:
        with self._send_lock:
            self._link.send(message)

    def _stream(self, run: RunJob) -> None:
        """Forward a job's events as its actor yields them; a dead actor becomes `WorkerLost`."""
        try:
            run_job = self._actors[run.worker].run.options(num_returns="streaming")
            stream: ObjectRefGenerator = run_job.remote(run)
            for ref in stream:
                self._send(JobEvent(run.worker, ray.get(ref)))
        except RayActorError as error:
            log.warning("worker %s died running job %s: %s", run.worker, run.job_id, _first_line(error))
            self._send(WorkerLost(run.worker))
            self._await_restart(run.worker)
        except RayError as error:  # not the worker's death: a bug on the way, so the job ends
            log.exception("job %s: its events could not be delivered", run.job_id)
            message = Error(ErrorCode.INTERNAL, f"the server failed on job {run.job_id} ({type(error).__name__}); its log has the details", run.job_id)
            self._send(JobEvent(run.worker, WorkerEvent(run.job_id, message, JobState.FAILED)))

    def _await_restart(self, name: str) -> None:
        """Wait for Ray to restart a dead worker; `WorkerBack` once its engine is warm, else `WorkerGone`."""
        deadline = time.monotonic() + RESTART_WAIT_S
        while time.monotonic() < deadline:
            try:
                described: WorkerInfo | str = ray.get(self._actors[name].describe.remote(), timeout=RESTART_WAIT_S)
            except ActorUnavailableError:
                time.sleep(PROBE_INTERVAL_S)  # still restarting
                continue
            except (RayActorError, GetTimeoutError) as error:
                log.warning("worker %s will not come back: %s", name, _first_line(error))
                break
            if isinstance(described, WorkerInfo):
                self._send(WorkerBack(described))
                return
            log.warning("worker %s was restarted, but: %s", name, described)
            break
        self._send(WorkerGone(name))


def _first_line(error: BaseException) -> str:
    """The first line of an exception's message (Ray's run to a dozen lines), or its type's name."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
