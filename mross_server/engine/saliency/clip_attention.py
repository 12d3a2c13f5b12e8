"""CLIPasso's stroke placement: CLIP ViT-B/32 class-token attention, masked by XDoG lines, sampled.

As in CLIPasso, the photo is squashed to the tower's input size (224 x 224), attention and lines are
computed there, and start points drawn there are mapped back to the photo.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from torch import Tensor

from mross_server.engine.losses.clip import clip_normalize, input_size
from mross_server.engine.saliency.xdog import xdog_lines
from mross_server.engine.shapes import check_shape

TEMPERATURE = 0.3


def vit_attention(visual: VisionTransformer, clip_images: Tensor) -> tuple[Tensor, Tensor]:
    """Run the ViT's token stack while keeping each block's attention.

    `clip_images` is [B, 3, S, S], already resized and normalized (see `clip_normalize`). Returns the
    final tokens [B, 1 + g², D] (before `ln_post`) and the head-averaged attention of every block
    [L, B, 1 + g², 1 + g²]; token 0 is the class token, the others the g x g patches row by row.
    """
    x = visual.conv1(clip_images).flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = visual.ln_pre(torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype))
    batch_first = getattr(visual.transformer, "batch_first", True)
    attentions = []
    for block in visual.transformer.resblocks:
        # open_clip's blocks call their nn.MultiheadAttention with need_weights=False, so the
        # residual block is replayed here with the same submodules to get the weights.
        h = block.ln_1(x) if batch_first else block.ln_1(x).transpose(0, 1)
        out, weights = block.attn(h, h, h, need_weights=True, average_attn_weights=True)
        x = x + block.ls_1(out if batch_first else out.transpose(0, 1))
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
        attentions.append(weights)
    return x, torch.stack(attentions)


@torch.no_grad()
def clip_saliency(visual: VisionTransformer, image: Tensor) -> tuple[Tensor, Tensor]:
    """Saliency and line mask [S, S] of one RGB image [1, 3, H, W] in [0, 1], squashed to the tower's size S x S.

    Saliency is the class token's attention to the patches, averaged over heads and all blocks,
    upsampled bicubically from the g x g patch grid and min-max normalized to [0, 1]. The mask is
    True on the XDoG lines of the same squashed, CLIP-normalized image (CLIPasso's start mask).
    """
    check_shape(image, "1,3,H,W", "the image for saliency")
    size = input_size(visual)
    squashed = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
    normalized = clip_normalize(squashed, size)
    _, attention = vit_attention(visual, normalized)
    to_patches = attention[:, 0, 0, 1:].mean(dim=0)
    grid = round(to_patches.numel() ** 0.5)
    upsampled = F.interpolate(to_patches.view(1, 1, grid, grid), size=size, mode="bicubic")[0, 0]
    low, high = upsampled.min(), upsampled.max()
    saliency = (upsampled - low) / (high - low).clamp_min(torch.finfo(upsampled.dtype).tiny)
    lines = xdog_lines(normalized[0].permute(1, 2, 0).cpu().numpy())
    return saliency, torch.from_numpy(lines).to(saliency.device)


def salient_starts(visual: VisionTransformer, image: Tensor, n: int, generator: torch.Generator) -> np.ndarray:
    """CLIPasso's `n` start points [n, 2] (x, y) in the pixels of image [1, 3, H, W], drawn with a seeded CPU generator."""
    saliency, lines = clip_saliency(visual, image)
    points = sample_salient_points(saliency, lines.to(saliency.dtype), n, generator).double().numpy()
    height, width = image.shape[-2:]
    scaled: np.ndarray = points * np.array([width / saliency.shape[1], height / saliency.shape[0]])
    return scaled


def sample_salient_points(
    saliency: Tensor,
    edge_mask: Tensor,
    n: int,
    generator: torch.Generator | None = None,
    temperature: float = TEMPERATURE,
) -> Tensor:
    """Draw `n` distinct pixels, favouring salient edges; returns their centres [n, 2] (x, y), float32, CPU.

    `saliency` and `edge_mask` are [H, W] and >= 0. Pixels where their product p is positive are drawn
    without replacement with probability softmax(p / temperature); when fewer than `n` such pixels
    exist, the rest are drawn uniformly from the other pixels. Deterministic for a seeded CPU generator.
    """
    check_shape(edge_mask, "H,W", "the edge mask", check_shape(saliency, "H,W", "the saliency map"))
    height, width = saliency.shape
    if not 0 < n <= height * width:
        raise ValueError(f"can draw between 1 and {height * width} points from a {width}x{height} map, not {n}.")
    scores = (saliency * edge_mask).flatten().cpu().double()
    on_edge = scores > 0
    from_edges = min(n, int(on_edge.sum()))
    picked = torch.empty(0, dtype=torch.long)
    if from_edges:
        probabilities = torch.softmax(scores[on_edge] / temperature, dim=0)
        drawn = torch.multinomial(probabilities, from_edges, replacement=False, generator=generator)
        picked = on_edge.nonzero().squeeze(1)[drawn]
    if from_edges < n:
        others = (~on_edge).nonzero().squeeze(1)
        picked = torch.cat([picked, others[torch.randperm(others.numel(), generator=generator)[: n - from_edges]]])
    return torch.stack([picked % width, picked // width], dim=1).float() + 0.5
