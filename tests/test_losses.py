"""Augmented pairs, the VGG and CLIP loss terms and their weighted sum, on tiny real-format networks."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from mross_server.engine.losses import WeightedLoss
from mross_server.engine.losses.augment import DISTORTION, draw_warps, make_pairs, random_warps, warp
from mross_server.engine.losses.clip import ClipLoss, clip_normalize
from mross_server.engine.losses.vgg import VggLoss, unit_normalize
from mross_server.engine.models.hed_h5 import load_hed
from mross_server.engine.models.vgg16 import BLOCK_OUTPUTS
from tests.tiny_models import CLIP_IMAGE_SIZE, tiny_clip, write_tiny_hed_h5

# The CLIP term takes views at its tower's input size, as the pipeline renders them.
HEIGHT = WIDTH = CLIP_IMAGE_SIZE


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    return load_hed(write_tiny_hed_h5(tmp_path_factory.mktemp("vgg") / "tiny.h5")).vgg


@pytest.fixture(scope="module")
def resnet():
    return tiny_clip("RN101").visual.requires_grad_(False)


@pytest.fixture
def target(device):
    """A photo-like target on the test's device: smooth shading plus a dark disc."""
    y, x = torch.meshgrid(torch.linspace(0, 1, HEIGHT), torch.linspace(0, 1, WIDTH), indexing="ij")
    disc = ((x - 0.4) ** 2 + (y - 0.5) ** 2 < 0.08).float()
    return torch.stack([0.8 - 0.5 * disc, 0.6 + 0.3 * x - 0.5 * disc, 0.9 * (1 - y)])[None].to(device)


def sketches(k: int, like: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """K random dark-stroke-like images on white, [K, 3, H, W], on the device of `like`."""
    g = torch.Generator().manual_seed(seed)
    ink = (torch.rand(k, 1, HEIGHT, WIDTH, generator=g) > 0.9).float()
    return (1.0 - F.max_pool2d(ink, 3, 1, 1)).expand(k, 3, HEIGHT, WIDTH).clone().to(like.device)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_each_sketch_shares_its_warps_with_its_own_target_only(target):
    """Best-of-K seeds get independent augmentations, as CLIPasso's separate runs do."""
    sketch = target.expand(3, -1, -1, -1)  # three identical sketches, equal to the target
    pairs = make_pairs(sketch, target, 4, seeded(0))
    assert pairs.sketches.shape == (5, 3, 3, HEIGHT, WIDTH) and pairs.targets.shape == (4, 3, 3, HEIGHT, WIDTH)
    assert pairs.count == 5 and pairs.sketches_per_pair == 3
    assert torch.equal(pairs.sketches[0], sketch), "pair 0 is the plain pair"
    torch.testing.assert_close(pairs.sketches[1:], pairs.targets, msg="a sketch and its target see the same warp")
    assert not torch.allclose(pairs.targets[0, 0], pairs.targets[1, 0]), "each augmented pair has its own warp"
    assert not torch.allclose(pairs.sketches[1:, 0], pairs.sketches[1:, 1]), "each sketch has its own warps"


def test_pairs_are_deterministic_per_seed_and_black_outside_the_canvas(target):
    sketch = sketches(2, target)
    first, again = make_pairs(sketch, target, 3, seeded(5)), make_pairs(sketch, target, 3, seeded(5))
    assert torch.equal(first.sketches, again.sketches) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.targets, make_pairs(sketch, target, 3, seeded(6)).targets)
    white = make_pairs(torch.ones_like(sketch[:1]), torch.ones_like(target), 3, seeded(5))
    corners = white.sketches[1:, :, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert float(corners.max()) < 0.05, "CLIPasso's perspective fills with black (torchvision fill=0)"
    assert make_pairs(sketch, target, 0).targets.shape == (0, 2, 3, HEIGHT, WIDTH)
    with pytest.raises(ValueError, match="the target must be"):
        make_pairs(sketch, target[..., :-1], 3)


def test_augmentation_draws_are_clipassos():
    """RandomPerspective(0.5): whole-pixel pulls up to a quarter of the side; RandomResizedCrop(224, (0.8, 0.8), (1, 1))."""
    draws = draw_warps(4000, 224, 224, seeded(1))
    assert draws.crop_size == (200, 200), "80 % of the area, square: round(sqrt(0.8) * 224)"
    for values, most in ((draws.pull, int(DISTORTION * 112)), (draws.crop_origin, 224 - 200)):
        assert torch.equal(values, values.round()) and int(values.min()) == 0 and int(values.max()) == most
    # A non-square view keeps its aspect: 80 % of the area on both axes' scale.
    assert draw_warps(1, 149, 224, seeded(1)).crop_size == (200, 133)


def test_augmented_views_match_torchvisions_clipasso_transform():
    """Fill share and zoom of our single-resampling warp against torchvision's two transforms, on 224²."""
    transforms = pytest.importorskip("torchvision.transforms")
    clipasso = transforms.Compose([
        transforms.RandomPerspective(fill=0, p=1.0, distortion_scale=0.5),
        transforms.RandomResizedCrop(224, scale=(0.8, 0.8), ratio=(1.0, 1.0)),
    ])
    y, x = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
    probe = torch.stack([torch.ones(224, 224), x, y])[None]  # white, plus x and y ramps for the zoom
    torch.manual_seed(0)
    theirs = torch.cat([clipasso(probe) for _ in range(300)])
    ours = warp(probe.expand(300, -1, -1, -1), random_warps(300, 224, 224, seeded(2)))

    def stats(views: torch.Tensor) -> tuple[float, float]:
        inside = views[:, 0] > 0.5
        fill = float(1 - inside.float().mean())
        # Zoom: output pixels per input pixel, from the x ramp's slope along rows where it is photo.
        slope = (views[:, 1, :, 1:] - views[:, 1, :, :-1]) * 223
        usable = inside[:, :, 1:] & inside[:, :, :-1]
        return fill, float(1 / slope[usable].median())

    (fill_ours, zoom_ours), (fill_theirs, zoom_theirs) = stats(ours), stats(theirs)
    assert abs(fill_ours - fill_theirs) < 0.02 and abs(zoom_ours - zoom_theirs) < 0.02


@pytest.fixture
def loss_terms(vgg, resnet, device):
    return {"vgg": VggLoss(copy.deepcopy(vgg).to(device)), "clip": ClipLoss(copy.deepcopy(resnet).to(device))}


@pytest.mark.parametrize("terms", [("vgg",), ("clip",), ("vgg", "clip")])
def test_a_sketch_equal_to_its_target_costs_nothing_even_augmented(loss_terms, target, terms):
    loss = WeightedLoss([(1.0, loss_terms[name]) for name in terms])
    loss.set_target(target)
    value = loss(target.expand(3, -1, -1, -1), generator=seeded(2))
    assert value.shape == (3,)
    torch.testing.assert_close(value, torch.zeros(3, device=target.device), atol=1e-5, rtol=0)


def test_clip_plus_vgg_gives_finite_nonzero_gradients_per_sketch(loss_terms, target):
    loss = WeightedLoss([(1.0, loss_terms["clip"]), (1.0, loss_terms["vgg"])])
    loss.set_target(target)
    sketch = sketches(3, target).requires_grad_(True)
    value = loss(sketch, generator=seeded(3))
    assert value.shape == (3,) and torch.isfinite(value).all() and (value > 0).all()
    value.sum().backward()
    assert torch.isfinite(sketch.grad).all()
    assert (sketch.grad.flatten(1).abs().sum(1) > 0).all(), "every sketch gets a gradient"


def test_each_sketch_scores_as_if_alone(loss_terms, target):
    loss = WeightedLoss([(1.0, loss_terms["clip"]), (1.0, loss_terms["vgg"])])
    loss.set_target(target)
    batch = sketches(3, target)
    together = loss(batch, augment=False)
    alone = torch.cat([loss(batch[k : k + 1], augment=False) for k in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-6)
    twins = loss(batch[:1].expand(3, -1, -1, -1), generator=seeded(4))
    assert len(set(twins.tolist())) == 3, "identical sketches score differently on their own augmentations"


def test_terms_of_one_call_see_the_same_augmentations(loss_terms, target):
    both = WeightedLoss([(1.0, loss_terms["vgg"]), (0.5, loss_terms["clip"])])
    vgg_only, clip_only = WeightedLoss([(1.0, loss_terms["vgg"])]), WeightedLoss([(1.0, loss_terms["clip"])])
    for loss in (both, vgg_only, clip_only):
        loss.set_target(target)
    sketch = sketches(2, target)
    expected = vgg_only(sketch, generator=seeded(7)) + 0.5 * clip_only(sketch, generator=seeded(7))
    torch.testing.assert_close(both(sketch, generator=seeded(7)), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(both(sketch, generator=seeded(8)), expected)


def test_vgg_plain_pair_is_the_unit_normalized_feature_distance(loss_terms, target):
    vgg = loss_terms["vgg"].vgg
    layers = ("conv1_2", "conv2_2", "conv3_3")
    loss = WeightedLoss([(1.0, VggLoss(vgg, layers))])
    loss.set_target(target)
    sketch = sketches(2, target)
    got = loss(sketch, augment=False)
    a, b = vgg(sketch, layers), vgg(target, layers)
    expected = sum(
        (unit_normalize(a[n]) - unit_normalize(b[n])).pow(2).sum(1).mean(dim=(-2, -1)) for n in layers
    )
    torch.testing.assert_close(got, expected)
    assert (got <= 4 * len(layers)).all(), "unit vectors differ by at most 2 per pixel and layer"
    full = WeightedLoss([(1.0, VggLoss(vgg, BLOCK_OUTPUTS))])
    full.set_target(target)
    assert (full(sketch, augment=False) > got).all(), "deeper layers add to the loss"


def test_clip_plain_pair_matches_the_open_clip_forward(loss_terms, target):
    resnet = loss_terms["clip"].visual
    semantic_only = WeightedLoss([(1.0, ClipLoss(resnet, layers=()))])
    semantic_only.set_target(target)
    sketch = sketches(2, target)
    size = (CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE)
    embedding_s, embedding_t = resnet(clip_normalize(sketch, size)), resnet(clip_normalize(target, size))
    expected = 0.1 * (1 - F.cosine_similarity(embedding_s, embedding_t))
    torch.testing.assert_close(semantic_only(sketch, augment=False), expected)
    geometric_only = WeightedLoss([(1.0, ClipLoss(resnet, layers=(("layer2", 1.0),), semantic_weight=0.0))])
    geometric_only.set_target(target)
    stem = resnet.layer2(resnet.layer1(resnet.stem(clip_normalize(sketch, size))))
    stem_t = resnet.layer2(resnet.layer1(resnet.stem(clip_normalize(target, size))))
    torch.testing.assert_close(geometric_only(sketch, augment=False), (stem - stem_t).pow(2).mean(dim=(1, 2, 3)))


def test_misuse_is_reported_in_one_sentence(loss_terms, target):
    loss = WeightedLoss([(1.0, loss_terms["vgg"])])
    with pytest.raises(RuntimeError, match="set_target must be called"):
        loss(sketches(1, target))
    with pytest.raises(ValueError, match=r"the target must be \[1, 3, H, W\], got \[1, 1, 64, 64\]"):
        loss.set_target(target[:, :1])
    with pytest.raises(ValueError, match="needs a ResNet image tower"):
        ClipLoss(tiny_clip("ViT-B-32").visual)
    with pytest.raises(ValueError, match="unknown CLIP ResNet stage"):
        ClipLoss(loss_terms["clip"].visual, layers=(("layer9", 1.0),))
    clip = WeightedLoss([(1.0, loss_terms["clip"])])
    with pytest.raises(ValueError, match="CLIP takes 64x64 images; this view is 56x40"):
        clip.set_target(target[..., :40, :56])
    with pytest.raises(ValueError, match="at least one term"):
        WeightedLoss([])
