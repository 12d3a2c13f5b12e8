"""The multi-round pipeline on a real photo with the quick `test` preset (offline objective)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mross_server.engine.hygiene import HygieneRules, find_issues
from mross_server.engine.pipeline import SketchEngine
from mross_server.engine.region_analysis import stub_length
from mross_server.job import SketchCancelled, SketchInputError, SketchParams
from mross_shared.messages import RoiBox

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "coffee.jpg"
ROIS = [RoiBox(200, 180, 250, 200), RoiBox(100, 20, 300, 180)]


@pytest.fixture(scope="module")
def engine() -> SketchEngine:
    return SketchEngine(device="cpu")


def test_rounds_add_up_to_exactly_n_strokes_in_photo_pixels(engine):
    delivered = []
    result = engine.sketch(PHOTO.read_bytes(), ROIS, SketchParams(strokes=20, preset="test"), on_round=delivered.append)
    assert (result.width, result.height) == (600, 400)
    assert [r.index for r in result.rounds] == [1, 2, 3] and delivered == list(result.rounds)
    added = [len(r.added) for r in result.rounds]
    assert sum(added) == 20 and min(added) >= 1
    final = result.rounds[-1]
    assert final.points.shape == (20, 4, 2) and final.half_widths.shape == (20,)
    assert sorted(i for r in result.rounds for i in r.added) == list(range(20))
    # Round 2's new strokes start on the contours inside ROI 1.
    x0, y0, x1, y1 = ROIS[0].box
    starts = final.points[list(result.rounds[1].added)].mean(axis=1)
    assert np.all((starts[:, 0] > x0 - 40) & (starts[:, 0] < x1 + 40) & (starts[:, 1] > y0 - 40) & (starts[:, 1] < y1 + 40))
    assert (result.objective == "ink" and "vgg16-hed" in result.backbones) or result.backbones == ()


def test_the_finished_sketch_has_no_knots_doubled_strokes_or_stubs(engine):
    result = engine.sketch(PHOTO, ROIS, SketchParams(strokes=24, preset="test", iterations=12))
    final = result.rounds[-1]
    rules = HygieneRules.for_width(stub_length(result.width, result.height), float(final.half_widths[0]))
    issues = find_issues(final.points, rules)
    assert len(final.points) == 24
    assert not issues.knots.any() and not issues.doubled.any() and not issues.stubs.any()


def test_same_seed_same_sketch_and_freeze_keeps_earlier_rounds(engine):
    params = SketchParams(strokes=12, preset="test", seed=3, freeze_previous=True)
    first = engine.sketch(PHOTO, ROIS[:1], params)
    second = engine.sketch(PHOTO, ROIS[:1], params)
    assert np.array_equal(first.rounds[-1].points, second.rounds[-1].points)
    kept = len(first.rounds[0].points)
    assert np.array_equal(first.rounds[1].points[:kept], first.rounds[0].points)


def test_optimization_lowers_the_loss_and_best_of_k_is_kept(engine):
    # The ink term's target is the initial strokes' own line drawing: only `edges` has something to lower.
    reports = []
    params = SketchParams(strokes=16, preset="test", iterations=30, sketches=2, objective="edges")
    result = engine.sketch(PHOTO, [], params, on_progress=reports.append)
    assert reports[-1].iteration == 30 and reports[-1].best_loss <= reports[0].loss
    # The returned state is the best one after the round's last clean-up, which may move a stroke
    # and is scored again, so it is close to the best the steps reported, not always equal.
    assert result.rounds[0].loss == pytest.approx(reports[-1].best_loss, rel=0.1)
    assert result.rounds[0].loss < reports[0].loss
    assert all(math.isnan(r.eta_s) or r.eta_s >= 0 for r in reports)


def test_cancel_stops_within_one_iteration(engine):
    seen = []

    def cancelled() -> bool:
        return len(seen) >= 4

    with pytest.raises(SketchCancelled):
        engine.sketch(PHOTO, ROIS, SketchParams(strokes=12, preset="test", iterations=50), on_progress=seen.append, cancelled=cancelled)
    assert len(seen) == 4


def test_non_square_photo_keeps_its_aspect():
    rng = np.random.default_rng(0)
    photo = np.ones((60, 240, 3), dtype=np.float32)
    photo[20:40, 30:210] = 0.1  # a long dark bar: its outline is the scene's contour
    photo += rng.normal(0, 0.01, photo.shape).astype(np.float32)
    result = SketchEngine(device="cpu").sketch(np.clip(photo, 0, 1), [], SketchParams(strokes=6, preset="test"))
    ends = result.rounds[0].points[:, [0, 3]].reshape(-1, 2)
    assert ends[:, 0].max() > 120 and ends[:, 1].max() < 60  # spans the wide photo, not squashed


@pytest.mark.parametrize(
    ("params", "rois", "message"),
    [
        (SketchParams(strokes=2, preset="test"), ROIS, "cannot be spread over 3 rounds"),
        (SketchParams(preset="nope"), [], "unknown preset"),
        (SketchParams(preset="test", objective="clip"), [], "not available"),
        (SketchParams(preset="test"), [RoiBox(700, 0, 5, 10)], "outside"),
    ],
)
def test_bad_input_is_one_clear_sentence(engine, params, rois, message):
    with pytest.raises(SketchInputError, match=message):
        engine.sketch(PHOTO, rois, params)


def test_undecodable_image(engine):
    with pytest.raises(SketchInputError, match="not an image"):
        engine.sketch(b"definitely not a png", [], SketchParams(preset="test"))


def test_with_clip_weights_the_mross_loss_is_default_and_saliency_init_works(tmp_path):
    """Tiny OpenAI-format RN101 and ViT-B/32 checkpoints loaded by the real engine from a CLIP folder;
    best-of-3 CLIP sketches come out as clean as offline ones (each seed keeps its own joints)."""
    from tests.tiny_models import save_openai_checkpoint, tiny_clip

    save_openai_checkpoint(tiny_clip("RN101"), tmp_path / "RN101.pt")
    save_openai_checkpoint(tiny_clip("ViT-B-32"), tmp_path / "ViT-B-32.pt")
    engine = SketchEngine(device="cpu", clip_weights=tmp_path)
    assert {"clip-RN101", "clip-ViT-B-32"} <= set(engine.backbones)
    result = engine.sketch(PHOTO, ROIS[:1], SketchParams(strokes=8, preset="test", init="saliency", iterations=2))
    assert result.objective == "clip" and len(result.rounds[-1].points) == 8
    assert np.isfinite(result.rounds[-1].points).all()
    best_of_3 = engine.sketch(PHOTO, ROIS, SketchParams(strokes=24, preset="test", sketches=3, iterations=7)).rounds[-1]
    rules = HygieneRules.for_width(stub_length(600, 400), float(best_of_3.half_widths[0]))
    issues = find_issues(best_of_3.points, rules)
    assert len(best_of_3.points) == 24 and not (issues.knots.any() or issues.doubled.any() or issues.stubs.any())


def test_saliency_init_without_vit_weights_is_refused(engine):
    if engine.vit is not None:
        pytest.skip("ViT-B/32 weights are installed on this machine")
    with pytest.raises(SketchInputError, match="ViT-B/32"):
        engine.sketch(PHOTO, [], SketchParams(preset="test", init="saliency"))
