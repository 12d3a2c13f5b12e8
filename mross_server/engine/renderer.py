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

The work's size depends on the geometry, and on a GPU every size the host must know is a wait
for the device. On an accelerator a call therefore sizes everything from the control points with
bounds that need no chord positions (a cubic's speed along x is at most 3 × its longest
control-polygon leg along x, so each chord's box has a per-stroke bound), reads the totals in one
device→host copy, enumerates pixels in these padded boxes with a validity mask and groups them by
sorting in buffers of that size. On the CPU, where reading a size costs nothing, exact boxes are
enumerated instead (about half the pairs; measured in benchmarks/render.py). Both give the same
picture. Several frames (e.g. the whole canvas and a zoomed ROI) render in one call: one wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mross_server.engine.shapes import check_shape

# Chord length in output pixels: a 3 px chord on a curve of 10 px radius deviates from it by ~0.1 px.
CHORD_PX = 3.0
MAX_CHORDS_PER_STROKE = 1024
# Keeps log(1 - alpha) finite where a stroke covers a pixel completely; see `_log_transmittance`.
_ALPHA_CEILING = 1.0 - 1e-6
# Slack on the per-stroke box bound for rounding in the curve evaluation (pixels).
_BOUND_SLACK = 0.01


@dataclass(frozen=True)
class Frame:
    """A canvas window (x0, y0, x1, y1) drawn into an image of `size` = (height, width) pixels.

    `line_scale` is how many output pixels a canvas unit of stroke width becomes; None takes the
    geometric mean of the window's x and y scales. A squashed view (a non-square window drawn
    square) can keep the line weight of an unsquashed one by giving the smaller scale.
    """

    window: tuple[float, float, float, float]
    size: tuple[int, int]
    line_scale: float | None = None


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
    height, width = (size, size) if isinstance(size, int) else size
    x0, y0, x1, y1 = (float(v) for v in window)
    return render_frames(points, half_widths, [Frame((x0, y0, x1, y1), (height, width))], opacities, color)[0]


def render_frames(
    points: Tensor,
    half_widths: Tensor | float,
    frames: Sequence[Frame],
    opacities: Tensor | None = None,
    color: Tensor | None = None,
    bounded: bool | None = None,
) -> list[Tensor]:
    """`render` for several frames at once: one [K, 3, H, W] image per frame.

    `bounded` picks the sizing (see the module docstring): True reads the device once per call,
    False enumerates exact boxes; None (default) takes the bounded sizing on any device but the CPU.
    """
    if bounded is None:
        bounded = points.device.type != "cpu"
    check_shape(points, "K,N,4,2", "the control points")
    k, n = points.shape[:2]
    device, dtype = points.device, points.dtype
    for frame in frames:
        x0, y0, x1, y1 = frame.window
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"render window {tuple(frame.window)} has no area")
    hw = _per_stroke(half_widths, k, n, device, dtype)
    opacity = torch.ones(k * n, device=device, dtype=dtype) if opacities is None else _per_stroke(opacities, k, n, device, dtype)

    # Every (frame, sketch) pair is one image; strokes are laid out frame-major, then sketch, then stroke.
    pixel_points, pixel_hw, image_width, image_height, first_pixel = [], [], [], [], []
    frame_start = 0
    for frame in frames:
        pixel, line_scale = _to_pixels(points, frame)
        height, width = frame.size
        pixel_points.append(pixel.reshape(k * n, 4, 2))
        pixel_hw.append((hw * line_scale).clamp(min=0.0))
        image_width.append(torch.full((k * n,), width, device=device, dtype=torch.long))
        image_height.append(torch.full((k * n,), height, device=device, dtype=torch.long))
        sketch_start = torch.arange(k, device=device) * (height * width) + frame_start
        first_pixel.append(sketch_start[:, None].expand(k, n).reshape(k * n))
        frame_start += k * height * width
    layout = _Layout(
        torch.cat(image_width), torch.cat(image_height), torch.cat(first_pixel),
        image_pixels=max(frame.size[0] * frame.size[1] for frame in frames), pixels=frame_start,
    )
    log_t = _log_transmittance(torch.cat(pixel_points), torch.cat(pixel_hw), opacity.repeat(len(frames)), layout, points, bounded)

    ink = torch.zeros(3, device=device, dtype=dtype) if color is None else color.to(device, dtype)
    ink = ink.view(-1, 3, 1, 1)
    images = []
    for frame, image in zip(frames, log_t.split([k * frame.size[0] * frame.size[1] for frame in frames])):
        transmittance = image.exp().view(k, 1, *frame.size)
        images.append(transmittance + ink * (1.0 - transmittance))
    return images


def _to_pixels(points: Tensor, frame: Frame) -> tuple[Tensor, float]:
    """Control points [K, N, 4, 2] in the frame's pixels, and the frame's line scale."""
    x0, y0, x1, y1 = frame.window
    height, width = frame.size
    # Scales are rounded to the points' precision first, so a width scale derived from them matches.
    precision = np.float64 if points.dtype == torch.float64 else np.float32
    scale = np.array([width / (x1 - x0), height / (y1 - y0)], dtype=precision)
    origin = np.array([x0, y0], dtype=precision)
    line_scale = float(np.sqrt(scale.prod())) if frame.line_scale is None else frame.line_scale
    pixel = torch.stack([(points[..., 0] - float(origin[0])) * float(scale[0]), (points[..., 1] - float(origin[1])) * float(scale[1])], dim=-1)
    return pixel, line_scale


def _per_stroke(value: Tensor | float, k: int, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Broadcast a scalar, [N] or [K, N] value to a flat [K*N] tensor."""
    if not isinstance(value, Tensor):
        return torch.full((k * n,), float(value), device=device, dtype=dtype)
    return value.to(device, dtype).expand(k, n).reshape(k * n)


@dataclass(frozen=True)
class _Layout:
    """Where each of S strokes draws: its image's width, height and first pixel in the flat output [S]."""

    width: Tensor
    height: Tensor
    first_pixel: Tensor
    image_pixels: int  # the largest image's pixel count
    pixels: int  # all images together


@dataclass(frozen=True)
class _Sizes:
    """Chords per stroke [S] and their total; with bounded sizing also each stroke's padded chord box and the pair total."""

    chords: Tensor
    total_chords: int
    box: Tensor | None = None
    total_pairs: int = 0


def _log_transmittance(points: Tensor, hw: Tensor, opacity: Tensor, layout: _Layout, source: Tensor, bounded: bool) -> Tensor:
    """Σ over strokes of log(1 − opacity · coverage) for every pixel of every image: shape [pixels].

    `points` [S, 4, 2] are in their image's pixels; `source` is the caller's tensor, kept in the graph
    when nothing is drawn.
    """
    device, dtype = points.device, points.dtype
    log_t = torch.zeros(layout.pixels + 1, device=device, dtype=dtype)  # the extra entry absorbs padding
    if points.shape[0] == 0:
        return log_t[:-1] + 0.0 * source.sum()
    sizes = _sizes(points, hw, layout, bounded)
    chord_start, chord_end, chord_stroke = _flatten_to_chords(points, sizes)
    pairs = _pixels_near_chords(chord_start, chord_end, chord_stroke, hw, layout, sizes)
    if pairs.chord.numel() == 0:
        return log_t[:-1] + 0.0 * (points.sum() + hw.sum() + opacity.sum())
    centre = torch.stack([pairs.x, pairs.y], dim=-1).to(dtype) + 0.5
    distance = _distance_to_segment(centre, chord_start[pairs.chord], chord_end[pairs.chord])

    # One entry per (stroke, pixel): the distance to the stroke is the nearest of its chords.
    stroke = chord_stroke[pairs.chord]
    key = stroke * layout.image_pixels + pairs.y * layout.width[stroke] + pairs.x
    if pairs.valid is None:
        slot_key, slot = torch.unique(key, return_inverse=True)
        live = None
    else:
        padding_key = points.shape[0] * layout.image_pixels
        distance = torch.where(pairs.valid, distance, torch.inf)
        slot_key, slot = _group_padded(torch.where(pairs.valid, key, padding_key), padding_key)
        live = slot_key < padding_key
    nearest = torch.full(slot_key.shape, torch.inf, device=device, dtype=dtype)
    nearest = nearest.scatter_reduce(0, slot, distance, reduce="amin", include_self=False)

    slot_stroke = slot_key // layout.image_pixels if live is None else torch.where(live, slot_key // layout.image_pixels, 0)
    alpha = opacity[slot_stroke] * _box_coverage(nearest, hw[slot_stroke])
    # Clamp the value but let the gradient through unchanged: then exp(Σ log(1 − α)) still has the
    # exact derivative −Π_{j≠i}(1 − α_j) for a stroke that covers a pixel completely.
    alpha = alpha - (alpha - alpha.clamp(max=_ALPHA_CEILING)).detach()
    target = layout.first_pixel[slot_stroke] + slot_key % layout.image_pixels
    if live is not None:
        alpha = torch.where(live, alpha, 0.0)
        target = torch.where(live, target, layout.pixels)
    return log_t.index_add(0, target, torch.log1p(-alpha))[:-1]


def _group_padded(key: Tensor, padding_key: int) -> tuple[Tensor, Tensor]:
    """`torch.unique(key, return_inverse=True)` with the distinct keys padded to len(key) by `padding_key`.

    Padding pairs carry `padding_key`, the largest key, so every slot past the real groups reads as
    padding. No size depends on the data, so nothing waits for the device.
    """
    sorted_key, order = torch.sort(key)
    opens_group = torch.ones_like(sorted_key, dtype=torch.bool)
    opens_group[1:] = sorted_key[1:] != sorted_key[:-1]
    sorted_slot = torch.cumsum(opens_group, 0) - 1
    slot = torch.empty_like(sorted_slot).scatter_(0, order, sorted_slot)
    distinct = torch.full_like(sorted_key, padding_key).scatter_(0, sorted_slot, sorted_key)
    return distinct, slot


def _sizes(points: Tensor, hw: Tensor, layout: _Layout, bounded: bool) -> _Sizes:
    """Chords per stroke (and with `bounded`, a padded box per chord) from the control points; one device→host read.

    A chord spans 1/c of the curve's parameter, and |dx/dt| of a cubic is at most 3 × its longest
    control-polygon leg along x, so a chord's dilated box is at most 3·max|Δx|/c + 2·reach + 1 pixels
    wide; it also lies inside the part of the stroke's dilated bounding box that is in the image.

    Raises:
        ValueError: if the control points are not finite.
    """
    with torch.no_grad():
        legs = points[:, 1:] - points[:, :-1]
        polygon = legs.norm(dim=-1).sum(dim=-1)
        chords = (polygon / CHORD_PX).ceil().clamp(1, MAX_CHORDS_PER_STROKE).long()
        finite = torch.isfinite(points).all()
        if not bounded:
            total_chords, all_finite = _read_ints(torch.stack([chords.sum(), finite.long()]))
            if not all_finite:
                raise ValueError("stroke control points contain NaN or infinite values")
            return _Sizes(chords, total_chords)
        reach = (hw + 0.5).unsqueeze(-1)
        limit = torch.stack([layout.width, layout.height], dim=-1).to(points.dtype)
        # Rounding in the curve evaluation grows with the coordinates' size.
        slack = _BOUND_SLACK + 4e-6 * points.abs().amax(dim=(1, 2)).unsqueeze(-1)
        chord_box = (3.0 * legs.abs().amax(dim=1) / chords.unsqueeze(-1) + 2.0 * reach + slack).floor() + 1.0
        low = (points.amin(dim=1) - reach - 0.5).ceil().clamp(min=0.0)
        high = torch.minimum((points.amax(dim=1) + reach - 0.5).floor() + 1.0, limit)
        box = torch.minimum(chord_box, (high - low).clamp(min=0.0)).nan_to_num(0.0).long()
        pairs = chords * box[:, 0] * box[:, 1]
        total_chords, total_pairs, all_finite = _read_ints(torch.stack([chords.sum(), pairs.sum(), finite.long()]))
    if not all_finite:
        raise ValueError("stroke control points contain NaN or infinite values")
    return _Sizes(chords, total_chords, box, total_pairs)


def _read_ints(values: Tensor) -> list[int]:
    """Copy a few integers to the host: the call's one wait for the device."""
    read: list[int] = values.to("cpu", copy=True).tolist()
    return read


def _flatten_to_chords(points: Tensor, sizes: _Sizes) -> tuple[Tensor, Tensor, Tensor]:
    """Split every curve [S, 4, 2] into its chords; returns chord starts, ends and stroke ids."""
    device = points.device
    strokes = torch.arange(points.shape[0], device=device)
    chords = sizes.chords
    samples = chords + 1
    total_samples = sizes.total_chords + points.shape[0]
    sample_stroke = torch.repeat_interleave(strokes, samples, output_size=total_samples)
    first_sample = torch.cumsum(samples, 0) - samples
    step = torch.arange(total_samples, device=device) - first_sample[sample_stroke]
    t = (step.to(points.dtype) / chords[sample_stroke].to(points.dtype)).unsqueeze(-1)
    u = 1.0 - t
    p = points[sample_stroke]
    curve = u**3 * p[:, 0] + 3 * u * u * t * p[:, 1] + 3 * u * t * t * p[:, 2] + t**3 * p[:, 3]

    # Chord j of stroke s starts at sample first_sample[s] + j: its chord number plus s.
    chord_stroke = torch.repeat_interleave(strokes, chords, output_size=sizes.total_chords)
    start_index = torch.arange(sizes.total_chords, device=device) + chord_stroke
    return curve[start_index], curve[start_index + 1], chord_stroke


@dataclass(frozen=True)
class _Pairs:
    """(chord, pixel) pairs [P]: chord ids, pixel x and y; `valid` marks real pairs among padding (bounded sizing)."""

    chord: Tensor
    x: Tensor
    y: Tensor
    valid: Tensor | None


def _pixels_near_chords(start: Tensor, end: Tensor, chord_stroke: Tensor, hw: Tensor, layout: _Layout, sizes: _Sizes) -> _Pairs:
    """Enumerate (chord, pixel) pairs whose pixel may receive ink from that chord.

    A pixel centre farther than half-width + 0.5 from a chord gets no coverage from it, so each
    chord visits the pixels of its bounding box dilated by that reach, clipped to the image, row by
    row. With bounded sizing each chord walks its stroke's padded box instead (see `_sizes`), and
    `valid` marks the pairs inside the true box.
    """
    with torch.no_grad():
        reach = (hw[chord_stroke] + 0.5).unsqueeze(-1)
        low = (torch.minimum(start, end) - reach - 0.5).ceil().long()
        high = (torch.maximum(start, end) + reach - 0.5).floor().long() + 1
        limit = torch.stack([layout.width, layout.height], dim=-1)[chord_stroke]
        low = low.clamp(min=0)
        high = torch.minimum(high, limit)
        extent = (high - low).clamp(min=0)
        box = extent if sizes.box is None else sizes.box[chord_stroke]
        count = box[:, 0] * box[:, 1]
        total = _read_ints(count.sum().unsqueeze(0))[0] if sizes.box is None else sizes.total_pairs
        chord = torch.repeat_interleave(torch.arange(start.shape[0], device=start.device), count, output_size=total)
        offset = torch.arange(total, device=start.device) - (torch.cumsum(count, 0) - count)[chord]
        box_width = box[chord, 0]
        across = offset % box_width
        down = torch.div(offset, box_width, rounding_mode="floor")
        valid = None if sizes.box is None else (across < extent[chord, 0]) & (down < extent[chord, 1])
        return _Pairs(chord, low[chord, 0] + across, low[chord, 1] + down, valid)


def _distance_to_segment(c: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distance from points c to segments ab, all [P, 2]; safe for a == b."""
    ab = b - a
    t = (((c - a) * ab).sum(-1) / ((ab * ab).sum(-1) + 1e-12)).clamp(0.0, 1.0)
    offset = c - (a + t.unsqueeze(-1) * ab)
    return ((offset * offset).sum(-1) + 1e-12).sqrt()


def _box_coverage(distance: Tensor, hw: Tensor) -> Tensor:
    """Fraction of a one-pixel box at `distance` from a line's axis that the band ±hw covers."""
    return (torch.minimum(distance + 0.5, hw) - torch.maximum(distance - 0.5, -hw)).clamp(0.0, 1.0)
