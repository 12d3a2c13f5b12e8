"""Differentiable rasterizer for open cubic Bézier strokes, in pure PyTorch (our stand-in for diffvg).

Semantics follow diffvg as CLIPasso drives it: a stroke's width is a *half*-width (1.5 draws a
3 px line), caps and joins are round (coverage is a function of the distance to the curve), and
the strokes are composited over a white background. Instead of 2×2 supersampling we integrate a
one-pixel box filter across the stroke's edge analytically, which gives the same picture and,
unlike hard sample tests, non-zero gradients for control points and widths.

Cost scales with the ink, not with pixels × strokes: each curve is flattened into short chords,
and only the pixels inside each chord's dilated bounding box are visited. A pixel's distance to
its stroke is the minimum over that stroke's chords; strokes then combine by multiplying their
transmittances, which is exactly "over" compositing when every stroke of a sketch has one colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mross_server.engine.shapes import check_shape

# Chord length in output pixels: a 3 px chord on a curve of 10 px radius deviates from it by ~0.1 px.
CHORD_PX = 3.0
MAX_CHORDS_PER_STROKE = 1024
# Keeps log(1 - alpha) finite where a stroke covers a pixel completely; see `_log_transmittance`.
_ALPHA_CEILING = 1.0 - 1e-6


def render(
    points: Tensor,
    half_widths: Tensor | float,
    window: Sequence[float],
    size: int | tuple[int, int],
    opacities: Tensor | None = None,
    color: Tensor | None = None,
) -> Tensor:
    """Render K sketches of N strokes each over white.

    Args:
        points: control points in canvas units (x right, y down).
        half_widths: half of each stroke's width in canvas units.
        window: (x0, y0, x1, y1), the part of the canvas that maps onto the output image.
        size: output size, an int for a square image or (height, width).
        opacities: per-stroke opacity in [0, 1]; default 1.
        color: stroke color in [0, 1] (one color per sketch); default black.

    Shape:
        - points: [K, N, 4, 2]
        - half_widths: [K, N], [N] or a scalar; opacities: [K, N] or [N]; color: [3] or [K, 3]
        - output: [K, 3, H, W], values in [0, 1], differentiable with respect to points,
          half_widths, opacities and color.

    Raises:
        ValueError: if the points are not finite or the shapes do not fit.
    """
    check_shape(points, "K,N,4,2", "the control points")
    if not bool(torch.isfinite(points).all()):
        raise ValueError("stroke control points contain NaN or infinite values")
    height, width = (size, size) if isinstance(size, int) else size
    k, n = points.shape[:2]
    device, dtype = points.device, points.dtype

    x0, y0, x1, y1 = (float(v) for v in window)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"render window {tuple(window)} has no area")
    scale = torch.tensor([width / (x1 - x0), height / (y1 - y0)], device=device, dtype=dtype)
    origin = torch.tensor([x0, y0], device=device, dtype=dtype)
    # Widths scale with the geometric mean so a non-uniform window keeps a sensible line weight.
    width_scale = float(scale.prod().sqrt())

    pixel_points = ((points - origin) * scale).reshape(k * n, 4, 2)
    hw = (_per_stroke(half_widths, k, n, device, dtype) * width_scale).clamp(min=0.0)
    alpha_scale = torch.ones(k * n, device=device, dtype=dtype) if opacities is None else _per_stroke(opacities, k, n, device, dtype)

    transmittance = _log_transmittance(pixel_points, hw, alpha_scale, k, height, width).exp()
    transmittance = transmittance.view(k, 1, height, width)
    ink = torch.zeros(3, device=device, dtype=dtype) if color is None else color.to(device, dtype)
    ink = ink.view(-1, 3, 1, 1)
    return transmittance + ink * (1.0 - transmittance)


def _per_stroke(value: Tensor | float, k: int, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Broadcast a scalar, [N] or [K, N] value to a flat [K*N] tensor."""
    value = torch.as_tensor(value, device=device, dtype=dtype)
    return value.expand(k, n).reshape(k * n)


def _log_transmittance(points: Tensor, hw: Tensor, opacity: Tensor, k: int, height: int, width: int) -> Tensor:
    """Σ over strokes of log(1 − opacity · coverage) for every pixel: shape [K * H * W]."""
    log_t = torch.zeros(k * height * width, device=points.device, dtype=points.dtype)
    if points.shape[0] == 0:
        return log_t + 0.0 * points.sum()

    chord_start, chord_end, chord_stroke = _flatten_to_chords(points)
    pair_chord, pixel_x, pixel_y = _pixels_near_chords(chord_start, chord_end, hw[chord_stroke], height, width)
    if pair_chord.numel() == 0:
        return log_t + 0.0 * (points.sum() + hw.sum() + opacity.sum())

    centre = torch.stack([pixel_x, pixel_y], dim=-1).to(points.dtype) + 0.5
    distance = _distance_to_segment(centre, chord_start[pair_chord], chord_end[pair_chord])

    # One entry per (stroke, pixel): the distance to the stroke is the nearest of its chords.
    stroke = chord_stroke[pair_chord]
    key = stroke * (height * width) + pixel_y * width + pixel_x
    unique_key, slot = torch.unique(key, return_inverse=True)
    nearest = torch.full((unique_key.numel(),), float("inf"), device=points.device, dtype=points.dtype)
    nearest = nearest.scatter_reduce(0, slot, distance, reduce="amin", include_self=False)

    unique_stroke = unique_key // (height * width)
    alpha = opacity[unique_stroke] * _box_coverage(nearest, hw[unique_stroke])
    # Clamp the value but let the gradient through unchanged: then exp(Σ log(1 − α)) still has the
    # exact derivative −Π_{j≠i}(1 − α_j) for a stroke that covers a pixel completely.
    alpha = alpha - (alpha - alpha.clamp(max=_ALPHA_CEILING)).detach()
    sketch = unique_stroke // (points.shape[0] // k)
    target = sketch * (height * width) + unique_key % (height * width)
    return log_t.index_add(0, target, torch.log1p(-alpha))


def _flatten_to_chords(points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split every curve [S, 4, 2] into short chords; returns chord starts, ends and stroke ids."""
    device = points.device
    polygon = (points[:, 1:] - points[:, :-1]).norm(dim=-1).sum(dim=-1).detach()
    chords = (polygon / CHORD_PX).ceil().clamp(1, MAX_CHORDS_PER_STROKE).long()
    samples = chords + 1
    sample_stroke = torch.repeat_interleave(torch.arange(points.shape[0], device=device), samples)
    first_sample = torch.cumsum(samples, 0) - samples
    step = torch.arange(sample_stroke.numel(), device=device) - first_sample[sample_stroke]
    t = (step.to(points.dtype) / chords[sample_stroke].to(points.dtype)).unsqueeze(-1)
    u = 1.0 - t
    p = points[sample_stroke]
    curve = u**3 * p[:, 0] + 3 * u * u * t * p[:, 1] + 3 * u * t * t * p[:, 2] + t**3 * p[:, 3]

    is_start = torch.ones(curve.shape[0], dtype=torch.bool, device=device)
    is_start[first_sample + chords] = False  # the last sample of each stroke starts no chord
    start_index = torch.nonzero(is_start).squeeze(1)
    return curve[start_index], curve[start_index + 1], sample_stroke[start_index]


def _pixels_near_chords(start: Tensor, end: Tensor, hw: Tensor, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """Enumerate (chord, pixel) pairs whose pixel may receive ink from that chord.

    A pixel centre farther than half-width + 0.5 from a chord gets no coverage from it, so each
    chord visits the pixels of its bounding box dilated by that reach, clipped to the image.
    """
    with torch.no_grad():
        reach = (hw + 0.5).unsqueeze(-1)
        low = (torch.minimum(start, end) - reach - 0.5).ceil().long()
        high = (torch.maximum(start, end) + reach - 0.5).floor().long() + 1
        limit = torch.tensor([width, height], device=start.device)
        low = low.clamp(min=0)
        high = torch.minimum(high, limit)
        extent = (high - low).clamp(min=0)
        count = extent[:, 0] * extent[:, 1]
        chord = torch.repeat_interleave(torch.arange(start.shape[0], device=start.device), count)
        offset = torch.arange(chord.numel(), device=start.device) - (torch.cumsum(count, 0) - count)[chord]
        box_width = extent[chord, 0]
        return chord, low[chord, 0] + offset % box_width, low[chord, 1] + torch.div(offset, box_width, rounding_mode="floor")


def _distance_to_segment(c: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distance from points c to segments ab, all [P, 2]; safe for a == b."""
    ab = b - a
    t = (((c - a) * ab).sum(-1) / ((ab * ab).sum(-1) + 1e-12)).clamp(0.0, 1.0)
    offset = c - (a + t.unsqueeze(-1) * ab)
    return ((offset * offset).sum(-1) + 1e-12).sqrt()


def _box_coverage(distance: Tensor, hw: Tensor) -> Tensor:
    """Fraction of a one-pixel box at `distance` from a line's axis that the band ±hw covers."""
    return (torch.minimum(distance + 0.5, hw) - torch.maximum(distance - 0.5, -hw)).clamp(0.0, 1.0)
