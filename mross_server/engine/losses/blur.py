"""The Gaussian blur the offline losses compare ink with: kornia's, with their border and radius rule."""

from __future__ import annotations

from kornia.filters import gaussian_blur2d
from torch import Tensor


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Blur [B, C, H, W] with a Gaussian of `sigma` pixels (radius 3σ, at least 1); differentiable.

    Borders replicate the edge pixels: a stroke touching the frame must not look fainter than one
    inside it (zero padding would pull ink off the frame).
    """
    radius = max(1, int(3 * sigma))
    size = 2 * radius + 1
    return gaussian_blur2d(image, (size, size), (sigma, sigma), border_type="replicate")
