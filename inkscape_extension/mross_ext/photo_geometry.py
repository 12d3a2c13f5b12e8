"""Where the photo's pixels lie in the document, and which photo pixels a ROI rectangle covers.

The photo's pixel grid reaches the document through the <image> box and its preserveAspectRatio, then
through every transform up to the root; ROI rectangles reach it through their own chain. Everything goes
through inkex's Transform and BoundingBox so both chains compose the way Inkscape draws them.

Transforms are read from the raw attributes, never through inkex's `transform` property or `get`:
those rewrite the attribute they read (as a matrix), and the document must come back as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import inkex

from .bitmap_size import PixelSize
from .errors import ExtensionError

_ALIGN_FRACTIONS = {"Min": 0.0, "Mid": 0.5, "Max": 1.0}
# Below this a matrix entry counts as zero when deciding whether a ROI stays axis-aligned.
_AXIS_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PixelRoi:
    """A ROI in photo pixels (top-left corner plus size) and the rectangle it came from."""

    x: float
    y: float
    width: float
    height: float
    element_id: str
    approximated: bool
    """True when the rectangle is rotated or skewed relative to the photo, so its axis-aligned box was used."""

    def as_tuple(self) -> tuple[float, float, float, float]:
        """The ROI as (x, y, width, height), the form the sketch client sends."""
        return (self.x, self.y, self.width, self.height)


def pixels_to_image_space(image: inkex.Image, size: PixelSize) -> inkex.Transform:
    """Map photo pixels into the <image> element's own user space, honouring preserveAspectRatio.

    The result is the transform that would draw a width×height pixel grid exactly where Inkscape
    draws the bitmap inside the element's x/y/width/height box.
    """
    box_w, box_h = _box_size(image, size)
    align, meet_or_slice = _parse_aspect_ratio(image.get("preserveAspectRatio") or "")
    scale_x, scale_y = box_w / size.width, box_h / size.height
    offset_x = offset_y = 0.0
    if align != "none":
        pick = min if meet_or_slice == "meet" else max
        scale_x = scale_y = pick(scale_x, scale_y)
        offset_x = (box_w - size.width * scale_x) * _ALIGN_FRACTIONS[align[1:4]]
        offset_y = (box_h - size.height * scale_y) * _ALIGN_FRACTIONS[align[5:8]]
    return inkex.Transform(translate=(image.left + offset_x, image.top + offset_y)) @ inkex.Transform(
        scale=(scale_x, scale_y)
    )


def pixels_to_document(image: inkex.Image, size: PixelSize) -> inkex.Transform:
    """Map photo pixels into document (root) user units through every ancestor transform."""
    return composed_transform(image) @ pixels_to_image_space(image, size)


def composed_transform(element: inkex.BaseElement) -> inkex.Transform:
    """The map from `element`'s own user space to the document's, its own transform included."""
    result = inkex.Transform()
    node = element
    while isinstance(node, inkex.BaseElement):
        result = inkex.Transform(node.attrib.get("transform")) @ result
        node = node.getparent()
    return result


def visible_pixels(image: inkex.Image, size: PixelSize) -> inkex.BoundingBox:
    """The part of the pixel grid Inkscape shows: all of it, except what a `slice` crops away."""
    grid = inkex.BoundingBox((0.0, float(size.width)), (0.0, float(size.height)))
    box_w, box_h = _box_size(image, size)
    return grid & _mapped_box(-pixels_to_image_space(image, size), image.left, image.top, box_w, box_h)


def roi_to_pixels(rect: inkex.Rectangle, image: inkex.Image, size: PixelSize) -> PixelRoi:
    """Map a ROI rectangle into the photo's pixel grid, clipped to the visible photo.

    A rectangle that is rotated or skewed relative to the photo is replaced by its axis-aligned box
    (flagged as `approximated`); stroke width is ignored.
    """
    rect_to_pixels = -pixels_to_document(image, size) @ composed_transform(rect)
    outline = _mapped_box(rect_to_pixels, rect.left, rect.top, rect.width, rect.height)
    box = outline & visible_pixels(image, size)
    element_id = rect.get("id") or "(unnamed rectangle)"
    if not box or box.width <= 0 or box.height <= 0:
        raise ExtensionError(f"the ROI rectangle '{element_id}' lies outside the photo")
    if box.width < 1 or box.height < 1:
        raise ExtensionError(f"the ROI rectangle '{element_id}' covers less than one pixel of the photo")
    return PixelRoi(box.left, box.top, box.width, box.height, element_id, not _is_axis_aligned(rect_to_pixels))


def _mapped_box(transform: inkex.Transform, x: float, y: float, width: float, height: float) -> inkex.BoundingBox:
    """The axis-aligned box around a rectangle after `transform`."""
    # An affine map sends a rectangle to a parallelogram, whose bounding box its corners give.
    corners = [transform.apply_to_point((cx, cy)) for cx in (x, x + width) for cy in (y, y + height)]
    xs, ys = [corner.x for corner in corners], [corner.y for corner in corners]
    return inkex.BoundingBox((min(xs), max(xs)), (min(ys), max(ys)))


def _box_size(image: inkex.Image, size: PixelSize) -> tuple[float, float]:
    """The <image> box, filling a missing width or height from the bitmap's aspect as SVG 2's `auto` does."""
    width, height = image.width, image.height
    if width and height:
        return width, height
    if width:
        return width, width * size.height / size.width
    if height:
        return height * size.width / size.height, height
    return float(size.width), float(size.height)


def _parse_aspect_ratio(value: str) -> tuple[str, str]:
    words = [word for word in value.split() if word != "defer"]
    align = words[0] if words else "xMidYMid"
    meet_or_slice = words[1] if len(words) > 1 else "meet"
    valid_align = align == "none" or (
        len(align) == 8 and align[0] == "x" and align[4] == "Y" and {align[1:4], align[5:8]} <= set(_ALIGN_FRACTIONS)
    )
    if not valid_align or meet_or_slice not in ("meet", "slice"):
        raise ExtensionError(f"the image's preserveAspectRatio '{value}' is not valid SVG")
    return align, meet_or_slice


def _is_axis_aligned(transform: inkex.Transform) -> bool:
    no_shear = abs(transform.b) < _AXIS_TOLERANCE and abs(transform.c) < _AXIS_TOLERANCE
    quarter_turn = abs(transform.a) < _AXIS_TOLERANCE and abs(transform.d) < _AXIS_TOLERANCE
    return no_shear or quarter_turn
