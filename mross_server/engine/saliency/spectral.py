"""Offline saliency: the spectral-residual method (Hou & Zhang, CVPR 2007), no weights needed.

Used to favour contours of the scene's subject over background clutter when no CLIP model is
available for attention-based saliency.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_WORK_SIZE = 64


def spectral_saliency(luma: np.ndarray) -> np.ndarray:
    """Saliency of an [H, W] grey image, same shape, normalized to [0, 1]."""
    height, width = luma.shape
    small = ndimage.zoom(luma, (_WORK_SIZE / height, _WORK_SIZE / width), order=1)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, size=3, mode="nearest")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = ndimage.gaussian_filter(saliency, sigma=2.5)
    saliency = ndimage.zoom(saliency, (height / saliency.shape[0], width / saliency.shape[1]), order=1)
    saliency = saliency[:height, :width]
    if saliency.shape != luma.shape:
        saliency = np.pad(saliency, [(0, height - saliency.shape[0]), (0, width - saliency.shape[1])], mode="edge")
    low, high = saliency.min(), saliency.max()
    return (saliency - low) / (high - low) if high > low else np.zeros_like(luma)
