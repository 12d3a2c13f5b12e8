"""Sketch losses: terms that compare K rendered sketches with one target, and their weighted sum.

A `PairTerm` (VggLoss, ClipLoss, ...) never draws augmentations itself: it scores a `PairBatch`
that `WeightedLoss` builds once per evaluation, so every term of one optimization step sees exactly
the same perspective/crop draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from mross_server.engine.losses.augment import PairBatch, make_pairs
from mross_server.engine.shapes import check_shape

#: CLIPasso's augmented pairs per step (plus the plain pair: 5 pairs).
N_AUG = 4


class PairTerm(Protocol):
    """One loss term over sketch/target pairs."""

    def set_target(self, target: Tensor) -> None:
        """Cache what the term needs of the plain target [1, 3, H, W] in [0, 1]."""

    def __call__(self, pairs: PairBatch) -> Tensor:
        """The term for each of the K sketches, averaged over the pairs.

        Shape:
            - pairs.sketches: [P, K, 3, H, W]; pairs.targets: [P - 1, K, 3, H, W]
            - output: [K]
        """


class WeightedLoss:
    """Σ weight · term over one shared `PairBatch` per call (e.g. MROSS's L_CLIP + L_VGG): sketches [K, 3, H, W] -> loss [K]."""

    def __init__(self, terms: Sequence[tuple[float, PairTerm]], n_aug: int = N_AUG):
        if not terms:
            raise ValueError("a weighted loss needs at least one term.")
        self.terms = tuple(terms)
        self.n_aug = n_aug
        self._target: Tensor | None = None

    def set_target(self, target: Tensor) -> None:
        """Hand the target [1, 3, H, W] in [0, 1] to every term (each caches its plain-pair features)."""
        check_shape(target, "1,3,H,W", "the target")
        self._target = target.detach()
        for _, term in self.terms:
            term.set_target(self._target)

    def __call__(self, sketch: Tensor, augment: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """Weighted sum of the terms for each sketch, all terms on the same pairs.

        Shape:
            - sketch: [K, 3, H, W] in [0, 1], the shape of the target
            - output: [K], differentiable with respect to `sketch`
        """
        if self._target is None:
            raise RuntimeError("WeightedLoss.set_target must be called before evaluating the loss.")
        pairs = make_pairs(sketch, self._target, self.n_aug if augment else 0, generator)
        total = sketch.new_zeros(sketch.shape[0])
        for weight, term in self.terms:
            total = total + weight * term(pairs)
        return total
