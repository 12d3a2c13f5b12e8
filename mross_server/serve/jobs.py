"""The server's book of jobs: active ones (queued or running) in submission order, and recent outcomes.

Owned by the I/O thread alone; the worker only ever sees a Job's cancel Event.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from mross_server.serve.runner import Job
from mross_shared.messages import JobState, ProgressUpdate


@dataclass
class JobRecord:
    """What the I/O thread tracks per active job. Times are time.monotonic() seconds.

    `peer`: the client's routing id; `submit_id`: msg_id of its `submit`, the parent of every
    message of the job's stream; `progress`: the newest progress from the worker, `progress_pending`
    until it has been sent.
    """

    job: Job
    peer: bytes
    submit_id: str
    last_seen: float
    last_sent: float
    state: JobState = JobState.QUEUED
    progress: ProgressUpdate | None = None
    progress_pending: bool = False


class JobTable:
    """Active jobs by id, plus the final state of the last `history` finished jobs (for `status`)."""

    def __init__(self, history: int = 256) -> None:
        self._active: dict[str, JobRecord] = {}
        self._finished: OrderedDict[str, JobState] = OrderedDict()
        self._history = history

    def add(self, record: JobRecord) -> None:
        """Start tracking a newly accepted job."""
        self._active[record.job.job_id] = record

    def get(self, job_id: str) -> JobRecord | None:
        """The active job with this id, if any."""
        return self._active.get(job_id)

    def records(self) -> list[JobRecord]:
        """Active jobs, oldest first (a snapshot, safe to change the table while iterating)."""
        return list(self._active.values())

    def known(self, job_id: str) -> bool:
        """Whether the id is active or among the remembered finished jobs."""
        return job_id in self._active or job_id in self._finished

    def state(self, job_id: str) -> JobState:
        """The job's current or final state; `unknown` if never seen or forgotten."""
        record = self._active.get(job_id)
        if record is not None:
            return record.state
        return self._finished.get(job_id, JobState.UNKNOWN)

    def queue_position(self, job_id: str) -> int:
        """1 for the next job to run, 2 behind it, …; 0 when running, finished or unknown."""
        queued = [record.job.job_id for record in self._active.values() if record.state is JobState.QUEUED]
        return queued.index(job_id) + 1 if job_id in queued else 0

    @property
    def queue_length(self) -> int:
        """How many jobs wait to start."""
        return sum(record.state is JobState.QUEUED for record in self._active.values())

    def finish(self, job_id: str, state: JobState) -> None:
        """Move a job from active to the finished history with its final state."""
        self._active.pop(job_id, None)
        self._finished[job_id] = state
        while len(self._finished) > self._history:
            self._finished.popitem(last=False)
