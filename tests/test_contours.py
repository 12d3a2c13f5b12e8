"""Boundaries and contour pieces: HED lines on a real photo, chains linked across gaps, clean cubic pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.morphology import skeletonize

from mross_server.engine.boundaries import BoundaryMap, canny_boundaries, hed_boundaries, hed_maps, ridge_maxima, thin_lines
from mross_server.engine.contours import analyse_boundaries, fit_pieces, link_chains, net_turn
from mross_server.engine.models.locations import hed_weights_path
from mross_server.engine.region_analysis import ROI_THRESHOLD_SCALE, analyse_regions, stub_length
from mross_server.engine.stroke_geometry import knotted
from mross_server.io.photo import Photo, load_photo
from mross_shared.messages import RoiBox

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "coffee.jpg"


def ring(radius: float, size: int = 64) -> np.ndarray:
    """A soft ring-shaped boundary map [size, size], peaking on a circle of `radius`."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    distance = np.hypot(x - size / 2, y - size / 2) - radius
    return np.exp(-0.5 * (distance / 1.5) ** 2)


def test_suppression_thins_a_wide_ridge_to_one_pixel_and_hysteresis_keeps_it_whole():
    strength = ring(20.0)
    assert (strength > 0.5).sum() > 3 * 2 * np.pi * 20, "the band is several pixels wide"
    lines = thin_lines(strength, 0.2, 0.5)
    assert 0.8 * 2 * np.pi * 20 < lines.sum() < 1.3 * 2 * np.pi * 20
    ridge = ridge_maxima(strength)
    assert ridge[32, 51] and not ridge[32, 50] and not ridge[32, 49], "only the crest of the band, not its slope"


def test_an_rois_lower_thresholds_keep_a_fainter_boundary_whole():
    maps = np.stack([0.35 * ring(20.0)] * 6)  # HED's six maps, a faint ring in each
    assert not hed_boundaries(maps).lines.any(), "too faint for the whole photo's thresholds"
    kept = hed_boundaries(maps, ROI_THRESHOLD_SCALE).lines
    assert 0.8 * 2 * np.pi * 20 < kept.sum() < 1.3 * 2 * np.pi * 20


def test_chains_broken_at_a_gap_are_linked_when_they_continue_each_other():
    left = np.column_stack([np.arange(0, 30), np.full(30, 10)]).astype(float)
    right = np.column_stack([np.arange(33, 60), np.full(27, 10)]).astype(float)
    across = np.column_stack([np.full(20, 31), np.arange(12, 32)]).astype(float)  # starts near the gap, at a right angle
    linked = link_chains([left, right, across], max_gap=4.0)
    lengths = sorted(len(c) for c in linked)
    assert lengths == [20, 57], "the two halves of the line join; the perpendicular chain stays apart"


def test_a_closed_loop_becomes_several_clean_pieces():
    angle = np.linspace(0, 2 * np.pi, 120)
    loop = np.column_stack([50 + 30 * np.cos(angle), 50 + 30 * np.sin(angle)])
    parts = fit_pieces(loop, min_length=10.0)
    assert len(parts) >= 2
    assert not knotted(np.stack([cubic for cubic, _, _ in parts])).any()
    assert sum(length for _, _, length in parts) == pytest.approx(2 * np.pi * 30, rel=0.02)


def test_pieces_are_ranked_by_importance_and_shorter_ones_are_dropped():
    strength = np.zeros((80, 120))
    strength[20, 10:110] = 1.0  # a long strong line
    strength[60, 10:40] = 0.6  # a short weaker one
    strength[70, 100:104] = 1.0  # a dot
    lines = strength > 0
    salience = np.ones_like(strength)
    analysis = analyse_boundaries(BoundaryMap(strength, lines, salience), piece_length=40.0, min_length=8.0)
    ys = [float(p.points[:, 1].mean()) for p in analysis.pieces]
    assert len(analysis.pieces) == 4 and ys == pytest.approx([20.0, 20.0, 20.0, 60.0])
    assert len({p.contour for p in analysis.pieces[:3]}) == 1, "the long line's pieces continue one another"


def test_an_outline_that_bends_one_way_outranks_a_straight_edge_and_a_wiggle_of_the_same_length():
    t = np.linspace(0.0, 1.0, 400)
    arc = np.column_stack([100 + 50 * np.cos(np.pi * t), 100 + 50 * np.sin(np.pi * t)])  # half a wheel
    straight = np.column_stack([20 + np.pi * 50 * t, np.full_like(t, 20.0)])
    wiggle = np.column_stack([20 + np.pi * 50 * t, 180 + 4 * np.sin(12 * np.pi * t)])
    assert net_turn(arc) == pytest.approx(np.pi, abs=0.2)
    assert abs(net_turn(straight)) < 0.05 and abs(net_turn(wiggle)) < 0.5
    lines = np.zeros((220, 220), dtype=bool)
    for chain in (arc, straight):
        lines[np.round(chain[:, 1]).astype(int), np.round(chain[:, 0]).astype(int)] = True
    lines = skeletonize(lines)  # one pixel wide, as boundaries.thin_lines leaves them
    strength = np.where(lines, 1.0, 0.0)
    strength[60:] *= 0.85  # the half wheel is a little fainter than the edge

    analysis = analyse_boundaries(BoundaryMap(strength, lines, np.ones_like(strength)), piece_length=60.0, min_length=8.0)
    first = analysis.pieces[0].points[:, 1].mean()
    assert first > 60, "the half wheel's pieces come before the (stronger) straight edge's"


def test_canny_boundaries_need_no_weights():
    boundaries = canny_boundaries(load_photo(PHOTO)[::4, ::4].astype(np.float64))
    assert boundaries.lines.any() and boundaries.salience.max() == pytest.approx(1.0)


@pytest.mark.skipif(not hed_weights_path().is_file(), reason=f"real HED weights absent at {hed_weights_path()}")
def test_hed_analysis_of_a_real_photo_returns_long_pieces_on_the_cup_and_in_the_roi():
    from mross_server.engine.models.hed_h5 import load_hed

    photo = load_photo(PHOTO)
    height, width = photo.shape[:2]
    handle = RoiBox(185, 190, 230, 145)
    hed = load_hed()
    region, roi_region = analyse_regions(Photo.from_array(photo), [handle], 384, hed)
    assert roi_region.roi == handle and roi_region.view.shape[1] == 384 and len(roi_region.analysis.pieces) >= 5
    for analysed, threshold in ((region, 1.0), (roi_region, ROI_THRESHOLD_SCALE)):
        assert np.array_equal(analysed.analysis.edges, hed_boundaries(hed_maps(hed, analysed.view), threshold).lines), "the ROI at its own thresholds"
    pieces = region.analysis.pieces
    assert len(pieces) >= 20
    scale = width / region.view.shape[1]
    assert min(p.length for p in pieces) * scale >= stub_length(width, height) * 0.99, "no stubs"
    # The cup's rim (around x 200-420, y 20-200 in photo pixels) carries the best pieces.
    centres = np.array([p.points.mean(axis=0) * scale for p in pieces[:8]])
    assert ((centres[:, 0] > 120) & (centres[:, 0] < 480) & (centres[:, 1] < 330)).mean() >= 0.75
