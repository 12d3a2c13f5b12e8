"""Stroke budget split between rounds, and ROI checks against the photo."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mross_server.engine.budget import ROOM_SPACING, WHOLE_SHARE, allocate_strokes, roi_room, split_budget
from mross_server.engine.regions import clip_rois
from mross_server.job import SketchInputError
from mross_shared.messages import RoiBox


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=8), st.integers(1, 400))
def test_budget_sums_exactly_and_gives_every_region_a_stroke(edges, extra):
    total = len(edges) - 1 + extra
    counts = allocate_strokes(edges, total)
    assert sum(counts) == total
    assert min(counts) >= 1


def test_budget_follows_edge_share():
    assert allocate_strokes([1000, 200, 50], 48) == [38, 8, 2]
    assert allocate_strokes([0, 0], 5) in ([3, 2], [2, 3])
    with pytest.raises(ValueError):
        allocate_strokes([1, 1, 1], 2)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=8), st.integers(1, 400), st.booleans(), st.lists(st.integers(0, 60), min_size=8, max_size=8))
def test_round_budget_is_exact_and_the_whole_photo_keeps_its_share(edges, extra, whole_first, capacities):
    total = len(edges) - 1 + extra
    for limits in (None, capacities[: len(edges)]):
        counts = split_budget(edges, total, whole_first, limits)
        assert sum(counts) == total and min(counts) >= 1
        if whole_first and len(edges) > 1:
            assert counts[0] >= min(round(WHOLE_SHARE * total), total - (len(edges) - 1))
        if whole_first and limits is not None:
            assert all(count <= max(limit, 1) for count, limit in zip(counts[1:], limits[1:])), "no ROI beyond its capacity"


def test_an_roi_gets_no_more_strokes_than_its_capacity_and_the_whole_photo_keeps_the_rest():
    assert split_budget([900, 800, 700], 48, whole_first=True, capacities=[200, 4, 40]) == [35, 4, 9]
    assert split_budget([900, 800, 700], 48, whole_first=True, capacities=[200, 0, 40]) == [38, 1, 9], "an ROI keeps one stroke"
    assert split_budget([900, 800, 700], 48, whole_first=False, capacities=[4, 4, 4]) == [18, 16, 14], "a continued sketch has no round to give to"


def test_an_roi_holds_one_stroke_per_room_spacing_line_widths_of_its_short_side():
    line = 2 * 0.5
    assert roi_room((0.0, 0.0, 40.0, 4 * ROOM_SPACING * line), 0.5) == 4, "the short side counts"
    assert roi_room((10.0, 10.0, 10.0 + 2.6 * ROOM_SPACING * line, 90.0), 0.5) == 3
    assert roi_room((0.0, 0.0, 0.1, 50.0), 0.5) == 1, "every ROI keeps one stroke"


def test_detailed_rois_do_not_starve_the_first_round():
    assert allocate_strokes([900, 800, 700], 48) == [18, 16, 14]
    assert split_budget([900, 800, 700], 48, whole_first=True) == [29, 10, 9]
    assert split_budget([900, 800, 700], 48, whole_first=False) == [18, 16, 14], "a continued sketch has no whole-photo round"
    assert split_budget([5000, 100, 50], 48, whole_first=True) == allocate_strokes([5000, 100, 50], 48)


def test_rois_are_clipped_with_a_note_and_refused_when_empty_or_outside():
    rois, notes = clip_rois([RoiBox(-10, 5, 30, 10), RoiBox(1.5, 2.5, 3, 3)], 100, 50)
    assert rois == [RoiBox(0, 5, 20, 10), RoiBox(1, 2, 4, 4)]
    assert len(notes) == 1 and "ROI 1" in notes[0]
    with pytest.raises(SketchInputError, match="outside"):
        clip_rois([RoiBox(200, 0, 5, 5)], 100, 50)
    with pytest.raises(SketchInputError, match="outside"):
        clip_rois([RoiBox(100, 0, 5, 5)], 100, 50)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((1, 1, 0, 5), "must be positive"),
        ((float("nan"), 0, 5, 5), "x must be a finite number"),
        ((0, 0, float("inf"), 10), "width must be a finite number"),
        ((1e308, 0, 5, 5), "x must be a finite number of at most"),
    ],
)
def test_an_roi_without_area_or_with_unusable_numbers_cannot_be_made(values, message):
    with pytest.raises(ValueError, match=message):
        RoiBox(*values)
