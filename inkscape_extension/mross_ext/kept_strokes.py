"""The strokes of a sketch being continued, read as they are now in the document, in photo pixels.

Whatever the illustrator did since the sketch was made counts: moved nodes, deleted strokes, new widths
and colours, strokes drawn by hand into the sketch's layers. Hidden strokes (a hidden round layer, as
every snapshot layer but the last is) are not part of what the illustrator sees, so they are left out.
The server works with single cubic Béziers; a stroke edited into lines, arcs or several segments is
converted and split into single cubics, one per segment, each keeping the stroke's style.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import inkex
from inkex.units import convert_unit

from mross_shared.errors import ProtocolError
from mross_shared.messages import StrokePath

from .errors import ExtensionError
from .photo_geometry import composed_transform
from .sketch_runs import SketchRun

#: Elements that hold strokes; rectangles inside a sketch's layers are regions of interest, not strokes.
STROKE_TYPES = (inkex.PathElement, inkex.Line, inkex.Polyline, inkex.Polygon)
#: The inherited style properties a kept stroke carries over into the new sketch (its own `opacity` too).
KEPT_PROPERTIES = (
    "stroke", "stroke-opacity", "stroke-width", "stroke-linecap", "stroke-linejoin",
    "stroke-dasharray", "stroke-dashoffset", "fill", "fill-opacity",
)
# Narrower strokes than this (in pixels) cannot be sent; a zero width still means "a stroke".
_MIN_WIDTH_PX = 0.01


@dataclass(frozen=True)
class KeptStrokes:
    """A continued sketch's strokes: wire paths (photo pixels), their styles, which must stay put, and counts.

    `styles[i]` is the cascaded style of the element `paths[i]` came from, its stroke-width in pixels.
    """

    paths: tuple[StrokePath, ...]
    styles: tuple[inkex.Style, ...]
    frozen: tuple[int, ...]
    elements: int
    split: int

    def describe(self, run: SketchRun) -> str:
        """One line for the progress window, e.g. 'Continuing MROSS sketch 1: 40 strokes kept, 5 of them frozen'."""
        text = f"Continuing MROSS sketch {run.number}: {_count(len(self.paths), 'stroke')} kept"
        if self.split:
            text += f" ({_count(self.split, 'edited stroke')} turned into single curves)"
        if self.frozen:
            text += f", {len(self.frozen)} of them frozen"
        return text


def read_kept_strokes(run: SketchRun, pixels_to_document: inkex.Transform, freeze_all: bool) -> KeptStrokes:
    """Every visible stroke under `run`'s layer, mapped into photo pixels by the inverse of `pixels_to_document`.

    Strokes the illustrator locked (sodipodi:insensitive), or all of them with `freeze_all`, are frozen.
    Raises ExtensionError when nothing visible is left or a stroke lies absurdly far from the photo.
    """
    to_pixels = -pixels_to_document
    paths: list[StrokePath] = []
    styles: list[inkex.Style] = []
    frozen: list[int] = []
    elements = split = 0
    for element in _visible_strokes(run.layer):
        transform = to_pixels @ composed_transform(element)
        curves = list(_cubics(element.path.to_absolute().transform(transform)))
        if not curves:
            continue
        elements += 1
        split += len(curves) > 1 or not _is_single_cubic(element.path)
        style = _kept_style(element, transform)
        for points in curves:
            if freeze_all or _locked(element, run.layer):
                frozen.append(len(paths))
            paths.append(_stroke_path(points, float(style["stroke-width"]), element))
            styles.append(style)
    if not paths:
        raise ExtensionError(
            f"{run.name} shows no strokes to continue from; make the round layer you want to continue visible"
        )
    return KeptStrokes(tuple(paths), tuple(styles), tuple(frozen), elements, split)


def _visible_strokes(layer: inkex.BaseElement) -> Iterator[inkex.ShapeElement]:
    for element in layer.iterdescendants():
        if isinstance(element, STROKE_TYPES) and not _hidden(element, layer):
            yield element


def _hidden(element: inkex.BaseElement, top: inkex.BaseElement) -> bool:
    """Hidden by its own or an ancestor's display/visibility, up to and including `top`."""
    node = element
    while isinstance(node, inkex.BaseElement):
        style = inkex.Style(node.get("style") or "")
        if "none" in (style.get("display"), node.get("display")) or "hidden" in (style.get("visibility"), node.get("visibility")):
            return True
        if node is top:
            return False
        node = node.getparent()
    return False


def _locked(element: inkex.BaseElement, top: inkex.BaseElement) -> bool:
    node = element
    while isinstance(node, inkex.BaseElement) and node is not top:
        if node.get("sodipodi:insensitive") == "true":
            return True
        node = node.getparent()
    return False


def _cubics(path: inkex.Path) -> Iterator[list[tuple[float, float]]]:
    """Each segment of a path as one cubic's four control points; lines and arcs become cubics too."""
    for subpath in path.to_superpath():
        for start, end in itertools.pairwise(subpath):
            points = [tuple(start[1]), tuple(start[2]), tuple(end[0]), tuple(end[1])]
            if any(math.dist(points[0], point) > 1e-9 for point in points[1:]):
                yield points


def _is_single_cubic(path: inkex.Path) -> bool:
    commands = [segment.letter.upper() for segment in path]
    return commands == ["M", "C"]


def _kept_style(element: inkex.ShapeElement, to_pixels: inkex.Transform) -> inkex.Style:
    """The element's stroke style as inherited down to it, with its width converted into photo pixels."""
    style = _inherited_style(element)
    # A plain number is in the element's user units; CSS units count 96 px (user units) to the inch.
    width = convert_unit(str(style.get("stroke-width", "1")), "px")
    scale = math.sqrt(abs(to_pixels.a * to_pixels.d - to_pixels.b * to_pixels.c))
    style["stroke-width"] = _number(max(width * scale, _MIN_WIDTH_PX))
    return style


def _inherited_style(element: inkex.BaseElement) -> inkex.Style:
    """KEPT_PROPERTIES from the element's and its ancestors' style and presentation attributes, nearest first.

    inkex's own specified_style() would do the full cascade, but in inkex 1.2 it writes ids onto every
    element it passes, and an earlier sketch must stay untouched. Stylesheets are not consulted.
    """
    style = inkex.Style()
    own = inkex.Style(element.get("style") or "").get("opacity") or element.get("opacity")
    if own is not None:
        style["opacity"] = own
    node = element
    while isinstance(node, inkex.BaseElement):
        declared = inkex.Style(node.get("style") or "")
        for name in KEPT_PROPERTIES:
            value = declared.get(name) or node.get(name)
            if name not in style and value is not None:
                style[name] = value
        node = node.getparent()
    return style


def _stroke_path(points: list[tuple[float, float]], width: float, element: inkex.BaseElement) -> StrokePath:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    d = f"M {_number(x0)} {_number(y0)} C {_number(x1)} {_number(y1)} {_number(x2)} {_number(y2)} {_number(x3)} {_number(y3)}"
    try:
        return StrokePath(d, width)
    except ProtocolError:
        raise ExtensionError(
            f"the sketch's stroke '{element.get('id')}' lies too far outside the photo to be sketched on; move or delete it"
        ) from None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _number(value: float) -> str:
    """A coordinate as the wire writes it: plain decimal, at most three places."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
