"""Does each ROI round add detail where it should? Per-ROI edge F1 before and after its round.

For three photos with hand-picked ROIs and four variants (zoomed ROI term on/off × freeze earlier
rounds on/off), prints per ROI: edge F1 inside the ROI after round 1 and after that ROI's round
(it should rise), the whole-image F1 at the end, and the share of each round's new stroke length
inside its ROI. Side-by-side PNGs are written per photo. Last line: one JSON object.

    python benchmarks/quality.py [--out DIR] [--photos coffee,chelsea,rocket]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from benchmarks.metrics import edge_f1, length_share_inside, photo_edges, sketch_ink  # noqa: E402
from benchmarks.offline_quality import side_by_side  # noqa: E402
from benchmarks.scenes import SCENES  # noqa: E402
from mross_server.engine.pipeline import SketchEngine  # noqa: E402
from mross_server.io.photo import load_photo  # noqa: E402
from mross_server.job import SketchParams  # noqa: E402

VARIANTS = {
    "zoom": SketchParams(48, preset="fast"),
    "no-zoom": SketchParams(48, preset="fast", roi_weight=0.0),
    "zoom+freeze": SketchParams(48, preset="fast", freeze_previous=True),
    "no-zoom+freeze": SketchParams(48, preset="fast", roi_weight=0.0, freeze_previous=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "quality")
    parser.add_argument("--photos", default="coffee,chelsea,rocket")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    engine = SketchEngine(device="cpu")
    report: dict = {"backbones": list(engine.backbones), "photos": {}}
    print(f"{'photo':10} {'variant':15} {'ROI':>3} {'F1 r1':>6} {'F1 own':>6} {'rise':>6} {'in-ROI':>6} {'whole':>6} {'s':>6}")
    for scene in [s for s in SCENES if s.name in args.photos.split(",")]:
        photo = load_photo(scene.path)
        edges = photo_edges(photo)
        rows, figures = [], {}
        for name, params in VARIANTS.items():
            started = time.perf_counter()
            result = engine.sketch(photo, list(scene.rois), params)
            seconds = time.perf_counter() - started
            inks = [sketch_ink(r.points, r.half_widths, result.width, result.height) for r in result.rounds]
            per_roi = []
            for number, roi in enumerate(scene.rois, start=1):
                own = result.rounds[number]
                before, after = edge_f1(inks[0], edges, roi.box)["f1"], edge_f1(inks[number], edges, roi.box)["f1"]
                share = length_share_inside(own.points[list(own.added)], roi.box)
                per_roi.append({"f1_after_round_1": before, "f1_after_own_round": after, "new_length_inside": share})
            whole = edge_f1(inks[-1], edges)["f1"]
            figures[name] = {"rois": per_roi, "whole_f1": whole, "seconds": seconds}
            rows.append((name, result))
            for number, roi_figures in enumerate(per_roi, start=1):
                rise = roi_figures["f1_after_own_round"] - roi_figures["f1_after_round_1"]
                print(f"{scene.name:10} {name:15} {number:3} {roi_figures['f1_after_round_1']:6.3f} {roi_figures['f1_after_own_round']:6.3f} "
                      f"{rise:+6.3f} {roi_figures['new_length_inside']:6.2f} {whole:6.3f} {seconds:6.1f}", flush=True)
        side_by_side(photo, scene, rows, args.out / f"{scene.name}.png")
        report["photos"][scene.name] = figures
    print(f"side-by-side PNGs in {args.out}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
