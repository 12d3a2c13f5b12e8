"""The job a user gets with CLIP weights: the paper preset, square CLIP views, independent seeds, and what the server says.

CLIP weights are tiny random OpenAI-format checkpoints (tests/tiny_models.py) loaded by the real code.
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mross_server.engine.canvas import Canvas, view_to_canvas
from mross_server.engine.losses.vgg import VggLoss
from mross_server.engine.models.hed_h5 import load_hed
from mross_server.engine.objective import Objective, build_view
from mross_server.engine.pipeline import OFFLINE_METHOD, SketchEngine, view_target
from mross_server.engine.presets import get_preset, job_recipe
from mross_server.engine.region_analysis import analyse_regions
from mross_server.engine.renderer import Frame, render_frames
from mross_server.engine.seeds import StartArea, seed_streams, seeded_strokes
from mross_server.io.photo import Photo
from mross_server.job import SketchParams
from mross_shared.client import SketchClient
from mross_shared.messages import JobParams, ProgressUpdate, RoiBox
from tests.job_stream import PHOTO, ROI
from tests.server_process import start_server
from tests.tiny_models import save_openai_checkpoint, tiny_clip, write_tiny_hed_h5

COFFEE = Path(__file__).resolve().parents[1] / "examples" / "coffee.jpg"


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    save_openai_checkpoint(tiny_clip("RN101"), folder / "RN101.pt")
    save_openai_checkpoint(tiny_clip("ViT-B-32"), folder / "ViT-B-32.pt")
    return folder


@pytest.fixture(scope="module")
def clip_engine(clip_dir) -> SketchEngine:
    return SketchEngine(device="cpu", clip_weights=clip_dir)


def test_the_paper_preset_is_clipasso_with_clip_and_quality_without():
    paper = get_preset("paper")
    with_clip = job_recipe(paper, True, JobParams(preset="paper"))
    assert (with_clip.objective, with_clip.iterations, with_clip.augmentations, with_clip.init, with_clip.sketches) == (
        "clip+vgg", 2000, 4, "saliency", 3,
    )
    without = job_recipe(paper, False, JobParams(preset="paper"))
    quality = job_recipe(get_preset("quality"), False, JobParams(preset="quality"))
    assert without == quality and without.sketches == 1 and not without.uses_clip
    # The CLIP term never runs on the plain pair alone, whatever the preset or the job asks.
    for name in ("test", "fast", "standard", "quality"):
        assert job_recipe(get_preset(name), True, JobParams(preset=name)).augmentations == 4
    assert job_recipe(get_preset("test"), False, JobParams(preset="test", objective="ink")).augmentations == 0
    chosen = job_recipe(paper, True, JobParams(preset="paper", objective="ink", sketches=2, iterations=7))
    assert (chosen.iterations, chosen.init, chosen.sketches, chosen.augmentations) == (7, "contours", 2, 4)


def test_the_clip_view_of_a_non_square_canvas_is_rendered_at_clips_size(tmp_path):
    """CLIP's 224² view of a 3:2 photo is drawn at 224² directly: lines of either direction are 3 px, unblurred."""
    canvas = Canvas(600, 400, 224)
    photo = Photo.from_array(np.random.default_rng(0).random((400, 600, 3)))
    factories = {"vgg": lambda guide: VggLoss(load_hed(write_tiny_hed_h5(tmp_path / "tiny.h5")).vgg)}
    target, window, line_scale = view_target(photo, (0, 0, 600, 400), canvas, 224, (224, 224), torch.device("cpu"))
    analysis = analyse_regions(photo, [], 96, None)[0].analysis
    view = build_view([(1.0, "vgg")], factories, target, window, 1.0, 4, analysis, line_scale)
    assert view.size == (224, 224) and view.window == canvas.window and view.line_scale == pytest.approx(1.0)
    horizontal = [[20.0, 75.0], [70.0, 75.0], [130.0, 75.0], [200.0, 75.0]]
    vertical = [[112.0, 10.0], [112.0, 50.0], [112.0, 90.0], [112.0, 140.0]]
    points = torch.tensor([[horizontal, vertical]])
    seen = Objective([view], 1.5).render(points)[0][0, 0]
    direct = render_frames(points, 1.5, [Frame(canvas.window, (224, 224), line_scale=view.line_scale)])[0][0, 0]
    torch.testing.assert_close(seen, direct, atol=1e-6, rtol=0)
    across_horizontal = float((1 - seen[:, 40]).sum())
    across_vertical = float((1 - seen[30, :]).sum())
    assert across_horizontal == pytest.approx(3.0, abs=0.1) and across_vertical == pytest.approx(3.0, abs=0.1)
    # What main used to do: render at the photo's aspect (224×149), then stretch to 224² for CLIP.
    stretched = F.interpolate(render_frames(points, 1.5, [Frame(canvas.window, (149, 224))])[0], size=(224, 224), mode="bilinear")
    assert float((1 - stretched[0, 0, :, 40]).sum()) > 4.0, "the stretched horizontal line was 1.5× too thick"


def test_seeds_start_from_different_strokes(clip_engine):
    """Each best-of-K seed draws its own starts and walks; seed 1 draws what a one-seed job draws."""
    view = np.ones((120, 180, 3))
    view[30:90, 40:140] = 0.2
    edges = np.zeros((120, 180), dtype=bool)
    edges[30, 40:140] = edges[89, 40:140] = edges[30:90, 40] = edges[30:90, 139] = True
    area = StartArea(view, edges, view_to_canvas((0, 0, 180, 120), (120, 180), Canvas(180, 120, 224)), (0.0, 0.0, 224.0, 149.3), 224)
    none = np.zeros((0, 4, 2))
    for init in ("fps", "saliency"):
        seeds = seeded_strokes(none, 10, area, seed_streams(5, 3), init, clip_engine.vit)
        assert seeds.shape == (3, 10, 4, 2)
        starts = seeds[:, :, 0]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            nearest = np.linalg.norm(starts[a][:, None] - starts[b][None], axis=-1).min(axis=1)
            assert nearest.mean() > 3.0, f"{init}: seeds {a} and {b} start on near-copies"
        alone = seeded_strokes(none, 10, area, seed_streams(5, 1), init, clip_engine.vit)
        assert np.array_equal(alone[0], seeds[0])
    pieces = np.tile(np.array([[10.0, 10.0], [20.0, 12.0], [30.0, 14.0], [40.0, 16.0]]), (4, 1, 1))
    seeds = seeded_strokes(pieces, 6, area, seed_streams(5, 2), "contours")
    assert np.array_equal(seeds[0, :4], pieces) and not np.allclose(seeds[1, :4], pieces)
    assert np.abs(seeds[1, :4] - pieces).max() < 5.0, "contour pieces stay on their contour, jittered"


def test_a_paper_job_runs_three_seeds_with_the_clip_objective(clip_engine):
    reports = []
    result = clip_engine.sketch(COFFEE, [RoiBox(200, 180, 250, 200)], SketchParams(strokes=8, preset="paper", iterations=3), on_progress=reports.append)
    assert result.objective == "clip+vgg" and {"clip-RN101", "clip-ViT-B-32"} <= set(result.backbones)
    assert len(result.rounds) == 2 and len(result.rounds[-1].points) == 8
    assert np.isfinite(result.rounds[-1].points).all()
    assert {r.method for r in reports} == {"CLIP objective (clip+vgg)"}


def test_without_clip_the_progress_says_offline():
    reports = []
    engine = SketchEngine(device="cpu", clip_weights=Path("/nonexistent/clip"))
    if engine.clip is not None:
        pytest.skip("CLIP RN101 weights are installed in this machine's CLIP folder")
    engine.sketch(COFFEE, [], SketchParams(strokes=6, preset="test"), on_progress=reports.append)
    assert {r.method for r in reports} == {OFFLINE_METHOD} == {"offline objective (no CLIP weights)"}


def test_the_server_names_its_clip_towers_and_each_job_its_method(tmp_path, clip_dir):
    server = start_server(tmp_path / "server", "--clip-weights", str(clip_dir))
    try:
        with SketchClient(server.connection_file) as client:
            assert {"vgg16-hed", "clip-RN101", "clip-ViT-B-32"} <= set(client.server.backbones)
            job_id = client.submit(PHOTO, [ROI], JobParams(strokes=6, preset="test", iterations=2))
            events = list(client.events(job_id))
    finally:
        assert server.stop(signal.SIGTERM) == 0
    methods = {e.method for e in events if isinstance(e, ProgressUpdate) and e.round}
    assert methods == {"CLIP objective (clip)"}
    assert events[-1].objective == "clip"
