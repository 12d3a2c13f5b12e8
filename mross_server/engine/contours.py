"""Contour-following stroke candidates: edge chains of a photo fitted with cubic Béziers.

A sketch reads as its scene when its strokes lie on the scene's main contours. This module finds
those contours classically (Canny on a smoothed copy, thinned to one-pixel chains, cut at
junctions and at a maximum length), fits one cubic Bézier to each piece and ranks the pieces by
length × contrast × saliency. The optimizer then only has to refine and abstract them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import canny
from skimage.morphology import skeletonize

from mross_server.engine.saliency.spectral import spectral_saliency

_NEIGHBOURS = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]


@dataclass(frozen=True)
class ContourPiece:
    """One fitted piece of an edge chain, in the analysed view's pixel coordinates (x, y)."""

    points: np.ndarray  # [4, 2] cubic Bézier control points
    length: float
    score: float


@dataclass(frozen=True)
class EdgeAnalysis:
    """Edges of one view of the photo: the thinned edge mask and the ranked contour pieces."""

    edges: np.ndarray  # [H, W] bool
    pieces: tuple[ContourPiece, ...]


def gray(rgb: np.ndarray) -> np.ndarray:
    """Luma of an [H, W, 3] image in [0, 1]."""
    luma: np.ndarray = rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)
    return luma


def analyse_edges(rgb: np.ndarray, piece_length: float, sigma: float = 2.0, min_length: float = 6.0) -> EdgeAnalysis:
    """Find, fit and rank contour pieces of an [H, W, 3] image in [0, 1].

    Args:
        rgb: the view of the photo to analyse.
        piece_length: chains longer than this (pixels of `rgb`) are cut into near-equal pieces.
        sigma: Canny smoothing; larger keeps only the scene's larger structures.
        min_length: chains shorter than this are dropped as noise.
    """
    luma = gray(rgb).astype(np.float64)
    # Thresholds relative to the image's own gradient distribution adapt to low-contrast scenes.
    edges = canny(luma, sigma=sigma, low_threshold=0.6, high_threshold=0.85, use_quantiles=True)
    edges = skeletonize(edges)
    smooth = ndimage.gaussian_filter(luma, sigma)
    contrast = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    salience = spectral_saliency(luma)
    pieces = []
    for chain in trace_chains(edges):
        for piece in split_chain(chain, piece_length):
            length = float(np.linalg.norm(np.diff(piece, axis=0), axis=1).sum())
            if length < min_length:
                continue
            xs, ys = piece[:, 0].astype(int), piece[:, 1].astype(int)
            strength = float(contrast[ys, xs].mean()) * (0.25 + float(salience[ys, xs].mean()))
            pieces.append(ContourPiece(fit_cubic(piece), length, length * strength))
    pieces.sort(key=lambda p: -p.score)
    return EdgeAnalysis(edges, tuple(pieces))


def trace_chains(edges: np.ndarray) -> list[np.ndarray]:
    """Order the pixels of a one-pixel-wide edge mask into chains [m, 2] of (x, y), cut at junctions."""
    counts = ndimage.convolve(edges.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    simple = edges & (counts <= 2)
    height, width = edges.shape
    remaining = simple.copy()
    neighbour_counts = np.where(simple, ndimage.convolve(simple.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1, 0)
    # Walk from chain ends first so open chains are traced whole; loops are picked up afterwards.
    starts = list(zip(*np.nonzero(simple & (neighbour_counts <= 1)))) + list(zip(*np.nonzero(simple)))
    chains = []
    for y, x in starts:
        if not remaining[y, x]:
            continue
        chain = [(x, y)]
        remaining[y, x] = False
        while True:
            cx, cy = chain[-1]
            for dy, dx in _NEIGHBOURS:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < height and 0 <= nx < width and remaining[ny, nx]:
                    remaining[ny, nx] = False
                    chain.append((nx, ny))
                    break
            else:
                break
        if len(chain) >= 2:
            chains.append(np.array(chain, dtype=np.float64))
    return chains


def split_chain(chain: np.ndarray, max_length: float) -> list[np.ndarray]:
    """Cut a chain [m, 2] into near-equal consecutive pieces no longer than `max_length`."""
    steps = np.linalg.norm(np.diff(chain, axis=0), axis=1)
    total = float(steps.sum())
    count = max(1, int(np.ceil(total / max_length)))
    if count == 1:
        return [chain]
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    cuts = np.searchsorted(arc, np.linspace(0, total, count + 1)[1:-1])
    bounds = [0, *cuts.tolist(), len(chain) - 1]
    return [chain[a : b + 1] for a, b in itertools.pairwise(bounds) if b > a]


def fit_cubic(samples: np.ndarray) -> np.ndarray:
    """Least-squares cubic Bézier [4, 2] through ordered samples [m, 2], endpoints pinned."""
    start, end = samples[0], samples[-1]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(samples, axis=0), axis=1))])
    if len(samples) < 4 or arc[-1] <= 0:
        return np.stack([start, start + (end - start) / 3, start + 2 * (end - start) / 3, end])
    t = arc / arc[-1]
    u = 1.0 - t
    basis = np.stack([3 * u * u * t, 3 * u * t * t], axis=1)
    residual = samples - np.outer(u**3, start) - np.outer(t**3, end)
    inner, _, rank, _ = np.linalg.lstsq(basis, residual, rcond=None)
    if rank < 2:
        return np.stack([start, start + (end - start) / 3, start + 2 * (end - start) / 3, end])
    return np.stack([start, inner[0], inner[1], end])
