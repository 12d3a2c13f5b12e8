"""The job worker: accepted `submit`s become Jobs, which one thread runs in order on the warm engine.

The worker never touches the server's ROUTER socket (zmq sockets belong to one thread). It reports
what happens as WorkerEvents on a queue and pokes the I/O thread through an inproc PAIR socket so
the I/O thread wakes at once. Cancelling, and finishing early ("stop and keep"), are threading.Events
the pipeline polls every iteration. A job that asked for previews gets its strokes at most once every
PREVIEW_INTERVAL_S.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import zmq

from mross_server.io.photo import PhotoTooLarge, UnreadablePhoto, check_photo_size, photo_size
from mross_server.job import Progress, RoundResult, SketchCancelled, SketchInputError, SketchParams, SketchResult, StartingStrokes
from mross_server.serve.wire import done_message, preview_update, progress_update, round_update, sketch_inputs
from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.messages import Error, JobState, Limits, RoiBox, ServerMessage, Submit

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


@dataclass(frozen=True)
class Job:
    """One accepted job, ready for the pipeline. `submitted_at` is time.monotonic() at acceptance;
    `start` is the sketch it continues, `preview` whether its client wants the strokes as they stand."""

    job_id: str
    image: bytes
    rois: tuple[RoiBox, ...]
    params: SketchParams
    submitted_at: float
    start: StartingStrokes | None = None
    preview: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    finish: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class WorkerEvent:
    """Something the worker reports: a message for the job's client, a new job state, or both."""

    job_id: str
    message: ServerMessage | None
    state: JobState | None = None


def prepare_job(submit: Submit, limits: Limits, now: float) -> Job:
    """Check a submitted job against the server's limits and turn it into a Job.

    Raises:
        ProtocolError: `limit_exceeded`, `bad_image` or `image_too_large`.
    """
    limits.check_submit(submit)
    try:
        check_photo_size(*photo_size(submit.image), limits.max_image_pixels)
    except PhotoTooLarge as error:
        raise ProtocolError(ErrorCode.IMAGE_TOO_LARGE, str(error)) from None
    except UnreadablePhoto:
        raise ProtocolError(ErrorCode.BAD_IMAGE, "the image is not a format the server can read (PNG, JPEG, WebP, …)") from None
    rois, params, start = sketch_inputs(submit)
    return Job(submit.job_id, submit.image, tuple(rois), params, now, start, submit.preview)


class JobRunner:
    """Runs jobs first come, first served, in one daemon thread, on an engine created once at start-up.

    `events` is read by the I/O thread; each event is followed by an empty message on a PAIR socket
    connected to `wake_endpoint` (an inproc PAIR the I/O thread has bound).
    """

    def __init__(self, engine: Engine, context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str) -> None:
        self.events: queue.SimpleQueue[WorkerEvent] = queue.SimpleQueue()
        self._engine = engine
        self._context = context
        self._wake_endpoint = wake_endpoint
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mross-job-worker", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the worker thread is still alive."""
        return self._thread.is_alive()

    def enqueue(self, job: Job) -> None:
        """Queue a job behind those already waiting."""
        self._jobs.put(job)

    def stop(self, timeout_s: float) -> None:
        """Let the worker finish its current job (cancel it first) and wait up to `timeout_s` for it."""
        self._jobs.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        wake = self._context.socket(zmq.PAIR)
        wake.connect(self._wake_endpoint)

        def report(event: WorkerEvent) -> None:
            self.events.put(event)
            with contextlib.suppress(zmq.Again):  # Again: plenty of wake-ups are already pending
                wake.send(b"", zmq.NOBLOCK)

        try:
            while (job := self._jobs.get()) is not None:
                # A job cancelled while queued has already been answered by the I/O thread.
                if not job.cancel.is_set():
                    self._execute(job, report)
        finally:
            wake.close(linger=0)

    def _execute(self, job: Job, report: Callable[[WorkerEvent], None]) -> None:
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
            result = self._engine.sketch(
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
