"""Optimizer step cost: seconds per iteration for the `vgg` and `clip+vgg` objectives, K = 1 and 3 seeds.

Each step is split into render, loss forward (augmented pairs through the backbones) and backward.
Real-size architectures: the VGG16/HED weights when installed (random otherwise), CLIP RN101 with
random weights (timing does not depend on the values). CPU, and CUDA when present. Last line: one
JSON object.

    python benchmarks/optimize.py [--iterations 3] [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
import open_clip  # noqa: E402

from benchmarks.render import strokes  # noqa: E402
from mross_server.engine.losses import WeightedLoss  # noqa: E402
from mross_server.engine.losses.clip import ClipLoss  # noqa: E402
from mross_server.engine.losses.vgg import VggLoss  # noqa: E402
from mross_server.engine.models.hed_h5 import load_hed  # noqa: E402
from mross_server.engine.models.locations import hed_weights_path  # noqa: E402
from mross_server.engine.models.vgg16 import VGG16_CONVS, ConvWeights, VGG16Features  # noqa: E402
from mross_server.engine.renderer import render  # noqa: E402

SIZE = 224


# Output channels of VGG16's five blocks.
_BLOCK_WIDTHS = (64, 128, 256, 512, 512)


def vgg_network(device: torch.device) -> tuple[VGG16Features, str]:
    """The installed VGG16/HED weights, or the same architecture with random weights."""
    path = hed_weights_path()
    if path.is_file():
        return load_hed(path).vgg.to(device), "hed weights"
    convs, in_ch = [], 3
    for name in VGG16_CONVS:
        out_ch = _BLOCK_WIDTHS[int(name[4]) - 1]
        convs.append(ConvWeights(name, torch.randn(out_ch, in_ch, 3, 3) * 0.05, torch.zeros(out_ch)))
        in_ch = out_ch
    return VGG16Features(convs).to(device), "random weights"


def clip_visual(device: torch.device) -> torch.nn.Module:
    """CLIP RN101's image tower at real size with random weights, frozen."""
    model = open_clip.create_model("RN101", pretrained=None).visual.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def step_times(loss: WeightedLoss, k: int, device: torch.device, iterations: int) -> dict[str, float]:
    """Median seconds of render, loss forward and backward over `iterations` steps (after one warm-up)."""
    points = strokes("short", 48).to(device).expand(k, -1, -1, -1).contiguous()
    generator = torch.Generator(device).manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    parts: dict[str, list[float]] = {"render_s": [], "forward_s": [], "backward_s": []}
    for step in range(iterations + 1):
        p = points.clone().requires_grad_(True)
        t0 = time.perf_counter()
        sketch = render(p, 1.5, (0, 0, SIZE, SIZE), SIZE)
        sync()
        t1 = time.perf_counter()
        value = loss(sketch, True, generator).sum()
        sync()
        t2 = time.perf_counter()
        value.backward()
        sync()
        t3 = time.perf_counter()
        if step:  # the first step pays for allocations and kernel selection
            parts["render_s"].append(t1 - t0)
            parts["forward_s"].append(t2 - t1)
            parts["backward_s"].append(t3 - t2)
    times = {name: statistics.median(values) for name, values in parts.items()}
    times["step_s"] = sum(times.values())
    return times


def vgg_descent(out_dir: Path, iterations: int) -> dict:
    """A short CPU run of MROSS's VGG loss alone on the bundled photo: loss start → best, and a PNG."""
    from benchmarks.offline_quality import side_by_side
    from benchmarks.scenes import Scene
    from mross_server.engine.pipeline import SketchEngine
    from mross_server.io.photo import load_photo
    from mross_server.job import SketchParams

    photo_path = Path(__file__).resolve().parents[1] / "examples" / "coffee.jpg"
    photo = load_photo(photo_path)
    engine = SketchEngine(device="cpu")
    base = SketchParams(48, preset="fast", objective="vgg", init="fps")
    start = engine.sketch(photo, [], SketchParams(**{**base.__dict__, "iterations": 0}))
    result = engine.sketch(photo, [], SketchParams(**{**base.__dict__, "iterations": iterations}))
    out_dir.mkdir(parents=True, exist_ok=True)
    side_by_side(photo, Scene("coffee", ()), [("initial strokes (fps)", start), (f"after {iterations} VGG steps", result)], out_dir / "vgg_descent.png")
    return {"initial_loss": start.rounds[0].loss, "best_loss": result.rounds[0].loss, "iterations": iterations,
            "png": str(out_dir / "vgg_descent.png")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=5, help="sketch/target pairs per step (1 plain + augmented)")
    parser.add_argument("--descent-iterations", type=int, default=60, help="steps of the VGG-only descent run (0 skips it)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "optimize")
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        vgg, vgg_source = vgg_network(device)
        visual = clip_visual(device)
        target = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)).to(device)
        objectives = {
            "vgg": [(1.0, VggLoss(vgg))],
            "clip+vgg": [(1.0, ClipLoss(visual)), (1.0, VggLoss(vgg))],
        }
        for name, terms in objectives.items():
            loss = WeightedLoss(terms, n_aug=args.pairs - 1)
            loss.set_target(target)
            for k in (1, 3):
                row = {"device": device.type, "objective": name, "sketches": k, "pairs": args.pairs, "vgg": vgg_source}
                row.update(step_times(loss, k, device, args.iterations))
                rows.append(row)
                print(f"{row['device']:5} {name:9} K={k} render {row['render_s']*1000:7.1f} ms  forward {row['forward_s']:6.2f} s  "
                      f"backward {row['backward_s']:6.2f} s  step {row['step_s']:6.2f} s", flush=True)
    for device in {r["device"] for r in rows}:
        for name in ("vgg", "clip+vgg"):
            one, three = (next(r for r in rows if r["device"] == device and r["objective"] == name and r["sketches"] == k) for k in (1, 3))
            print(f"{device} {name}: K=3 costs {three['step_s'] / one['step_s']:.2f}× K=1 per iteration")
    descent = vgg_descent(args.out, args.descent_iterations) if args.descent_iterations else None
    if descent:
        print(f"VGG-only descent on examples/coffee.jpg: plain-pair loss {descent['initial_loss']:.4f} → {descent['best_loss']:.4f} "
              f"after {descent['iterations']} steps; picture in {descent['png']}")
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows, "vgg_descent": descent}))


if __name__ == "__main__":
    main()
