"""ROI rounds act in their ROI: their strokes stay in it, and earlier strokes away from it stay put."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mross_server.engine.budget import roi_room
from mross_server.engine.canvas import Canvas
from mross_server.engine.pipeline import SketchEngine
from mross_server.engine.presets import get_preset
from mross_server.engine.region_analysis import stub_length
from mross_server.engine.roi_scope import near_box, stroke_bounds
from mross_server.job import SketchParams
from mross_shared.messages import RoiBox

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "coffee.jpg"
ROIS = [RoiBox(200, 180, 250, 200), RoiBox(100, 20, 300, 180)]


def test_a_stroke_is_near_a_box_when_its_control_points_reach_the_grown_box():
    box = (10.0, 10.0, 20.0, 20.0)
    strokes = torch.tensor(
        [
            [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [8.0, 8.0]],  # ends 2 short of the box
            [[40.0, 12.0], [35.0, 12.0], [30.0, 12.0], [25.0, 12.0]],  # 5 to its right
            [[15.0, -30.0], [15.0, 0.0], [15.0, 40.0], [15.0, 60.0]],  # runs through it
        ]
    )
    assert near_box(strokes, box, 2.0).tolist() == [True, False, True]
    assert near_box(strokes, box, 5.0).tolist() == [True, True, True]


def test_only_confined_roi_strokes_are_bounded_by_their_roi_grown_by_the_margin():
    boxes = [(0.0, 0.0, 100.0, 100.0), (10.0, 20.0, 30.0, 40.0)]
    low, high = stroke_bounds(np.array([0, 1, 1]), np.array([True, True, False]), boxes, 2.0)
    assert low.shape == high.shape == (3, 1, 2)
    assert np.isinf(low[[0, 2]]).all() and np.isinf(high[[0, 2]]).all(), "the whole photo's strokes and frozen ones are free"
    assert low[1, 0].tolist() == [8.0, 18.0] and high[1, 0].tolist() == [32.0, 42.0]


@pytest.fixture(scope="module")
def engine() -> SketchEngine:
    return SketchEngine(device="cpu")


def test_each_roi_round_draws_in_its_roi_and_leaves_the_rest_of_the_sketch_as_it_was(engine):
    result = engine.sketch(PHOTO, ROIS, SketchParams(strokes=24, preset="test", iterations=40))
    margin = stub_length(result.width, result.height) + 1e-3
    final = result.rounds[-1].points
    for previous, current in zip(result.rounds, result.rounds[1:]):
        assert current.roi is not None
        x0, y0, x1, y1 = current.roi.box
        # Its own strokes, in its round and in every later one.
        for points in (current.points, final):
            added = points[list(current.added)].reshape(-1, 2)
            assert (added[:, 0] >= x0 - margin).all() and (added[:, 0] <= x1 + margin).all()
            assert (added[:, 1] >= y0 - margin).all() and (added[:, 1] <= y1 + margin).all()
        before = previous.points
        low, high = before.min(axis=1), before.max(axis=1)
        away = (high[:, 0] < x0 - margin) | (low[:, 0] > x1 + margin) | (high[:, 1] < y0 - margin) | (low[:, 1] > y1 + margin)
        assert away.sum() >= 3, "the test needs earlier strokes away from the ROI"
        assert np.array_equal(current.points[: len(before)][away], before[away])


def test_an_roi_gets_no_more_strokes_than_it_has_contour_pieces_and_the_whole_photo_keeps_the_rest(engine):
    # The table's corner: two pieces of wood grain; by its edge pixels alone it would get 69 of 200 strokes.
    corner = RoiBox(0, 300, 80, 80)
    result = engine.sketch(PHOTO, [corner], SketchParams(strokes=200, preset="test", iterations=1))
    added = [len(r.added) for r in result.rounds]
    assert sum(added) == 200 and 1 <= added[1] <= 2


def test_a_small_roi_gets_no_more_strokes_than_fit_at_the_line_width(engine):
    # A 120 px square over the cup's rim: 13 contour pieces in a box about five line widths across at
    # the test preset's width; more strokes there would cross one another.
    rim = RoiBox(180, 60, 120, 120)
    result = engine.sketch(PHOTO, [rim], SketchParams(strokes=48, preset="test", iterations=1))
    preset = get_preset("test")
    canvas = Canvas(result.width, result.height, preset.resolution)
    room = roi_room(canvas.to_canvas(rim.box), preset.canvas_half_width)
    added = [len(r.added) for r in result.rounds]
    assert room == 5 and added == [48 - room, room]
