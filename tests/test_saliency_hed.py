"""CLIP ViT attention saliency, salient point sampling, and HED edge maps (tiny and real weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mross_server.engine.losses.clip import clip_normalize, input_size
from mross_server.engine.models.hed_h5 import load_hed
from mross_server.engine.models.locations import hed_weights_path
from mross_server.engine.saliency.clip_attention import clip_saliency, salient_starts, sample_salient_points, vit_attention
from tests.tiny_models import tiny_clip, write_tiny_hed_h5


@pytest.fixture(scope="module")
def vit():
    return tiny_clip("ViT-B-32").visual.requires_grad_(False)


def test_replayed_vit_blocks_match_open_clip_and_keep_attention(vit):
    size = input_size(vit)
    images = clip_normalize(torch.rand(2, 3, *size), size)
    tokens, attention = vit_attention(vit, images)
    torch.testing.assert_close(vit.ln_post(tokens[:, 0]) @ vit.proj, vit(images), rtol=1e-4, atol=1e-5)
    assert attention.shape == (2, 2, 17, 17), "2 blocks, batch 2, class token + 4x4 patches"
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 2, 17))


def test_saliency_is_at_clips_size_spans_zero_to_one_and_lines_are_the_dark_edges(vit):
    image = torch.ones(1, 3, 45, 61)
    image[..., 10:35, 15:45] = 0.2  # a dark block: XDoG lines run along its inside edge
    saliency, lines = clip_saliency(vit, image)
    size = input_size(vit)
    assert saliency.shape == size and lines.shape == size and lines.dtype == torch.bool
    assert saliency.min() == 0 and saliency.max() == 1
    ys, xs = torch.nonzero(lines, as_tuple=True)
    assert len(ys) > 0 and bool(lines[32, 2]) is False, "flat paper has no lines"
    assert (ys >= 10).all() and (ys <= 52).all() and (xs >= 12).all() and (xs <= 50).all()


def test_salient_starts_land_in_the_photos_pixels(vit):
    image = torch.ones(1, 3, 45, 61)
    image[..., 10:35, 15:45] = 0.2
    starts = salient_starts(vit, image, 12, torch.Generator().manual_seed(0))
    assert starts.shape == (12, 2)
    assert (starts[:, 0] >= 0).all() and (starts[:, 0] <= 61).all() and (starts[:, 1] >= 0).all() and (starts[:, 1] <= 45).all()
    assert np.array_equal(starts, salient_starts(vit, image, 12, torch.Generator().manual_seed(0)))


def test_point_sampling_is_seeded_distinct_and_prefers_salient_edges():
    saliency = torch.zeros(30, 40)
    saliency[:, 20:] = 1.0
    saliency[:, :20] = 0.1
    edges = torch.zeros(30, 40)
    edges[::3] = 1.0

    def draw(seed: int) -> torch.Tensor:
        return sample_salient_points(saliency, edges, 40, torch.Generator().manual_seed(seed))

    points = draw(0)
    assert points.shape == (40, 2) and torch.equal(points, draw(0)) and not torch.equal(points, draw(1))
    assert len({tuple(p.tolist()) for p in points}) == 40, "drawn without replacement"
    rows = points[:, 1] - 0.5
    assert torch.all(rows % 3 == 0), "only edge pixels are drawn while there are enough"
    # softmax(p / 0.3) weighs a pixel of saliency 1 about 20 times one of saliency 0.1.
    assert (points[:, 0] > 20).sum() >= 34


def test_point_sampling_tops_up_from_other_pixels_when_edges_run_out():
    edges = torch.zeros(8, 8)
    edges[2, 3] = edges[5, 6] = 1.0
    points = sample_salient_points(torch.ones(8, 8), edges, 5, torch.Generator().manual_seed(0))
    coords = {tuple(p.tolist()) for p in points}
    assert len(coords) == 5 and {(3.5, 2.5), (6.5, 5.5)} <= coords
    with pytest.raises(ValueError, match="can draw between 1 and 64 points"):
        sample_salient_points(torch.ones(8, 8), edges, 65)


def test_hed_with_tiny_weights_gives_an_edge_probability_per_pixel(tmp_path):
    hed = load_hed(write_tiny_hed_h5(tmp_path / "tiny.h5"))
    edges = hed(torch.rand(1, 3, 37, 50))
    assert edges.shape == (37, 50) and edges.min() >= 0 and edges.max() <= 1 and edges.std() > 0
    with pytest.raises(ValueError, match=r"must be \[1, 3, H, W\]"):
        hed(torch.rand(2, 3, 37, 50))


@pytest.mark.skipif(not hed_weights_path().is_file(), reason=f"real HED weights absent at {hed_weights_path()}")
def test_real_hed_weights_find_the_outline_of_a_disc():
    hed = load_hed()
    height, width = 97, 130
    y, x = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    distance = ((x - 60) ** 2 + (y - 50) ** 2).sqrt() - 30
    disc = torch.where(distance < 0, 0.25, 1.0).expand(1, 3, height, width)
    edges = hed(disc)
    on_outline, far_away = edges[distance.abs() < 1.5], edges[distance.abs() > 8]
    assert on_outline.mean() > 0.8 and on_outline.min() > 0.4
    assert far_away.mean() < 0.05
