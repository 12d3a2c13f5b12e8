"""One parent layer per run, on top of the document, holding one sub-layer per round; strokes lie exactly on the photo.

Strokes arrive as cubic SVG path data in the photo's pixel coordinates, already checked by the wire
protocol. Each round layer holds one plain group whose transform carries pixels onto the bitmap, so the
paths stay ordinary editable <path> elements and a whole round can be moved as one. Which strokes a
layer holds, its label and its visibility follow the rule in `mross_shared.layers`, shared with the
command line's SVG output. The parent layer goes above everything else, so the newest sketch is the
one in view; earlier runs are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import inkex

from mross_shared.layers import layer_label, layer_stroke_indices, layer_visible
from mross_shared.messages import RoundUpdate, StrokePath

from .photo_geometry import composed_transform
from .sketch_runs import mark_run, run_label


@dataclass(frozen=True)
class StrokeStyle:
    """How new strokes are painted: an inkex color (with alpha) and a factor on the optimized widths."""

    color: inkex.Color
    width_scale: float


@dataclass(frozen=True)
class RunRecord:
    """What names a new run: its number, photo, preset, the round number its first round gets, and the
    run it continues (None for a new sketch)."""

    number: int
    photo_id: str
    preset: str
    first_round: int = 1
    continues: int | None = None


def add_sketch_run(
    svg: inkex.SvgDocumentElement,
    pixels_to_document: inkex.Transform,
    rounds: Sequence[RoundUpdate],
    mode: str,
    style: StrokeStyle,
    record: RunRecord,
    kept_styles: Sequence[inkex.Style] = (),
) -> inkex.Layer:
    """Append the run's parent layer on top of the document, with one sub-layer per round, lowest round first.

    `mode` is `snapshot` (every layer holds all strokes after its round, only the last is visible) or
    `delta` (each layer holds the strokes its round added, all visible); ValueError otherwise. Stroke i
    of a round is painted with `kept_styles[i]` when there is one (the strokes of a continued sketch keep
    the look the illustrator gave them), else with `style`.
    """
    strokes = len(rounds[-1].paths) if rounds else 0
    parent = inkex.Layer.new(run_label(record.number, strokes, record.preset, record.continues))
    parent.set("id", _free_id(svg, f"mross-sketch-{record.number}"))
    mark_run(parent, record.number, record.photo_id, record.first_round - 1 + len(rounds))
    svg.append(parent)
    for position, update in enumerate(rounds, start=1):
        indices = layer_stroke_indices(mode, len(update.paths), update.added)
        number = record.first_round - 1 + update.index
        layer = inkex.Layer.new(layer_label(number, len(indices)))
        layer.set("id", _free_id(svg, f"{parent.get('id')}-round-{number}"))
        # Visibility follows the rounds delivered: a job stopped early ends with the round it stopped in.
        if not layer_visible(mode, position, len(rounds)):
            layer.style["display"] = "none"
        parent.append(layer)
        group = inkex.Group()
        layer.append(group)
        group.transform = -composed_transform(layer) @ pixels_to_document
        for i in indices:
            group.append(_stroke(update.paths[i], kept_styles[i] if i < len(kept_styles) else _new_style(update.paths[i], style)))
    return parent


def _free_id(svg: inkex.SvgDocumentElement, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, … when the document already uses it."""
    candidate, suffix = wanted, 1
    while svg.getElementById(candidate) is not None:
        suffix += 1
        candidate = f"{wanted}-{suffix}"
    return candidate


def _new_style(path: StrokePath, style: StrokeStyle) -> inkex.Style:
    return inkex.Style(
        {
            "fill": "none",
            "stroke": str(style.color.to_rgb()),
            "stroke-opacity": style.color.alpha,
            "stroke-width": path.width * style.width_scale,
            "stroke-linecap": "round",
            "stroke-linejoin": "round",
        }
    )


def _stroke(path: StrokePath, style: inkex.Style) -> inkex.PathElement:
    element = inkex.PathElement()
    element.path = inkex.Path(path.d)
    element.style = style
    return element
