"""Where each best-of-K seed's new strokes start.

CLIPasso's K sketches are separate runs: each draws its own start points and random walks (and its
own augmentations, see losses/augment.py), so best-of-K chooses between genuinely different
sketches. Here seed 1 draws from the job's own random stream, exactly as a one-seed job does, and
every further seed from an independent stream derived from the job's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from open_clip.transformer import VisionTransformer

from mross_server.engine.canvas import Box
from mross_server.engine.initial_strokes import edge_pixels, farthest_point_sample, random_walk_strokes, uniform_points
from mross_server.engine.saliency.clip_attention import salient_starts

# Contour pieces are the same for every seed; later seeds jitter them by this many canvas units.
SEED_JITTER = 1.0


@dataclass(frozen=True)
class StartArea:
    """Where a round's strokes may start.

    `view` [h, w, 3] is the region of the photo at analysis size, `edges` [h, w] its edge mask,
    `to_canvas` the affine [2, 3] from view pixels to canvas units, `box` the region in canvas units
    and `resolution` the canvas's long side (the random walks' scale).
    """

    view: np.ndarray
    edges: np.ndarray
    to_canvas: np.ndarray
    box: Box
    resolution: int


def seed_streams(seed: int, count: int) -> list[np.random.Generator]:
    """One random stream per seed: the job's own first, then independent streams derived from `seed`."""
    return [np.random.default_rng(seed), *(np.random.default_rng([seed, k]) for k in range(1, count))]


def seeded_strokes(
    pieces: np.ndarray,
    count: int,
    area: StartArea,
    streams: list[np.random.Generator],
    init: str,
    vit: VisionTransformer | None = None,
) -> np.ndarray:
    """`count` new strokes per seed, [K, count, 4, 2] in canvas units; seed k draws from `streams[k]`.

    `pieces` [m, 4, 2] (m <= count, canvas units) are contour strokes every seed starts with (seeds
    after the first jitter them); the rest are short random walks from start points chosen by
    `init`: "saliency" (CLIPasso: CLIP ViT attention on the region's XDoG lines; needs `vit`),
    otherwise farthest-point samples of the edge pixels, or uniform points when there are none.
    """
    seeds = []
    for k, rng in enumerate(streams):
        strokes = pieces if k == 0 else pieces + rng.normal(0.0, SEED_JITTER, pieces.shape)
        missing = count - len(strokes)
        if missing > 0:
            strokes = np.concatenate([strokes, _walks(area, missing, rng, init, vit)])
        seeds.append(strokes)
    return np.stack(seeds)


def _walks(area: StartArea, count: int, rng: np.random.Generator, init: str, vit: VisionTransformer | None) -> np.ndarray:
    """`count` random walks [count, 4, 2] in canvas units from start points chosen by `init`."""
    affine = area.to_canvas
    if init == "saliency":
        if vit is None:
            raise ValueError("the saliency start needs CLIP ViT-B/32 weights")
        # The sampler wants a CPU torch generator; seed it from the seed's stream to stay deterministic.
        sampler = torch.Generator().manual_seed(int(rng.integers(2**31)))
        view = torch.from_numpy(np.ascontiguousarray(area.view.transpose(2, 0, 1)))[None].float()
        device = next(vit.parameters()).device
        starts = salient_starts(vit, view.to(device), count, sampler) @ affine[:, :2].T + affine[:, 2]
    else:
        candidates = edge_pixels(area.edges)
        if len(candidates):
            starts = farthest_point_sample(candidates, count, rng) @ affine[:, :2].T + affine[:, 2]
        else:
            starts = np.zeros((0, 2))
        if len(starts) < count:
            starts = np.concatenate([starts, uniform_points(area.box, count - len(starts), rng)])
    return random_walk_strokes(starts, area.resolution, rng)
