"""Running jobs on an engine: `run_job` runs one and reports it as WorkerEvents; `JobRunner` is the
dispatcher of a single-engine server, one thread running jobs in order on the warm engine.

Cancelling, and finishing early ("stop and keep"), are the job's threading.Events, which the pipeline
polls every iteration. A job that asked for previews gets its strokes at most once every
PREVIEW_INTERVAL_S. `run_job` also serves the Ray pool's actors (`cluster/worker.py`), so a job reports
the same events wherever it runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

import zmq

from mross_server.job import Progress, RoundResult, SketchCancelled, SketchInputError, SketchParams, SketchResult, StartingStrokes
from mross_server.serve.dispatch import Job, WorkerEvent, event_outlet
from mross_server.serve.wire import done_message, preview_update, progress_update, round_update
from mross_shared.errors import ErrorCode
from mross_shared.messages import Error, JobState, RoiBox, WorkerInfo

log = logging.getLogger(__name__)

#: Shortest time between two `preview` messages of a job.
PREVIEW_INTERVAL_S = 1.0


class Engine(Protocol):
    """What the server needs of `mross_server.engine.pipeline.SketchEngine`."""

    @property
    def device(self) -> object:
        """Where the engine computes (a torch.device); only its str() is used, advertised in `hello`."""

    @property
    def backbones(self) -> tuple[str, ...]:
        """Names of the loaded loss networks, advertised in `hello`."""

    def sketch(
        self,
        image: bytes,
        rois: list[RoiBox],
        params: SketchParams,
        *,
        on_progress: Callable[[Progress], None],
        on_round: Callable[[RoundResult], None],
        cancelled: Callable[[], bool],
        finish: Callable[[], bool],
        start: StartingStrokes | None,
    ) -> SketchResult:
        """Run one job; see SketchEngine.sketch."""


def run_job(engine: Engine, job: Job, report: Callable[[WorkerEvent], None]) -> None:
    """Run `job` on `engine`: report `running`, then its progress and rounds as they happen, and last
    a final event (`done`, or an `error` that is one sentence for the user; a bug is logged in full)."""
    job_id = job.job_id
    report(WorkerEvent(job_id, None, JobState.RUNNING))
    started = time.monotonic()
    # Iterations finished after the cancel request; the log shows the pipeline stopped within one.
    late = 0
    last_preview = -PREVIEW_INTERVAL_S

    def on_progress(progress: Progress) -> None:
        nonlocal late, last_preview
        late += job.cancel.is_set()
        now = time.monotonic()
        report(WorkerEvent(job_id, progress_update(job_id, progress, now - job.submitted_at)))
        if job.preview and now - last_preview >= PREVIEW_INTERVAL_S and (preview := preview_update(job_id, progress)):
            last_preview = now
            report(WorkerEvent(job_id, preview))

    try:
        result = engine.sketch(
            job.image,
            list(job.rois),
            job.params,
            on_progress=on_progress,
            on_round=lambda result: report(WorkerEvent(job_id, round_update(job_id, result))),
            cancelled=job.cancel.is_set,
            finish=job.finish.is_set,
            start=job.start,
        )
    except SketchCancelled:
        log.info("job %s stopped: %d iteration(s) finished after the cancel request", job_id, late)
        report(WorkerEvent(job_id, Error(ErrorCode.CANCELLED, f"job {job_id} was cancelled", job_id), JobState.CANCELLED))
    except SketchInputError as error:
        report(WorkerEvent(job_id, Error(ErrorCode.BAD_INPUT, str(error), job_id), JobState.FAILED))
    except Exception as error:  # a server bug: log it in full, tell the client in one sentence
        log.exception("job %s failed", job_id)
        message = f"the server failed on job {job_id} ({type(error).__name__}); its log has the details"
        report(WorkerEvent(job_id, Error(ErrorCode.INTERNAL, message, job_id), JobState.FAILED))
    else:
        report(WorkerEvent(job_id, done_message(job_id, result, time.monotonic() - started), JobState.DONE))


class JobRunner:
    """The dispatcher of a single-engine server: jobs run first come, first served, in one daemon
    thread, on an engine created once at start-up."""

    def __init__(self, engine: Engine) -> None:
        self.events: queue.SimpleQueue[WorkerEvent] = queue.SimpleQueue()
        self._engine = engine
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._busy = False
        self._thread: threading.Thread | None = None

    def start(self, context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, args=(context, wake_endpoint), name="mross-job-worker", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the worker thread is still alive."""
        return self._thread is not None and self._thread.is_alive()

    def enqueue(self, job: Job) -> None:
        """Queue a job behind those already waiting."""
        self._jobs.put(job)

    def cancel(self, job: Job) -> None:
        """Set the job's cancel event: the worker skips it, or the pipeline stops within an iteration."""
        job.cancel.set()

    def finish(self, job: Job) -> None:
        """Set the job's finish event: the pipeline delivers the round under way within an iteration."""
        job.finish.set()

    def workers(self) -> tuple[WorkerInfo, ...]:
        """This server's one engine."""
        return (WorkerInfo("local", str(self._engine.device), tuple(self._engine.backbones), self._busy),)

    def stop(self, timeout_s: float) -> None:
        """Let the worker finish its current job (cancel it first) and wait up to `timeout_s` for it."""
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self, context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str) -> None:
        with event_outlet(self.events, context, wake_endpoint) as report:
            while (job := self._jobs.get()) is not None:
                # A job cancelled while queued has already been answered by the I/O thread.
                if not job.cancel.is_set():
                    self._busy = True
                    run_job(self._engine, job, report)
                    self._busy = False
