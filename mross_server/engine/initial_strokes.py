"""Where strokes start: distinct contour pieces, or farthest-point samples on edges as short random walks."""

from __future__ import annotations

import numpy as np

from mross_server.engine.stroke_geometry import chord_share, near_chords

# CLIPasso's random walk: each control point moves by up to ±2.5 % of a 224 px canvas.
WALK_FRACTION = 0.05
# A candidate is already drawn when more than this share of it lies near strokes already there.
MAX_COVERED = 0.5


def distinct_strokes(candidates: np.ndarray, count: int, drawn: np.ndarray, near: float) -> np.ndarray:
    """Indices of up to `count` candidate strokes [m, 4, 2], best first, that no stroke draws yet.

    A candidate is taken, in rank order, unless more than MAX_COVERED of its length lies within
    `near` of a stroke in drawn [k, 4, 2] or of a candidate taken before it: a round adds
    detail instead of redrawing, and no two strokes trace one line side by side.
    """
    covered = near_chords(candidates, drawn, near)
    picks: list[int] = []
    for index in range(len(candidates)):
        if len(picks) == count:
            break
        if chord_share(covered[index : index + 1], candidates[index : index + 1])[0] > MAX_COVERED:
            continue
        picks.append(index)
        rest = slice(index + 1, None)
        covered[rest] |= near_chords(candidates[rest], candidates[index : index + 1], near)
    return np.array(picks, dtype=int)


def farthest_point_sample(candidates: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Pick `count` rows of candidates [m, 2] that spread out as far as possible from each other.

    Starts from a random candidate, then repeatedly takes the candidate farthest from all picks
    so far (one vectorized distance update per pick: O(count · m)).
    """
    if count <= 0 or len(candidates) == 0:
        return np.zeros((0, 2))
    count = min(count, len(candidates))
    picks = [int(rng.integers(len(candidates)))]
    nearest = np.linalg.norm(candidates - candidates[picks[0]], axis=1)
    for _ in range(count - 1):
        picks.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, np.linalg.norm(candidates - candidates[picks[-1]], axis=1))
    return candidates[picks]


def random_walk_strokes(starts: np.ndarray, canvas_size: float, rng: np.random.Generator) -> np.ndarray:
    """Short strokes [n, 4, 2] starting at starts [n, 2]: each next control point a small random step on."""
    steps = (rng.random((len(starts), 3, 2)) - 0.5) * WALK_FRACTION * canvas_size
    return np.concatenate([starts[:, None], starts[:, None] + np.cumsum(steps, axis=1)], axis=1)


def uniform_points(box: tuple[float, float, float, float], count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` uniformly random points [count, 2] inside box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return np.column_stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count)])


def edge_pixels(edges: np.ndarray) -> np.ndarray:
    """Centres (x, y) [m, 2] of the set pixels of a boolean mask [H, W]."""
    ys, xs = np.nonzero(edges)
    return np.column_stack([xs, ys]).astype(np.float64) + 0.5
