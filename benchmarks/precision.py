"""CLIP loss precision under autocast, emulated on the CPU: loss error and gradient cosine against fp32.

A full-size random RN101 (open_clip's architecture, random weights, tests/tiny_models.py) scores a
rendered 48-stroke sketch against a photo-like 224² target on CLIPasso's 5 pairs; the gradient is
taken w.r.t. the control points. Each mode runs ClipLoss under `torch.autocast("cpu", dtype)`, the
CPU twin of the CUDA autocast the engine uses (`losses/clip.py`), and fp16 is also run with the
engine's dynamic loss scale (`optimizer.LossScale`, on the loss before backward). Last line: JSON.

    python benchmarks/precision.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from mross_server.engine.losses import WeightedLoss  # noqa: E402
from mross_server.engine.losses.clip import ClipLoss  # noqa: E402
from mross_server.engine.optimizer import LossScale  # noqa: E402
from mross_server.engine.renderer import render  # noqa: E402
from tests.tiny_models import full_size_clip  # noqa: E402


def problem() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The RN101 tower, a 224² target [1, 3, 224, 224] and 48 CLIPasso-like starting strokes [1, 48, 4, 2]."""
    visual = full_size_clip("RN101").visual.requires_grad_(False)
    generator = torch.Generator().manual_seed(1)
    y, x = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
    target = torch.stack([0.5 + 0.4 * torch.sin(6 * x), 0.5 + 0.4 * torch.cos(5 * y), x * y])[None]
    target = (target + 0.05 * torch.rand(target.shape, generator=generator)).clamp(0, 1)
    start = torch.rand(1, 48, 1, 2, generator=generator) * 224
    walk = ((torch.rand(1, 48, 3, 2, generator=generator) - 0.5) * 11.2).cumsum(2)
    return visual, target, torch.cat([start, start + walk], dim=2)


def run(
    visual: torch.nn.Module, target: torch.Tensor, points: torch.Tensor, dtype: torch.dtype | None, scale: LossScale | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss [1] and gradient (flattened) of one evaluation on the same 5 pairs; the target's
    features are cached under the same precision, as the engine does on CUDA."""
    p = points.clone().requires_grad_(True)
    sketch = render(p, 1.5, (0, 0, 224, 224), 224)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        loss = WeightedLoss([(1.0, ClipLoss(visual))])
        loss.set_target(target)
        value = loss(sketch, True, torch.Generator().manual_seed(3))
    (value.sum() * (scale.scale if scale is not None else 1.0)).backward()
    grad = p.grad.flatten().double()
    if scale is not None:
        unscaled = p.grad.clone()
        scale.unscale_(unscaled)
        grad = unscaled.flatten().double()
    return value.detach().double(), grad


def main() -> None:
    visual, target, points = problem()
    reference_loss, reference_grad = run(visual, target, points, None)
    modes = {
        "bf16 autocast": (torch.bfloat16, None),
        "fp16 autocast": (torch.float16, None),
        "fp16 autocast, loss scale 2^10": (torch.float16, LossScale(torch.device("cpu"), initial=2.0**10)),
        "fp16 autocast, LossScale (2^16)": (torch.float16, LossScale(torch.device("cpu"))),
    }
    rows = []
    for name, (dtype, scale) in modes.items():
        started = time.perf_counter()
        value, grad = run(visual, target, points, dtype, scale)
        rows.append({
            "mode": name,
            "relative_loss_error": float(((value - reference_loss).abs() / reference_loss.abs()).max()),
            "gradient_cosine": float(F.cosine_similarity(grad, reference_grad, dim=0)),
            "zero_gradients": float((grad == 0).double().mean()),
            "seconds": time.perf_counter() - started,
        })
    print(f"fp32 loss {float(reference_loss[0]):.6g}, gradient norm {float(reference_grad.norm()):.3e}")
    print(f"{'mode':34} {'loss error':>11} {'grad cosine':>12} {'zero grads':>11}")
    for row in rows:
        print(f"{row['mode']:34} {row['relative_loss_error']:11.2e} {row['gradient_cosine']:12.5f} {row['zero_gradients']:11.3f}")
    print(json.dumps({"fp32_loss": float(reference_loss[0]), "rows": rows}))


if __name__ == "__main__":
    main()
