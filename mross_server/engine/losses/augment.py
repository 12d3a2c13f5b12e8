"""CLIPasso's sketch/target pairs: the plain pair plus pairs warped by a random perspective and crop.

CLIPasso's augmentation is torchvision's RandomPerspective(distortion_scale=0.5, fill=0) followed by
RandomResizedCrop(224, scale=(0.8, 0.8), ratio=(1.0, 1.0)), applied to the sketch and the photo
together so both see the same warp. Here the two maps are composed into one homography and
resampled once (one bilinear blur instead of two), and every sketch of a best-of-K batch gets its
own draws, as CLIPasso's separate runs do. Everything stays on the device: no draw or solve makes
the host wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mross_server.engine.shapes import check_shape

#: torchvision RandomPerspective's distortion_scale in CLIPasso.
DISTORTION = 0.5
#: RandomResizedCrop's area fraction in CLIPasso (fixed: scale=(0.8, 0.8)); the crop keeps the view's aspect.
CROP_AREA = 0.8


@dataclass(frozen=True)
class PairBatch:
    """Sketches and targets to compare, pair by pair.

    `sketches` is [P, K, 3, H, W]: pair 0 holds the K sketches as rendered, pairs 1.. their augmented
    copies. `targets` is [P - 1, K, 3, H, W]: the target of sketch k in pair p >= 1 is
    `targets[p - 1, k]`, warped exactly like that sketch; the plain target (pair 0) is the one each
    loss term cached in `set_target`. Values are in [0, 1].
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


def pair_targets(plain: Tensor, augmented: Tensor | None, pairs: PairBatch) -> Tensor:
    """A term's target values per pair and sketch, to compare with its sketch values [P, K, ...].

    `plain` [1, ...] is the cached plain target's value; `augmented` [(P - 1) * K, ...] (None without
    augmentations) the values of `pairs.targets` flattened. Returns [1, 1, ...] for the plain pair
    alone, else [P, K, ...].
    """
    if augmented is None:
        return plain.unsqueeze(1)
    per_sketch = augmented.unflatten(0, (pairs.count - 1, pairs.sketches_per_pair))
    return torch.cat([plain.unsqueeze(1).expand(1, pairs.sketches_per_pair, *plain.shape[1:]), per_sketch])


def make_pairs(
    sketch: Tensor,
    target: Tensor,
    n_aug: int,
    generator: torch.Generator | None = None,
) -> PairBatch:
    """The plain pair plus `n_aug` augmented pairs of each sketch [K, 3, H, W] with the target [1, 3, H, W].

    Augmented pair i of sketch k warps that sketch and the target with the same random perspective
    (corners pulled in by up to half the distortion times half the side, as torchvision draws them)
    followed by the same crop of 80 % of the area (the view's own aspect, so a square view gets
    CLIPasso's square crop) resized back to H x W. Areas pulled in from outside are black, as
    torchvision's fill=0 makes them. Draws come from `generator` (torch's default one when None),
    so a seeded generator gives the same pairs. Differentiable w.r.t. `sketch`.
    """
    check_shape(target, "1,3,H,W", "the target", check_shape(sketch, "K,3,H,W", "the sketches"))
    if n_aug < 0:
        raise ValueError(f"the number of augmentations must be >= 0, got {n_aug}.")
    k, _, height, width = sketch.shape
    if n_aug == 0:
        return PairBatch(sketch.unsqueeze(0), target[:0].unsqueeze(1).expand(0, k, -1, -1, -1))
    inverse = random_warps(n_aug * k, height, width, generator).to(sketch.device)
    both = torch.cat([sketch, target.detach().expand(k, -1, -1, -1)], dim=1).repeat(n_aug, 1, 1, 1)
    warped = warp(both, inverse).unflatten(0, (n_aug, k))
    return PairBatch(torch.cat([sketch.unsqueeze(0), warped[:, :, :3]]), warped[:, :, 3:])


@dataclass(frozen=True)
class WarpDraws:
    """The random parts of `n` augmentations, in pixels.

    `pull` [n, 4, 2]: how far each corner (top-left, top-right, bottom-right, bottom-left) moves
    inward along x and y, whole pixels from 0 to distortion x half the side (torchvision's
    RandomPerspective). `crop_origin` [n, 2]: the crop's top-left corner, whole pixels.
    `crop_size`: (width, height) of the crop, 80 % of the area at the view's aspect.
    """

    pull: Tensor
    crop_origin: Tensor
    crop_size: tuple[int, int]


def draw_warps(n: int, height: int, width: int, generator: torch.Generator | None = None) -> WarpDraws:
    """Draw `n` augmentations for a height x width view, on the generator's device (CPU for None)."""
    device = generator.device if generator is not None else torch.device("cpu")
    most_x, most_y = math.floor(DISTORTION * (width // 2)), math.floor(DISTORTION * (height // 2))
    pull = torch.rand(n, 4, 2, generator=generator, device=device)
    pull = torch.stack([(pull[..., 0] * (most_x + 1)).floor(), (pull[..., 1] * (most_y + 1)).floor()], dim=-1)
    crop_width, crop_height = round(math.sqrt(CROP_AREA) * width), round(math.sqrt(CROP_AREA) * height)
    offset = torch.rand(n, 2, generator=generator, device=device)
    origin = torch.stack([(offset[:, 0] * (width - crop_width + 1)).floor(), (offset[:, 1] * (height - crop_height + 1)).floor()], dim=-1)
    return WarpDraws(pull, origin, (crop_width, crop_height))


def random_warps(n: int, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
    """`n` random perspective-then-crop warps as inverse homographies [n, 3, 3] (float32, on the generator's device).

    Each maps an output pixel position to the input position it shows, in pixel units with pixel
    corners on integers (the image spans [0, width] x [0, height]).
    """
    draws = draw_warps(n, height, width, generator)
    device = draws.pull.device
    corner = torch.arange(4, device=device)
    right, bottom = ((corner == 1) | (corner == 2)).float(), (corner >= 2).float()
    corners = torch.stack([right * width, bottom * height], dim=-1)
    inward = torch.stack([1.0 - 2.0 * right, 1.0 - 2.0 * bottom], dim=-1)
    # The perspective's output shows the input's corners at corners + inward·pull; invert that map.
    unwarp = _homography(corners + inward * draws.pull, corners.expand(n, 4, 2))
    crop_width, crop_height = draws.crop_size
    uncrop = torch.zeros(n, 3, 3, device=device)
    uncrop[:, 0, 0].fill_(crop_width / width)
    uncrop[:, 1, 1].fill_(crop_height / height)
    uncrop[:, 2, 2].fill_(1.0)
    uncrop[:, :2, 2] = draws.crop_origin
    return unwarp @ uncrop


def warp(images: Tensor, inverse: Tensor) -> Tensor:
    """Resample images [B, C, H, W] through inverse homographies [B, 3, 3] (see `random_warps`); black outside."""
    b, _, height, width = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=images.device, dtype=inverse.dtype) + 0.5,
        torch.arange(width, device=images.device, dtype=inverse.dtype) + 0.5,
        indexing="ij",
    )
    centres = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)
    source = centres @ inverse.transpose(1, 2)
    xy = source[..., :2] / source[..., 2:]
    grid = torch.stack([2.0 * xy[..., 0] / width - 1.0, 2.0 * xy[..., 1] / height - 1.0], dim=-1)
    return F.grid_sample(images, grid.view(b, height, width, 2).to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


def _homography(source: Tensor, destination: Tensor) -> Tensor:
    """The homographies [n, 3, 3] taking four points source [n, 4, 2] to destination [n, 4, 2]."""
    x, y = source[..., 0], source[..., 1]
    u, v = destination[..., 0], destination[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -x * u, -y * u], dim=-1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -x * v, -y * v], dim=-1)
    system = torch.cat([rows_u, rows_v], dim=1)
    # solve_ex does not check for singular systems, which would read a flag back from the device;
    # four distinct corners pulled inward by under half the side never are.
    solution, _ = torch.linalg.solve_ex(system, torch.cat([u, v], dim=1))
    return torch.cat([solution, torch.ones_like(solution[:, :1])], dim=1).view(-1, 3, 3)
