"""The optimization canvas: the photo's own aspect, scaled so its long side is the loss resolution.

Strokes live in canvas units during optimization (so Adam's lr of 1.0 means about one loss pixel)
and are mapped back to photo pixels on output. Keeping the photo's aspect (no padding) means no
artificial border edge competes for strokes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Canvas:
    """A photo of photo_width × photo_height pixels seen at `resolution` pixels on its long side."""

    photo_width: int
    photo_height: int
    resolution: int

    @property
    def scale(self) -> float:
        """Photo pixels per canvas unit."""
        return max(self.photo_width, self.photo_height) / self.resolution

    @property
    def window(self) -> Box:
        """The whole photo in canvas units (x0, y0, x1, y1)."""
        return (0.0, 0.0, self.photo_width / self.scale, self.photo_height / self.scale)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels of the whole canvas rendered at loss resolution."""
        return view_size(self.window, self.resolution)

    def to_canvas(self, box: Box) -> Box:
        """A box in photo pixels as a box in canvas units."""
        return tuple(v / self.scale for v in box)  # type: ignore[return-value]


def view_size(box: Box, long_side: int) -> tuple[int, int]:
    """(height, width) in pixels of a view of `box` whose long side is `long_side`."""
    width, height = box[2] - box[0], box[3] - box[1]
    factor = long_side / max(width, height)
    return max(1, round(height * factor)), max(1, round(width * factor))


def working_scale(boxes: list[Box], long_side: int) -> float:
    """How much of the photo's resolution a job needs: the smallest scale (at most 1, full size) at
    which each box (photo pixels) still spans `long_side` pixels on its long side.

    Every view the engine takes of a region (the whole photo or an ROI) is at most
    max(preset.resolution, preset.analysis_size) pixels on its long side, so at this scale each
    view is still a reduction of real photo pixels: a 7,900-pixel photo without ROIs needs 512
    pixels (quality preset), one with a 500-pixel ROI needs all of them.
    """
    needed = max(long_side / max(box[2] - box[0], box[3] - box[1], 1e-9) for box in boxes)
    return min(1.0, needed)


def view_to_canvas(box: Box, size: tuple[int, int], canvas: Canvas) -> np.ndarray:
    """Affine [2, 3] taking pixel coordinates of a view of `box` (photo pixels) at `size` to canvas units."""
    height, width = size
    sx = (box[2] - box[0]) / width / canvas.scale
    sy = (box[3] - box[1]) / height / canvas.scale
    return np.array([[sx, 0.0, box[0] / canvas.scale], [0.0, sy, box[1] / canvas.scale]])


def to_tensor(rgb: np.ndarray, device: torch.device) -> Tensor:
    """An [H, W, 3] float image as a [1, 3, H, W] tensor on `device`."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].float().to(device)
