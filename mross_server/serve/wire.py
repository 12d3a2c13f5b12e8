"""Between the pipeline's job objects (mross_server.job) and the wire messages (mross_shared.messages).

Server side: a `submit` becomes the pipeline's ROIs, SketchParams and the strokes of a sketch it
continues; Progress, RoundResult and SketchResult become `progress`, `preview`, `round` and `done` messages. Client side (the `mross sketch --server`
CLI): `round` and `done` messages become RoundResult / SketchResult again, control points parsed back
from the `d` strings, so the CLI writes the same layered SVG as a local run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mross_server.io.svg import path_data
from mross_server.job import Progress, RoundResult, SketchParams, SketchResult, StartingStrokes
from mross_shared.messages import Done, JobState, PreviewUpdate, ProgressUpdate, RoiBox, RoundUpdate, StrokePath, Submit


def sketch_inputs(submit: Submit) -> tuple[list[RoiBox], SketchParams, StartingStrokes | None]:
    """The pipeline's ROIs and parameters for a submitted job, and the sketch it continues (if any)."""
    if not submit.strokes:
        return list(submit.rois), submit.params, None
    frozen = np.zeros(len(submit.strokes), dtype=bool)
    frozen[list(submit.frozen)] = True
    start = StartingStrokes(
        points=_points(submit.strokes),
        half_widths=np.array([path.width / 2.0 for path in submit.strokes]),
        frozen=frozen,
    )
    return list(submit.rois), submit.params, start


def progress_update(job_id: str, progress: Progress, elapsed_s: float) -> ProgressUpdate:
    """A running job's `progress` message."""
    return ProgressUpdate(
        job_id=job_id,
        state=JobState.RUNNING,
        queue_position=0,
        round=progress.round,
        rounds=progress.rounds,
        iteration=progress.iteration,
        iterations=progress.iterations,
        loss=_finite(progress.loss),
        best_loss=_finite(progress.best_loss),
        eta_s=_finite(progress.eta_s),
        elapsed_s=elapsed_s,
        method=progress.method,
    )


def preview_update(job_id: str, progress: Progress) -> PreviewUpdate | None:
    """The strokes as they stand at a progress report, as a `preview` message; None when it carries none."""
    if progress.strokes is None:
        return None
    return PreviewUpdate(job_id, progress.round, progress.rounds, progress.iteration, _paths(*progress.strokes()))


def round_update(job_id: str, result: RoundResult) -> RoundUpdate:
    """A finished round as a `round` message: every stroke as SVG path data with its full width."""
    paths = _paths(result.points, result.half_widths)
    return RoundUpdate(
        job_id=job_id,
        index=result.index,
        rounds=result.rounds,
        roi=result.roi,
        paths=paths,
        added=tuple(int(i) for i in result.added),
        loss=_finite(result.loss),
        seconds=result.seconds,
    )


def done_message(job_id: str, result: SketchResult, seconds: float) -> Done:
    """The `done` message closing a job's stream."""
    return Done(
        job_id=job_id,
        width=result.width,
        height=result.height,
        rounds=len(result.rounds),
        objective=result.objective,
        backbones=tuple(result.backbones),
        notes=tuple(result.notes),
        seconds=seconds,
    )


def progress(update: ProgressUpdate) -> Progress | None:
    """A received `progress` message as the pipeline's Progress; None while the job waits in the queue."""
    if update.round == 0:
        return None
    return Progress(
        round=update.round,
        rounds=update.rounds,
        iteration=update.iteration,
        iterations=update.iterations,
        loss=math.nan if update.loss is None else update.loss,
        best_loss=math.nan if update.best_loss is None else update.best_loss,
        eta_s=math.nan if update.eta_s is None else update.eta_s,
        method=update.method,
    )


def round_result(update: RoundUpdate) -> RoundResult:
    """A received `round` message as the pipeline's RoundResult (points [n, 4, 2], half-widths [n])."""
    points = _points(update.paths)
    return RoundResult(
        index=update.index,
        rounds=update.rounds,
        roi=update.roi,
        points=points,
        half_widths=np.array([path.width / 2.0 for path in update.paths]),
        added=update.added,
        loss=math.nan if update.loss is None else update.loss,
        seconds=update.seconds,
    )


def sketch_result(done: Done, rounds: Sequence[RoundUpdate]) -> SketchResult:
    """A finished remote job as the pipeline's SketchResult, from its `round` messages and its `done`."""
    return SketchResult(
        width=done.width,
        height=done.height,
        rounds=tuple(round_result(update) for update in rounds),
        objective=done.objective,
        backbones=done.backbones,
        notes=done.notes,
    )


def _points(paths: Sequence[StrokePath]) -> np.ndarray:
    """Control points [n, 4, 2] of strokes received as path data."""
    return np.array([path.points for path in paths], dtype=np.float64).reshape(-1, 4, 2)


def _paths(points: np.ndarray, half_widths: np.ndarray) -> tuple[StrokePath, ...]:
    """Strokes [n, 4, 2] with half-widths [n] as SVG path data with full widths."""
    return tuple(
        StrokePath(d=path_data(stroke), width=2.0 * float(half_width))
        for stroke, half_width in zip(points, half_widths, strict=True)
    )


def _finite(value: float) -> float | None:
    # JSON cannot carry NaN or infinity (a best loss starts at +inf), so those travel as null.
    number = float(value)
    return number if math.isfinite(number) else None
