"""What an ROI round may change: its own strokes stay in its ROI, earlier strokes away from it stay put.

An illustrator reads each round as its own layer: round 1 the scene, each later round the detail of
one ROI. MROSS moves every stroke in every round and lets an ROI's strokes go wherever the loss
pulls them. Measured on the cluttered benchmark scenes (scene_quality.py, 48 strokes, `fast`), that
moved round 1's strokes by a median 32 px in each ROI round (the garage's closed wheels came apart
in round 2) and left a third of the ROI rounds' strokes outside their ROI. So, with a margin of one
stub for lines that leave the ROI's edge:

- an earlier stroke moves in an ROI round only when its control points come within the margin of
  the ROI (the detail there may push it aside);
- a stroke an ROI round added keeps its control points inside that ROI, margin included, in every
  later round too (a cubic lies within its control points' hull, so the whole stroke does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

from mross_server.engine.canvas import Box


def near_box(strokes: Tensor, box: Box, margin: float) -> Tensor:
    """Which strokes [n, 4, 2] have control points' bounds meeting `box` (x0, y0, x1, y1) grown by `margin`, [n] bool."""
    x0, y0, x1, y1 = box
    low, high = strokes.amin(dim=1), strokes.amax(dim=1)
    meets: Tensor = (high[:, 0] >= x0 - margin) & (low[:, 0] <= x1 + margin) & (high[:, 1] >= y0 - margin) & (low[:, 1] <= y1 + margin)
    return meets


def stroke_bounds(groups: np.ndarray, confined: np.ndarray, boxes: Sequence[Box], margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Per stroke, the lowest and highest (x, y) its control points may take, each [n, 1, 2].

    Strokes marked `confined` [n] whose group (index into `boxes`) is an ROI's (> 0) are held in that
    box grown by `margin`; the others are unbounded.
    """
    low = np.full((len(groups), 1, 2), -np.inf)
    high = np.full((len(groups), 1, 2), np.inf)
    for index in np.flatnonzero(confined & (groups > 0)):
        x0, y0, x1, y1 = boxes[groups[index]]
        low[index, 0] = (x0 - margin, y0 - margin)
        high[index, 0] = (x1 + margin, y1 + margin)
    return low, high
