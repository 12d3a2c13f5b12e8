"""Sketch quality figures shared by the quality benchmarks: edge F1, ROI stroke-length share."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.feature import canny

from mross_server.engine.contours import gray
from mross_server.engine.initial_strokes import bezier_samples
from mross_server.engine.renderer import render

TOLERANCE_PX = 3.0


def photo_edges(photo: np.ndarray) -> np.ndarray:
    """Canny edges (σ 2, scikit-image's default thresholds) of an [H, W, 3] photo in [0, 1]."""
    return canny(gray(photo).astype(np.float64), sigma=2.0)


def sketch_ink(points: np.ndarray, half_widths: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean ink mask [H, W] of strokes [n, 4, 2] drawn at the photo's size."""
    if len(points) == 0:
        return np.zeros((height, width), dtype=bool)
    with torch.no_grad():
        strokes, widths = torch.tensor(points, dtype=torch.float32)[None], torch.tensor(half_widths, dtype=torch.float32)[None]
        image = render(strokes, widths, (0, 0, width, height), (height, width))
    return image[0, 0].numpy() < 0.5


def edge_f1(ink: np.ndarray, edges: np.ndarray, box: tuple[float, float, float, float] | None = None) -> dict[str, float]:
    """Precision, recall and F1 of ink against edges with a 3 px tolerance, optionally inside box (x0, y0, x1, y1)."""
    ink_to_edge = ndimage.distance_transform_edt(~edges)
    edge_to_ink = ndimage.distance_transform_edt(~ink)
    mask = np.ones_like(ink)
    if box is not None:
        x0, y0, x1, y1 = (round(v) for v in box)
        mask = np.zeros_like(ink)
        mask[y0:y1, x0:x1] = True
    ink_in, edges_in = ink & mask, edges & mask
    precision = float((ink_to_edge[ink_in] <= TOLERANCE_PX).mean()) if ink_in.any() else 0.0
    recall = float((edge_to_ink[edges_in] <= TOLERANCE_PX).mean()) if edges_in.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def length_share_inside(points: np.ndarray, box: tuple[float, float, float, float], samples: int = 32) -> float:
    """Share of the strokes' total length [n, 4, 2] that lies inside box (x0, y0, x1, y1)."""
    if len(points) == 0:
        return 0.0
    curve = bezier_samples(np.asarray(points, dtype=np.float64), samples)
    mid = (curve[:, 1:] + curve[:, :-1]) / 2
    length = np.linalg.norm(np.diff(curve, axis=1), axis=-1)
    x0, y0, x1, y1 = box
    inside = (mid[..., 0] >= x0) & (mid[..., 0] <= x1) & (mid[..., 1] >= y0) & (mid[..., 1] <= y1)
    return float(length[inside].sum() / max(length.sum(), 1e-9))
