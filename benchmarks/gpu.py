"""The CLIP path on a GPU, in one run: renderer, paper-preset step, K = 1 vs 3, a whole 3-round job.

What it measures, on CUDA (or `--device cpu --quick` to check the script itself on a CPU):
  1. renderer forward+backward, 48 and 256 strokes at 224² and 512² (the device's default sizing);
  2. seconds per step of the paper preset (clip+vgg, 4 augmented pairs, square CLIP view) through
     the real pipeline, with real-size CLIP RN101 / ViT-B-32 and VGG16 at K = 1 and K = 3, plus the
     device→host syncs per step that CUDA's sync debug mode reports;
  3. the end-to-end time of a 3-round, 48-stroke paper-preset job (examples/coffee.jpg with the
     README's two ROIs, 2000 steps per round, best of 3).
Goals (issue 12): the whole job in <= 60 s on an H100/H200; K = 3 at most 1.5x K = 1 per step.

No weights are downloaded: CLIP checkpoints are random but full size, written in OpenAI's format
and loaded by the real loader (tests/tiny_models.py, full-size configs); VGG16 is the installed
HED file or a random one of the same shape. Timing does not depend on the weights' values.
Prints a table; the last line is one JSON object.

    python benchmarks/gpu.py                       # on a CUDA machine (about 5 minutes on an H200, estimated)
    python benchmarks/gpu.py --device cpu --quick  # a few steps on the CPU, to check the script

The CPU check takes about 25 minutes and 12 GB of memory on a 2-core machine (a K = 3 paper step
holds 30 full-size RN101 and VGG16 activations for the backward pass).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]
from benchmarks.render import strokes  # noqa: E402
from mross_server.engine.models.locations import HED_FILENAME, hed_weights_path  # noqa: E402
from mross_server.engine.renderer import render  # noqa: E402
from mross_server.job import Progress, SketchParams  # noqa: E402
from mross_shared.messages import RoiBox  # noqa: E402
from tests.tiny_models import full_size_clip, save_openai_checkpoint, write_tiny_hed_h5  # noqa: E402

PHOTO = ROOT / "examples" / "coffee.jpg"
# The README's main job (install.py --example): the handle and spoon, then the cup's rim.
ROIS = (RoiBox(185, 190, 230, 145), RoiBox(170, 15, 240, 200))
VGG16_WIDTHS = (64, 128, 256, 512, 512)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def renderer_rows(device: torch.device, repeats: int) -> list[dict]:
    """Median forward+backward milliseconds of the renderer, 48/256 strokes at 224²/512²."""
    rows = []
    for kind in ("short", "long"):
        for n in (48, 256):
            for size in (224, 512):
                points = strokes(kind, n).to(device)
                times = []
                for attempt in range(repeats + 1):
                    p = points.clone().requires_grad_(True)
                    synchronize(device)
                    started = time.perf_counter()
                    render(p, 1.5, (0, 0, 224, 224), size).mean().backward()
                    synchronize(device)
                    if attempt:  # the first call pays for allocations and kernel selection
                        times.append((time.perf_counter() - started) * 1000)
                rows.append({"kind": kind, "strokes": n, "size": size, "forward_backward_ms": statistics.median(times)})
    return rows


def prepare_weights(folder: Path) -> None:
    """Full-size random CLIP checkpoints in `folder`; a random full-size VGG16/HED file when none is installed."""
    for name in ("RN101", "ViT-B-32"):
        save_openai_checkpoint(full_size_clip(name).half(), folder / f"{name}.pt")
    if not hed_weights_path().is_file():
        write_tiny_hed_h5(folder / HED_FILENAME, widths=VGG16_WIDTHS)
        os.environ["MROSS_WEIGHTS_DIR"] = str(folder)


def step_seconds(engine, k: int, warmup: int, measured: int) -> tuple[float, float | None]:
    """Seconds per paper-preset step at K seeds (one round, 48 strokes), and CUDA-reported syncs per step."""
    marks: dict[int, float] = {}
    device = engine.device

    def on_progress(progress: Progress) -> None:
        if progress.iteration == warmup:
            synchronize(device)
            marks[warmup] = time.perf_counter()

    params = SketchParams(strokes=48, preset="paper", iterations=warmup + measured, sketches=k)
    engine.sketch(PHOTO, [], params, on_progress=on_progress)
    synchronize(device)
    seconds = (time.perf_counter() - marks[warmup]) / measured
    syncs = None
    if device.type == "cuda":
        # CUDA's sync debug mode warns once per synchronizing call; count them over a short run.
        steps = 10
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                engine.sketch(PHOTO, [], SketchParams(strokes=48, preset="paper", iterations=steps, sketches=k))
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught) / steps  # includes the round's fixed reads
    return seconds, syncs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny step counts: checks that the script runs, measures nothing useful")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu.py: PyTorch sees no CUDA GPU here; run with --device cpu --quick to check the script")
    device = torch.device(args.device)
    repeats, warmup, measured, job_iterations = (2, 1, 2, 2) if args.quick else (10, 20, 50, None)

    from mross_server.engine.pipeline import SketchEngine

    with tempfile.TemporaryDirectory() as tmp:
        prepare_weights(Path(tmp))
        engine = SketchEngine(device=args.device, clip_weights=tmp)
        assert {"clip-RN101", "clip-ViT-B-32", "vgg16-hed"} <= set(engine.backbones), engine.notes

        render_rows = renderer_rows(device, repeats)
        steps = {k: step_seconds(engine, k, warmup, measured) for k in (1, 3)}
        synchronize(device)
        started = time.perf_counter()
        job = engine.sketch(PHOTO, list(ROIS), SketchParams(strokes=48, preset="paper", iterations=job_iterations))
        synchronize(device)
        job_seconds = time.perf_counter() - started

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}{' (quick: step counts too small to mean anything)' if args.quick else ''}")
    print(f"{'renderer':8} {'kind':5} {'N':>4} {'size':>4} {'fwd+bwd ms':>11}")
    for row in render_rows:
        print(f"{'':8} {row['kind']:5} {row['strokes']:4} {row['size']:4} {row['forward_backward_ms']:11.2f}")
    print(f"{'paper step':10} {'K':>2} {'s/step':>8} {'syncs/step':>11}")
    for k, (seconds, syncs) in steps.items():
        print(f"{'':10} {k:2} {seconds:8.4f} {'—' if syncs is None else f'{syncs:.1f}':>11}")
    ratio = steps[3][0] / steps[1][0]
    rounds = [(r.index, len(r.added), round(r.seconds, 2)) for r in job.rounds]
    print(f"K=3 / K=1 per step: {ratio:.2f} (goal <= 1.5)")
    print(f"3-round 48-stroke paper job: {job_seconds:.1f} s (goal <= 60 s on an H100/H200); rounds (index, strokes, s): {rounds}")
    print(json.dumps({
        "device": name, "quick": args.quick, "renderer": render_rows,
        "paper_step": {str(k): {"seconds": s, "syncs_per_step": y} for k, (s, y) in steps.items()},
        "k3_over_k1": ratio, "job_seconds": job_seconds, "job_objective": job.objective, "job_rounds": rounds,
        "job_iterations_per_round": job_iterations or 2000,
    }))


if __name__ == "__main__":
    main()
