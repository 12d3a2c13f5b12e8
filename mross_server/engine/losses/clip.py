"""CLIPasso's CLIP loss on the RN101 image tower: feature-map L2 (geometry) plus embedding cosine (semantics)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.modified_resnet import ModifiedResNet
from torch import Tensor, nn

from mross_server.engine.losses.augment import PairBatch, pair_targets

#: CLIPasso's geometric layers and their weights.
GEOMETRIC_LAYERS = (("layer2", 1.0), ("layer3", 1.0))
SEMANTIC_WEIGHT = 0.1
RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def input_size(visual: nn.Module) -> tuple[int, int]:
    """(height, width) a CLIP image tower takes: its `image_size`."""
    size = visual.image_size
    if isinstance(size, int):
        return (size, size)
    # open_clip keeps a pair when a tower was built with one; the attribute is untyped.
    height, width = tuple(size)  # type: ignore[arg-type]
    return (int(height), int(width))


def clip_normalize(images: Tensor, size: tuple[int, int]) -> Tensor:
    """CLIP's input normalization of [N, 3, H, W] images in [0, 1] that already have the tower's size (h, w).

    The loss views are rendered at that size (a squashed view of a non-square canvas, as CLIPasso
    squashes its photos), so nothing is resampled here.
    """
    if tuple(images.shape[-2:]) != size:
        raise ValueError(f"CLIP takes {size[1]}x{size[0]} images; this view is {images.shape[-1]}x{images.shape[-2]}.")
    # Per-channel constants as arithmetic on slices: building a tensor from Python numbers would be an upload.
    channels = [(images[:, c] - mean) / std for c, (mean, std) in enumerate(zip(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD, strict=True))]
    return torch.stack(channels, dim=1)


def cuda_autocast(device: torch.device) -> torch.autocast:
    """fp16 autocast on CUDA, as CLIPasso runs CLIP; a no-op on the CPU (which stays in fp32).

    fp16, not bf16: on a full-size RN101 bf16 is off by 5e-3 in the loss (enough to pick a wrong best
    state) and its gradient by 0.90 in cosine, where fp16 is off by 5e-4 and 0.994; fp16's gradients
    need loss scaling (optimizer.LossScale). benchmarks/precision.py measures it; docs/presets.md.
    """
    return torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda")


class ClipLoss:
    """CLIPasso's loss, a `PairTerm`: Σ_l w_l · mean((f_l(sketch) − f_l(target))²) + 0.1 · (1 − cos(e_s, e_t)).

    f_l are the ResNet stage outputs named in `layers` and e the attention-pool embedding, averaged
    over pairs. The plain target's features are cached by `set_target`.
    """

    def __init__(
        self,
        visual: ModifiedResNet,
        layers: Sequence[tuple[str, float]] = GEOMETRIC_LAYERS,
        semantic_weight: float = SEMANTIC_WEIGHT,
    ):
        if not isinstance(visual, ModifiedResNet):
            raise ValueError(f"the CLIP loss needs a ResNet image tower (RN101), got {type(visual).__name__}.")
        unknown = {name for name, _ in layers} - set(RESNET_STAGES)
        if unknown:
            raise ValueError(f"unknown CLIP ResNet stage(s) {sorted(unknown)}; choose from {', '.join(RESNET_STAGES)}.")
        self.visual = visual
        self.layers = tuple(layers)
        self.semantic_weight = semantic_weight
        self._plain_target: tuple[dict[str, Tensor], Tensor] | None = None

    def set_target(self, target: Tensor) -> None:
        """Cache the plain target's features; `target` is [1, 3, H, W] in [0, 1]."""
        self._plain_target = self._features(target.detach())

    def __call__(self, pairs: PairBatch) -> Tensor:
        """Loss of each sketch averaged over the batch's pairs; differentiable w.r.t. the sketches.

        Shape:
            - pairs.sketches: [P, K, 3, H, W]; pairs.targets: [P - 1, K, 3, H, W]
            - output: [K]
        """
        if self._plain_target is None:
            raise RuntimeError("ClipLoss.set_target must be called before evaluating the loss.")
        maps, embedding = self._features(pairs.sketches.flatten(0, 1), track_grad=True)
        plain_maps, plain_embedding = self._plain_target
        augmented_maps: dict[str, Tensor] = {}
        augmented_embedding = None
        if pairs.targets.shape[0]:
            augmented_maps, augmented_embedding = self._features(pairs.targets.flatten(0, 1))

        def per_pair(sketch_values: Tensor) -> Tensor:
            split: Tensor = sketch_values.unflatten(0, (pairs.count, pairs.sketches_per_pair))
            return split

        target_embedding = pair_targets(plain_embedding, augmented_embedding, pairs)
        total = self.semantic_weight * (1.0 - F.cosine_similarity(per_pair(embedding), target_embedding, dim=-1))
        for name, weight in self.layers:
            target = pair_targets(plain_maps[name], augmented_maps.get(name), pairs)
            squared = (per_pair(maps[name]) - target).pow(2)
            total = total + weight * squared.mean(dim=(-3, -2, -1))
        return total.mean(dim=0)

    def _features(self, images: Tensor, track_grad: bool = False) -> tuple[dict[str, Tensor], Tensor]:
        """Stage outputs {name: [N, C, h, w]} and the embedding [N, D], in fp32, for images in [0, 1]."""
        wanted = {name for name, _ in self.layers}
        with torch.set_grad_enabled(track_grad and torch.is_grad_enabled()), cuda_autocast(images.device):
            x = self.visual.stem(clip_normalize(images, input_size(self.visual)))
            maps = {}
            for name in RESNET_STAGES:
                x = getattr(self.visual, name)(x)
                if name in wanted:
                    maps[name] = x.float()
            embedding = self.visual.attnpool(x).float()
        return maps, embedding
