"""Splitting the stroke budget N between rounds, exactly, in proportion to each region's edges."""

from __future__ import annotations

import numpy as np

from mross_server.engine.canvas import Box

# The least share of N the whole photo's round keeps. Split by edges alone, two detailed ROIs took
# half of N or more and round 1 drew a cluttered scene with ~22 strokes: fragments of the subject,
# no whole outline (scene_quality.py). Round 1 is what makes the sketch read as the scene.
WHOLE_SHARE = 0.6

# Every stroke is drawn at the sketch's one line width, so a small ROI holds only a few before they
# cross and crowd: the street's 62 x 100 px window got 13 strokes of an 11 px line (it had that many
# contour pieces) and drew them as a knot, the first thing blind viewers pointed at. An ROI gets at
# most one stroke per ROOM_SPACING line widths of its short side.
ROOM_SPACING = 3.0


def allocate_strokes(edge_counts: list[int], total: int) -> list[int]:
    """Strokes per region, proportional to edge_counts, summing to `total` exactly.

    Largest-remainder rounding; every region gets at least one stroke (the caller guarantees
    total >= len(edge_counts)); regions without edges share as if all counts were equal when
    no region has any.
    """
    regions = len(edge_counts)
    if total < regions:
        raise ValueError(f"{total} strokes cannot cover {regions} rounds")
    weights = np.asarray(edge_counts, dtype=np.float64)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(regions, 1.0 / regions)
    quota = weights * total
    counts = np.maximum(np.floor(quota).astype(int), 1)
    while counts.sum() > total:
        # Take back from the region that got the most beyond its quota, never below one.
        surplus = np.where(counts > 1, counts - quota, -np.inf)
        counts[int(surplus.argmax())] -= 1
    while counts.sum() < total:
        counts[int((quota - counts).argmax())] += 1
    return [int(count) for count in counts]


def roi_room(box: Box, half_width: float) -> int:
    """How many strokes of half-width `half_width` the box (same units) holds without crowding.

    One per ROOM_SPACING line widths (2 x half_width) of the box's short side, at least one.
    """
    short_side = min(box[2] - box[0], box[3] - box[1])
    return max(1, round(short_side / (ROOM_SPACING * 2 * half_width)))


def split_budget(edge_counts: list[int], total: int, whole_first: bool, capacities: list[int] | None = None) -> list[int]:
    """Strokes per round for regions whose boundary pixels are edge_counts, summing to `total` exactly.

    MROSS's split: each region's boundary pixels counted in its own zoomed view, so an ROI's share
    follows the detail it holds, not its area in the photo (which gave small ROIs 1-3 strokes).
    When the first region is the whole photo (`whole_first`), its round keeps at least WHOLE_SHARE
    of the total and the ROIs split the rest by their counts; an ROI then gets no more strokes than
    its `capacities` entry (at least one), and what it cannot use stays with the whole photo.
    """
    counts = allocate_strokes(edge_counts, total)
    if not whole_first or len(counts) == 1:
        return counts
    floor = min(round(WHOLE_SHARE * total), total - (len(counts) - 1))
    if counts[0] < floor:
        counts = [floor, *allocate_strokes(edge_counts[1:], total - floor)]
    if capacities is None:
        return counts
    rois = [min(count, max(capacity, 1)) for count, capacity in zip(counts[1:], capacities[1:])]
    return [total - sum(rois), *rois]
