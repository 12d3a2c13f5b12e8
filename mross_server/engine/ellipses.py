"""Close the outlines of round things: contours that together trace most of an ellipse become that ellipse.

A wheel, a drum, a plate, a lamp or a head is drawn by a person as one closed round line, and a
sketch reads by those closed shapes. A photo's boundary map rarely has them whole: the tyre meets
the floor's shadow, a spoke or a fork crosses the rim, the far side is faint, so tracing leaves a
few open arcs that rank and draw as fragments (the garage's front wheel, in round 1, was two
stray curves). Here arcs that lie on one common ellipse are gathered, the ellipse is fitted to all
of them, and if the photo's lines cover enough of it and its boundary strength runs along most of
it, the arcs are replaced by the closed ellipse, sampled as a chain like any other contour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import EllipseModel

# An arc must turn at least this much (radians) to propose an ellipse: flatter arcs fit any ellipse.
MIN_TURN = np.radians(100.0)
# Two arcs that each turn this much (radians), centres within PAIR_REACH of the view's side, seed together.
PAIR_TURN = np.radians(25.0)
PAIR_REACH = 0.3
# A contour joins an ellipse when this share of its samples lies within NEAR_PX of it.
JOIN_SHARE = 0.7
NEAR_PX = 3.0
# The gathered lines must cover this share of the ellipse's angle: the rest is filled in.
MIN_COVERED = 0.5
# Boundary strength must reach STRENGTH_FLOOR within 2 px of this share of the ellipse's outline.
MIN_SUPPORTED = 0.6
STRENGTH_FLOOR = 0.15
# The ellipse must be round enough to read as a round thing, and its fit close to its lines.
MIN_AXIS_RATIO = 0.3
MAX_RMS_PX = 2.0
# Its semi-major axis is at most this share of the view's long side. A larger oval is a plate or a
# table filling the frame: closed, the coffee's saucer became a body, and blind viewers saw "a turtle".
MAX_SIZE = 0.3
_ANGLE_BINS = 36
# Below this expected turn (radians) a stretch of the ellipse is nearly straight and its arc may be too.
_CURVED_SPAN = np.radians(30.0)
# An outline with more than this share of it both inside and outside another ellipse crosses it.
_CROSS_SHARE = 0.1


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in view pixels: centre (x, y), semi-axes (a, b) and the angle of a (radians)."""

    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float

    def points(self, step: float = 1.0) -> np.ndarray:
        """Closed chain [m, 2] around the ellipse, about `step` px apart, first point repeated last."""
        a, b = self.axes
        count = max(16, int(np.ceil(np.pi * (3 * (a + b) - np.sqrt((3 * a + b) * (a + 3 * b))) / step)))
        t = np.linspace(0.0, 2 * np.pi, count + 1)
        return self.at(t)

    def distance(self, samples: np.ndarray) -> np.ndarray:
        """Approximate distance [m] (px) from each sample [m, 2] to the outline."""
        local = self._local(samples)
        a, b = self.axes
        radius = np.hypot(local[:, 0] / a, local[:, 1] / b)
        # Scaling the normalized radius by the local axis length is exact on both axes, close between.
        scale = np.hypot(local[:, 0], local[:, 1]) / np.maximum(radius, 1e-9)
        distance: np.ndarray = np.abs(radius - 1.0) * scale
        return distance

    def contains(self, samples: np.ndarray) -> np.ndarray:
        """Whether each sample [m, 2] lies inside the ellipse, [m] bool."""
        local = self._local(samples)
        inside: np.ndarray = (local[:, 0] / self.axes[0]) ** 2 + (local[:, 1] / self.axes[1]) ** 2 < 1.0
        return inside

    def turn_between(self, samples: np.ndarray) -> float:
        """How far (radians, signed) the ellipse's tangent turns from the first sample's place to the last's, the samples' way round."""
        t = np.unwrap(self.angles(samples))
        a, b = self.axes
        heading = np.unwrap(np.arctan2(b * np.cos(t), -a * np.sin(t)))
        return float(heading[-1] - heading[0])

    def angles(self, samples: np.ndarray) -> np.ndarray:
        """Parametric angle [m] in [0, 2π) of each sample's place around the ellipse."""
        local = self._local(samples)
        return np.arctan2(local[:, 1] / self.axes[1], local[:, 0] / self.axes[0]) % (2 * np.pi)

    def _local(self, samples: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        shifted = samples - np.asarray(self.centre)
        return np.stack([shifted[:, 0] * c + shifted[:, 1] * s, -shifted[:, 0] * s + shifted[:, 1] * c], axis=1)

    def at(self, t: np.ndarray) -> np.ndarray:
        """Points [m, 2] of the outline at parametric angles t [m] (radians)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        x, y = self.axes[0] * np.cos(t), self.axes[1] * np.sin(t)
        return np.stack([self.centre[0] + x * c - y * s, self.centre[1] + x * s + y * c], axis=1)


def fit_ellipse(samples: np.ndarray) -> Ellipse | None:
    """The least-squares ellipse through samples [m, 2], or None where they fit none."""
    if len(samples) < 6:
        return None
    model = EllipseModel.from_estimate(samples)
    if not model:
        return None
    a, b = (float(v) for v in model.axis_lengths)
    angle = float(model.theta)
    if b > a:
        a, b, angle = b, a, angle + np.pi / 2
    if not (np.isfinite([a, b, angle]).all() and b > 0):
        return None
    return Ellipse((float(model.center[0]), float(model.center[1])), (a, b), angle)


def close_ellipses(contours: list[np.ndarray], turns: list[float], strength: np.ndarray, min_size: float) -> list[np.ndarray]:
    """The contours with every set of arcs that traces most of an ellipse replaced by the closed ellipse.

    Args:
        contours: linked contours [m, 2] (x, y) of one view.
        turns: each contour's net turn (radians), see `contours.net_turn`.
        strength: the view's boundary strength [H, W] in [0, 1].
        min_size: the smallest semi-minor axis (px) worth closing; smaller rings are texture.
    Returns the remaining contours followed by the ellipses' closed chains.
    """
    # Strength within 2 px of a point counts as support: HED's lines sit a pixel or two off a fit.
    nearby_strength = ndimage.maximum_filter(strength, size=5)
    used = np.zeros(len(contours), dtype=bool)
    accepted: list[Ellipse] = []
    for seed in _seeds(contours, turns, max(strength.shape)):
        if used[list(seed)].any():
            continue
        ellipse = fit_ellipse(np.concatenate([contours[i] for i in seed]))
        if ellipse is None or not all(_follows(ellipse, contours[i], turns[i]) for i in seed):
            continue
        # Gather every free arc that follows the seed's ellipse and refit on all of them.
        members = [i for i, c in enumerate(contours) if not used[i] and _follows(ellipse, c, turns[i])]
        ellipse = fit_ellipse(np.concatenate([contours[i] for i in members]))
        if ellipse is None or not _evident(ellipse, np.concatenate([contours[i] for i in members]), nearby_strength, min_size):
            continue
        if any(_crosses(ellipse, other) for other in accepted):
            continue
        used[members] = True
        accepted.append(ellipse)
    return [c for i, c in enumerate(contours) if not used[i]] + [ellipse.points() for ellipse in accepted]


def _seeds(contours: list[np.ndarray], turns: list[float], view_side: int) -> list[tuple[int, ...]]:
    """Contour sets that may start an ellipse, longest first: one arc that turns far, or two curved arcs near each other.

    A single arc of a wheel often turns only 30–90° (a fork or the floor cuts the tyre), and an
    ellipse fitted to it alone is unreliable; two arcs of one rim pin it down.
    """
    lengths = [len(c) for c in contours]
    single: list[tuple[int, ...]] = [(i,) for i, turn in enumerate(turns) if abs(turn) >= MIN_TURN]
    curved = [i for i, turn in enumerate(turns) if abs(turn) >= PAIR_TURN]
    centres = np.array([contours[i].mean(axis=0) for i in curved]).reshape(-1, 2)
    near = np.linalg.norm(centres[:, None] - centres[None], axis=2) <= PAIR_REACH * view_side
    pairs: list[tuple[int, ...]] = [(curved[j], curved[k]) for j, k in zip(*np.nonzero(np.triu(near, 1)))]
    return sorted(single + pairs, key=lambda seed: -sum(lengths[i] for i in seed))


def _follows(ellipse: Ellipse, contour: np.ndarray, turn: float) -> bool:
    """Whether a contour runs along the ellipse: near it, and bending with it as it goes round.

    Nearness alone lets straight lines of clutter that graze an ellipse vouch for it; an arc of
    the ellipse turns as much as the ellipse does over the same stretch, and the same way.
    """
    if float(np.mean(ellipse.distance(contour) <= NEAR_PX)) < JOIN_SHARE:
        return False
    expected = ellipse.turn_between(contour)
    if abs(expected) < _CURVED_SPAN:
        return bool(abs(turn) < _CURVED_SPAN)
    return bool(np.sign(turn) == np.sign(expected) and 0.5 * abs(expected) <= abs(turn) <= 2.0 * abs(expected))


def _crosses(ellipse: Ellipse, other: Ellipse) -> bool:
    """Whether one ellipse's outline runs partly inside and partly outside another's.

    Nested outlines (a rim in its tyre) and separate ones are both fine; crossing ones are two fits of one thing.
    """
    inside = np.mean(other.contains(ellipse.points(4.0)))
    return bool(_CROSS_SHARE < inside < 1.0 - _CROSS_SHARE)


def _evident(ellipse: Ellipse, samples: np.ndarray, nearby_strength: np.ndarray, min_size: float) -> bool:
    """Whether the photo shows the ellipse: round, inside the view, fitting its arcs closely, covered by them and with boundary strength along it."""
    height, width = nearby_strength.shape
    a, b = ellipse.axes
    if not (b >= min_size and b >= MIN_AXIS_RATIO * a and a <= MAX_SIZE * max(width, height)):
        return False
    outline = ellipse.points()
    # Wholly inside the view: a round thing cut by the frame is drawn as the arcs the photo shows.
    if not ((outline >= 0).all() and (outline[:, 0] <= width - 1).all() and (outline[:, 1] <= height - 1).all()):
        return False
    if np.sqrt(np.mean(ellipse.distance(samples) ** 2)) > MAX_RMS_PX:
        return False
    bins = (ellipse.angles(samples) / (2 * np.pi) * _ANGLE_BINS).astype(int) % _ANGLE_BINS
    if len(np.unique(bins)) < MIN_COVERED * _ANGLE_BINS:
        return False
    rows, cols = outline[:, 1].round().astype(int), outline[:, 0].round().astype(int)
    return bool((nearby_strength[rows, cols] >= STRENGTH_FLOOR).sum() >= MIN_SUPPORTED * len(outline))
