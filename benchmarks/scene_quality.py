"""Scene quality on cluttered real photos, old default against new, per photo and per round (issue 10).

Both engines sketch every photo (48 strokes, `fast` unless `--preset`, two ROIs, CPU) through
`run_sketches.py`, each from its own checkout (`--old`: e.g. `git worktree add /tmp/mross-old <main
commit>`; the new one is this checkout), so one run compares them with the same jobs and the same
scoring:

- boundary F1 (3 px) of the strokes' centre lines against a human-like boundary map: HED (trained
  on BSDS500's human drawings) at the photo's own size and half size, thinned, p >= 0.5, every
  boundary alike. The new default optimizes towards HED boundaries too, but not this map: it sees
  one HED pass per region at 512 px, weighs lines by salience, and compares at 224 px with soft
  Gaussian nearness; the figure still leans its way, so the Canny F1 the old default optimized
  (σ 2, as `offline_quality.py`) is printed beside it, and the blind check is the judge;
- per ROI, the boundary F1 inside it after each round (an ROI round should raise its own);
- hygiene: share of knotted strokes, share of line length within 1.5 stroke widths of another
  stroke, stubs (< 3 % of the diagonal), median stroke length (% of the diagonal);
- seconds per sketch, with the 1-minute load average (the machine is shared).

Writes a contact sheet per photo (rows old/new; photo with ROIs | round 1 | round 2 | round 3) to
--sheets, and with --blind the final sketches alone under neutral names plus a private key.json.
Last line: one JSON object.

With --crop PX every photo loses PX pixels off its left and top edges (its ROIs move with it): the
same scenes from slightly different inputs. Blind reads of one sketch per photo change as much under
a 3 px crop as between the engines compared so far (docs/offline-objective.md, fifth series), so
compare engines over several crops, each in its own --out.

    python benchmarks/scene_quality.py --old CHECKOUT [--photos a,b] [--sheets docs/quality] [--blind DIR] [--crop PX --out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]
from benchmarks.metrics import centre_lines, edge_f1, human_boundaries, hygiene, photo_edges  # noqa: E402
from benchmarks.offline_quality import side_by_side  # noqa: E402
from benchmarks.scenes import CLUTTERED, SCENES, Scene  # noqa: E402
from mross_server.engine.models.hed_h5 import load_hed  # noqa: E402
from mross_server.io.preview import rasterize_layers  # noqa: E402
from mross_server.io.svg import round_layers  # noqa: E402
from mross_server.job import RoundResult, SketchResult  # noqa: E402
from mross_shared.messages import RoiBox  # noqa: E402

STROKES = 48
BLIND_LONG_SIDE = 800


def run_engine(checkout: Path, scenes: list[Scene], photos: dict[str, Path], out: Path, reuse: bool, preset: str) -> None:
    """Sketch every scene with the engine of `checkout` and `preset`, one warm process, results as out/<scene>.npz."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        {"photo": str(photos[s.name]), "rois": [[r.x, r.y, r.width, r.height] for r in s.rois], "out": str(out / f"{s.name}.npz")}
        for s in scenes
        if not (reuse and (out / f"{s.name}.npz").is_file())
    ]
    if not jobs:
        return
    spec = out / "jobs.json"
    spec.write_text(json.dumps({"strokes": STROKES, "preset": preset, "jobs": jobs}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(checkout / "shared")])}
    subprocess.run([sys.executable, str(Path(__file__).with_name("run_sketches.py")), str(spec)], env=env, check=True)


def cropped(scene: Scene, photo: np.ndarray, margin: int) -> tuple[Scene, np.ndarray]:
    """The photo without `margin` pixels on its left and top edges, and the scene with its ROIs moved
    the same way (cut at the new edges)."""
    rois = []
    for roi in scene.rois:
        x, y = max(roi.x - margin, 0), max(roi.y - margin, 0)
        rois.append(RoiBox(x, y, roi.x + roi.width - margin - x, roi.y + roi.height - margin - y))
    return replace(scene, rois=tuple(rois)), photo[margin:, margin:]


def load_result(path: Path, scene: Scene) -> tuple[SketchResult, dict[str, Any]]:
    """A saved sketch as a SketchResult, and its timing."""
    data = np.load(path)
    rounds = 1 + len(scene.rois)
    results = tuple(
        RoundResult(
            index, rounds, scene.rois[index - 2] if index > 1 else None, data[f"points_{index}"], data[f"half_widths_{index}"],
            tuple(int(i) for i in data[f"added_{index}"]), 0.0, float(data[f"seconds_{index}"]),
        )
        for index in range(1, rounds + 1)
    )
    timing = {"seconds": float(data["seconds"]), "load_before": float(data["load"][0]), "load_after": float(data["load"][1])}
    return SketchResult(int(data["width"]), int(data["height"]), results, "", ()), timing


def score(result: SketchResult, scene: Scene, boundaries: np.ndarray, edges: np.ndarray) -> list[dict[str, Any]]:
    """Per round: boundary and Canny F1 (whole, per ROI) and the hygiene figures."""
    rows = []
    for r in result.rounds:
        lines = centre_lines(r.points, result.width, result.height)
        rows.append({
            "boundary_f1": edge_f1(lines, boundaries)["f1"],
            "canny_f1": edge_f1(lines, edges)["f1"],
            "roi_boundary_f1": [edge_f1(lines, boundaries, roi.box)["f1"] for roi in scene.rois],
            **hygiene(r.points, r.half_widths, result.width, result.height),
            "seconds": r.seconds,
        })
    return rows


def write_blind(results: dict[str, dict[str, SketchResult]], scenes: list[Scene], folder: Path, seed: int = 10) -> None:
    """Final sketches alone (white background) as folder/<variant>/sketch_NN.png in a shuffled order, and folder/key.json."""
    key: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for variant, by_scene in results.items():
        (folder / variant).mkdir(parents=True, exist_ok=True)
        for number, index in enumerate(rng.permutation(len(scenes)), start=1):
            scene = scenes[index]
            result = by_scene[scene.name]
            layer = replace(round_layers(result.rounds[-1:], "snapshot")[0], visible=True)
            pixels = rasterize_layers([layer], result.width, result.height, BLIND_LONG_SIDE)
            name = f"{variant}/sketch_{number:02d}.png"
            Image.fromarray(pixels).save(folder / name)
            key[name] = {"photo": scene.name, "subject": scene.subject, "roi_objects": list(scene.roi_objects)}
    (folder / "key.json").write_text(json.dumps(key, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="checkout of the old default (e.g. a worktree of main)")
    parser.add_argument("--photos", help="comma-separated subset of " + ",".join(s.name for s in CLUTTERED + SCENES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "scene_quality")
    parser.add_argument("--sheets", type=Path, help="folder for the contact sheets (JPEG), e.g. docs/quality")
    parser.add_argument("--blind", type=Path, help="folder for the blind check (final sketches under neutral names)")
    parser.add_argument("--reuse", action="store_true", help="keep sketches already in --out instead of redrawing them")
    parser.add_argument("--sketch-only", action="store_true", help="draw the sketches (see --variants) and stop before scoring")
    parser.add_argument("--variants", default="old,new", help="which engines draw in this run (the others' sketches must be in --out)")
    parser.add_argument("--crop", type=int, default=0, metavar="PX", help="cut PX pixels off every photo's left and top edges (use its own --out)")
    parser.add_argument("--preset", default="fast", help="the engines' preset (use its own --out)")
    args = parser.parse_args()
    photo_dir = args.out / "photos"
    photo_dir.mkdir(parents=True, exist_ok=True)
    photos = {}
    scenes = []
    for scene in CLUTTERED + SCENES:
        if args.photos and scene.name not in args.photos.split(","):
            continue
        scene, photo = cropped(scene, scene.load(), args.crop)
        scenes.append(scene)
        photos[scene.name] = photo_dir / f"{scene.name}.npy"
        np.save(photos[scene.name], photo)
    variants = {"old": args.old.resolve(), "new": ROOT}
    for variant, checkout in variants.items():
        if variant in args.variants.split(","):
            run_engine(checkout, scenes, photos, args.out / variant, args.reuse, args.preset)
    if args.sketch_only:
        return

    hed = load_hed()
    report: dict[str, Any] = {"strokes": STROKES, "preset": args.preset, "boundary_map": "HED x1+x0.5, NMS, p>=0.5", "photos": {}}
    results: dict[str, dict[str, SketchResult]] = {variant: {} for variant in variants}
    header = ("photo", "var", "rnd", "bF1", "cF1", "ROI1", "ROI2", "knots", "double", "stubs", "medlen", "s", "load")
    print(f"{header[0]:24} {header[1]:3} " + " ".join(f"{h:>5}" for h in header[2:]))
    for scene in scenes:
        photo = np.load(photos[scene.name])
        boundaries, edges = human_boundaries(photo, hed), photo_edges(photo)
        figures = {}
        for variant in variants:
            result, timing = load_result(args.out / variant / f"{scene.name}.npz", scene)
            results[variant][scene.name] = result
            rows = score(result, scene, boundaries, edges)
            figures[variant] = {"rounds": rows, **timing}
            for number, row in enumerate(rows, start=1):
                seconds = f"{timing['seconds']:6.1f}" if number == len(rows) else f"{'':6}"
                load = f"{timing['load_after']:4.1f}" if number == len(rows) else ""
                rois = " ".join(f"{f1:5.3f}" for f1 in row["roi_boundary_f1"])
                hygiene_figures = f"{row['knot_share']:5.2f} {row['doubled_share']:5.3f} {row['stubs']:5d} {row['median_length']:5.1f}"
                f1s = f"{row['boundary_f1']:5.3f} {row['canny_f1']:5.3f} {rois}"
                print(f"{scene.name:24} {variant:3} {number:5} {f1s} {hygiene_figures} {seconds} {load}", flush=True)
        report["photos"][scene.name] = figures
        if args.sheets:
            # A photo without a stated licence (the skimage motorcycle) stays out of the repository's pictures.
            folder = args.sheets if scene.path.is_file() else args.out
            folder.mkdir(parents=True, exist_ok=True)
            rows_to_draw = [(variant, results[variant][scene.name]) for variant in variants]
            side_by_side(photo, scene, rows_to_draw, folder / f"scene_{scene.name}.jpg", long_side=300)
    if args.blind:
        write_blind(results, scenes, args.blind)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
