"""CLIPasso's sketch/target pairs: the plain pair plus pairs that share one random perspective + crop."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from kornia.geometry.transform import get_perspective_transform, warp_perspective
from torch import Tensor

from mross_server.engine.shapes import check_shape

DISTORTION = 0.5
CROP_SCALE = (0.8, 1.0)


@dataclass(frozen=True)
class PairBatch:
    """Sketches and targets to compare, pair by pair.

    `sketches` is [P, K, 3, H, W]: pair 0 holds the K sketches as rendered, pairs 1.. their augmented
    copies. `targets` is [P - 1, 3, H, W]: the target of pair p >= 1 is `targets[p - 1]`, warped exactly
    like that pair's sketches; the plain target (pair 0) is the one each loss term cached in `set_target`.
    Values are in [0, 1].
    """

    sketches: Tensor
    targets: Tensor

    @property
    def count(self) -> int:
        """P, the number of pairs (1 + augmentations)."""
        return self.sketches.shape[0]

    @property
    def sketches_per_pair(self) -> int:
        """K, the number of sketches optimized side by side."""
        return self.sketches.shape[1]


def make_pairs(
    sketch: Tensor,
    target: Tensor,
    n_aug: int,
    generator: torch.Generator | None = None,
) -> PairBatch:
    """The plain pair plus `n_aug` augmented pairs of `sketch` [K, 3, H, W] and `target` [1, 3, H, W].

    Augmented pair i warps all K sketches and the target with the same random perspective (distortion
    0.5) followed by the same random crop (area 0.8-1, the canvas's own aspect ratio, so non-square
    canvases are not distorted) resized back to H x W. Areas pulled in from outside the canvas are white,
    like the canvas. Draws come from `generator` (torch's default one when None), so a seeded generator
    gives the same pairs. Differentiable w.r.t. `sketch`.
    """
    check_shape(target, "1,3,H,W", "the target", check_shape(sketch, "K,3,H,W", "the sketches"))
    if n_aug < 0:
        raise ValueError(f"the number of augmentations must be >= 0, got {n_aug}.")
    if n_aug == 0:
        return PairBatch(sketch.unsqueeze(0), target[:0])
    k, _, height, width = sketch.shape
    warps = random_warps(n_aug, height, width, generator).to(sketch.device)
    both = torch.cat([sketch, target.detach()]).repeat(n_aug, 1, 1, 1)
    white = torch.ones(3, device=sketch.device, dtype=sketch.dtype)
    warped = warp_perspective(
        both, warps.repeat_interleave(k + 1, dim=0), (height, width), padding_mode="fill", fill_value=white
    ).unflatten(0, (n_aug, k + 1))
    return PairBatch(torch.cat([sketch.unsqueeze(0), warped[:, :k]]), warped[:, k])


def random_warps(n: int, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
    """`n` pixel homographies [n, 3, 3] (float32, on the generator's device): perspective, then crop-and-resize.

    Pixel centres run from 0 to width - 1 / height - 1 (kornia's align_corners=True convention).
    """
    device = generator.device if generator is not None else torch.device("cpu")
    span = torch.tensor([width - 1.0, height - 1.0], device=device)
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], device=device) * span
    # Each corner moves inward by up to half the distortion times half the canvas, as torchvision's
    # RandomPerspective does; the direction is towards the centre.
    inward = 1.0 - 2.0 * corners / span
    pull = torch.rand(n, 4, 2, generator=generator, device=device) * DISTORTION * span / 2.0
    perspective = get_perspective_transform(corners.expand(n, 4, 2), corners + inward * pull)

    low, high = CROP_SCALE
    side = (low + (high - low) * torch.rand(n, 1, generator=generator, device=device)).sqrt()
    crop_span = side * span
    origin = torch.rand(n, 2, generator=generator, device=device) * (span - crop_span)
    zoom = span / crop_span
    crop = torch.zeros(n, 3, 3, device=device)
    crop[:, 0, 0], crop[:, 1, 1], crop[:, 2, 2] = zoom[:, 0], zoom[:, 1], 1.0
    crop[:, :2, 2] = -origin * zoom
    return crop @ perspective
