"""What a round minimizes: weighted loss terms, evaluated on one or more rendered views of the sketch.

A view is a window of the canvas rendered at some size and compared with the matching crop of
the photo: the whole canvas always, plus the zoomed ROI window in ROI rounds, so detail strokes
are judged at the ROI's own scale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from mross_server.engine.canvas import Box
from mross_server.engine.contours import EdgeAnalysis
from mross_server.engine.losses import PairTerm, WeightedLoss
from mross_server.engine.renderer import render


@dataclass(frozen=True)
class ViewGuide:
    """What the offline terms know of a view beyond its photo crop.

    zoom: the view's pixels per canvas unit; a drawn target (the ink line drawing) needs it to
        match the sketch's line weight.
    analysis: the boundaries and ranked contour pieces of the view's region, at analysis size.
    """

    zoom: float
    analysis: EdgeAnalysis


# Builds a fresh loss term for a view.
TermFactory = Callable[[ViewGuide], PairTerm]

_TERM = re.compile(r"^(?:(\d+(?:\.\d*)?|\.\d+)\*)?([a-z]+)$")


def parse_objective(spec: str) -> list[tuple[float, str]]:
    """'clip+vgg' or 'ink+0.2*vgg' as [(weight, term name), ...]; ValueError when malformed."""
    terms = []
    for part in spec.replace(" ", "").split("+"):
        match = _TERM.match(part)
        if match is None:
            raise ValueError(f"cannot read objective term {part!r} in {spec!r} (expected e.g. 'ink+0.2*vgg')")
        terms.append((float(match.group(1) or 1.0), match.group(2)))
    return terms


def check_terms(spec: list[tuple[float, str]], available: Mapping[str, object]) -> None:
    """ValueError naming the first term of spec that is not available (e.g. clip without weights)."""
    unknown = [name for _, name in spec if name not in available]
    if unknown:
        raise ValueError(f"objective term {unknown[0]!r} is not available here (available: {', '.join(sorted(available))})")


@dataclass(frozen=True)
class View:
    """A canvas window (canvas units) rendered at size (h, w), scored by `loss` with this weight."""

    window: Box
    size: tuple[int, int]
    weight: float
    loss: WeightedLoss


class Objective:
    """Loss per sketch [K] of control points [K, N, 4, 2]: Σ over views of weight · loss(render(view))."""

    def __init__(self, views: list[View], half_width: float) -> None:
        self.views = views
        self.half_width = half_width

    def __call__(self, points: Tensor, augment: bool, generator: torch.Generator) -> Tensor:
        total = points.new_zeros(points.shape[0])
        for view in self.views:
            sketch = render(points, self.half_width, view.window, view.size)
            total = total + view.weight * view.loss(sketch, augment, generator)
        return total


def build_view(
    spec: list[tuple[float, str]],
    factories: Mapping[str, TermFactory],
    target: Tensor,
    window: Box,
    weight: float,
    augmentations: int,
    analysis: EdgeAnalysis,
) -> View:
    """A view of `window` scored against the photo crop `target` [1, 3, h, w] by the terms in spec.

    `analysis` is the view's region's boundary analysis, for the terms that draw their target from it.
    """
    guide = ViewGuide(target.shape[-1] / (window[2] - window[0]), analysis)
    loss = WeightedLoss([(w, factories[name](guide)) for w, name in spec], n_aug=augmentations)
    loss.set_target(target)
    return View(window, (target.shape[-2], target.shape[-1]), weight, loss)
