"""Photo placement (preserveAspectRatio, transforms) and ROI rectangles mapped into photo pixels."""

import inkex
import pytest

import tests.extension_dir  # noqa: F401  (puts the extension's modules on the import path)
from mross_ext.bitmap_size import PixelSize
from mross_ext.errors import ExtensionError
from mross_ext.photo_geometry import pixels_to_document, pixels_to_image_space, roi_to_pixels, visible_pixels

WIDE = PixelSize(200, 100, "image/png")

# The scene of inkscape.md 1.4: a 200×100 bitmap in a 100×100 box (meet: drawn 100×50 at y=45) inside a
# layer scaled by 2, and ROI rectangles drawn in another layer.
SCENE = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" width="300" height="200" viewBox="0 0 300 200">
  <g id="photo_layer" inkscape:groupmode="layer" transform="translate(5,5) scale(2)">
    <image id="image1" x="10" y="20" width="100" height="100" {par} xlink:href="photo.png"/>
  </g>
  <g id="roi_layer" inkscape:groupmode="layer">
    <rect id="whole_top_left" x="25" y="95" width="100" height="50"/>
    <rect id="moved" x="0" y="0" width="10" height="10" transform="translate(205,135)"/>
    <rect id="overhang" x="200" y="130" width="100" height="100"/>
    <rect id="left_edge" x="5" y="95" width="40" height="20"/>
    <rect id="far_away" x="1000" y="1000" width="10" height="10"/>
    <rect id="speck" x="30" y="100" width="0.5" height="0.5"/>
    <rect id="rotated" x="50" y="100" width="20" height="20" transform="rotate(30 60 110)"/>
    <rect id="quarter_turn" x="50" y="100" width="20" height="10" transform="rotate(90 60 110)"/>
    <g transform="matrix(0.5 0 0 0.5 12.5 47.5)"><rect id="nested" x="25" y="95" width="100" height="50"/></g>
  </g>
</svg>"""


def _scene(par=""):
    svg = inkex.load_svg(SCENE.format(par=par).encode()).getroot()
    return svg, svg.getElementById("image1")


def _pixels(svg, image, rect_id, size=WIDE):
    roi = roi_to_pixels(svg.getElementById(rect_id), image, size)
    return [round(value, 6) for value in roi.as_tuple()]


def test_default_meet_centres_the_bitmap_and_composes_the_layer_transform():
    _, image = _scene()
    assert pixels_to_image_space(image, WIDE) == inkex.Transform("translate(10, 45) scale(0.5)")
    assert pixels_to_document(image, WIDE) == inkex.Transform("translate(25, 95)")


def test_rois_map_into_pixels_through_every_transform():
    svg, image = _scene()
    assert _pixels(svg, image, "whole_top_left") == [0, 0, 100, 50]
    assert _pixels(svg, image, "moved") == [180, 40, 10, 10]
    assert _pixels(svg, image, "nested") == [0, 0, 50, 25]


def test_roi_overhanging_the_photo_is_clipped():
    svg, image = _scene()
    assert _pixels(svg, image, "overhang") == [175, 35, 25, 65]
    assert _pixels(svg, image, "left_edge") == [0, 0, 20, 20]


def test_rotated_roi_uses_its_axis_aligned_box_and_says_so():
    svg, image = _scene()
    roi = roi_to_pixels(svg.getElementById("rotated"), image, WIDE)
    side = 20 * (3**0.5 / 2 + 0.5)
    assert roi.approximated
    # inkex keeps rotation matrices to a few decimals, hence the tolerance.
    assert roi.as_tuple() == pytest.approx((35 - side / 2, 15 - side / 2, side, side), abs=1e-4)
    quarter = roi_to_pixels(svg.getElementById("quarter_turn"), image, WIDE)
    assert not quarter.approximated
    assert [round(v, 6) for v in quarter.as_tuple()] == [35, 5, 10, 20]


@pytest.mark.parametrize(
    "rect_id, message",
    [("far_away", "'far_away' lies outside the photo"), ("speck", "'speck' covers less than one pixel")],
)
def test_unusable_rois_are_refused(rect_id, message):
    svg, image = _scene()
    with pytest.raises(ExtensionError, match=message):
        roi_to_pixels(svg.getElementById(rect_id), image, WIDE)


@pytest.mark.parametrize(
    "par, expected",
    [
        ('preserveAspectRatio="none"', "translate(10, 20) scale(0.5, 1)"),
        ('preserveAspectRatio="xMinYMin meet"', "translate(10, 20) scale(0.5)"),
        ('preserveAspectRatio="xMaxYMax"', "translate(10, 70) scale(0.5)"),
        ('preserveAspectRatio="defer xMidYMid slice"', "translate(-40, 20)"),
        ('preserveAspectRatio="xMaxYMid slice"', "translate(-90, 20)"),
    ],
)
def test_preserve_aspect_ratio_variants(par, expected):
    _, image = _scene(par)
    assert pixels_to_image_space(image, WIDE) == inkex.Transform(expected)


def test_slice_limits_rois_to_the_visible_crop():
    svg, image = _scene('preserveAspectRatio="xMidYMid slice"')
    visible = visible_pixels(image, WIDE)
    assert (visible.left, visible.right, visible.top, visible.bottom) == (50, 150, 0, 100)
    # left_edge covers doc (5..45, 95..115), the image's space (0..20, 45..55), so pixels (40..60, 25..35)
    # under translate(-40, 20): its left half falls in the margin that the slice crops away.
    assert _pixels(svg, image, "left_edge") == [50, 25, 10, 10]


def test_invalid_preserve_aspect_ratio_is_reported():
    _, image = _scene('preserveAspectRatio="xCenterYMid"')
    with pytest.raises(ExtensionError, match="preserveAspectRatio 'xCenterYMid' is not valid"):
        pixels_to_image_space(image, WIDE)


def test_missing_width_or_height_follows_the_bitmaps_aspect():
    svg = inkex.load_svg(
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<image id="w" x="0" y="0" width="50" xlink:href="a.png"/>'
        b'<image id="h" x="0" y="0" height="50" xlink:href="a.png"/>'
        b'<image id="none" x="3" y="4" xlink:href="a.png"/></svg>'
    ).getroot()
    assert pixels_to_image_space(svg.getElementById("w"), WIDE) == inkex.Transform("scale(0.25)")
    assert pixels_to_image_space(svg.getElementById("h"), WIDE) == inkex.Transform("scale(0.5)")
    assert pixels_to_image_space(svg.getElementById("none"), WIDE) == inkex.Transform("translate(3, 4)")


def test_document_units_are_converted():
    svg = inkex.load_svg(
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        b' width="100mm" height="50mm" viewBox="0 0 100 50">'
        b'<image id="i" x="0" y="0" width="100" height="50" xlink:href="a.png"/>'
        b'<rect id="r" x="50" y="0" width="50" height="25"/></svg>'
    ).getroot()
    image = svg.getElementById("i")
    assert [round(v, 6) for v in roi_to_pixels(svg.getElementById("r"), image, WIDE).as_tuple()] == [100, 0, 100, 50]
