"""What a round minimizes: weighted loss terms, evaluated on one or more rendered views of the sketch.

A view is a window of the canvas rendered at some size and compared with the matching crop of
the photo: the whole canvas always, plus the zoomed ROI window in ROI rounds, so detail strokes
are judged at the ROI's own scale. All views of a step are rendered in one renderer call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mross_server.engine.canvas import Box
from mross_server.engine.contours import EdgeAnalysis
from mross_server.engine.losses import PairTerm, WeightedLoss
from mross_server.engine.renderer import Frame, render_frames


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


def check_terms(spec: list[tuple[float, str]], available: Mapping[str, object]) -> None:
    """ValueError naming the first term of spec that is not available (e.g. clip without weights)."""
    unknown = [name for _, name in spec if name not in available]
    if unknown:
        raise ValueError(f"objective term {unknown[0]!r} is not available here (available: {', '.join(sorted(available))})")


@dataclass(frozen=True)
class View:
    """A canvas window (canvas units) rendered at size (h, w), scored by `loss` with this weight.

    `line_scale` (output pixels per canvas unit of stroke width) is set for a squashed view, so its
    lines keep the weight they have in the unsquashed view; None derives it from the window.
    """

    window: Box
    size: tuple[int, int]
    weight: float
    loss: WeightedLoss
    line_scale: float | None = None


class Objective:
    """Loss per sketch [K] of control points [K, N, 4, 2]: Σ over views of weight · loss(render(view)).

    `bounded` is the renderer's sizing (None: its default for the device; see renderer.py).
    """

    def __init__(self, views: list[View], half_width: float, bounded: bool | None = None) -> None:
        self.views = views
        self.half_width = half_width
        self.bounded = bounded

    def render(self, points: Tensor) -> list[Tensor]:
        """Every view's picture of the sketches, [K, 3, h, w] each, from one renderer call."""
        frames = [Frame(view.window, view.size, view.line_scale) for view in self.views]
        return render_frames(points, self.half_width, frames, bounded=self.bounded)

    def score(self, images: Sequence[Tensor], augment: bool, generator: torch.Generator) -> Tensor:
        """Σ over views of weight · loss, per sketch [K], for the pictures `render` made."""
        total = images[0].new_zeros(images[0].shape[0])
        for view, sketch in zip(self.views, images, strict=True):
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
    line_scale: float | None = None,
) -> View:
    """A view of `window` scored against the photo crop `target` [1, 3, h, w] by the terms in spec.

    `analysis` is the view's region's boundary analysis, for the terms that draw their target from
    it; `line_scale` as in View, and the terms that draw their own target get the same line weight.
    """
    zoom = line_scale if line_scale is not None else target.shape[-1] / (window[2] - window[0])
    guide = ViewGuide(zoom, analysis)
    loss = WeightedLoss([(w, factories[name](guide)) for w, name in spec], n_aug=augmentations)
    loss.set_target(target)
    return View(window, (target.shape[-2], target.shape[-1]), weight, loss, line_scale)
