"""Where a person would draw a line: a photo view's boundary strength, thinned to one-pixel lines.

Two sources give the same `BoundaryMap`. HED (Xie & Tu 2015) was trained on BSDS500's human
boundary drawings, so it fires on object outlines and much less on texture (shelves' clutter,
grass, brick); it is the default whenever its weights are installed. Canny on the luma, with
thresholds from the image's own gradient quantiles, is the weight-free fallback.

HED's maps are bands a few pixels wide around each boundary; non-maximum suppression across the
band (its normal taken from the map's Hessian) and hysteresis between two probabilities leave
one-pixel lines that follow the boundary and stop where it fades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from skimage.feature import canny, hessian_matrix
from skimage.filters import apply_hysteresis_threshold
from skimage.morphology import skeletonize

from mross_server.engine.models.hed import HedEdges
from mross_server.engine.saliency.spectral import spectral_saliency
from mross_server.engine.saliency.subject import subject_salience

# Hysteresis on HED's probability: a line starts where a boundary is likely (HIGH) and continues
# while it stays plausible (LOW). Chosen by looking at scene photos (garage, street, room): lower
# HIGH brings back shelf and floor texture, higher drops faint but real outlines.
HED_HIGH = 0.5
HED_LOW = 0.2
# HED's side output whose receptive field matches objects rather than texture (0-based, fine to coarse).
COARSE_SIDE = 3
# The maps averaged into the boundary strength: side outputs 3 and 4 and the fused map. The fused map
# alone breaks outlines into short pieces wherever texture crosses them (fur, foliage, spokes); the
# mid-scale sides keep object outlines whole and fade texture, so their mean draws like a person
# squinting at the scene. Chosen by looking at placements on the cluttered benchmark scenes.
STRENGTH_MAPS = (2, 3, 5)
# Boundaries outside the salient area keep this much importance: they rank lower, not out.
SALIENCE_FLOOR = 0.15


@dataclass(frozen=True)
class BoundaryMap:
    """Boundaries of one view of the photo, all arrays [H, W] at the view's analysis size.

    strength: how likely each pixel lies on a boundary a person would draw, in [0, 1].
    lines: the boundaries as one-pixel-wide lines (bool).
    salience: how much the area around each pixel belongs to the scene's subject, in [0, 1].
    """

    strength: np.ndarray
    lines: np.ndarray
    salience: np.ndarray

    @property
    def importance(self) -> np.ndarray:
        """How much drawing each pixel matters, [H, W] in [0, 1]: strength × (floor + salience), rescaled.

        It ranks contour pieces and weighs the `edges` term's lines, so both favour the subject.
        """
        return self.strength * (SALIENCE_FLOOR + self.salience) / (1.0 + SALIENCE_FLOOR)


def gray(rgb: np.ndarray) -> np.ndarray:
    """Luma [H, W] of an [H, W, 3] image in [0, 1]."""
    luma: np.ndarray = rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)
    return luma


def canny_boundaries(rgb: np.ndarray, sigma: float = 2.0) -> BoundaryMap:
    """Canny edges of an [H, W, 3] image in [0, 1]: strength from the gradient, spectral-residual salience."""
    luma = gray(rgb).astype(np.float64)
    # Thresholds relative to the image's own gradient distribution adapt to low-contrast scenes.
    lines = skeletonize(canny(luma, sigma=sigma, low_threshold=0.6, high_threshold=0.85, use_quantiles=True))
    smooth = ndimage.gaussian_filter(luma, sigma)
    gradient = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    strength = gradient / max(float(np.quantile(gradient, 0.99)), 1e-6)
    return BoundaryMap(np.clip(strength, 0.0, 1.0), lines, spectral_saliency(luma))


def hed_maps(hed: HedEdges, rgb: np.ndarray) -> np.ndarray:
    """HED's five side outputs and fused map [6, H, W] (probabilities) of an [H, W, 3] image in [0, 1]."""
    device = next(hed.parameters()).device
    image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].float().to(device)
    maps: np.ndarray = hed.side_and_fused(image).double().cpu().numpy()
    return maps


def hed_boundaries(maps: np.ndarray, threshold_scale: float = 1.0) -> BoundaryMap:
    """Boundaries from HED maps [6, H, W] (see `hed_maps`, or a crop of them): mid-scale strength, thinned lines, subject salience.

    `threshold_scale` multiplies both hysteresis thresholds: below 1 keeps fainter lines.
    """
    strength = maps[list(STRENGTH_MAPS)].mean(axis=0)
    lines = thin_lines(strength, HED_LOW * threshold_scale, HED_HIGH * threshold_scale)
    return BoundaryMap(strength, lines, subject_salience(maps[COARSE_SIDE]))


def thin_lines(strength: np.ndarray, low: float, high: float) -> np.ndarray:
    """One-pixel lines [H, W] bool along the ridges of a boundary map [H, W], kept by hysteresis."""
    ridge = ridge_maxima(strength)
    kept = apply_hysteresis_threshold(np.where(ridge, strength, 0.0), low, high)
    # Suppression can leave two-pixel steps where the ridge turns; skeletonizing makes chains traceable.
    lines: np.ndarray = skeletonize(kept)
    return lines


def ridge_maxima(strength: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Pixels [H, W] bool not below both neighbours across the ridge of a map [H, W] (non-maximum suppression).

    The direction across a ridge is the Hessian's eigenvector with the most negative eigenvalue,
    steadier on a wide band than the gradient, which vanishes on the ridge itself.
    """
    hrr, hrc, hcc = hessian_matrix(strength, sigma=sigma, order="rc", use_gaussian_derivatives=False)
    # Eigenvector of [[hrr, hrc], [hrc, hcc]] for its smaller eigenvalue, as an angle in (row, col).
    angle = 0.5 * np.arctan2(2 * hrc, hrr - hcc) + np.pi / 2
    normal_r, normal_c = np.cos(angle), np.sin(angle)
    rows, cols = np.mgrid[0 : strength.shape[0], 0 : strength.shape[1]].astype(np.float64)
    ahead = ndimage.map_coordinates(strength, [rows + normal_r, cols + normal_c], order=1, mode="nearest")
    behind = ndimage.map_coordinates(strength, [rows - normal_r, cols - normal_c], order=1, mode="nearest")
    maxima: np.ndarray = (strength >= ahead) & (strength >= behind)
    return maxima
