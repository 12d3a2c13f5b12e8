"""The server's book of jobs: active ones (queued or running) in submission order, and recent outcomes.

Owned by the I/O thread alone; the workers only ever see a Job's cancel and finish Events (set by the dispatcher).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from mross_server.serve.dispatch import Job
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

    def mark_running(self) -> None:
        """The worker picked the job up; a job already being cancelled stays `cancelling`."""
        if self.state is JobState.QUEUED:
            self.state = JobState.RUNNING

    def request_cancel(self) -> bool:
        """Note that the job was asked to stop. True when it ends at once (it was still queued); a running
        job becomes `cancelling` until the worker notices, within one iteration."""
        if self.state is JobState.RUNNING:
            self.state = JobState.CANCELLING
        return self.state is JobState.QUEUED

    def requeue(self) -> bool:
        """The job's worker died and the job waits to run again from the start; its old progress is void.
        False when it was being cancelled: then it ends instead."""
        if self.state is JobState.CANCELLING:
            return False
        self.state = JobState.QUEUED
        self.progress = None
        self.progress_pending = False
        return True

    def note_progress(self, progress: ProgressUpdate) -> None:
        """Keep the worker's newest progress until the I/O thread sends it (bursts are coalesced)."""
        self.progress = progress
        self.progress_pending = True

    @property
    def unfinished(self) -> bool:
        """Queued or running, and not yet asked to stop."""
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def heartbeat(self, queue_position: int, now: float) -> ProgressUpdate:
        """A `progress` for a job with nothing new to say: its newest progress (or its place in the
        queue before the first), with its current state and elapsed time."""
        elapsed = now - self.job.submitted_at
        if self.progress is None:
            return ProgressUpdate(self.job.job_id, self.state, queue_position, 0, 0, 0, 0, None, None, None, elapsed)
        return dataclasses.replace(self.progress, state=self.state, elapsed_s=elapsed)

    def take_progress(self) -> ProgressUpdate | None:
        """The progress not yet sent, stamped with the job's current state; None when there is none."""
        if not self.progress_pending or self.progress is None:
            return None
        self.progress_pending = False
        return dataclasses.replace(self.progress, state=self.state)


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
