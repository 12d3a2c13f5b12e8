"""Between the I/O thread and whatever runs the jobs: accepted jobs go in, WorkerEvents come out.

Two dispatchers implement the `Dispatcher` protocol: `runner.JobRunner` (one thread, one engine in
this process) and `cluster.dispatcher.ClusterDispatcher` (a pool of Ray actors). Either reports what happens as
WorkerEvents on its `events` queue and pokes the I/O thread through an inproc PAIR socket, so the I/O
thread wakes at once; neither ever touches the server's ROUTER socket.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import zmq

from mross_server.engine.cost import JobTooLarge, check_job_cost
from mross_server.io.photo import PhotoTooLarge, UnreadablePhoto, check_photo_size, photo_size
from mross_server.job import SketchInputError, SketchParams, StartingStrokes
from mross_server.serve.wire import sketch_inputs
from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.messages import JobState, Limits, RoiBox, ServerMessage, Submit, WorkerInfo

#: The states that end a job.
FINAL_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


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
    """Something a worker reports: a message for the job's client, a new job state, or both.

    A `queued` state means the job's worker died and the job waits to run again from the start.
    """

    job_id: str
    message: ServerMessage | None
    state: JobState | None = None


class Dispatcher(Protocol):
    """What the I/O thread needs of whatever runs its jobs. Every method is called from the I/O thread."""

    @property
    def events(self) -> queue.SimpleQueue[WorkerEvent]:
        """What the workers report, in order per job."""

    @property
    def running(self) -> bool:
        """Whether the dispatcher's threads are still alive (the zmq context can end once they are not)."""

    def start(self, context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str) -> None:
        """Start running jobs; after each event, send an empty message to the PAIR at `wake_endpoint`."""

    def enqueue(self, job: Job) -> None:
        """Queue a job behind those already waiting.

        Raises:
            ProtocolError: the job cannot run here at all (`cluster_unavailable`, `bad_input`); nothing was queued.
        """

    def cancel(self, job: Job) -> None:
        """Stop a job: a waiting one never starts, a running one stops within an iteration."""

    def finish(self, job: Job) -> None:
        """Stop and keep: a running job ends within an iteration, delivering the round under way as its last."""

    def workers(self) -> tuple[WorkerInfo, ...]:
        """The engines that run jobs, as `hello` reports them."""

    def stop(self, timeout_s: float) -> None:
        """Stop running jobs (the I/O thread has cancelled them) and wait up to `timeout_s` for the threads."""


@contextlib.contextmanager
def event_outlet(
    events: queue.SimpleQueue[WorkerEvent], context: zmq.Context[zmq.Socket[bytes]], wake_endpoint: str
) -> Iterator[Callable[[WorkerEvent], None]]:
    """A `report(event)` for the calling thread: queue the event, then wake the I/O thread.

    The PAIR socket belongs to the calling thread and is closed when the block ends.
    """
    wake = context.socket(zmq.PAIR)
    wake.connect(wake_endpoint)

    def report(event: WorkerEvent) -> None:
        events.put(event)
        with contextlib.suppress(zmq.Again):  # Again: plenty of wake-ups are already pending
            wake.send(b"", zmq.NOBLOCK)

    try:
        yield report
    finally:
        wake.close(linger=0)


def prepare_job(submit: Submit, limits: Limits, now: float) -> Job:
    """Check a submitted job against the server's limits and turn it into a Job.

    Raises:
        ProtocolError: `limit_exceeded` (counts or estimated cost), `bad_input` (an unknown preset),
            `bad_image` or `image_too_large`.
    """
    limits.check_submit(submit)
    try:
        check_job_cost(submit.params.keeping(len(submit.strokes)), len(submit.rois), limits.max_job_cost)
    except JobTooLarge as error:
        raise ProtocolError(ErrorCode.LIMIT_EXCEEDED, str(error)) from None
    except SketchInputError as error:
        raise ProtocolError(ErrorCode.BAD_INPUT, str(error)) from None
    try:
        check_photo_size(*photo_size(submit.image), limits.max_image_pixels)
    except PhotoTooLarge as error:
        raise ProtocolError(ErrorCode.IMAGE_TOO_LARGE, str(error)) from None
    except UnreadablePhoto:
        raise ProtocolError(ErrorCode.BAD_IMAGE, "the image is not a format the server can read (PNG, JPEG, WebP, …)") from None
    rois, params, start = sketch_inputs(submit)
    return Job(submit.job_id, submit.image, tuple(rois), params, now, start, submit.preview)
