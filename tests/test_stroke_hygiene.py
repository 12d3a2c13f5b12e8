"""Clean strokes: knots, doubled strokes and stubs are found and repaired, the count never changes."""

from __future__ import annotations

import numpy as np
import torch

from mross_server.engine.hygiene import SPLIT_MARGIN, HygieneRules, find_issues, tidy_strokes
from mross_server.engine.joints import find_joints, snap_joints
from mross_server.engine.stroke_geometry import (
    covered_share,
    crosses_itself,
    fill_by_splitting,
    knotted,
    near_other_share,
    nearness,
    straight_strokes,
    stroke_lengths,
    turning_degrees,
)

RULES = HygieneRules(stub_length=6.0, near=4.5)
EVERYWHERE = (-1000.0, -1000.0, 1000.0, 1000.0)


def line(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A straight cubic [4, 2] from (x0, y0) to (x1, y1)."""
    return straight_strokes(np.array([x0, y0], dtype=float), np.array([x1, y1], dtype=float))


LOOP = np.array([[0.0, 0.0], [40.0, 40.0], [-40.0, 40.0], [5.0, 0.0]])  # crosses itself near its start
CURL = np.array([[60.0, 60.0], [100.0, 20.0], [100.0, 100.0], [100.0, 60.0]])  # turns a lot without crossing
ARC = np.array([[0.0, 0.0], [0.0, 20.0], [30.0, 20.0], [30.0, 0.0]])  # a plain arch: 180°


def test_geometry_of_simple_strokes():
    strokes = np.stack([line(0, 0, 30, 0), LOOP, ARC])
    assert stroke_lengths(strokes)[0] == np.float64(30.0)
    turns = turning_degrees(strokes)
    assert turns[0] < 1 and 170 < turns[2] < 190
    assert crosses_itself(strokes).tolist() == [False, True, False]
    assert knotted(strokes).tolist() == [False, True, False]


def test_side_by_side_strokes_are_near_and_crossing_ones_are_not():
    strokes = np.stack([line(0, 0, 60, 0), line(0, 2, 60, 2), line(30, -30, 30, 30)])
    share = nearness(strokes, 4.5)
    assert share[0, 1] > 0.9 and share[1, 0] > 0.9
    assert share[2, 0] < 0.2 and share[0, 2] < 0.2
    assert near_other_share(strokes, 4.5)[2] < 0.2
    assert covered_share(strokes[2:], strokes[:1], 4.5)[0] < 0.2


def test_strokes_that_continue_one_another_or_meet_at_a_corner_are_not_side_by_side():
    strokes = np.stack([line(0, 0, 20, 0), line(20, 0, 40, 0), line(40, 0, 40, 20)])
    assert not nearness(strokes, 4.5).any() and not near_other_share(strokes, 4.5).any()
    assert covered_share(strokes[1:2], strokes[:1], 4.5)[0] == 0.0
    short = np.stack([line(0, 0, 8, 0), line(0, 0.5, 8, 0.5)])
    assert (nearness(short, 4.5)[[0, 1], [1, 0]] > 0.8).all(), "two copies of a short stroke are still doubled"


def test_a_knot_moves_to_an_undrawn_spare_and_with_none_left_is_straightened():
    knot = np.array([[0.0, 0.0], [80.0, 60.0], [-40.0, 60.0], [40.0, 0.0]])
    assert knotted(knot[None])[0]
    strokes = np.stack([line(0, 100, 60, 100), knot, LOOP + np.array([200.0, 0.0])])
    # The first spare is drawn already; the second is too short to be split again for the last knot.
    spares = [np.stack([line(0, 100, 60, 101), line(100, 150, 115, 150)]), np.zeros((0, 4, 2))]
    boxes = [EVERYWHERE, (150.0, -50.0, 260.0, 80.0)]
    frozen_line = np.array([False, True, True])  # the one long sound stroke may not be split
    repaired, changed = tidy_strokes(strokes, frozen_line, np.array([0, 0, 1]), spares, boxes, RULES)
    assert changed.tolist() == [False, True, True] and not knotted(repaired).any()
    assert np.allclose(repaired[1], spares[0][1]), "the best undrawn spare"
    assert np.allclose(repaired[2, [0, 3]], strokes[2, [0, 3]]), "no spare left: straightened between its own ends"
    assert np.allclose(repaired[2, 1], strokes[2, 0] + (strokes[2, 3] - strokes[2, 0]) / 3)


def test_of_two_strokes_tracing_one_line_one_moves_to_an_undrawn_spare():
    strokes = np.stack([line(0, 0, 60, 0), line(5, 2, 55, 2), line(0, 50, 60, 50)])
    spares = [np.stack([line(0, 1, 60, 1), line(0, 50, 60, 51), line(0, 90, 60, 90)])]  # only the last is undrawn
    issues = find_issues(strokes, RULES)
    assert issues.doubled.tolist() == [False, True, False], "the shorter, more redundant one of the pair"
    repaired, changed = tidy_strokes(strokes, np.ones(3, dtype=bool), np.zeros(3, dtype=int), spares, [EVERYWHERE], RULES)
    assert changed.tolist() == [False, True, False]
    assert np.allclose(repaired[1], spares[0][2])
    assert not find_issues(repaired, RULES).any.any()


def test_stubs_move_to_spares_of_their_own_round_and_frozen_strokes_never_change():
    strokes = np.stack([line(0, 0, 3, 0), line(50, 0, 52, 0), line(0, 40, 60, 40)])
    spares = [np.stack([line(0, 80, 60, 80)]), np.stack([line(100, 0, 100, 60)])]
    movable = np.array([False, True, True])
    repaired, changed = tidy_strokes(strokes, movable, np.array([0, 1, 1]), spares, [EVERYWHERE, EVERYWHERE], RULES)
    assert changed.tolist() == [False, True, False] and len(repaired) == 3
    assert np.array_equal(repaired[0], strokes[0]), "a frozen stub stays"
    assert np.allclose(repaired[1], spares[1][0]), "round 2's stub takes round 2's spare"


def test_with_no_spare_and_no_line_long_enough_to_share_a_stub_is_stretched_where_it_is():
    """In a small ROI nothing may be long enough to split: the stub stays in place, long enough not to be one."""
    strokes = np.stack([line(0, 0, 3, 0), line(0, 40, 10, 40)])
    repaired, changed = tidy_strokes(strokes, np.ones(2, dtype=bool), np.zeros(2, dtype=int), [np.zeros((0, 4, 2))], [EVERYWHERE], RULES)
    assert changed.tolist() == [True, False] and np.array_equal(repaired[1], strokes[1])
    half = SPLIT_MARGIN * RULES.stub_length / 2
    assert np.allclose(repaired[0][[0, 3]], [[1.5 - half, 0.0], [1.5 + half, 0.0]])
    assert not find_issues(repaired, RULES).stubs.any()


def test_joined_strokes_snap_back_together_and_a_frozen_end_holds():
    strokes = np.stack([line(0, 0, 30, 0), line(30, 0, 60, 10), line(100, 0, 130, 0)])
    joints = find_joints(strokes)
    assert joints.tolist() == [[1, 2]], "the end of stroke 0 meets the start of stroke 1"
    moved = torch.tensor(strokes, dtype=torch.float32)[None].repeat(2, 1, 1, 1)
    moved[:, 0, 3] += torch.tensor([2.0, -2.0])
    both = snap_joints(moved, torch.from_numpy(joints), torch.tensor([True, True, True]))
    assert torch.allclose(both[:, 0, 3], both[:, 1, 0]) and torch.allclose(both[0, 0, 3], torch.tensor([31.0, -1.0]))
    assert torch.allclose(both[:, 0, 2] - moved[:, 0, 2], both[:, 0, 3] - moved[:, 0, 3]), "the tangent moves with its end"
    held = snap_joints(moved, torch.from_numpy(joints), torch.tensor([True, False, True]))
    assert torch.allclose(held[:, 0, 3], moved[:, 1, 0]) and torch.equal(held[:, 1], moved[:, 1])


def test_with_no_spare_left_a_doubled_stroke_takes_half_of_the_longest_line_in_its_region():
    strokes = np.stack([line(0, 0, 60, 0), line(5, 2, 55, 2), line(0, 50, 100, 50), line(0, 300, 200, 300)])
    region = (-10.0, -10.0, 110.0, 60.0)  # holds the first three; the longest stroke of all lies outside
    repaired, changed = tidy_strokes(strokes, np.ones(4, dtype=bool), np.array([0, 1, 0, 0]), [np.zeros((0, 4, 2))] * 2, [EVERYWHERE, region], RULES)
    assert changed.tolist() == [False, True, True, False]
    assert np.allclose(repaired[2], line(0, 50, 50, 50)) and np.allclose(repaired[1], line(50, 50, 100, 50))
    assert not find_issues(repaired, RULES).any.any() and find_joints(repaired).tolist() == [[2, 5]], "joined: end of 2, start of 1"


def test_with_nothing_to_take_over_in_its_roi_a_doubled_roi_stroke_stays_in_its_roi():
    """Half of the longest line elsewhere would pull an ROI's stroke out of its ROI (and, joined to it, stretch that line)."""
    strokes = np.stack([line(0, 0, 14, 0), line(1, 2, 13, 2), line(0, 300, 200, 300)])  # 14: too short to split
    roi = (-10.0, -10.0, 30.0, 10.0)  # holds the two short strokes; the only long line lies outside
    repaired, changed = tidy_strokes(strokes, np.ones(3, dtype=bool), np.array([0, 1, 0]), [np.zeros((0, 4, 2))] * 2, [EVERYWHERE, roi], RULES)
    assert find_issues(strokes, RULES).doubled[1], "the ROI's stroke doubles the first one"
    assert not changed.any() and np.array_equal(repaired, strokes)


def test_splitting_fills_a_budget_with_strokes_that_continue_one_another():
    strokes = fill_by_splitting(np.stack([line(0, 0, 80, 0), line(0, 30, 20, 30)]), 4, min_length=10.0)
    assert sorted(stroke_lengths(strokes).round(6).tolist()) == [20.0, 20.0, 20.0, 40.0]
    assert len(find_joints(strokes)) == 2 and (nearness(strokes, 4.5) < 0.5).all(), "the long line's three pieces join end to end"
    fewer = fill_by_splitting(np.stack([line(0, 0, 80, 0), line(0, 30, 20, 30)]), 5, min_length=25.0)
    assert sorted(stroke_lengths(fewer).round(6).tolist()) == [20.0, 40.0, 40.0], "no half shorter than min_length"
