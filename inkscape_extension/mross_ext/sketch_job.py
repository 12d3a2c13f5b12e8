"""Running one sketch job against the server: submit, follow its progress, collect its rounds.

The job runs in whichever thread calls `run_sketch` (the progress window runs it in a worker thread);
a `JobMonitor` carries progress and the strokes as they stand out of it, and the user's Cancel or
"Stop and keep" into it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from mross_shared.client import SketchClient
from mross_shared.errors import JobCancelled, MrossError
from mross_shared.layers import standing_rounds
from mross_shared.messages import JobParams, PreviewUpdate, ProgressUpdate, RoiBox, RoundUpdate, StrokePath

from .inkscape_watch import InkscapeWatch


@dataclass(frozen=True)
class SketchRequest:
    """What is sent: the photo's file bytes as they are, ROIs in its pixels, the job's parameters, the
    strokes of a sketch it continues (photo pixels; `frozen` indexes those that stay put), and whether
    to stream the strokes as they stand for a preview."""

    image: bytes
    rois: tuple[RoiBox, ...]
    params: JobParams
    strokes: tuple[StrokePath, ...] = ()
    frozen: tuple[int, ...] = ()
    preview: bool = False


class JobInterrupted(Exception):
    """The job failed after some of its rounds had arrived: the client's `error` and the `rounds` received."""

    def __init__(self, error: MrossError, rounds: tuple[RoundUpdate, ...]) -> None:
        super().__init__(str(error))
        self.error = error
        self.rounds = rounds


@dataclass(frozen=True)
class ProgressView:
    """What a progress display shows: one line of text and the overall fraction done (0..1)."""

    text: str
    fraction: float


class JobMonitor:
    """Progress and previews flowing out of the job's thread, cancel and finish requests flowing into it; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._view = ProgressView("Connecting to the sketch server…", 0.0)
        self._preview: tuple[int, tuple[StrokePath, ...]] = (0, ())
        self._cancel = threading.Event()
        self._finish = threading.Event()

    def show(self, view: ProgressView) -> None:
        """Replace what the progress display shows."""
        with self._lock:
            self._view = view

    def view(self) -> ProgressView:
        """What the progress display should show now."""
        with self._lock:
            return self._view

    def show_preview(self, paths: tuple[StrokePath, ...]) -> None:
        """Replace the strokes the preview shows."""
        with self._lock:
            self._preview = (self._preview[0] + 1, paths)

    def preview(self) -> tuple[int, tuple[StrokePath, ...]]:
        """The strokes to preview and a number that changes whenever they do."""
        with self._lock:
            return self._preview

    def request_cancel(self) -> None:
        """Ask the job to stop (the user pressed Cancel)."""
        self._cancel.set()

    def cancel_requested(self) -> bool:
        """Whether Cancel was pressed."""
        return self._cancel.is_set()

    def request_finish(self) -> None:
        """Ask the job to stop now and deliver the strokes as they stand (the user pressed Stop and keep)."""
        self._finish.set()

    def finish_requested(self) -> bool:
        """Whether Stop and keep was pressed."""
        return self._finish.is_set()


def run_sketch(
    connect: Callable[[JobMonitor], SketchClient],
    request: SketchRequest,
    monitor: JobMonitor,
    watch: InkscapeWatch,
) -> tuple[RoundUpdate, ...]:
    """Connect, submit `request` and return every round once the job is done (one per index: a job
    restarted on another worker sends its rounds again, and the later ones stand).

    The job is cancelled on the server when the monitor's Cancel is pressed or Inkscape goes away, and
    ended early (keeping the round under way) when Stop and keep is pressed; the client's JobCancelled,
    JobFailed, ServerUnreachable and NotAuthorised pass through, except that a failure after a round
    has arrived becomes JobInterrupted, which carries those rounds.
    """
    rounds: list[RoundUpdate] = []
    if request.strokes:
        monitor.show_preview(request.strokes)  # a continued sketch shows its strokes from the start
    try:
        return _collect_rounds(connect, request, monitor, watch, rounds)
    except JobCancelled:
        raise  # the user (or Inkscape) stopped it: nothing is inserted
    except MrossError as error:
        if rounds:
            raise JobInterrupted(error, standing_rounds(rounds)) from error
        raise


def _collect_rounds(
    connect: Callable[[JobMonitor], SketchClient],
    request: SketchRequest,
    monitor: JobMonitor,
    watch: InkscapeWatch,
    rounds: list[RoundUpdate],
) -> tuple[RoundUpdate, ...]:
    """Run the job, appending each round to `rounds` as it arrives, so a failure leaves them with the caller."""
    with connect(monitor) as client:
        monitor.show(ProgressView("Uploading the photo…", 0.0))
        job_id = client.submit(
            request.image, request.rois, request.params, strokes=request.strokes, frozen=request.frozen, preview=request.preview
        )

        def stop() -> bool:
            return monitor.cancel_requested() or watch.inkscape_gone()

        for event in client.events(job_id, cancelled=stop, finish=monitor.finish_requested):
            if isinstance(event, ProgressUpdate):
                monitor.show(describe_progress(event))
            elif isinstance(event, PreviewUpdate):
                monitor.show_preview(event.paths)
            elif isinstance(event, RoundUpdate):
                rounds.append(event)
                monitor.show_preview(event.paths)
    return standing_rounds(rounds)


def describe_progress(update: ProgressUpdate) -> ProgressView:
    """Turn a progress message into the line and fraction a person sees."""
    if update.round == 0:
        if update.queue_position > 0:
            return ProgressView(f"Waiting for the server (place {update.queue_position} in the queue)…", 0.0)
        return ProgressView("Preparing the photo…", 0.0)
    rounds = max(update.rounds, 1)
    within = update.iteration / update.iterations if update.iterations else 0.0
    text = f"Round {update.round} of {rounds} · iteration {update.iteration} of {update.iterations}"
    if update.eta_s is not None:
        text += f" · about {format_duration(update.eta_s)} left"
    if update.method:
        text += f" · {update.method}"
    return ProgressView(text, min(1.0, (update.round - 1 + within) / rounds))


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 5 s' or '1 h 2 min'."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
