"""Continuing a sketch, stopping early to keep it, and the strokes a progress report carries (real pipeline)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mross_server.engine.pipeline import SketchEngine
from mross_server.job import SketchInputError, SketchParams, StartingStrokes
from mross_shared.messages import RoiBox

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "coffee.jpg"
ROI = RoiBox(200, 180, 250, 200)


@pytest.fixture(scope="module")
def engine() -> SketchEngine:
    return SketchEngine(device="cpu")


def _start(count: int, frozen: tuple[int, ...] = ()) -> StartingStrokes:
    """`count` hand-made strokes across the photo, with half-widths 1..count."""
    rng = np.random.default_rng(7)
    starts = rng.uniform([20, 20], [580, 380], (count, 2))
    points = starts[:, None] + np.cumsum(rng.uniform(-30, 30, (count, 4, 2)), axis=1) * [1, 0.5]
    mask = np.zeros(count, dtype=bool)
    mask[list(frozen)] = True
    return StartingStrokes(points, np.arange(1.0, count + 1.0), mask)


def test_a_continued_sketch_keeps_its_strokes_and_runs_only_the_roi_rounds(engine):
    start = _start(5)
    result = engine.sketch(PHOTO, [ROI], SketchParams(strokes=6, preset="test", iterations=0), start=start)
    assert [(r.index, r.rounds, r.roi) for r in result.rounds] == [(1, 1, ROI)]
    final = result.rounds[0]
    assert final.points.shape == (11, 4, 2) and final.added == tuple(range(5, 11))
    # With no iterations the kept strokes come back exactly as they went in, widths included.
    np.testing.assert_allclose(final.points[:5], start.points, atol=1e-3)
    np.testing.assert_array_equal(final.half_widths[:5], start.half_widths)
    assert np.all(final.half_widths[5:] == final.half_widths[5])


def test_frozen_kept_strokes_stay_and_free_ones_move(engine):
    start = _start(4, frozen=(1, 3))
    result = engine.sketch(PHOTO, [ROI], SketchParams(strokes=4, preset="test", iterations=8), start=start)
    points = result.rounds[-1].points
    np.testing.assert_allclose(points[[1, 3]], start.points[[1, 3]], atol=1e-3)
    assert not np.allclose(points[[0, 2]], start.points[[0, 2]], atol=1e-3)
    frozen_all = engine.sketch(PHOTO, [ROI], SketchParams(strokes=4, preset="test", iterations=8, freeze_previous=True), start=start)
    np.testing.assert_allclose(frozen_all.rounds[-1].points[:4], start.points, atol=1e-3)


def test_continuing_needs_a_new_roi(engine):
    with pytest.raises(SketchInputError, match="at least one ROI"):
        engine.sketch(PHOTO, [], SketchParams(strokes=4, preset="test"), start=_start(3))


def test_finish_delivers_the_round_under_way_as_the_last_one(engine):
    reports = []
    delivered = []

    def finish() -> bool:
        return len(reports) >= 3

    result = engine.sketch(
        PHOTO, [ROI, RoiBox(100, 20, 300, 180)], SketchParams(strokes=12, preset="test", iterations=40),
        on_progress=reports.append, on_round=delivered.append, finish=finish,
    )
    assert len(reports) == 3 and [r.index for r in result.rounds] == [1] and delivered == list(result.rounds)
    assert result.rounds[0].rounds == 1, "the round that ended the job says it is the last"
    assert result.rounds[0].points.shape[0] == len(result.rounds[0].added) > 0
    assert any("stopped early" in note for note in result.notes)


def test_progress_carries_the_strokes_as_they_stand(engine):
    reports = []
    start = _start(3)
    engine.sketch(PHOTO, [ROI], SketchParams(strokes=5, preset="test", iterations=4), on_progress=reports.append, start=start)
    points, half_widths = reports[-1].strokes()
    assert points.shape == (8, 4, 2) and half_widths.shape == (8,)
    assert np.all((points[..., 0] > -100) & (points[..., 0] < 700) & (points[..., 1] > -100) & (points[..., 1] < 500))
    np.testing.assert_array_equal(half_widths[:3], start.half_widths)
    assert math.isnan(reports[0].eta_s) and reports[-1].eta_s == 0.0, "unknown at first, nothing left at the end"


def _lengths(points: np.ndarray) -> np.ndarray:
    """Control-polygon length of each stroke [n, 4, 2]."""
    return np.linalg.norm(np.diff(points, axis=1), axis=-1).sum(axis=1)


def test_free_kept_strokes_keep_their_length(engine):
    """The ink target is drawn for every stroke the sketch holds, kept ones included; drawn for the few
    new ones only, it would ask for so little ink that the kept strokes shrink towards dots."""
    start = _start(24)
    result = engine.sketch(PHOTO, [ROI], SketchParams(strokes=2, preset="test", iterations=40), start=start)
    assert _lengths(result.rounds[-1].points[:24]).mean() > 0.6 * _lengths(start.points).mean()
