"""The Ray pool's book of workers and waiting jobs: which job runs where, and what a lost worker means for its job.

Plain data, owned by the cluster dispatcher's thread; it knows nothing of Ray. The rules:
- a job goes only to a free worker that has loaded the backbones it needs (`required_backbones`),
  the oldest waiting job first, so the next job goes to whichever worker frees first; of several free
  workers, the one with the fewest backbones;
- a worker that dies mid-job sends its job back to the head of the queue, once: the job runs again
  from the start on whichever worker frees first. A job whose second worker dies too fails with
  `worker_lost`, so one job that crashes workers (e.g. out of GPU memory) cannot take the pool down.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from mross_server.job import required_backbones
from mross_server.serve.dispatch import Job, WorkerEvent
from mross_shared.errors import ErrorCode
from mross_shared.messages import Error, JobState, WorkerInfo

#: How many of its workers a job may lose before it fails.
MAX_LOSSES = 2


@dataclass
class _Seat:
    """A worker and the job it runs. `started`: the worker said `running` (so a cancel can reach it)."""

    info: WorkerInfo
    job: Job | None = None
    losses: int = 0
    started: bool = False
    up: bool = True


@dataclass(eq=False)
class _Waiting:
    """A job waiting for a worker, and how many workers it has lost so far."""

    job: Job
    losses: int = 0


class WorkerPool:
    """The workers by name, and the jobs waiting for one."""

    def __init__(self, workers: Iterable[WorkerInfo] = ()) -> None:
        self._seats = {info.name: _Seat(info) for info in workers}
        self._waiting: deque[_Waiting] = deque()

    def workers(self) -> tuple[WorkerInfo, ...]:
        """Every worker that is up, as `hello` reports it (busy = running a job)."""
        return tuple(dataclasses.replace(seat.info, busy=seat.job is not None) for seat in self._seats.values() if seat.up)

    def capabilities(self) -> tuple[frozenset[str], ...]:
        """The backbones of each worker, up or restarting after a crash: what jobs the pool can run."""
        return tuple(frozenset(seat.info.backbones) for seat in self._seats.values())

    def add(self, job: Job) -> None:
        """Queue a job behind those waiting."""
        self._waiting.append(_Waiting(job))

    def assign(self) -> list[tuple[str, Job]]:
        """Give waiting jobs, oldest first, to free workers that can run them; returns (worker, job) pairs
        now running. Jobs cancelled while waiting are dropped."""
        assigned = []
        for waiting in list(self._waiting):
            if waiting.job.cancel.is_set():
                self._waiting.remove(waiting)
                continue
            needed = required_backbones(waiting.job.params)
            free = [s for s in self._seats.values() if s.up and s.job is None and needed <= set(s.info.backbones)]
            if free:
                # The worker with the fewest backbones, keeping CLIP workers free for the jobs that need them.
                seat = min(free, key=lambda s: len(s.info.backbones))
                self._waiting.remove(waiting)
                seat.job, seat.losses, seat.started = waiting.job, waiting.losses, False
                assigned.append((seat.info.name, waiting.job))
        return assigned

    def started(self, job_id: str) -> Job | None:
        """The worker running `job_id` said `running`; returns the job (None if it is not running)."""
        seat = self._seat_of(job_id)
        if seat is None:
            return None
        seat.started = True
        return seat.job

    def finished(self, job_id: str) -> None:
        """The job ended (done, failed or cancelled); its worker is free."""
        seat = self._seat_of(job_id)
        if seat is not None:
            seat.job = None

    def cancel(self, job_id: str) -> str | None:
        """Drop a waiting job; for a running one whose worker has started it, return that worker's name
        (the caller tells the worker). A job not started yet gets its cancel once it starts (`started`)."""
        self._waiting = deque(w for w in self._waiting if w.job.job_id != job_id)
        return self.worker_of(job_id)

    def worker_of(self, job_id: str) -> str | None:
        """The name of the worker that has started `job_id`, or None (waiting, on its way, or not here)."""
        seat = self._seat_of(job_id)
        return seat.info.name if seat is not None and seat.started else None

    def lost(self, name: str) -> WorkerEvent | None:
        """Worker `name` died (it may come back, see `back`); what happens to its job, if it had one:
        `queued` again at the head of the queue, `cancelled` if it was being cancelled, or `failed`
        with `worker_lost` when this was its second worker."""
        seat = self._seats[name]
        seat.up = False
        job, seat.job = seat.job, None
        if job is None:
            return None
        if job.cancel.is_set():
            return WorkerEvent(job.job_id, Error(ErrorCode.CANCELLED, f"job {job.job_id} was cancelled", job.job_id), JobState.CANCELLED)
        # A worker that died before starting the job was not killed by it.
        losses = seat.losses + seat.started
        if losses >= MAX_LOSSES:
            message = f"job {job.job_id} was not finished: the sketch worker running it died {losses} times; the job may need more memory than a worker has"
            return WorkerEvent(job.job_id, Error(ErrorCode.WORKER_LOST, message, job.job_id), JobState.FAILED)
        self._waiting.appendleft(_Waiting(job, losses))
        return WorkerEvent(job.job_id, None, JobState.QUEUED)

    def back(self, info: WorkerInfo) -> None:
        """A lost worker was restarted (by Ray) and is free again."""
        self._seats[info.name] = _Seat(info)

    def gone(self, name: str) -> list[Job]:
        """Worker `name` is dead for good; returns the waiting jobs that no worker left can run (now dropped)."""
        del self._seats[name]
        stranded = [w for w in self._waiting if not any(required_backbones(w.job.params) <= b for b in self.capabilities())]
        self._waiting = deque(w for w in self._waiting if w not in stranded)
        return [w.job for w in stranded]

    def jobs(self) -> list[Job]:
        """Every job waiting or running, e.g. to tell their clients that the cluster went away."""
        return [seat.job for seat in self._seats.values() if seat.job is not None] + [w.job for w in self._waiting]

    def _seat_of(self, job_id: str) -> _Seat | None:
        return next((seat for seat in self._seats.values() if seat.job is not None and seat.job.job_id == job_id), None)
