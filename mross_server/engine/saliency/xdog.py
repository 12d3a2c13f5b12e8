"""CLIPasso's XDoG line map: where its CLIP-attention start points may fall.

CLIPasso multiplies the attention map by (1 − XDoG) before drawing start points, so points land on
the photo's lines, not on flat regions. The XDoG (difference of Gaussians with a soft threshold,
Winnemöller's eXtended DoG) runs on the CLIP-normalized photo at CLIP's input size and is binarized
with Otsu's threshold, which gives thick lines; its parameters are CLIPasso's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

SIGMA = 0.8
SIGMA_RATIO = 10.0  # CLIPasso's k
GAMMA = 0.98
PHI = 200.0
EPSILON = -0.1
# skimage.color.rgb2gray's weights, which CLIPasso uses.
_GRAY = np.array([0.2125, 0.7154, 0.0721])


def xdog_lines(image: np.ndarray) -> np.ndarray:
    """Bool [H, W], True on the dark lines of the XDoG of `image` [H, W, 3] (CLIPasso feeds it CLIP-normalized values)."""
    gray = image.astype(np.float64) @ _GRAY
    fine = ndimage.gaussian_filter(gray, SIGMA)
    coarse = ndimage.gaussian_filter(gray, SIGMA * SIGMA_RATIO)
    difference = fine - GAMMA * coarse
    soft = np.where(difference < EPSILON, 1.0, 1.0 + np.tanh(PHI * difference))
    low, high = soft.min(), soft.max()
    if high <= low:
        return np.zeros(gray.shape, dtype=bool)
    soft = (soft - low) / (high - low)
    lines: np.ndarray = soft < threshold_otsu(soft)
    return lines
