"""Sketch quality figures shared by the quality benchmarks: edge F1, boundary F1, stroke hygiene, ROI share."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.feature import canny

from mross_server.engine.boundaries import gray, ridge_maxima
from mross_server.engine.hygiene import HygieneRules
from mross_server.engine.models.hed import HedEdges
from mross_server.engine.region_analysis import stub_length
from mross_server.engine.renderer import render
from mross_server.engine.stroke_geometry import bezier_points, knotted, near_other_share, stroke_lengths

TOLERANCE_PX = 3.0
# The benchmark boundary map keeps HED's ridges at least this likely to be a human-drawn boundary.
HUMAN_BOUNDARY_P = 0.5
# HED runs at these fractions of the photo's own size; their average is steadier than one scale.
HUMAN_BOUNDARY_SCALES = (1.0, 0.5)


def photo_edges(photo: np.ndarray) -> np.ndarray:
    """Canny edges (σ 2, scikit-image's default thresholds) of an [H, W, 3] photo in [0, 1]."""
    return canny(gray(photo).astype(np.float64), sigma=2.0)


def human_boundaries(photo: np.ndarray, hed: HedEdges) -> np.ndarray:
    """A human-like boundary map [H, W] bool of an [H, W, 3] photo in [0, 1].

    HED was trained to reproduce BSDS500's human boundary drawings. Here it runs on the photo at
    its own size and at half size (averaged at full size), its ridges are thinned by non-maximum
    suppression, and every ridge pixel with p >= HUMAN_BOUNDARY_P counts, whatever object it is on.
    """
    image = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None].float()
    height, width = photo.shape[:2]
    maps = []
    for scale in HUMAN_BOUNDARY_SCALES:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False) if scale != 1.0 else image
        strength = hed(scaled)[None, None]
        maps.append(F.interpolate(strength, size=(height, width), mode="bilinear", align_corners=False)[0, 0])
    probability = torch.stack(maps).mean(dim=0).double().numpy()
    boundaries: np.ndarray = ridge_maxima(probability) & (probability >= HUMAN_BOUNDARY_P)
    return boundaries


def sketch_ink(points: np.ndarray, half_widths: np.ndarray | float, width: int, height: int) -> np.ndarray:
    """Boolean ink mask [H, W] of strokes [n, 4, 2] drawn at the photo's size (half_widths [n] or one value)."""
    if len(points) == 0:
        return np.zeros((height, width), dtype=bool)
    strokes = torch.tensor(points, dtype=torch.float32)[None]
    widths = torch.full(strokes.shape[1:2], float(half_widths))[None] if np.isscalar(half_widths) else torch.tensor(half_widths, dtype=torch.float32)[None]
    with torch.no_grad():
        image = render(strokes, widths, (0, 0, width, height), (height, width))
    return image[0, 0].numpy() < 0.5


def centre_lines(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """The strokes' centre lines [H, W] bool, one pixel wide: boundary F1 must not depend on line weight."""
    return sketch_ink(points, 0.5, width, height)


def hygiene(points: np.ndarray, half_widths: np.ndarray, width: int, height: int) -> dict[str, float]:
    """What an illustrator would clean up in strokes [n, 4, 2] (photo pixels) of a width × height photo.

    knot_share: share of strokes that cross themselves or turn through more than 300°;
    doubled_share: share of the total line length within 1.5 stroke widths of another stroke;
    stubs: strokes shorter than 3 % of the photo's diagonal; median_length: in % of the diagonal.
    """
    diagonal = float(np.hypot(width, height))
    lengths = stroke_lengths(points)
    rules = HygieneRules.for_width(stub_length(width, height), float(np.median(half_widths)))
    doubled = float((near_other_share(points, rules.near) * lengths).sum() / max(lengths.sum(), 1e-9))
    return {
        "knot_share": float(knotted(points).mean()) if len(points) else 0.0,
        "doubled_share": doubled,
        "stubs": int((lengths < rules.stub_length).sum()),
        "median_length": float(np.median(lengths) / diagonal * 100) if len(points) else 0.0,
    }


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
    curve = bezier_points(np.asarray(points, dtype=np.float64), samples)
    mid = (curve[:, 1:] + curve[:, :-1]) / 2
    length = np.linalg.norm(np.diff(curve, axis=1), axis=-1)
    x0, y0, x1, y1 = box
    inside = (mid[..., 0] >= x0) & (mid[..., 0] <= x1) & (mid[..., 1] >= y0) & (mid[..., 1] <= y1)
    return float(length[inside].sum() / max(length.sum(), 1e-9))
