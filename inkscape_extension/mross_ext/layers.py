"""One new layer per sketch round, placed above the photo's layer, with strokes lying exactly on the photo.

Strokes arrive as cubic SVG path data in the photo's pixel coordinates, already checked by the wire
protocol. Each layer holds one plain group whose transform carries pixels onto the bitmap, so the
paths stay ordinary editable <path> elements and a whole round can be moved as one. Which strokes a
layer holds, its label and its visibility follow the rule in `mross_shared.layers`, shared with the
command line's SVG output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import inkex

from mross_shared.layers import layer_label, layer_stroke_indices, layer_visible
from mross_shared.messages import RoundUpdate

from .photo_geometry import composed_transform


@dataclass(frozen=True)
class StrokeStyle:
    """How the strokes are painted: an inkex color (with alpha) and a factor on the optimized widths."""

    color: inkex.Color
    width_scale: float


def add_round_layers(
    image: inkex.Image,
    pixels_to_document: inkex.Transform,
    rounds: Sequence[RoundUpdate],
    mode: str,
    style: StrokeStyle,
) -> list[inkex.Layer]:
    """Insert one layer per round directly above the photo's layer, lowest round first.

    `mode` is `snapshot` (every layer holds all strokes after its round, only the last is visible)
    or `delta` (each layer holds the strokes its round added, all visible); ValueError otherwise.
    """
    anchor = _layer_anchor(image)
    layers = []
    for update in rounds:
        indices = layer_stroke_indices(mode, len(update.paths), update.added)
        layer = inkex.Layer.new(layer_label(update.index, len(indices)))
        if not layer_visible(mode, update.index, update.rounds):
            layer.style["display"] = "none"
        anchor.addnext(layer)
        anchor = layer
        group = inkex.Group()
        layer.append(group)
        group.transform = -composed_transform(layer) @ pixels_to_document
        for i in indices:
            group.append(_stroke(update.paths[i].d, update.paths[i].width, style))
        layers.append(layer)
    return layers


def _layer_anchor(image: inkex.Image) -> inkex.BaseElement:
    """The element the new layers go right after: the photo's innermost layer, else its top-level ancestor."""
    node = image
    while not isinstance(node.getparent(), inkex.SvgDocumentElement):
        if isinstance(node, inkex.Layer):
            return node
        node = node.getparent()
    return node


def _stroke(d: str, width: float, style: StrokeStyle) -> inkex.PathElement:
    element = inkex.PathElement()
    element.path = inkex.Path(d)
    element.style = {
        "fill": "none",
        "stroke": str(style.color.to_rgb()),
        "stroke-opacity": style.color.alpha,
        "stroke-width": width * style.width_scale,
        "stroke-linecap": "round",
        "stroke-linejoin": "round",
    }
    return element
