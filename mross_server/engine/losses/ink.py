"""Offline line-drawing loss: the sketch's ink against a drawing of the photo's main contours.

No network weights are involved. The target is a line drawing of the photo's highest-ranked
contour pieces (see `contours.py`), rendered with the sketch's own stroke width; sketch and
target are compared after Gaussian blurs at several scales, so a stroke a few pixels off a
contour still feels its pull (coarse scales) while fine scales reward lying exactly on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mross_server.engine.contours import analyse_edges
from mross_server.engine.losses.augment import PairBatch
from mross_server.engine.losses.blur import gaussian_blur
from mross_server.engine.renderer import render


def line_drawing(photo: Tensor, pieces: int, half_width: float, piece_fraction: float = 0.15) -> Tensor:
    """Ink [1, 1, H, W] in [0, 1] of the photo's `pieces` best contour pieces; photo is [1, 3, H, W]."""
    height, width = photo.shape[-2:]
    rgb = photo[0].permute(1, 2, 0).detach().cpu().numpy().astype(np.float64)
    analysis = analyse_edges(rgb, piece_length=piece_fraction * max(height, width))
    chosen = analysis.pieces[:pieces]
    if not chosen:
        return torch.zeros(1, 1, height, width, device=photo.device, dtype=photo.dtype)
    points = torch.tensor(np.stack([p.points for p in chosen]), device=photo.device, dtype=photo.dtype)[None]
    drawing = render(points, half_width, (0, 0, width, height), (height, width))
    return 1.0 - drawing[:, :1]


class InkLoss:
    """Multi-scale blurred-ink distance to a line drawing of the target photo; one value per sketch.

    A pair term that scores the plain pair only: a line drawing of a warped photo is not the warp of
    the line drawing, and the term is cheap and deterministic without augmentations.
    """

    def __init__(self, pieces: int, half_width: float, sigmas: Sequence[float] = (1.0, 2.0, 4.0, 8.0)) -> None:
        self.pieces = pieces
        self.half_width = half_width
        self.sigmas = tuple(sigmas)
        self._target: list[Tensor] = []
        self._norm: list[Tensor] = []

    def set_target(self, target: Tensor) -> None:
        """Draw and cache the blurred line drawing of the photo `target` [1, 3, H, W] in [0, 1]."""
        drawing = line_drawing(target, self.pieces, self.half_width)
        self._target = [gaussian_blur(drawing, s) for s in self.sigmas]
        # Each scale is normalized by its own target energy so no scale dominates.
        self._norm = [(t * t).mean().clamp(min=1e-8) for t in self._target]

    def __call__(self, pairs: PairBatch) -> Tensor:
        """Loss of the plain pair's sketches (augmented pairs are ignored).

        Shape:
            - pairs.sketches: [P, K, 3, H, W], of which pair 0 is scored
            - output: [K]
        """
        sketch = pairs.sketches[0]
        ink = 1.0 - sketch.mean(dim=1, keepdim=True)
        total = sketch.new_zeros(sketch.shape[0])
        for sigma, target, norm in zip(self.sigmas, self._target, self._norm):
            diff = gaussian_blur(ink, sigma) - target
            total = total + (diff * diff).mean(dim=(1, 2, 3)) / norm
        return total / len(self.sigmas)
