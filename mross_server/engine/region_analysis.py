"""What the engine knows about each round's region before drawing: its view, boundaries and contour pieces.

Found once per job and shared by everything that needs it: stroke placement, the offline terms'
targets (`ink`, `edges`), the budget split and the spare strokes the clean-up draws from. HED
runs once per region, on the region's own zoomed view (about a second each on a 2-core CPU). An
earlier version cropped the whole photo's maps to each ROI instead: at the whole photo's scale a
small ROI's outlines are a few coarse pixels, which left 0–4 contour pieces in most benchmark ROIs
(scene_quality.py), so ROI rounds started from random walks and lowered the ROI's boundary F1; the
ROI's own pass finds 3–40 pieces and its round raises the F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mross_server.engine.boundaries import canny_boundaries, hed_boundaries, hed_maps
from mross_server.engine.canvas import Box, Canvas, view_size, view_to_canvas
from mross_server.engine.contours import EdgeAnalysis, analyse_boundaries
from mross_server.engine.models.hed import HedEdges
from mross_server.io.photo import Photo
from mross_shared.messages import RoiBox

# Contours are cut into pieces of at most this share of the analysed view's long side: long enough
# to carry a shape, short enough for one cubic to follow it (the fit still splits a piece wherever
# one cubic strays, see contours.py). Placement and the ink target share them. A quarter drew long
# outlines in more, shorter strokes meeting end to end; on the 11 cluttered benchmark scenes two
# fifths lowered the doubled share 0.168 → 0.156 and raised boundary F1 0.417 → 0.429, and blind
# viewers read as much over three framings and called more sketches clean (offline-objective.md,
# seventh series).
PIECE_FRACTION = 0.4
# A stroke shorter than this share of the photo's diagonal is a stub.
STUB_FRACTION = 0.03
# HED's thresholds in an ROI's view, relative to the whole photo's. An ROI's view is its pixels
# upsampled, and HED rates the lines of small features there lower (a laughing face's eyes, hairline
# and cheek, a wine glass's far side: 0.2-0.5 where outlines reach 0.9); the illustrator asked for
# that detail. At full thresholds the mariachi face ROI kept 13 contour pieces and no eye.
ROI_THRESHOLD_SCALE = 0.6


@dataclass(frozen=True)
class Region:
    """One round's region: its box in photo pixels, its view of the photo and what was found in it."""

    roi: RoiBox | None
    box: Box
    view: np.ndarray  # the region of the photo at analysis size, [h, w, 3] in [0, 1]
    analysis: EdgeAnalysis

    def to_canvas(self, canvas: Canvas) -> np.ndarray:
        """Affine [2, 3] from the view's pixels to canvas units."""
        return view_to_canvas(self.box, self.view.shape[:2], canvas)

    def pieces_on_canvas(self, canvas: Canvas) -> np.ndarray:
        """The region's ranked contour pieces as strokes [m, 4, 2] in canvas units, best first."""
        pieces = self.analysis.pieces
        if not pieces:
            return np.zeros((0, 4, 2))
        affine = self.to_canvas(canvas)
        strokes: np.ndarray = np.stack([p.points for p in pieces]) @ affine[:, :2].T + affine[:, 2]
        return strokes


def stub_length(width: int, height: int) -> float:
    """The stub length in photo pixels of a width × height photo."""
    return STUB_FRACTION * float(np.hypot(width, height))


def analyse_regions(photo: Photo, rois: Sequence[RoiBox], analysis_size: int, hed: HedEdges | None) -> list[Region]:
    """The whole photo's region, then one per ROI, each analysed at `analysis_size` px on its long side.

    HED gives the boundaries when its weights are loaded (one forward pass per view; ROIs' views at
    ROI_THRESHOLD_SCALE), Canny on each view otherwise. Contours shorter than a stub (at photo scale)
    are dropped.
    """
    width, height = photo.width, photo.height
    whole_box: Box = (0.0, 0.0, float(width), float(height))
    boxes = [(None, whole_box), *((roi, roi.box) for roi in rois)]
    views = [photo.view(box, view_size(box, analysis_size)).astype(np.float64) for _, box in boxes]
    regions = []
    for (roi, box), view in zip(boxes, views):
        threshold_scale = 1.0 if roi is None else ROI_THRESHOLD_SCALE
        boundaries = hed_boundaries(hed_maps(hed, view), threshold_scale) if hed is not None else canny_boundaries(view)
        view_per_photo = view.shape[1] / (box[2] - box[0])
        min_length = stub_length(width, height) * view_per_photo
        # In a small ROI that share of the view can be shorter than two stubs: pieces then stay two stubs long.
        piece_length = max(PIECE_FRACTION * analysis_size, 2 * min_length)
        # Round outlines are closed in the whole photo's view only. In an ROI's zoomed view the round
        # things are details (a spoon's reflection, a logo, a bolt) that closed rings turn into eyes
        # and wheels: closing them there too, blind viewers named the coffee's cup 1 time in 6
        # instead of 5 (offline-objective.md, blind check).
        analysis = analyse_boundaries(boundaries, piece_length, min_length, close_round=roi is None)
        regions.append(Region(roi, box, view, analysis))
    return regions
