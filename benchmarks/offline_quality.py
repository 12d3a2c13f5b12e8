"""Offline objectives compared on six real photos, each with two ROIs (no CLIP weights, CPU).

For every photo and variant: whole-image and per-ROI edge F1 of the final sketch (ink vs the
photo's Canny edges, 3 px tolerance) and CPU seconds. The unoptimized initial strokes of both
initializations are the baselines. Writes one side-by-side PNG per photo (rows: variants;
columns: photo with ROIs, then the sketch after each round). Last line: one JSON object.

    python benchmarks/offline_quality.py [--out DIR] [--photos coffee,rocket] [--variants fast,vgg]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from benchmarks.metrics import edge_f1, photo_edges, sketch_ink  # noqa: E402
from benchmarks.scenes import SCENES, Scene  # noqa: E402
from mross_server.engine.pipeline import SketchEngine  # noqa: E402
from mross_server.io.photo import load_photo  # noqa: E402
from mross_server.io.preview import rasterize_layers  # noqa: E402
from mross_server.io.svg import round_layers  # noqa: E402
from mross_server.job import SketchParams, SketchResult  # noqa: E402

STROKES = 48


@dataclass(frozen=True)
class Variant:
    """A named way to run the job."""

    name: str
    params: SketchParams


VARIANTS = (
    Variant("init-fps", SketchParams(STROKES, preset="fast", init="fps", iterations=0)),
    Variant("init-contours", SketchParams(STROKES, preset="fast", init="contours", iterations=0)),
    # MROSS's own offline loss: VGG16 features from edge-sampled random walks; plain pair and no zoomed
    # ROI view (as the reference), and fewer steps than its 800 to fit a CPU budget.
    Variant("vgg", SketchParams(STROKES, preset="fast", init="fps", objective="vgg", iterations=60, roi_weight=0.0)),
    Variant("ink", SketchParams(STROKES, preset="fast", objective="ink")),
    Variant("fast", SketchParams(STROKES, preset="fast")),
)
# Measured on two photos only (see docs/offline-objective.md); --variants selects them.
EXTRA_VARIANTS = (
    Variant("contours+vgg", SketchParams(STROKES, preset="fast", objective="vgg", iterations=60, roi_weight=0.0)),
    Variant("edges", SketchParams(STROKES, preset="fast", objective="edges")),
    Variant("ink+vgg", SketchParams(STROKES, preset="fast", objective="ink+0.05*vgg", iterations=60)),
    Variant("standard", SketchParams(STROKES, preset="standard")),
)


def evaluate(result: SketchResult, edges: np.ndarray, scene: Scene) -> dict:
    """Edge F1 of every round's sketch, whole image and per ROI."""
    rounds = []
    for r in result.rounds:
        ink = sketch_ink(r.points, r.half_widths, result.width, result.height)
        rounds.append({
            "whole": edge_f1(ink, edges),
            "rois": [edge_f1(ink, edges, roi.box) for roi in scene.rois],
        })
    return {"rounds": rounds}


def side_by_side(photo: np.ndarray, scene: Scene, rows: list[tuple[str, SketchResult]], path: Path, long_side: int = 360) -> None:
    """Rows of [photo with ROIs | round 1 | round 2 | …], one row per variant."""
    height, width = photo.shape[:2]
    scale = long_side / max(height, width)
    size = (round(width * scale), round(height * scale))
    picture = Image.fromarray((photo * 255).astype(np.uint8)).resize(size)
    draw = ImageDraw.Draw(picture)
    for number, roi in enumerate(scene.rois, start=1):
        x0, y0, x1, y1 = (v * scale for v in roi.box)
        draw.rectangle([x0, y0, x1, y1], outline=(255, 40, 40), width=3)
        draw.text((x0 + 4, y0 + 2), f"ROI {number}", fill=(255, 40, 40))
    columns = 1 + max(len(result.rounds) for _, result in rows)
    sheet = Image.new("RGB", (columns * (size[0] + 6), len(rows) * (size[1] + 18)), "white")
    for row, (name, result) in enumerate(rows):
        top = row * (size[1] + 18)
        sheet.paste(picture, (0, top + 16))
        ImageDraw.Draw(sheet).text((4, top + 2), name, fill=(0, 0, 0))
        for column, layer in enumerate(round_layers(result.rounds, "snapshot"), start=1):
            layer = replace(layer, visible=True)
            pixels = rasterize_layers([layer], width, height, long_side)
            sheet.paste(Image.fromarray(pixels), (column * (size[0] + 6), top + 16))
            ImageDraw.Draw(sheet).text((column * (size[0] + 6) + 4, top + 2), f"round {column}", fill=(0, 0, 0))
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "offline_quality")
    parser.add_argument("--photos", help="comma-separated subset of " + ",".join(s.name for s in SCENES))
    parser.add_argument("--variants", help="comma-separated choice of " + ",".join(v.name for v in VARIANTS + EXTRA_VARIANTS))
    args = parser.parse_args()
    scenes = [s for s in SCENES if not args.photos or s.name in args.photos.split(",")]
    variants = [v for v in VARIANTS + EXTRA_VARIANTS if v.name in args.variants.split(",")] if args.variants else list(VARIANTS)
    args.out.mkdir(parents=True, exist_ok=True)

    engine = SketchEngine(device="cpu")
    report: dict = {"strokes": STROKES, "backbones": list(engine.backbones), "photos": {}}
    print(f"{'photo':13} {'variant':14} {'whole F1':>8} {'ROI1 F1':>8} {'ROI2 F1':>8} {'CPU s':>7}")
    for scene in scenes:
        photo = load_photo(scene.path)
        edges = photo_edges(photo)
        rows, figures = [], {}
        for variant in variants:
            started = time.process_time()
            wall = time.perf_counter()
            result = engine.sketch(photo, list(scene.rois), variant.params)
            cpu, wall = time.process_time() - started, time.perf_counter() - wall
            scores = evaluate(result, edges, scene)
            final = scores["rounds"][-1]
            figures[variant.name] = {"cpu_s": cpu, "wall_s": wall, "objective": result.objective, **scores}
            rows.append((variant.name, result))
            rois = " ".join(f"{roi['f1']:8.3f}" for roi in final["rois"])
            print(f"{scene.name:13} {variant.name:14} {final['whole']['f1']:8.3f} {rois} {cpu:7.1f}", flush=True)
        side_by_side(photo, scene, rows, args.out / f"{scene.name}.png")
        report["photos"][scene.name] = figures
    print(f"side-by-side PNGs in {args.out}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
