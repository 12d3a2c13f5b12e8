"""Stroke budget split between rounds, and ROI checks against the photo."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mross_server.engine.budget import allocate_strokes
from mross_server.job import Roi, SketchInputError
from mross_server.engine.regions import clip_rois


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


def test_rois_are_clipped_with_a_note_and_refused_when_empty_or_outside():
    rois, notes = clip_rois([Roi(-10, 5, 30, 10), Roi(1.5, 2.5, 3, 3)], 100, 50)
    assert rois == [Roi(0, 5, 20, 10), Roi(1, 2, 4, 4)]
    assert len(notes) == 1 and "ROI 1" in notes[0]
    with pytest.raises(SketchInputError, match="zero area"):
        clip_rois([Roi(1, 1, 0, 5)], 100, 50)
    with pytest.raises(SketchInputError, match="outside"):
        clip_rois([Roi(200, 0, 5, 5)], 100, 50)
    with pytest.raises(SketchInputError, match="finite"):
        clip_rois([Roi(float("nan"), 0, 5, 5)], 100, 50)
