"""Renderer benchmark: median forward and forward+backward milliseconds, picture agreement, peak memory.

Compares our sparse renderer with a dense all-pixels × all-chords reference timed in the same run,
times the accelerator sizing (one host read per call, padded boxes) on the CPU too, and measures
how close our picture is to (a) a 2×2-supersampled hard-coverage render (diffvg's anti-aliasing)
and (b) cairosvg on the same SVG. Last line: one JSON object with every figure.

    python benchmarks/render.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from mross_server.engine.renderer import Frame, render, render_frames  # noqa: E402

CANVAS = 224.0
DENSE_LIMIT = 13_000_000  # pixel × stroke × chord products; beyond this the dense reference needs many GB


def strokes(kind: str, n: int, seed: int = 0) -> torch.Tensor:
    """[1, n, 4, 2] strokes: 'short' = CLIPasso's initial random walks, 'long' = canvas-spanning curves."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "long":
        return torch.rand(1, n, 4, 2, generator=generator) * CANVAS
    start = torch.rand(1, n, 1, 2, generator=generator) * CANVAS
    steps = (torch.rand(1, n, 3, 2, generator=generator) - 0.5) * 0.05 * CANVAS
    return torch.cat([start, start + steps.cumsum(2)], dim=2)


def dense_render(points: torch.Tensor, half_width: float, size: int, chords: int = 16, samples: int = 1, hard: bool = False) -> torch.Tensor:
    """Reference: every (sub)pixel against every chord of every stroke; [1, 1, size, size].

    Sample rows are processed in chunks so the reference's memory stays bounded.
    """
    t = torch.linspace(0, 1, chords + 1).view(1, 1, -1, 1)
    p = points * (size / CANVAS)
    u = 1 - t
    curve = u**3 * p[:, :, :1] + 3 * u * u * t * p[:, :, 1:2] + 3 * u * t * t * p[:, :, 2:3] + t**3 * p[:, :, 3:4]
    a, b = curve[:, :, :-1], curve[:, :, 1:]  # [1, N, C, 2]
    ab = b - a
    hw = torch.tensor(half_width * size / CANVAS)
    offsets = (torch.arange(samples) + 0.5) / samples
    coords = (torch.arange(size).view(-1, 1) + offsets.view(1, -1)).reshape(-1)
    rows_per_chunk = max(1, 2_000_000 // max(1, len(coords) * a.shape[1] * chords))
    rows = []
    for start in range(0, len(coords), rows_per_chunk):
        ys, xs = torch.meshgrid(coords[start : start + rows_per_chunk], coords, indexing="ij")
        c = torch.stack([xs, ys], -1).reshape(-1, 1, 1, 2)  # [P, 1, 1, 2]
        s = (((c - a) * ab).sum(-1) / ((ab * ab).sum(-1) + 1e-12)).clamp(0, 1)
        d = ((c - a - s.unsqueeze(-1) * ab).pow(2).sum(-1) + 1e-12).sqrt().amin(-1)  # [P, N]
        cover = (d < hw).float() if hard else (torch.minimum(d + 0.5, hw) - torch.maximum(d - 0.5, -hw)).clamp(0, 1)
        rows.append((1 - cover).prod(-1).view(-1, len(coords)))
    image = torch.cat(rows)
    return torch.nn.functional.avg_pool2d(image[None, None], samples)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pay for allocations and kernel selection
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def timing_case(kind: str, n: int, size: int, device: str, repeats: int) -> dict:
    points = strokes(kind, n).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward():
        with torch.no_grad():
            render(points, 1.5, (0, 0, CANVAS, CANVAS), size)
        sync()

    def backward():
        p = points.clone().requires_grad_(True)
        render(p, 1.5, (0, 0, CANVAS, CANVAS), size).mean().backward()
        sync()

    def bounded_backward():
        p = points.clone().requires_grad_(True)
        render_frames(p, 1.5, [Frame((0, 0, CANVAS, CANVAS), (size, size))], bounded=True)[0].mean().backward()
        sync()

    row = {"kind": kind, "strokes": n, "size": size, "device": device,
           "forward_ms": median_ms(forward, repeats), "forward_backward_ms": median_ms(backward, repeats)}
    if device == "cpu":  # on an accelerator the default already is the bounded sizing
        row["bounded_forward_backward_ms"] = median_ms(bounded_backward, repeats)
    if device == "cpu" and size * size * n * 16 <= DENSE_LIMIT:
        def dense_backward():
            p = points.clone().requires_grad_(True)
            dense_render(p, 1.5, size).mean().backward()

        row["dense_forward_ms"] = median_ms(lambda: dense_render(points, 1.5, size), max(3, repeats // 2))
        row["dense_forward_backward_ms"] = median_ms(dense_backward, max(3, repeats // 2))
        row["speedup_forward_backward"] = row["dense_forward_backward_ms"] / row["forward_backward_ms"]
    return row


def agreement() -> dict:
    """Mean |Δ| of our 224² render against 2×2 hard supersampling and against cairosvg (48 strokes each kind)."""
    from PIL import Image

    from mross_server.io.svg import StrokeLayer, to_svg

    figures = {}
    for kind in ("short", "long"):
        points = strokes(kind, 48, seed=7)
        ours = render(points, 1.5, (0, 0, CANVAS, CANVAS), 224)[0, 0]
        with torch.no_grad():
            supersampled = dense_render(points, 1.5, 224, chords=128, samples=2, hard=True)[0, 0]
        figures[f"mad_vs_2x2_supersampling_{kind}"] = float((ours - supersampled).abs().mean())
        try:
            import cairosvg
        except ImportError:
            continue
        svg = to_svg([StrokeLayer("s", points[0].numpy(), np.full(48, 1.5))], 224, 224)
        png = cairosvg.svg2png(bytestring=svg, output_width=224, output_height=224, background_color="white")
        reference = torch.from_numpy(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32) / 255)
        figures[f"mad_vs_cairosvg_{kind}"] = float((ours - reference).abs().mean())
    return figures


def peak_memory_mb() -> float:
    """Peak resident memory growth of one 512², 256 long strokes forward+backward, in a fresh process.

    Reads the process's own high-water mark (VmHWM): ru_maxrss would start from the parent's peak,
    which Linux carries across exec.
    """
    code = (
        "import sys; sys.path[:0] = sys.argv[1:];"
        "from benchmarks.render import strokes, high_water_mb; from mross_server.engine.renderer import render;"
        "p = strokes('long', 256).requires_grad_(True); render(p[:, :2], 1.5, (0, 0, 224, 224), 64);"
        "base = high_water_mb(); render(p, 1.5, (0, 0, 224, 224), 512).mean().backward();"
        "print(high_water_mb() - base)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, str(root), str(root / "shared")], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def high_water_mb() -> float:
    """This process's peak resident memory in MB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kilobytes) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only the 48-stroke cases")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    counts = (48,) if args.quick else (16, 48, 128, 256)
    rows = [timing_case(kind, n, size, device, args.repeats) for device in devices for kind in ("short", "long") for size in (224, 512) for n in counts]

    head = f"{'fwd ms':>8} {'fwd+bwd ms':>11} {'bounded f+b':>12} {'dense fwd':>10} {'dense f+b':>10} {'speedup':>8}"
    print(f"{'device':6} {'kind':5} {'N':>4} {'size':>4} {head}")
    for r in rows:
        dense = [f"{r[k]:10.1f}" if k in r else f"{'—':>10}" for k in ("dense_forward_ms", "dense_forward_backward_ms")]
        speed = f"{r['speedup_forward_backward']:7.1f}×" if "speedup_forward_backward" in r else f"{'—':>8}"
        bounded = f"{r['bounded_forward_backward_ms']:12.1f}" if "bounded_forward_backward_ms" in r else f"{'—':>12}"
        timings = f"{r['forward_ms']:8.1f} {r['forward_backward_ms']:11.1f} {bounded}"
        print(f"{r['device']:6} {r['kind']:5} {r['strokes']:4} {r['size']:4} {timings} {dense[0]} {dense[1]} {speed}")
    figures = agreement()
    for name, value in figures.items():
        print(f"{name}: {value:.4f}")
    memory = peak_memory_mb()
    print(f"peak memory growth, 512² × 256 long strokes forward+backward: {memory:.0f} MB")
    target = next(r for r in rows if r["device"] == "cpu" and r["kind"] == "short" and r["strokes"] == 48 and r["size"] == 224)
    print(f"target check: 48 short strokes at 224² forward+backward = {target['forward_backward_ms']:.1f} ms (target ≤ 20 ms)")
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows, "agreement": figures, "peak_memory_mb_512_256": memory,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
