"""Offline edge-agreement loss: a soft F1 between the sketch's ink and the photo's boundary lines.

The lines are the view's boundaries from its region analysis (HED's, thinned, when its weights
are installed: outlines people draw, not texture). Precision rewards ink that lies near a
boundary; recall rewards boundaries that have ink near them. Both use a Gaussian "nearness" (a soft dilation) so a stroke a pixel or two off an
edge still gets credit and a gradient. The loss is 1 − F1: it pulls strokes onto contours and
stretches them along contours, with no network weights involved.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from mross_server.engine.losses.augment import PairBatch
from mross_server.engine.losses.blur import gaussian_blur

# Nearness saturates at this many times the blurred value of an isolated one-pixel line's centre.
_SATURATION = 2.5


def soft_near(mask: Tensor, sigma: float) -> Tensor:
    """How close each pixel is to the set pixels of mask [B, 1, H, W] in [0, 1]: 1 on and near them."""
    peak = 1.0 / (math.sqrt(2 * math.pi) * sigma)  # blurred value on a one-pixel-wide line
    return (gaussian_blur(mask, sigma) * (_SATURATION / peak)).clamp(max=1.0)


def resample_lines(lines: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One-pixel lines [h, w] with weights in [0, 1] redrawn at size (H, W); each line pixel lands on its scaled pixel.

    Where several pixels land on one, the strongest wins.
    """
    height, width = size
    ys, xs = np.nonzero(lines)
    out = np.zeros(size)
    np.maximum.at(out, (((ys + 0.5) * height / lines.shape[0]).astype(int), ((xs + 0.5) * width / lines.shape[1]).astype(int)), lines[ys, xs])
    return out


class EdgeF1Loss:
    """1 − soft F1 of the plain pair's sketch ink against the view's weighted boundary lines; a pair term.

    `lines` [h, w] in [0, 1] is 0 off the lines and each line pixel's weight on them (any size: it is
    redrawn at the target's): recall counts a line pixel by its weight, so important outlines pull harder.
    """

    def __init__(self, lines: np.ndarray, sigma: float = 1.5) -> None:
        self.lines = lines
        self.sigma = sigma
        self._edges: Tensor | None = None
        self._near_edges: Tensor | None = None

    def set_target(self, target: Tensor) -> None:
        """Cache the weighted boundary lines redrawn at the size of `target` [1, 3, H, W]."""
        edges = resample_lines(self.lines, (target.shape[-2], target.shape[-1]))
        self._edges = torch.from_numpy(edges).to(target.device, target.dtype)[None, None]
        self._near_edges = soft_near(self._edges, self.sigma)

    def __call__(self, pairs: PairBatch) -> Tensor:
        """Loss of the plain pair's sketches (augmented pairs are ignored).

        Shape:
            - pairs.sketches: [P, K, 3, H, W], of which pair 0 is scored
            - output: [K]
        """
        if self._edges is None or self._near_edges is None:
            raise RuntimeError("EdgeF1Loss.set_target must be called before evaluating the loss.")
        ink = 1.0 - pairs.sketches[0].mean(dim=1, keepdim=True)
        precision = (ink * self._near_edges).sum(dim=(1, 2, 3)) / ink.sum(dim=(1, 2, 3)).clamp(min=1e-6)
        recall = (soft_near(ink, self.sigma) * self._edges).sum(dim=(1, 2, 3)) / self._edges.sum().clamp(min=1.0)
        return 1.0 - 2 * precision * recall / (precision + recall).clamp(min=1e-6)
