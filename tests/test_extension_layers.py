"""Run and round layers: where they go, what they hold, how they are labelled; and reading the selection."""

import inkex
import pytest

import tests.extension_dir  # noqa: F401  (puts the extension's modules on the import path)
from mross_ext.bitmap_size import PixelSize
from mross_ext.errors import ExtensionError
from mross_ext.layers import RunRecord, StrokeStyle, add_sketch_run
from mross_ext.photo_geometry import pixels_to_document
from mross_ext.selection import read_selection
from mross_shared.messages import RoiBox, RoundUpdate, StrokePath
from tests.document_text import without_layout

DOCUMENT = b"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" width="300" height="200" viewBox="0 0 300 200">
  <g id="below" inkscape:groupmode="layer"/>
  <g id="photo_layer" inkscape:groupmode="layer" transform="translate(5,5) scale(2)">
    <g id="frame"><image id="image1" x="10" y="20" width="100" height="100" xlink:href="photo.png"/></g>
  </g>
  <g id="roi_layer" inkscape:groupmode="layer" transform="translate(1,1)">
    <rect id="roi_a" x="30" y="100" width="20" height="20"/>
    <rect id="roi_b" x="60" y="100" width="20" height="20"/>
    <path id="stray" d="M 0 0 L 1 1"/>
  </g>
  <image id="loose_image" x="0" y="0" width="10" height="10" xlink:href="photo.png"/>
</svg>"""

SIZE = PixelSize(200, 100, "image/png")
BLACK = StrokeStyle(inkex.Color("#000000"), 1.0)
SNAPSHOT, DELTA = "snapshot", "delta"
CORNERS = StrokePath("M 0 0 C 0 0 200 100 200 100", 2.0)
DIAGONAL = StrokePath("M 10 10 C 20 20 30 30 40 40", 3.0)
DETAIL = StrokePath("M 5 5 C 6 6 7 7 8 8", 1.0)


def _round(index, paths, added, roi=None):
    return RoundUpdate("job", index, 2, roi, paths, added, loss=None, seconds=1.0)


ROUNDS = (
    _round(1, (CORNERS, DIAGONAL), (0, 1)),
    _round(2, (CORNERS, DIAGONAL, DETAIL), (2,), roi=RoiBox(0, 0, 20, 20)),
)


def _document():
    return inkex.load_svg(DOCUMENT).getroot()


def _add(svg, mode, image_id="image1", style=BLACK, record=None):
    """The round layers of a new run (inside its parent layer)."""
    image = svg.getElementById(image_id)
    parent = add_sketch_run(svg, pixels_to_document(image, SIZE), ROUNDS, mode, style, record or RunRecord(1, image_id, "fast"))
    return list(parent)


def test_a_run_is_one_parent_layer_on_top_holding_its_rounds_in_order():
    svg = _document()
    layers = _add(svg, SNAPSHOT)
    parent = layers[0].getparent()
    order = [child.get("id") for child in svg if isinstance(child, inkex.Group)]
    assert order == ["below", "photo_layer", "roi_layer", "mross-sketch-1"]
    assert isinstance(parent, inkex.Layer) and parent.label == "MROSS sketch 1 — 3 strokes, fast"
    assert (parent.get("data-mross-run"), parent.get("data-mross-photo"), parent.get("data-mross-rounds")) == ("1", "image1", "2")
    assert [layer.get("id") for layer in layers] == ["mross-sketch-1-round-1", "mross-sketch-1-round-2"]
    assert all(isinstance(layer, inkex.Layer) for layer in layers)


def test_a_continued_run_numbers_its_rounds_after_the_old_ones_and_ids_never_clash():
    svg = _document()
    _add(svg, SNAPSHOT)
    layers = _add(svg, SNAPSHOT, record=RunRecord(1, "image1", "quality", first_round=3, continues=1))
    parent = layers[0].getparent()
    assert parent.get("id") == "mross-sketch-1-2" and parent.getprevious().get("id") == "mross-sketch-1"
    assert parent.label == "MROSS sketch 1 — 3 strokes, quality (continues sketch 1)"
    assert parent.get("data-mross-rounds") == "4"
    assert [layer.label for layer in layers] == ["MROSS round 3 — 2 strokes (ROI 2)", "MROSS round 4 — 3 strokes (ROI 3)"]


def test_kept_strokes_keep_their_own_style():
    svg = _document()
    image = svg.getElementById("image1")
    kept = [inkex.Style("stroke:#00ff00;stroke-width:4;stroke-dasharray:2,1")]
    parent = add_sketch_run(svg, pixels_to_document(image, SIZE), ROUNDS, DELTA, BLACK, RunRecord(2, "image1", "fast"), kept)
    first, second = parent
    assert first[0][0].style["stroke"] == "#00ff00" and first[0][0].style["stroke-dasharray"] == "2,1"
    assert first[0][1].style["stroke"] == "#000000" and second[0][0].style["stroke"] == "#000000"


def test_strokes_land_exactly_on_the_bitmap():
    svg = _document()
    layer = _add(svg, SNAPSHOT)[0]
    group = layer[0]
    corner_stroke = group[0]
    box = corner_stroke.bounding_box(group.composed_transform())
    # The photo fills 100×50 of the image's space at (10, 45); the layer's translate(5,5) scale(2) puts
    # that at document (25, 95)..(225, 195), where pixels (0, 0)..(200, 100) must land.
    assert (box.left, box.top, box.right, box.bottom) == pytest.approx((25, 95, 225, 195))


def test_snapshot_layers_hold_everything_and_only_the_last_is_visible():
    svg = _document()
    first, second = _add(svg, SNAPSHOT)
    assert [len(first[0]), len(second[0])] == [2, 3]
    assert first.style.get("display") == "none"
    assert second.style.get("display") in (None, "inline")
    assert first.label == "MROSS round 1 — 2 strokes (whole image)"
    assert second.label == "MROSS round 2 — 3 strokes (ROI 1)"


def test_delta_layers_hold_only_what_each_round_added_and_all_show():
    svg = _document()
    first, second = _add(svg, DELTA)
    assert [len(first[0]), len(second[0])] == [2, 1]
    assert [str(path.path) for path in second[0]] == ["M 5 5 C 6 6 7 7 8 8"]
    assert first.style.get("display") is None and second.style.get("display") is None
    assert second.label == "MROSS round 2 — 1 stroke (ROI 1)"


def test_strokes_are_plain_round_capped_paths_with_scaled_width_and_color():
    svg = _document()
    style = StrokeStyle(inkex.Color(0xFF000080), 2.5)  # RGBA integer, as Inkscape passes colours
    path = _add(svg, DELTA, style=style)[0][0][1]
    assert isinstance(path, inkex.PathElement)
    assert path.style["stroke"] == "#ff0000"
    assert float(path.style["stroke-opacity"]) == pytest.approx(128 / 255, abs=0.01)
    assert float(path.style["stroke-width"]) == pytest.approx(7.5)
    assert (path.style["fill"], path.style["stroke-linecap"], path.style["stroke-linejoin"]) == ("none", "round", "round")


def test_the_rest_of_the_document_is_left_exactly_as_it_was():
    svg = _document()
    before = without_layout(svg.tostring())
    parent = _add(svg, SNAPSHOT)[0].getparent()
    svg.remove(parent)
    assert without_layout(svg.tostring()) == before


def test_unknown_layer_mode_is_refused():
    svg = _document()
    with pytest.raises(ValueError, match="unknown layer mode 'stack'"):
        _add(svg, "stack")


def test_selection_keeps_roi_order_as_selected():
    svg = _document()
    chosen = read_selection([svg.getElementById(i) for i in ("roi_b", "image1", "roi_a")])
    assert chosen.image.get("id") == "image1"
    assert [rect.get("id") for rect in chosen.rois] == ["roi_b", "roi_a"]
    assert read_selection([svg.getElementById("image1")]).rois == ()


@pytest.mark.parametrize(
    "ids, message",
    [
        ((), "select one bitmap image"),
        (("roi_a",), r"exactly one bitmap image to sketch \(0 are selected\)"),
        (("image1", "loose_image"), r"\(2 are selected\)"),
        (("image1", "stray"), "'stray' is a <path>"),
    ],
)
def test_wrong_selections_are_explained(ids, message):
    svg = _document()
    with pytest.raises(ExtensionError, match=message):
        read_selection([svg.getElementById(i) for i in ids])
