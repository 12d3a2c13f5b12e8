"""Measurements of cubic Bézier strokes that an illustrator judges at a glance.

Shared by the clean-up between optimization steps (`hygiene.py`) and the quality benchmarks, so
the engine repairs exactly what the benchmarks count: knots (a stroke that crosses itself or
turns through more than `KNOT_TURN_DEG`), strokes running beside another one, and stubs.
All functions take control points [n, 4, 2] in any one unit and answer in that unit.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

# A stroke that turns through more than this has curled up: a gentle arc turns < 180°, a
# three-quarter circle 270°.
KNOT_TURN_DEG = 300.0
# Polyline samples per stroke; a cubic turns smoothly, so 32 chords resolve loops a few pixels wide.
SAMPLES = 32


def bezier_points(points: np.ndarray, count: int = SAMPLES) -> np.ndarray:
    """Points [n, count, 2] evenly spaced in t along cubic Béziers [n, 4, 2]."""
    t = np.linspace(0.0, 1.0, count)[None, :, None]
    u = 1.0 - t
    p = np.asarray(points, dtype=np.float64)
    return u**3 * p[:, None, 0] + 3 * u * u * t * p[:, None, 1] + 3 * u * t * t * p[:, None, 2] + t**3 * p[:, None, 3]


def straight_strokes(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Straight cubics [..., 4, 2] from starts [..., 2] to ends [..., 2], control points a third of the way apart."""
    step = (ends - starts) / 3
    return np.stack([starts, starts + step, starts + 2 * step, ends], axis=-2)


def split_in_half(stroke: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two halves [4, 2] of a cubic stroke [4, 2] at t = 0.5 (de Casteljau); together they draw the same line."""
    p01, p12, p23 = (stroke[:-1] + stroke[1:]) / 2
    p012, p123 = (p01 + p12) / 2, (p12 + p23) / 2
    middle = (p012 + p123) / 2
    return np.stack([stroke[0], p01, p012, middle]), np.stack([middle, p123, p23, stroke[3]])


def fill_by_splitting(strokes: np.ndarray, count: int, min_length: float) -> np.ndarray:
    """Up to `count` strokes [<= count, 4, 2] drawing the same lines as strokes [k, 4, 2], the longest split first.

    A stroke budget larger than the lines there are to draw goes into more, shorter strokes that
    continue one another, never into a second stroke on the same line. No half is made shorter
    than `min_length`.
    """
    pieces = list(strokes)
    while 0 < len(pieces) < count:
        lengths = stroke_lengths(np.stack(pieces))
        longest = int(np.argmax(lengths))
        if lengths[longest] < 2 * min_length:
            break
        first, second = split_in_half(pieces[longest])
        pieces[longest : longest + 1] = [first, second]
    return np.stack(pieces) if pieces else np.zeros((0, 4, 2))


def stroke_lengths(points: np.ndarray) -> np.ndarray:
    """Arc length [n] of each stroke [n, 4, 2]."""
    lengths: np.ndarray = np.linalg.norm(np.diff(bezier_points(points), axis=1), axis=-1).sum(axis=1)
    return lengths


def turning_degrees(points: np.ndarray) -> np.ndarray:
    """Total absolute turning [n] in degrees along each stroke [n, 4, 2]; a straight stroke turns 0°."""
    steps = np.diff(bezier_points(points), axis=1)
    moving = np.linalg.norm(steps, axis=-1) > 1e-9
    headings = np.arctan2(steps[..., 1], steps[..., 0])
    total = np.zeros(len(steps))
    for index, (heading, valid) in enumerate(zip(headings, moving)):
        turns = np.diff(heading[valid])
        total[index] = np.abs((turns + np.pi) % (2 * np.pi) - np.pi).sum()
    return np.degrees(total)


def crosses_itself(points: np.ndarray) -> np.ndarray:
    """Whether each stroke [n, 4, 2] crosses itself, [n] bool (its polyline's non-adjacent chords intersect)."""
    curve = bezier_points(points)
    a, b = curve[:, :-1], curve[:, 1:]
    # Chord i against chord j by the signs of the two orientation tests, all pairs at once.
    d = b - a
    rel = a[:, None, :, :] - a[:, :, None, :]  # [n, i, j, 2]: a_j - a_i

    def cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        z: np.ndarray = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
        return z

    denom = cross(d[:, :, None, :], d[:, None, :, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = cross(rel, d[:, None, :, :]) / denom
        t = cross(rel, d[:, :, None, :]) / denom
    hit = (np.abs(denom) > 1e-12) & (s > 0) & (s < 1) & (t > 0) & (t < 1)
    chords = a.shape[1]
    far_apart = np.abs(np.arange(chords)[:, None] - np.arange(chords)[None, :]) > 1
    crossing: np.ndarray = (hit & far_apart).any(axis=(1, 2))
    return crossing


def knotted(points: np.ndarray) -> np.ndarray:
    """Whether each stroke [n, 4, 2] is a knot: it crosses itself or turns through more than KNOT_TURN_DEG, [n] bool."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    return crosses_itself(points) | (turning_degrees(points) > KNOT_TURN_DEG)


def nearness(points: np.ndarray, distance: float) -> np.ndarray:
    """Share of stroke i's length lying within `distance` of stroke j, [n, n] (diagonal 0).

    Each stroke's length is split into its polyline chords; a chord counts as near stroke j when
    its midpoint lies within `distance` of j's polyline.
    """
    share = chord_share(_near_chords(points, distance), points)
    np.fill_diagonal(share, 0.0)
    return share


def near_other_share(points: np.ndarray, distance: float) -> np.ndarray:
    """Share of each stroke's length [n] lying within `distance` of any other stroke."""
    near = _near_chords(points, distance)
    own = np.arange(len(points))
    near[own, :, own] = False
    any_other: np.ndarray = near.sum(axis=2) > 0
    return chord_share(any_other, points)


def _near_chords(points: np.ndarray, distance: float) -> np.ndarray:
    """Whether chord c of stroke i lies within `distance` of stroke j, [n, m, n] bool."""
    near = np.zeros((len(points), SAMPLES - 1, len(points)), dtype=bool)
    chord, stroke = _chords_near_strokes(points, points, distance)
    near[chord // (SAMPLES - 1), chord % (SAMPLES - 1), stroke] = True
    return near


def _chords_near_strokes(candidates: np.ndarray, points: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (chord of candidates, flattened [m · (SAMPLES - 1)]; stroke of points) closer than `distance`.

    Ends that merely meet are not "near": where a chord lies within `distance` of its own stroke's
    end and the nearest point of the other stroke is that stroke's end, the two continue one
    another (or meet at a corner) rather than run side by side. Two copies of one stroke, however
    short, are still near: their nearest points face each other, not the ends.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(candidates) == 0 or len(points) == 0:
        return empty, empty
    mids, _ = _chords(candidates)
    tree, per_stroke = _dense_tree(points, distance)
    pairs = cKDTree(mids.reshape(-1, 2)).sparse_distance_matrix(tree, distance, output_type="ndarray")
    chord, sample, gap = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"]
    stroke = sample // per_stroke
    # The nearest sample of each stroke to each chord: sort by chord, stroke, distance; keep the first.
    order = np.lexsort((gap, stroke, chord))
    chord, sample, stroke = chord[order], sample[order], stroke[order]
    first = np.ones(len(chord), dtype=bool)
    first[1:] = (chord[1:] != chord[:-1]) | (stroke[1:] != stroke[:-1])
    chord, sample, stroke = chord[first], sample[first], stroke[first]
    position = sample % per_stroke
    at_other_end = (position <= 1) | (position >= per_stroke - 2)
    at_own_end = _near_own_end(mids, candidates, distance).reshape(-1)[chord]
    side_by_side = ~(at_own_end & at_other_end)
    return chord[side_by_side], stroke[side_by_side]


def _near_own_end(spots: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """Whether each of spots [n, k, 2] (on stroke i of points [n, 4, 2]) lies within `distance` of that stroke's ends, [n, k]."""
    ends = points[:, None, [0, 3]]  # [n, 1, 2, 2]
    gaps: np.ndarray = np.linalg.norm(spots[:, :, None] - ends, axis=-1).min(axis=-1)
    return gaps <= distance


def covered_share(candidates: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """Share of each candidate stroke's length [m] lying within `distance` of any of the strokes points [k, 4, 2]."""
    return chord_share(near_chords(candidates, points, distance), candidates)


def near_chords(candidates: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """Whether each polyline chord of each candidate stroke lies within `distance` of any stroke of points, [m, SAMPLES - 1] bool.

    Ends that merely meet do not count (see `_chords_near_strokes`).
    """
    near = np.zeros((len(candidates), SAMPLES - 1), dtype=bool)
    chord, _ = _chords_near_strokes(candidates, points, distance)
    near.reshape(-1)[chord] = True
    return near


def chord_share(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Share of each stroke's length (strokes [n, 4, 2]) on the chords marked in mask [n, SAMPLES - 1] or [n, SAMPLES - 1, k].

    Returns [n], or [n, k] for a mask with a last axis (one share per column).
    """
    _, weights = _chords(points)
    if mask.ndim == 3:
        weights = weights[:, :, None]
    share: np.ndarray = (weights * mask).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12)
    return share


def _chords(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints [n, m, 2] and lengths [n, m] of the polyline chords of strokes [n, 4, 2]."""
    curve = bezier_points(points)
    return (curve[:, 1:] + curve[:, :-1]) / 2, np.linalg.norm(np.diff(curve, axis=1), axis=-1)


def _dense_tree(points: np.ndarray, distance: float) -> tuple[cKDTree, int]:
    """A k-d tree over samples of strokes [k, 4, 2] at most a quarter of `distance` apart, and the samples per stroke.

    Distances to the samples overstate distances to the curves by at most an eighth of `distance`.
    """
    longest = float(stroke_lengths(points).max())
    per_stroke = int(np.clip(np.ceil(4 * longest / max(distance, 1e-9)), SAMPLES, 1024))
    return cKDTree(bezier_points(points, per_stroke).reshape(-1, 2)), per_stroke
