"""CLIPasso's CLIP loss on the RN101 image tower: feature-map L2 (geometry) plus embedding cosine (semantics)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.modified_resnet import ModifiedResNet
from torch import Tensor

from mross_server.engine.losses.augment import PairBatch

#: CLIPasso's geometric layers and their weights.
GEOMETRIC_LAYERS = (("layer2", 1.0), ("layer3", 1.0))
SEMANTIC_WEIGHT = 0.1
RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def clip_input(images: Tensor, image_size: int | tuple[int, int]) -> Tensor:
    """Resize [N, 3, H, W] images in [0, 1] to a tower's input size (its `image_size`) and apply CLIP's normalization.

    Non-square images are resized (squashed), not padded: sketch and target are squashed alike, so
    their pixels still correspond, and no artificial white border edge appears in the target.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if images.shape[-2:] != size:
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = images.new_tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def cuda_autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on GPUs that support it, else fp16; a no-op on the CPU (which stays in fp32)."""
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype, enabled=device.type == "cuda")


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
            - pairs.sketches: [P, K, 3, H, W]; pairs.targets: [P - 1, 3, H, W]
            - output: [K]
        """
        if self._plain_target is None:
            raise RuntimeError("ClipLoss.set_target must be called before evaluating the loss.")
        maps, embedding = self._features(pairs.sketches.flatten(0, 1), track_grad=True)
        target_maps, target_embedding = self._plain_target
        if pairs.targets.shape[0]:
            augmented_maps, augmented_embedding = self._features(pairs.targets)
            target_maps = {name: torch.cat([target_maps[name], augmented_maps[name]]) for name in target_maps}
            target_embedding = torch.cat([target_embedding, augmented_embedding])

        def per_pair(sketch_values: Tensor) -> Tensor:
            split: Tensor = sketch_values.unflatten(0, (pairs.count, pairs.sketches_per_pair))
            return split

        total = self.semantic_weight * (
            1.0 - F.cosine_similarity(per_pair(embedding), target_embedding.unsqueeze(1), dim=-1)
        )
        for name, weight in self.layers:
            squared = (per_pair(maps[name]) - target_maps[name].unsqueeze(1)).pow(2)
            total = total + weight * squared.mean(dim=(-3, -2, -1))
        return total.mean(dim=0)

    def _features(self, images: Tensor, track_grad: bool = False) -> tuple[dict[str, Tensor], Tensor]:
        """Stage outputs {name: [N, C, h, w]} and the embedding [N, D], in fp32, for images in [0, 1]."""
        wanted = {name for name, _ in self.layers}
        with torch.set_grad_enabled(track_grad and torch.is_grad_enabled()), cuda_autocast(images.device):
            x = self.visual.stem(clip_input(images, self.visual.image_size))
            maps = {}
            for name in RESNET_STAGES:
                x = getattr(self.visual, name)(x)
                if name in wanted:
                    maps[name] = x.float()
            embedding = self.visual.attnpool(x).float()
        return maps, embedding
