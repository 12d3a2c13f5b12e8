"""The benchmark's framings: a cropped photo keeps its ROIs on the same pixels, and a sketch that
moved with the crop agrees fully with the uncropped one."""

from __future__ import annotations

import numpy as np

from benchmarks.framing_stability import agreement
from benchmarks.scene_quality import cropped
from benchmarks.scenes import Scene
from mross_shared.messages import RoiBox


def test_a_cropped_photo_keeps_each_roi_on_the_same_pixels_and_cuts_it_at_the_new_edge():
    photo = np.random.default_rng(0).random((60, 80, 3), dtype=np.float32)
    scene = Scene("test", (RoiBox(10, 20, 30, 15), RoiBox(0, 2, 50, 40)))
    moved, smaller = cropped(scene, photo, 3)
    assert smaller.shape == (57, 77, 3)
    inner = moved.rois[0]
    assert np.array_equal(smaller[inner.y : inner.y + inner.height, inner.x : inner.x + inner.width], photo[20:35, 10:40])
    assert moved.rois[1] == RoiBox(0, 0, 47, 39), "the part of the ROI that was cut off is gone"


def test_a_sketch_that_moved_with_the_crop_is_the_same_drawing(tmp_path):
    rng = np.random.default_rng(1)
    strokes = rng.uniform(20, 380, (4, 4, 2))
    np.savez(tmp_path / "a.npz", width=400, height=400, points_1=strokes)
    np.savez(tmp_path / "b.npz", width=397, height=397, points_1=strokes - 3)
    np.savez(tmp_path / "c.npz", width=397, height=397, points_1=rng.uniform(20, 380, (4, 4, 2)))
    assert agreement(tmp_path / "a.npz", tmp_path / "b.npz", 3) == [1.0]
    assert agreement(tmp_path / "a.npz", tmp_path / "c.npz", 3)[0] < 0.5, "different strokes do not agree"
