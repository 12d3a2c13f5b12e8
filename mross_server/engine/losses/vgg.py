"""MROSS's unit-normalized VGG feature loss over the VGG16 conv stack."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mross_server.engine.losses.augment import PairBatch, pair_targets
from mross_server.engine.models.vgg16 import BLOCK_OUTPUTS, VGG16Features

UNIT_NORM_EPS = 1e-10


def unit_normalize(features: Tensor) -> Tensor:
    """Scale each pixel's feature vector to unit length: [B, C, H, W] -> [B, C, H, W]."""
    norm: Tensor = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    return features / (norm + UNIT_NORM_EPS)


class VggLoss:
    """MROSS's VGG feature loss, a `PairTerm`.

    Per layer: unit-normalize each map over channels, sum the squared difference over channels and
    average it over pixels; sum over layers; average over pairs. Each layer contributes at most 4.
    The plain target's features are cached by `set_target`; augmented targets are recomputed.
    """

    def __init__(self, vgg: VGG16Features, layers: Sequence[str] = BLOCK_OUTPUTS):
        self.vgg = vgg
        self.layers = tuple(layers)
        self._plain_target: dict[str, Tensor] = {}

    def set_target(self, target: Tensor) -> None:
        """Cache the plain target's normalized features; `target` is [1, 3, H, W] in [0, 1]."""
        self._plain_target = self._normalized_features(target.detach())

    def __call__(self, pairs: PairBatch) -> Tensor:
        """Loss of each sketch averaged over the batch's pairs; differentiable w.r.t. the sketches.

        Shape:
            - pairs.sketches: [P, K, 3, H, W]; pairs.targets: [P - 1, K, 3, H, W]
            - output: [K]
        """
        if not self._plain_target:
            raise RuntimeError("VggLoss.set_target must be called before evaluating the loss.")
        sketch = self._normalized_features(pairs.sketches.flatten(0, 1), track_grad=True)
        augmented = self._normalized_features(pairs.targets.flatten(0, 1)) if pairs.targets.shape[0] else {}
        total = pairs.sketches.new_zeros(pairs.count, pairs.sketches_per_pair)
        for name in self.layers:
            target = pair_targets(self._plain_target[name], augmented.get(name), pairs)
            per_image = sketch[name].unflatten(0, (pairs.count, pairs.sketches_per_pair))
            squared = (per_image - target).pow(2).sum(dim=2)
            total = total + squared.mean(dim=(-2, -1))
        return total.mean(dim=0)

    def _normalized_features(self, images: Tensor, track_grad: bool = False) -> dict[str, Tensor]:
        with torch.set_grad_enabled(track_grad and torch.is_grad_enabled()):
            features = self.vgg(images, self.layers)
            return {name: unit_normalize(f) for name, f in features.items()}
