"""What the engine knows about each round's region before drawing: its view, boundaries and contour pieces.

Found once per job (HED's forward pass is the costly part) and shared by everything that needs
it: stroke placement, the offline terms' targets (`ink`, `edges`), the budget split and the
spare strokes the clean-up draws from. An ROI is analysed on its own zoomed crop, where HED sees
the ROI's detail at the scale it was trained on, rather than on the whole-photo map upsampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mross_server.engine.boundaries import canny_boundaries, hed_boundaries
from mross_server.engine.canvas import Box, Canvas, photo_view, to_tensor, view_size, view_to_canvas
from mross_server.engine.contours import EdgeAnalysis, analyse_boundaries
from mross_server.engine.models.hed import HedEdges
from mross_server.job import Roi

# Contours are cut into pieces of at most this share of the analysed view's long side: long enough
# to carry a shape, short enough for one cubic to follow it. Placement and the ink target share them.
PIECE_FRACTION = 0.25
# A stroke shorter than this share of the photo's diagonal is a stub.
STUB_FRACTION = 0.03


@dataclass(frozen=True)
class Region:
    """One round's region: its box in photo pixels, its view of the photo and what was found in it."""

    roi: Roi | None
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
        return np.stack([p.points for p in pieces]) @ affine[:, :2].T + affine[:, 2]


def stub_length(width: int, height: int) -> float:
    """The stub length in photo pixels of a width × height photo."""
    return STUB_FRACTION * float(np.hypot(width, height))


def analyse_region(photo: np.ndarray, roi: Roi | None, box: Box, analysis_size: int, hed: HedEdges | None) -> Region:
    """Analyse `box` (photo pixels) of an [H, W, 3] photo at `analysis_size` px on its long side.

    HED gives the boundaries when its weights are loaded, Canny otherwise. Contours shorter than a
    stub (at photo scale) are dropped.
    """
    size = view_size(box, analysis_size)
    crop = photo_view(to_tensor(photo, torch.device("cpu")), box, size)[0].permute(1, 2, 0).numpy().astype(np.float64)
    boundaries = hed_boundaries(hed, crop) if hed is not None else canny_boundaries(crop)
    view_per_photo = size[1] / (box[2] - box[0])
    min_length = stub_length(photo.shape[1], photo.shape[0]) * view_per_photo
    # In a small ROI a quarter of the view can be shorter than a stub: pieces then stay twice a stub long.
    piece_length = max(PIECE_FRACTION * analysis_size, 2 * min_length)
    return Region(roi, box, crop, analyse_boundaries(boundaries, piece_length, min_length))
