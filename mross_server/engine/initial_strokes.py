"""Where strokes start: farthest-point sampling on edges, short random walks, contour pieces."""

from __future__ import annotations

import numpy as np

from mross_server.engine.contours import ContourPiece

# CLIPasso's random walk: each control point moves by up to ±2.5 % of a 224 px canvas.
WALK_FRACTION = 0.05


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


def pieces_to_strokes(pieces: tuple[ContourPiece, ...], count: int, view_to_canvas: np.ndarray) -> np.ndarray:
    """The `count` best pieces as strokes [≤count, 4, 2], mapped by an affine [2, 3] into canvas units."""
    chosen = pieces[:count]
    if not chosen:
        return np.zeros((0, 4, 2))
    points = np.stack([p.points for p in chosen])
    strokes: np.ndarray = points @ view_to_canvas[:, :2].T + view_to_canvas[:, 2]
    return strokes


def bezier_samples(points: np.ndarray, count: int = 16) -> np.ndarray:
    """Points [n, count, 2] evenly spaced in t along cubic strokes [n, 4, 2]."""
    t = np.linspace(0.0, 1.0, count)[None, :, None]
    u = 1.0 - t
    p = points[:, None]
    samples: np.ndarray = u**3 * p[:, :, 0] + 3 * u * u * t * p[:, :, 1] + 3 * u * t * t * p[:, :, 2] + t**3 * p[:, :, 3]
    return samples


def uncovered_pieces(pieces: tuple[ContourPiece, ...], covered: np.ndarray, max_overlap: float = 0.5) -> tuple[ContourPiece, ...]:
    """The pieces of which at most `max_overlap` lies on already inked pixels of covered [H, W].

    A later round should add detail, not redraw a contour an earlier round already holds.
    """
    if not pieces:
        return pieces
    height, width = covered.shape
    samples = bezier_samples(np.stack([p.points for p in pieces]))
    xs = np.clip(samples[..., 0].astype(int), 0, width - 1)
    ys = np.clip(samples[..., 1].astype(int), 0, height - 1)
    overlap = covered[ys, xs].mean(axis=1)
    return tuple(piece for piece, share in zip(pieces, overlap) if share <= max_overlap)
