"""Strokes that continue one another stay joined while they are optimized.

Placement cuts a long contour into consecutive pieces that share their end points. The optimizer
moves every stroke on its own, so without help the pieces drift apart into a dashed line. After
each step the two ends of every joint are moved to their midpoint (a projection onto "joined"),
and each end's neighbouring control point moves with it so the stroke keeps its tangent there. A
frozen stroke holds its end; its movable partner comes to it.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

# Two stroke ends closer than this (canvas units) are one joint: placement makes them coincide exactly.
JOIN_TOLERANCE = 0.5


def find_joints(points: np.ndarray, tolerance: float = JOIN_TOLERANCE) -> np.ndarray:
    """Pairs of coinciding stroke ends of strokes [n, 4, 2], as end ids [j, 2] (id = 2 · stroke + (0 start | 1 end)).

    Each end belongs to at most one joint (the nearest partner first); a stroke never joins itself.
    """
    ends = points[:, [0, 3]].reshape(-1, 2)
    pairs = sorted(cKDTree(ends).query_pairs(tolerance), key=lambda ab: float(np.linalg.norm(ends[ab[0]] - ends[ab[1]])))
    used: set[int] = set()
    joints = []
    for a, b in pairs:
        if a // 2 == b // 2 or a in used or b in used:
            continue
        used.update((a, b))
        joints.append((a, b))
    return np.array(joints, dtype=np.int64).reshape(-1, 2)


def snap_joints(points: Tensor, joints: Tensor, movable: Tensor) -> Tensor:
    """The strokes with the two ends of every joint brought together (a new tensor).

    Both ends go to their midpoint when both strokes may move, to the frozen one's end otherwise;
    the control point next to each moved end moves by the same step.

    Shape:
        - points: [K, N, 4, 2], canvas units
        - joints: [J, 2], end ids as `find_joints` gives them (int64)
        - movable: [N], bool
        - output: [K, N, 4, 2]
    """
    if joints.numel() == 0:
        return points
    stroke = joints // 2  # [j, 2]
    end = (joints % 2) * 3  # control index 0 or 3
    inner = 1 + (joints % 2)  # control index 1 or 2: the end's neighbour
    current = points[:, stroke, end]  # [K, j, 2, 2]
    free = movable[stroke].to(points.dtype)  # [j, 2]
    # Weighted midpoint: a frozen end pulls its partner all the way, two frozen ends stay.
    weights = torch.where(free.sum(dim=1, keepdim=True) > 0, 1.0 - free + 0.5 * (free.sum(dim=1, keepdim=True) == 2), torch.zeros_like(free))
    target = (current * weights[None, :, :, None]).sum(dim=2, keepdim=True) / weights.sum(dim=1).clamp(min=1e-9)[None, :, None, None]
    step = (target - current) * free[None, :, :, None]
    snapped = points.clone()
    snapped[:, stroke, end] += step
    snapped[:, stroke, inner] += step
    return snapped
