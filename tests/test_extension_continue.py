"""Continuing a sketch, without a server: finding the sketch in the selection and reading its strokes as they are now.

The document holds a photo and an earlier MROSS run as the extension writes it, which an illustrator then
edited: a node moved, a stroke turned into a line, one stroke extended by a second segment, one restyled,
one locked, one deleted, and a hidden snapshot layer underneath.
"""

import inkex
import pytest

import tests.extension_dir  # noqa: F401  (puts the extension's modules on the import path)
from mross_ext.bitmap_size import PixelSize
from mross_ext.errors import ExtensionError
from mross_ext.kept_strokes import read_kept_strokes
from mross_ext.photo_geometry import pixels_to_document
from mross_ext.selection import read_selection
from mross_ext.sketch_runs import next_run_number, run_label, run_of

# The photo is 200×100 pixels, drawn at (10, 20) with 0.5 units per pixel; the round group maps pixels
# onto it (translate(10,20) scale(0.5)), so a path at pixel (x, y) shows at document (10 + x/2, 20 + y/2).
DOCUMENT = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
  xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd" width="300" height="200" viewBox="0 0 300 200">
  <g id="photo_layer" inkscape:groupmode="layer">
    <image id="image1" x="10" y="20" width="100" height="50" xlink:href="photo.png"/>
    <image id="image2" x="150" y="20" width="100" height="50" xlink:href="photo.png"/>
  </g>
  <g id="roi_layer" inkscape:groupmode="layer"><rect id="roi_a" x="20" y="25" width="20" height="20"/></g>
  <g id="run1" inkscape:groupmode="layer" inkscape:label="MROSS sketch 1 — 5 strokes, fast"
     data-mross-run="1" data-mross-photo="image1" data-mross-rounds="2">
    <g id="run1_r1" inkscape:groupmode="layer" style="display:none">
      <g transform="translate(10,20) scale(0.5)">
        <path id="hidden_old" d="M 0 0 C 1 1 2 2 3 3" style="fill:none;stroke:#000000;stroke-width:2"/>
      </g>
    </g>
    <g id="run1_r2" inkscape:groupmode="layer">
      <g id="round_group" transform="translate(10,20) scale(0.5)" style="stroke:#000000">
        <path id="untouched" d="M 10 10 C 20 20 30 20 40 10" style="fill:none;stroke-width:2"/>
        <path id="node_moved" d="m 50 50 c 10 -10 20 -10 30 0" style="fill:none;stroke-width:2"/>
        <path id="now_a_line" d="M 100 20 L 140 60" style="fill:none;stroke-width:2"/>
        <path id="extended" d="M 150 80 C 160 70 170 70 180 80 C 185 85 190 90 195 95" style="fill:none;stroke-width:2"/>
        <path id="restyled" d="M 5 90 C 20 80 40 80 60 90" style="fill:none;stroke:#ff0000;stroke-width:3mm"/>
        <path id="locked" sodipodi:insensitive="true" d="M 60 5 C 70 5 80 5 90 5" style="fill:none;stroke-width:2"/>
        <path id="hidden_one" d="M 0 50 C 1 50 2 50 3 50" style="display:none;fill:none;stroke-width:2"/>
        <rect id="roi_in_sketch" x="0" y="0" width="20" height="20"/>
      </g>
    </g>
  </g>
  <path id="stray" d="M 0 0 L 1 1"/>
</svg>""".encode()
SIZE = PixelSize(200, 100, "image/png")


def _document():
    return inkex.load_svg(DOCUMENT).getroot()


def _kept(svg, freeze=False):
    image = svg.getElementById("image1")
    return read_kept_strokes(run_of(svg.getElementById("run1")), pixels_to_document(image, SIZE), freeze)


def _points(path):
    return [float(v) for v in path.d.replace("M", "").replace("C", "").split()]


def test_visible_strokes_come_back_in_photo_pixels_as_they_are_now():
    kept = _kept(_document())
    ds = [path.d for path in kept.paths]
    assert ds[0] == "M 10 10 C 20 20 30 20 40 10"
    assert ds[1] == "M 50 50 C 60 40 70 40 80 50", "relative node edits are read as absolute pixels"
    # The line became one cubic along it; the two-segment stroke became two single cubics.
    line = _points(kept.paths[2])
    assert line[:2] == [100, 20] and line[-2:] == [140, 60]
    assert all(abs((y - 20) - (x - 100)) < 1e-6 for x, y in zip(line[0::2], line[1::2]))
    assert ds[3:5] == ["M 150 80 C 160 70 170 70 180 80", "M 180 80 C 185 85 190 90 195 95"]
    assert len(kept.paths) == 7 and kept.elements == 6 and kept.split == 2
    assert "hidden" not in " ".join(ds) and not any(d.startswith("M 0 ") for d in ds)


def test_widths_become_photo_pixels_and_styles_carry_over():
    kept = _kept(_document())
    # 2 user units inside the ×0.5 group are 2 pixels; 3 mm are 3 × 3.7795 user units.
    assert [path.width for path in kept.paths[:2]] == [2.0, 2.0]
    assert kept.paths[5].width == pytest.approx(3 * 96 / 25.4, abs=1e-3)
    restyled = kept.styles[5]
    assert restyled["stroke"] == "#ff0000" and float(restyled["stroke-width"]) == pytest.approx(kept.paths[5].width, abs=1e-3)
    assert kept.styles[0]["stroke"] == "#000000", "a colour set on the group is inherited"


def test_locked_strokes_are_frozen_and_freeze_all_freezes_every_one():
    assert _kept(_document()).frozen == (6,)
    assert _kept(_document(), freeze=True).frozen == tuple(range(7))


def test_moving_the_sketch_moves_its_strokes_on_the_photo():
    svg = _document()
    svg.getElementById("run1_r2").set("transform", "translate(5,0)")
    assert _kept(svg).paths[0].d == "M 20 10 C 30 20 40 20 50 10", "5 units right are 10 pixels"


def test_a_sketch_with_nothing_visible_says_what_to_do():
    svg = _document()
    svg.getElementById("run1_r2").style["display"] = "none"
    with pytest.raises(ExtensionError, match="'run1' is the MROSS sketch 'MROSS sketch 1 — 5 strokes, fast' shows no strokes"):
        _kept(svg)


def test_a_stroke_far_off_the_photo_is_named():
    svg = _document()
    svg.getElementById("untouched").set("d", "M 1e9 0 C 1 1 2 2 3 3")
    with pytest.raises(ExtensionError, match="stroke 'untouched' lies too far outside the photo"):
        _kept(svg)


def test_any_part_of_a_sketch_selects_it_for_continuing():
    svg = _document()
    for part in ("run1", "run1_r2", "round_group", "node_moved"):
        chosen = read_selection([svg.getElementById(i) for i in ("image1", part, "roi_a")])
        assert chosen.continued.layer.get("id") == "run1" and chosen.continued.rounds == 2
        assert [rect.get("id") for rect in chosen.rois] == ["roi_a"]
    # A rectangle drawn inside the sketch's layer is a new region, not part of the sketch.
    chosen = read_selection([svg.getElementById(i) for i in ("image1", "roi_in_sketch", "untouched")])
    assert [rect.get("id") for rect in chosen.rois] == ["roi_in_sketch"] and chosen.continued is not None
    assert read_selection([svg.getElementById(i) for i in ("image1", "roi_a")]).continued is None


@pytest.mark.parametrize(
    "ids, message",
    [
        (
            ("image1", "round_group"),
            "'run1' is the MROSS sketch 'MROSS sketch 1 — 5 strokes, fast' — to continue it, select it together with "
            "the photo and new rectangles; to start over, select only the photo and rectangles",
        ),
        (("image2", "run1", "roi_a"), "drawn over the photo 'image1', not over the selected 'image2'"),
        (("image1", "stray"), "'stray' is a <path>"),
    ],
)
def test_wrong_selections_with_a_sketch_are_explained(ids, message):
    svg = _document()
    with pytest.raises(ExtensionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_selection([svg.getElementById(i) for i in ids])


def test_runs_are_numbered_after_the_highest_one_and_labelled():
    svg = _document()
    assert next_run_number(svg) == 2
    svg.getElementById("run1").set("data-mross-run", "7")
    assert next_run_number(svg) == 8
    assert run_label(2, 48, "fast", None) == "MROSS sketch 2 — 48 strokes, fast"
    assert run_label(3, 1, "quality", 2) == "MROSS sketch 3 — 1 stroke, quality (continues sketch 2)"
    assert run_of(svg.getElementById("stray")) is None
