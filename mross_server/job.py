"""What a sketch job is: its inputs, the progress it reports and the results it yields.

These dataclasses are the boundary between the sketch pipeline and everything that drives it
(the `mross` CLI, the ZeroMQ server). Coordinates are always in the photo's own pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mross_shared.messages import JobParams, RoiBox
from mross_shared.objective_spec import parse_objective


class SketchCancelled(Exception):
    """Raised by the pipeline when its cancel check turned true; finished rounds were already delivered."""


@dataclass(frozen=True)
class StartingStrokes:
    """A sketch to continue, as it stands now: control points [n, 4, 2] in photo pixels, half-widths [n]
    (diffvg convention), and `frozen` [n] bool marking the strokes that must not move."""

    points: np.ndarray
    half_widths: np.ndarray
    frozen: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.points)
        if self.points.shape != (count, 4, 2) or self.half_widths.shape != (count,) or self.frozen.shape != (count,):
            raise ValueError(f"starting strokes need points [n, 4, 2], half-widths [n] and frozen [n] for n={count}")


class SketchInputError(ValueError):
    """Bad input a user can fix (unreadable image, empty ROI, too few strokes); the message is one sentence."""


# A job's knobs have one definition, on the wire, so the CLI, the server and the extension agree;
# it checks ranges on construction (ProtocolError, a ValueError, names the bad field).
SketchParams = JobParams

#: The loss networks an engine may have loaded, by the names `SketchEngine.backbones` and `hello` use.
VGG_BACKBONE = "vgg16-hed"
CLIP_BACKBONE = "clip-RN101"
SALIENCY_BACKBONE = "clip-ViT-B-32"
# Objective terms that need a loss network (the others, ink and edges, need none).
_TERM_BACKBONES = {"vgg": VGG_BACKBONE, "clip": CLIP_BACKBONE}


def required_backbones(params: SketchParams) -> frozenset[str]:
    """The loss networks a job cannot run without: those its objective names, and CLIP ViT-B/32 for
    the saliency initialization. A job that leaves the objective to its preset needs none: the preset
    has a CLIP objective for engines with CLIP and an offline one for the others."""
    terms = [name for _, name in parse_objective(params.objective)] if params.objective else []
    needed = {_TERM_BACKBONES[term] for term in terms if term in _TERM_BACKBONES}
    if params.init == "saliency":
        needed.add(SALIENCY_BACKBONE)
    return frozenset(needed)


@dataclass(frozen=True)
class Progress:
    """One progress report from inside a round's optimization.

    `eta_s` is NaN until the job's speed has been measured. `method` names the loss being optimized
    for people, e.g. "offline objective (no CLIP weights)". `strokes` returns the sketch as it stands
    at this iteration — control points [n, 4, 2] and half-widths [n] in photo pixels — copied off the
    device only when called.
    """

    round: int
    rounds: int
    iteration: int
    iterations: int
    loss: float
    best_loss: float
    eta_s: float
    method: str | None = None
    strokes: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None


@dataclass(frozen=True)
class RoundResult:
    """All strokes as they stand after round `index` (1-based), and which of them this round added.

    `points` has shape [n, 4, 2] (cubic Bézier control points, photo pixels) and `half_widths`
    shape [n] (diffvg convention: the drawn line is twice as wide).
    """

    index: int
    rounds: int
    roi: RoiBox | None
    points: np.ndarray
    half_widths: np.ndarray
    added: tuple[int, ...]
    loss: float
    seconds: float


@dataclass(frozen=True)
class SketchResult:
    """A finished job: photo size, one RoundResult per round, and how it was made."""

    width: int
    height: int
    rounds: tuple[RoundResult, ...]
    objective: str
    backbones: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
