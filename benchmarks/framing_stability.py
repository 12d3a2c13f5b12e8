"""How much a sketch changes when its photo is framed a few pixels differently (issue 10's blind check).

Blind viewers of one sketch per photo named half as many subjects in main's sketches (before the ROI
room cap) when every photo lost 3 px off its left and top edges (docs/offline-objective.md, fifth
series): an engine whose strokes move with such a crop is judged on luck. This compares one engine's
sketches of the photos as they are (A) with its sketches of the cropped photos (B, from
`scene_quality.py --crop PX --out DIR`), per photo and round: line F1 (3 px) between their strokes'
centre lines, B moved back by the crop. 1.0 is the same drawing.
Last line: one JSON object.

    python benchmarks/framing_stability.py A_DIR B_DIR --crop PX
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]
from benchmarks.metrics import centre_lines, edge_f1  # noqa: E402
from benchmarks.scenes import CLUTTERED, SCENES  # noqa: E402


def agreement(a: Path, b: Path, crop: int) -> list[float]:
    """Line F1 per round between sketch files a (photo as is) and b (photo cropped by `crop` px)."""
    first, second = np.load(a), np.load(b)
    width, height = int(first["width"]), int(first["height"])
    rounds = sorted(int(name.split("_")[1]) for name in first.files if name.startswith("points_"))
    return [
        edge_f1(centre_lines(second[f"points_{r}"] + crop, width, height), centre_lines(first[f"points_{r}"], width, height))["f1"]
        for r in rounds
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="folder of sketches (.npz) of the photos as they are")
    parser.add_argument("b", type=Path, help="folder of the same engine's sketches of the cropped photos")
    parser.add_argument("--crop", type=int, required=True, metavar="PX", help="the pixels cut off B's photos' left and top edges")
    args = parser.parse_args()
    cluttered = {scene.name for scene in CLUTTERED}
    report: dict[str, list[float]] = {}
    for scene in CLUTTERED + SCENES:
        a, b = args.a / f"{scene.name}.npz", args.b / f"{scene.name}.npz"
        if a.is_file() and b.is_file():
            report[scene.name] = agreement(a, b, args.crop)
            print(f"{scene.name:26} " + " ".join(f"round {i} {f1:.3f}" for i, f1 in enumerate(report[scene.name], start=1)))
    means = {}
    for group, names in (("cluttered", [n for n in report if n in cluttered]), ("all", list(report))):
        if names:
            means[group] = {"round_1": float(np.mean([report[n][0] for n in names])), "final": float(np.mean([report[n][-1] for n in names]))}
            print(f"mean over {len(names)} {group}: round 1 {means[group]['round_1']:.3f}, final {means[group]['final']:.3f}")
    print(json.dumps({"crop": args.crop, "photos": report, "means": means}))


if __name__ == "__main__":
    main()
