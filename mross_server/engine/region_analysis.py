"""What the engine knows about each round's region before drawing: its view, boundaries and contour pieces.

Found once per job and shared by everything that needs it: stroke placement, the offline terms'
targets (`ink`, `edges`), the budget split and the spare strokes the clean-up draws from. HED
runs once, on the whole photo; an ROI's boundaries are the whole-photo maps cropped to it and
upsampled to the ROI's view. Measured against running HED again on each zoomed crop (which costs
one more forward pass per ROI), the reused maps agree better with human-like boundaries inside
the ROI and keep the object's outline rather than its texture, which is what an ROI round should add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mross_server.engine.boundaries import canny_boundaries, hed_boundaries, hed_maps
from mross_server.engine.canvas import Box, Canvas, view_size, view_to_canvas
from mross_server.engine.contours import EdgeAnalysis, analyse_boundaries
from mross_server.engine.models.hed import HedEdges
from mross_server.io.photo import Photo
from mross_shared.messages import RoiBox

# Contours are cut into pieces of at most this share of the analysed view's long side: long enough
# to carry a shape, short enough for one cubic to follow it. Placement and the ink target share them.
PIECE_FRACTION = 0.25
# A stroke shorter than this share of the photo's diagonal is a stub.
STUB_FRACTION = 0.03


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

    HED gives the boundaries when its weights are loaded (one
    forward pass, on the whole photo), Canny on each view otherwise. Contours shorter than a stub
    (at photo scale) are dropped.
    """
    width, height = photo.width, photo.height
    whole_box: Box = (0.0, 0.0, float(width), float(height))
    boxes = [(None, whole_box), *((roi, roi.box) for roi in rois)]
    views = [photo.view(box, view_size(box, analysis_size)).astype(np.float64) for _, box in boxes]
    maps = hed_maps(hed, views[0]) if hed is not None else None
    regions = []
    for (roi, box), view in zip(boxes, views):
        boundaries = hed_boundaries(_crop_maps(maps, box, whole_box, view.shape[:2])) if maps is not None else canny_boundaries(view)
        view_per_photo = view.shape[1] / (box[2] - box[0])
        min_length = stub_length(width, height) * view_per_photo
        # In a small ROI a quarter of the view can be shorter than a stub: pieces then stay twice a stub long.
        piece_length = max(PIECE_FRACTION * analysis_size, 2 * min_length)
        regions.append(Region(roi, box, view, analyse_boundaries(boundaries, piece_length, min_length)))
    return regions


def _crop_maps(maps: np.ndarray, box: Box, whole: Box, size: tuple[int, int]) -> np.ndarray:
    """Maps [C, h, w] of the whole photo cropped to box (photo pixels) and resized to size (H, W), [C, H, W]."""
    height, width = maps.shape[1:]
    sx, sy = width / whole[2], height / whole[3]
    x0, y0 = int(box[0] * sx), int(box[1] * sy)
    x1, y1 = max(x0 + 1, int(np.ceil(box[2] * sx))), max(y0 + 1, int(np.ceil(box[3] * sy)))
    crop = torch.from_numpy(np.ascontiguousarray(maps[:, y0:y1, x0:x1]))[None]
    resized: np.ndarray = F.interpolate(crop, size=size, mode="bilinear", align_corners=False)[0].numpy()
    return resized
