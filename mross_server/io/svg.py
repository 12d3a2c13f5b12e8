"""Stroke sets to and from SVG: one Inkscape layer per round, one `M … C …` path per stroke.

Files written here open in Inkscape with the same layers the extension inserts: each layer is a
`<g inkscape:groupmode="layer">`, coordinates are the photo's pixels (`viewBox="0 0 W H"`), and
`stroke-width` is the full width (twice the renderer's half-width).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from mross_server.io.files import write_atomically
from mross_server.job import RoundResult
from mross_shared.layers import layer_label, layer_stroke_indices, layer_visible

SVG_NS = "http://www.w3.org/2000/svg"
INKSCAPE_NS = "http://www.inkscape.org/namespaces/inkscape"
_NSMAP = {None: SVG_NS, "inkscape": INKSCAPE_NS}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CUBIC = re.compile(rf"^\s*M\s*({_NUMBER})[\s,]+({_NUMBER})\s*C" + rf"[\s,]*({_NUMBER})" * 6 + r"\s*$")


@dataclass(frozen=True)
class StrokeLayer:
    """One layer of strokes: control points [n, 4, 2] and half-widths [n], in photo pixels."""

    label: str
    points: np.ndarray
    half_widths: np.ndarray
    color: str = "#000000"
    visible: bool = True


def round_layers(rounds: tuple[RoundResult, ...] | list[RoundResult], mode: str, color: str = "#000000") -> list[StrokeLayer]:
    """One layer per round, holding its strokes as `mode` ('snapshot' or 'delta') says."""
    layers = []
    for result in rounds:
        keep = layer_stroke_indices(mode, len(result.points), result.added)
        layers.append(
            StrokeLayer(
                layer_label(result.index, len(keep)),
                result.points[keep],
                result.half_widths[keep],
                color,
                layer_visible(mode, result.index, result.rounds),
            )
        )
    return layers


def path_data(points: np.ndarray) -> str:
    """SVG path data `M x0 y0 C x1 y1 x2 y2 x3 y3` for one cubic stroke with control points [4, 2]."""
    p = [f"{v:.2f}".rstrip("0").rstrip(".") for v in np.asarray(points, dtype=float).reshape(8)]
    return f"M {p[0]} {p[1]} C {p[2]} {p[3]} {p[4]} {p[5]} {p[6]} {p[7]}"


def parse_path_data(d: str) -> np.ndarray:
    """Control points [4, 2] of a path written by `path_data`; ValueError for anything else."""
    match = _CUBIC.match(d)
    if match is None:
        raise ValueError(f"not a single cubic Bézier path: {d[:60]!r}")
    return np.array([float(v) for v in match.groups()]).reshape(4, 2)


def to_svg(layers: list[StrokeLayer], width: int, height: int) -> bytes:
    """Serialize layers into a standalone SVG document of the photo's size."""
    root = etree.Element(f"{{{SVG_NS}}}svg", nsmap=_NSMAP, width=str(width), height=str(height), viewBox=f"0 0 {width} {height}")
    for index, layer in enumerate(layers, start=1):
        group = etree.SubElement(root, f"{{{SVG_NS}}}g", id=f"mross-round-{index}")
        group.set(f"{{{INKSCAPE_NS}}}groupmode", "layer")
        group.set(f"{{{INKSCAPE_NS}}}label", layer.label)
        group.set("style", "display:inline" if layer.visible else "display:none")
        for points, half_width in zip(layer.points, layer.half_widths):
            etree.SubElement(
                group,
                f"{{{SVG_NS}}}path",
                d=path_data(points),
                fill="none",
                stroke=layer.color,
                style=f"stroke-width:{2 * float(half_width):.3g}",
                **{"stroke-linecap": "round", "stroke-linejoin": "round"},
            )
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return document


def write_svg(path: Path, layers: list[StrokeLayer], width: int, height: int) -> None:
    """Write `to_svg(...)` to a file, whole or not at all (OSError)."""
    write_atomically(path, to_svg(layers, width, height))


def read_svg(path: Path) -> tuple[int, int, list[StrokeLayer]]:
    """Read a stroke SVG: (width, height, layers) with coordinates in viewBox units.

    Paths outside any layer form one unnamed layer; non-cubic paths raise ValueError.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.parse(str(path), parser).getroot()
    view_box = root.get("viewBox")
    if view_box:
        _, _, width, height = (float(v) for v in view_box.replace(",", " ").split())
    else:
        width, height = (_leading_number(root.get(a, "0")) for a in ("width", "height"))
    layers = []
    for group in [root, *root.iter(f"{{{SVG_NS}}}g")]:
        paths = group.findall(f"{{{SVG_NS}}}path")
        if not paths:
            continue
        label = group.get(f"{{{INKSCAPE_NS}}}label") or group.get("id") or "strokes"
        points = np.stack([parse_path_data(p.get("d", "")) for p in paths])
        widths = np.array([_stroke_width(p) for p in paths])
        color = paths[0].get("stroke") or "#000000"
        layers.append(StrokeLayer(label, points, widths / 2, color, "display:none" not in group.get("style", "")))
    return round(width), round(height), layers


def _stroke_width(path: etree._Element) -> float:
    style = dict(item.split(":", 1) for item in path.get("style", "").split(";") if ":" in item)
    return _leading_number(style.get("stroke-width") or path.get("stroke-width") or "1")


def _leading_number(text: str) -> float:
    """The number a length such as '600px' or ' 2.5' starts with; ValueError when it starts with none."""
    match = re.match(_NUMBER, text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a length")
    return float(match.group())
