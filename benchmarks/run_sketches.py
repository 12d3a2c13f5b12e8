"""Run the sketch engine that is first on the import path over a list of jobs; write each result as .npz.

`scene_quality.py` starts this script once per compared engine, with PYTHONPATH pointing at that
engine's checkout (e.g. a worktree of main for the old default), so both engines run the same jobs
in the same way and the caller scores them with the same code. It imports only the engine's public
job API, which both checkouts share.

    PYTHONPATH=<checkout>:<checkout>/shared python benchmarks/run_sketches.py JOBS.json

JOBS.json: {"strokes": 48, "preset": "fast", "jobs": [{"photo": "x.npy", "rois": [[x, y, w, h], ...], "out": "x.npz"}]}.
Each .npz holds per round r: points_r [n, 4, 2], half_widths_r [n], added_r [k] (photo pixels), seconds_r;
plus width, height, seconds (the whole sketch call) and the load average before and after it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from mross_server.engine.pipeline import SketchEngine
from mross_server.job import SketchParams
from mross_shared.messages import RoiBox


def main(jobs_file: Path) -> None:
    """Sketch every job of jobs_file with one warm engine."""
    spec = json.loads(jobs_file.read_text())
    engine = SketchEngine(device="cpu")
    params = SketchParams(spec["strokes"], preset=spec["preset"])
    for job in spec["jobs"]:
        photo = np.load(job["photo"])
        rois = [RoiBox(*box) for box in job["rois"]]
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        result = engine.sketch(photo, rois, params)
        seconds = time.perf_counter() - started
        arrays: dict[str, np.ndarray] = {
            "width": np.array(result.width), "height": np.array(result.height), "seconds": np.array(seconds),
            "load": np.array([load_before, os.getloadavg()[0]]),
        }
        for r in result.rounds:
            arrays[f"points_{r.index}"] = r.points
            arrays[f"half_widths_{r.index}"] = r.half_widths
            arrays[f"added_{r.index}"] = np.array(r.added, dtype=int)
            arrays[f"seconds_{r.index}"] = np.array(r.seconds)
        np.savez(job["out"], **arrays)
        print(f"{Path(job['out']).stem}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
