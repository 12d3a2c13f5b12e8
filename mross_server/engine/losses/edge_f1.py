"""Offline edge-agreement loss: a soft F1 between the sketch's ink and the photo's edges.

Precision rewards ink that lies near an edge of the photo; recall rewards edges that have ink
near them. Both use a Gaussian "nearness" (a soft dilation) so a stroke a pixel or two off an
edge still gets credit and a gradient. The loss is 1 − F1: it pulls strokes onto contours and
stretches them along contours, with no network weights involved.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.feature import canny
from torch import Tensor

from mross_server.engine.contours import gray
from mross_server.engine.losses.augment import PairBatch
from mross_server.engine.losses.blur import gaussian_blur

# Nearness saturates at this many times the blurred value of an isolated one-pixel line's centre.
_SATURATION = 2.5


def soft_near(mask: Tensor, sigma: float) -> Tensor:
    """How close each pixel is to the set pixels of mask [B, 1, H, W] in [0, 1]: 1 on and near them."""
    peak = 1.0 / (math.sqrt(2 * math.pi) * sigma)  # blurred value on a one-pixel-wide line
    return (gaussian_blur(mask, sigma) * (_SATURATION / peak)).clamp(max=1.0)


class EdgeF1Loss:
    """1 − soft F1 of the plain pair's sketch ink against the target photo's Canny edges; a pair term."""

    def __init__(self, sigma: float = 1.5, canny_sigma: float = 1.0) -> None:
        self.sigma = sigma
        self.canny_sigma = canny_sigma
        self._edges: Tensor | None = None
        self._near_edges: Tensor | None = None

    def set_target(self, target: Tensor) -> None:
        """Find and cache the edges of the photo `target` [1, 3, H, W] in [0, 1]."""
        rgb = target[0].permute(1, 2, 0).detach().cpu().numpy().astype(np.float64)
        edges = canny(gray(rgb), sigma=self.canny_sigma)
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
