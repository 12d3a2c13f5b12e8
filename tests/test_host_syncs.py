"""The GPU step loop waits for the device at most once per step, counted on the CPU with a dispatch hook.

The loop runs with the renderer's accelerator sizing (`bounded=True`, the CUDA default), real loss
terms on tiny networks, best-of-3 seeds, a square CLIP view of a non-square canvas plus a zoomed ROI
view, and CLIPasso's 4 augmented pairs: everything a paper-preset step does.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks.host_syncs import HostSyncCounter
from mross_server.engine.losses.clip import ClipLoss
from mross_server.engine.losses.edge_f1 import EdgeF1Loss
from mross_server.engine.losses.ink import InkLoss
from mross_server.engine.losses.vgg import VggLoss
from mross_server.engine.models.hed_h5 import load_hed
from mross_server.engine.objective import Objective, build_view
from mross_server.engine.optimizer import LossScale, optimize_strokes
from mross_server.engine.region_analysis import analyse_regions
from mross_server.io.photo import Photo
from mross_shared.messages import RoiBox
from tests.tiny_models import CLIP_IMAGE_SIZE, tiny_clip, write_tiny_hed_h5

CANVAS = (0.0, 0.0, 96.0, 64.0)  # a 3:2 photo's canvas
ROI_PHOTO, ROI_CANVAS = (30, 20, 60, 50), (32.0, 21.3, 64.0, 53.3)


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    vgg = load_hed(write_tiny_hed_h5(tmp_path_factory.mktemp("vgg") / "tiny.h5")).vgg
    return tiny_clip("RN101").visual.requires_grad_(False), vgg


def crop(photo: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """The target of a view: `box` (x0, y0, x1, y1) of `photo` [1, 3, H, W] resized to `size` (h, w)."""
    x0, y0, x1, y1 = box
    return F.interpolate(photo[:, :, y0:y1, x0:x1], size=size, mode="bilinear", align_corners=False)


def objective(networks, spec, square: bool) -> Objective:
    clip, vgg = networks
    factories = {
        "clip": lambda guide: ClipLoss(clip), "vgg": lambda guide: VggLoss(vgg),
        "ink": lambda guide: InkLoss(guide.analysis, 12, 1.5 * guide.zoom),
        "edges": lambda guide: EdgeF1Loss(guide.analysis.edges * guide.analysis.boundaries.importance),
    }
    photo = torch.rand(1, 3, 60, 90, generator=torch.Generator().manual_seed(0))
    x0, y0, x1, y1 = ROI_PHOTO
    # Canny boundaries (no HED weights): the offline terms' targets, as the pipeline finds them.
    whole_region, roi_region = analyse_regions(Photo.from_array(photo[0].permute(1, 2, 0).double().numpy()), [RoiBox(x0, y0, x1 - x0, y1 - y0)], 96, None)
    side = CLIP_IMAGE_SIZE
    whole = (side, side) if square else (64, 96)
    views = [
        build_view(spec, factories, crop(photo, (0, 0, 90, 60), whole), CANVAS, 1.0, 4 if square else 0, whole_region.analysis, side / 96 if square else None),
        build_view(spec, factories, crop(photo, ROI_PHOTO, (64, 64)), ROI_CANVAS, 1.0, 4 if square else 0, roi_region.analysis, 2.0 if square else None),
    ]
    return Objective(views, 1.5 * 96 / 224, bounded=True)


def syncs_per_step(loss: Objective, loss_scale: LossScale | None) -> float:
    """Syncs of a 12-step run minus a 2-step run, per step: the round's fixed costs cancel out."""
    generator = torch.Generator().manual_seed(1)
    start = torch.rand(3, 12, 1, 2, generator=generator) * 60
    points = torch.cat([start, start + torch.rand(3, 12, 3, 2, generator=generator).cumsum(2) * 3], dim=2)
    totals = []
    for iterations in (2, 12):
        with HostSyncCounter() as syncs:
            optimize_strokes(points, torch.ones(12, dtype=torch.bool), loss, iterations, torch.Generator().manual_seed(2),
                             eval_every=5, on_step=lambda report: None, loss_scale=loss_scale)
        totals.append(syncs.total)
    return (totals[1] - totals[0]) / 10


def test_a_clip_step_waits_for_the_device_once(networks):
    """clip+vgg, the paper's objective: the renderer's one size read is the only wait."""
    assert syncs_per_step(objective(networks, [(1.0, "clip"), (1.0, "vgg")], square=True), LossScale(torch.device("cpu"))) == 1.0


def test_an_offline_step_waits_for_the_device_once(networks):
    assert syncs_per_step(objective(networks, [(1.0, "ink"), (2.0, "edges")], square=False), None) == 1.0


def test_the_counter_sees_what_stalls_a_gpu():
    x = torch.rand(10)
    with HostSyncCounter() as syncs:
        x.sum().item()
        _ = x[x > 0.5]
        torch.unique(x)
        torch.repeat_interleave(torch.arange(3), torch.full((3,), 2))
        x.to("cpu", copy=True)
    assert syncs.total == 5 and set(syncs.by_op) >= {"aten::_local_scalar_dense", "aten::index", "aten::_unique2", "aten::repeat_interleave"}
    with HostSyncCounter() as quiet:
        torch.repeat_interleave(torch.arange(3), torch.full((3,), 2), output_size=6)
        torch.where(x > 0.5, x, 0.0).sum()
    assert quiet.total == 0
