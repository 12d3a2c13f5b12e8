"""Offline subject prior for HED boundaries: object-scale boundaries, weighted towards the frame's centre.

HED's coarse side output (block 4 of its VGG16 trunk) sees about a fifth of a 512 px view: it
fires on the outlines of objects and stays quiet on texture (shelves' small items, foliage,
brick). Blurred a little, it marks the areas where objects are. Photographers frame their subject
away from the edges, so a broad centre prior tips the balance between equally strong outlines
towards the subject's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Spread of the centre prior as a share of each side: at a corner it keeps about a fifth. 0.35 (a
# seventh) ranked a motorcycle's front wheel, low and to the right, below the shelves behind it.
CENTRE_SPREAD = 0.45
# The coarse map is blurred by this share of the long side: salience belongs to an object's area
# (a wheel's whole rim), not only to its single strongest outline.
AREA_BLUR = 0.015


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    """A Gaussian [H, W] peaking at 1 in the middle of the frame, spread CENTRE_SPREAD of each side."""
    height, width = shape
    ys = (np.arange(height) + 0.5 - height / 2) / (CENTRE_SPREAD * height)
    xs = (np.arange(width) + 0.5 - width / 2) / (CENTRE_SPREAD * width)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))


def subject_salience(coarse_boundaries: np.ndarray) -> np.ndarray:
    """Salience [H, W] in [0, 1] from HED's coarse side output [H, W] (probabilities) and the centre prior.

    Scaled so the top 2 % of pixels reach 1: one very strong outline must not flatten the rest.
    """
    area = ndimage.gaussian_filter(coarse_boundaries, AREA_BLUR * max(coarse_boundaries.shape))
    salience = area * centre_prior(coarse_boundaries.shape)
    high = float(np.quantile(salience, 0.98))
    return np.clip(salience / high, 0.0, 1.0) if high > 0 else np.zeros_like(salience)
