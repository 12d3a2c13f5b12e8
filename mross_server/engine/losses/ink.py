"""Offline line-drawing loss: the sketch's ink against a drawing of the photo's main contours.

No network weights are involved. The target is a line drawing of the view's highest-ranked
contour pieces (see `contours.py`; the same pieces placement starts from, none doubling another),
rendered with the sketch's own stroke width; sketch and target are compared after Gaussian blurs
at several scales, so a stroke a few pixels off a contour still feels its pull (coarse scales)
while fine scales reward lying exactly on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mross_server.engine.contours import EdgeAnalysis
from mross_server.engine.initial_strokes import distinct_strokes
from mross_server.engine.losses.augment import PairBatch
from mross_server.engine.losses.blur import gaussian_blur
from mross_server.engine.renderer import render


def line_drawing(analysis: EdgeAnalysis, pieces: int, half_width: float, size: tuple[int, int]) -> Tensor:
    """Ink [1, 1, H, W] in [0, 1] of the view's `pieces` best distinct contour pieces drawn at size (H, W).

    `half_width` is the line's half-width in pixels of the drawing.
    """
    height, width = size
    ranked = [p.points for p in analysis.pieces]
    if not ranked:
        return torch.zeros(1, 1, height, width)
    source_height, source_width = analysis.edges.shape
    strokes = np.stack(ranked) * np.array([width / source_width, height / source_height])
    chosen = strokes[distinct_strokes(strokes, pieces, np.zeros((0, 4, 2)), 3 * half_width)]
    drawing = render(torch.tensor(chosen, dtype=torch.float32)[None], half_width, (0, 0, width, height), (height, width))
    return 1.0 - drawing[:, :1]


class InkLoss:
    """Multi-scale blurred-ink distance to a line drawing of the target photo; one value per sketch.

    A pair term that scores the plain pair only: a line drawing of a warped photo is not the warp of
    the line drawing, and the term is cheap and deterministic without augmentations.
    """

    def __init__(self, analysis: EdgeAnalysis, pieces: int, half_width: float, sigmas: Sequence[float] = (1.0, 2.0, 4.0, 8.0)) -> None:
        self.analysis = analysis
        self.pieces = pieces
        self.half_width = half_width
        self.sigmas = tuple(sigmas)
        self._target: list[Tensor] = []
        self._norm: list[Tensor] = []

    def set_target(self, target: Tensor) -> None:
        """Draw and cache the blurred line drawing of the view's pieces at the size of `target` [1, 3, H, W]."""
        drawing = line_drawing(self.analysis, self.pieces, self.half_width, (target.shape[-2], target.shape[-1])).to(target)
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
