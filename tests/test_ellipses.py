"""Round outlines closed: arcs of one ellipse become that ellipse; lines, wiggles and crossing fits do not."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.morphology import skeletonize

from mross_server.engine.boundaries import BoundaryMap
from mross_server.engine.contours import analyse_boundaries, net_turn
from mross_server.engine.ellipses import Ellipse, close_ellipses, fit_ellipse

SIZE = (200, 240)  # view height, width
WHEEL = Ellipse((120.0, 100.0), (60.0, 40.0), np.radians(20.0))


def arc(ellipse: Ellipse, start_deg: float, end_deg: float) -> np.ndarray:
    """Pixel chain [m, 2] along the ellipse between two parametric angles, as tracing would give it."""
    points = ellipse.at(np.radians(np.linspace(start_deg, end_deg, int(abs(end_deg - start_deg) * 2)))).round()
    keep = np.r_[True, np.any(np.diff(points, axis=0) != 0, axis=1)]
    return points[keep]


def strength_along(*chains: np.ndarray) -> np.ndarray:
    """A boundary strength map [H, W] that is 1 on the chains' pixels."""
    strength = np.zeros(SIZE)
    for chain in chains:
        strength[chain[:, 1].astype(int), chain[:, 0].astype(int)] = 1.0
    return strength


def test_an_ellipse_is_fitted_back_from_its_samples():
    fitted = fit_ellipse(arc(WHEEL, 0, 300))
    assert fitted is not None
    assert fitted.centre == pytest.approx(WHEEL.centre, abs=1.0)
    assert fitted.axes == pytest.approx(WHEEL.axes, abs=1.0)
    assert np.abs(fitted.distance(WHEEL.points())).max() < 1.5


def test_broken_arcs_of_a_wheel_become_one_closed_outline():
    # A tyre cut by a fork and by the floor: three arcs, turning 80°, 70° and 60°, covering 58 % of it.
    arcs = [arc(WHEEL, 10, 90), arc(WHEEL, 150, 220), arc(WHEEL, 260, 320)]
    # Sparse strength on the gaps, as HED's faint far side gives: most of the outline has some.
    faint = arc(WHEEL, 90, 150)[::2], arc(WHEEL, 220, 260)[::2]
    floor = np.column_stack([np.arange(10.0, 230.0), np.full(220, 185.0)])
    contours = [*arcs, floor]
    result = close_ellipses(contours, [net_turn(c) for c in contours], strength_along(*arcs, *faint, floor), min_size=10.0)
    assert len(result) == 2, "the floor line stays, the three arcs become one outline"
    assert result[0] is floor
    outline = result[1]
    assert np.allclose(outline[0], outline[-1]), "the outline is closed"
    assert np.abs(WHEEL.distance(outline)).max() < 2.0
    assert abs(net_turn(outline)) == pytest.approx(2 * np.pi, abs=0.3)


def test_lines_wiggles_and_a_lone_short_arc_are_left_as_they_are():
    line = np.column_stack([np.arange(20.0, 200.0), np.full(180, 30.0)])
    x = np.arange(20.0, 200.0)
    wiggle = np.column_stack([x, (150 + 6 * np.sin(x / 5)).round()])
    short = arc(WHEEL, 0, 60)  # a sixth of an ellipse: not enough of it to close
    contours = [line, wiggle, short]
    strength = np.ones(SIZE)  # even strength everywhere would not make them round
    result = close_ellipses(contours, [net_turn(c) for c in contours], strength, min_size=10.0)
    assert len(result) == 3 and all(r is c for r, c in zip(result, contours))


def test_straight_lines_grazing_an_ellipse_do_not_vouch_for_it():
    # Two arcs cover 36 % of the ellipse: too little. Two straight edges of clutter touch it at the
    # ends of its long axis, lying within 3 px of it for 25 px each; as "arcs" they would lift the
    # cover above half, but they do not bend with it.
    arcs = [arc(WHEEL, 30, 100), arc(WHEEL, 110, 170)]
    grazing = [_tangent(WHEEL, 0.0, 25.0), _tangent(WHEEL, np.pi, 25.0)]
    assert all(np.mean(WHEEL.distance(g) <= 3.0) >= 0.7 for g in grazing), "near enough to join on distance alone"
    contours = [*arcs, *grazing]
    result = close_ellipses(contours, [net_turn(c) for c in contours], np.ones(SIZE), min_size=10.0)
    assert len(result) == 4 and all(r is c for r, c in zip(result, contours))


def _tangent(ellipse: Ellipse, t: float, length: float) -> np.ndarray:
    """Pixel chain [m, 2] of a straight segment touching the ellipse at parametric angle t, centred there."""
    point, ahead = ellipse.at(np.array([t, t + 1e-6]))
    direction = (ahead - point) / np.linalg.norm(ahead - point)
    steps = np.arange(-length / 2, length / 2 + 0.5, 0.5)
    chain = (point + np.outer(steps, direction)).round()
    return chain[np.r_[True, np.any(np.diff(chain, axis=0) != 0, axis=1)]]


def test_a_wheel_ranks_and_draws_as_closed_pieces_that_continue_one_another():
    arcs = [arc(WHEEL, 10, 90), arc(WHEEL, 150, 220), arc(WHEEL, 260, 320)]
    strength = strength_along(*arcs, *(arc(WHEEL, a, b)[::2] for a, b in ((90, 150), (220, 260), (320, 370))))
    lines = skeletonize(strength_along(*arcs) > 0)  # one-pixel lines, as `boundaries.thin_lines` leaves them
    analysis = analyse_boundaries(BoundaryMap(strength, lines, np.ones(SIZE)), piece_length=80.0, min_length=10.0)
    wheel = [p for p in analysis.pieces if p.contour == analysis.pieces[0].contour]
    assert len(wheel) >= 4, "the whole outline, cut into pieces a cubic can follow"
    assert sum(p.length for p in wheel) == pytest.approx(np.pi * (3 * 100 - np.sqrt(220 * 180)), rel=0.05)
    ends = {tuple(np.round(p.points[i], 6)) for p in wheel for i in (0, 3)}
    assert len(ends) == len(wheel), "every piece's end is the next piece's start, round the whole loop"
    # An ROI's view keeps its arcs open (region_analysis closes round outlines in the whole view only).
    open_arcs = analyse_boundaries(BoundaryMap(strength, lines, np.ones(SIZE)), piece_length=80.0, min_length=10.0, close_round=False)
    assert len({p.contour for p in open_arcs.pieces}) == 3
    assert sum(p.length for p in open_arcs.pieces) < 0.7 * sum(p.length for p in wheel)


def test_a_second_fit_crossing_a_closed_ellipse_is_not_closed_but_a_nested_one_is():
    tyre = arc(WHEEL, 0, 300)
    rim = arc(Ellipse(WHEEL.centre, (40.0, 26.0), WHEEL.angle), 0, 300)
    shifted = arc(Ellipse((150.0, 100.0), (60.0, 40.0), WHEEL.angle), 0, 300)  # crosses the tyre
    contours = [tyre, rim, shifted]
    result = close_ellipses(contours, [net_turn(c) for c in contours], np.ones(SIZE), min_size=10.0)
    assert result[0] is shifted, "the crossing fit keeps its own arc"
    assert len(result) == 3 and all(np.allclose(r[0], r[-1]) for r in result[1:]), "tyre and rim both close"


def test_an_oval_filling_the_frame_is_left_open():
    # A saucer around the whole view (semi-major axis 0.42 of the view's side): its arc stays as drawn.
    saucer = Ellipse((120.0, 100.0), (100.0, 70.0), 0.0)
    rim = arc(saucer, 0, 200)  # more than half of it: a smaller ellipse would close
    result = close_ellipses([rim], [net_turn(rim)], np.ones(SIZE), min_size=10.0)
    assert len(result) == 1 and result[0] is rim
