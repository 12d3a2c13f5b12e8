"""What a round minimizes: weighted loss terms, evaluated on one or more rendered views of the sketch.

A view is a window of the canvas rendered at some size and compared with the matching crop of
the photo: the whole canvas always, plus the zoomed ROI window in ROI rounds, so detail strokes
are judged at the ROI's own scale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from mross_server.engine.canvas import Box
from mross_server.engine.losses import PairTerm, WeightedLoss
from mross_server.engine.renderer import render

# Builds a fresh loss term for a view; the argument is the view's pixels per canvas unit, which
# terms that draw their own target (the ink line drawing) need to match the sketch's line weight.
TermFactory = Callable[[float], PairTerm]


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
) -> View:
    """A view of `window` scored against the photo crop `target` [1, 3, h, w] by the terms in spec."""
    zoom = target.shape[-1] / (window[2] - window[0])
    loss = WeightedLoss([(w, factories[name](zoom)) for w, name in spec], n_aug=augmentations)
    loss.set_target(target)
    return View(window, (target.shape[-2], target.shape[-1]), weight, loss)
