"""End-to-end time of the README's main job (`mross sketch` on the bundled photo, 2 ROIs, 48 strokes, CPU).

Runs the exact command `install.py --example` runs, as a fresh process (interpreter start, model
loading, HED, three rounds, SVG and PNG output), for the `fast` preset and for `standard`. Target
(issue 10): fast ≤ 60 s on a 2-core CPU for a photo of about 640 px with 2 ROIs and 48 strokes, here
measured with the process start included. The 1-minute load average is printed beside each time: the
machine is shared. Last line: one JSON object.

    python benchmarks/sketch.py [--presets fast,standard]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import install  # noqa: E402

TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="fast,standard")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for preset in args.presets.split(","):
            output = Path(scratch) / f"{preset}.svg"
            command = install.example_command(sys.executable, output, preset)
            started = time.perf_counter()
            run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            seconds = time.perf_counter() - started
            if run.returncode != 0:
                raise SystemExit(f"{preset}: exit {run.returncode}\n{run.stderr}")
            load = os.getloadavg()[0]
            rows.append({"preset": preset, "seconds": seconds, "strokes": 48, "rounds": 3, "device": "cpu", "load": load})
            verdict = "" if preset != "fast" else f" (target ≤ {TARGET_S:.0f} s: {'met' if seconds <= TARGET_S else 'MISSED'})"
            print(f"{preset:9} {seconds:7.1f} s{verdict}  load {load:.1f}", flush=True)
    print(json.dumps({"rows": rows, "target_fast_s": TARGET_S}))


if __name__ == "__main__":
    main()
