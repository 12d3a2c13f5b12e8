"""Splitting the stroke budget N between rounds, exactly, in proportion to each region's edges."""

from __future__ import annotations

import numpy as np


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
