"""Stroke SVG files: writing, reading back, layer modes, and the `mross render` preview."""

from __future__ import annotations

import numpy as np
import pytest
from lxml import etree

from mross_server.cli import main
from mross_server.io.svg import INKSCAPE_NS, StrokeLayer, parse_path_data, path_data, read_svg, round_layers, write_svg
from mross_server.job import RoundResult
from mross_shared.messages import RoiBox


def two_rounds() -> list[RoundResult]:
    first = np.arange(3 * 8, dtype=float).reshape(3, 4, 2)
    second = np.concatenate([first, first[:1] + 50])
    return [
        RoundResult(1, 2, None, first, np.full(3, 1.5), (0, 1, 2), 0.5, 1.0),
        RoundResult(2, 2, RoiBox(10, 10, 20, 20), second, np.full(4, 1.5), (3,), 0.4, 1.0),
    ]


def test_path_data_round_trips():
    points = np.array([[1.25, 2.5], [3.0, -4.125], [5.5, 6.0], [7.0, 8.75]])
    d = path_data(points)
    assert d == "M 1.25 2.5 C 3 -4.12 5.5 6 7 8.75"
    assert np.allclose(parse_path_data(d), points, atol=0.01)
    with pytest.raises(ValueError, match="cubic"):
        parse_path_data("M 0 0 L 1 1")


def test_snapshot_layers_hold_everything_and_only_the_last_is_visible(tmp_path):
    layers = round_layers(two_rounds(), "snapshot")
    assert [len(layer.points) for layer in layers] == [3, 4]
    assert [layer.visible for layer in layers] == [False, True]
    assert layers[1].label == "MROSS round 2 — 4 strokes (ROI 1)"
    write_svg(tmp_path / "s.svg", layers, 120, 80)
    root = etree.parse(str(tmp_path / "s.svg")).getroot()
    assert root.get("viewBox") == "0 0 120 80"
    groups = root.findall("{http://www.w3.org/2000/svg}g")
    assert [g.get(f"{{{INKSCAPE_NS}}}groupmode") for g in groups] == ["layer", "layer"]
    path = groups[0][0]
    assert path.get("fill") == "none" and path.get("stroke-linecap") == "round" and "stroke-width:3" in path.get("style")


def test_delta_layers_hold_only_what_each_round_added(tmp_path):
    layers = round_layers(two_rounds(), "delta")
    assert [len(layer.points) for layer in layers] == [3, 1] and all(layer.visible for layer in layers)
    write_svg(tmp_path / "d.svg", layers, 120, 80)
    width, height, back = read_svg(tmp_path / "d.svg")
    assert (width, height) == (120, 80)
    assert [layer.label for layer in back] == [layer.label for layer in layers]
    assert np.allclose(back[1].points, layers[1].points, atol=0.01)
    assert np.allclose(back[0].half_widths, 1.5)


def test_mross_render_writes_a_png_of_the_visible_strokes(tmp_path):
    from PIL import Image

    layer = StrokeLayer("a", np.array([[[10.0, 40.0], [40.0, 40.0], [70.0, 40.0], [90.0, 40.0]]]), np.array([4.0]))
    write_svg(tmp_path / "a.svg", [layer], 100, 80)
    assert main(["render", str(tmp_path / "a.svg"), "-o", str(tmp_path / "a.png"), "--size", "50"]) == 0
    image = np.asarray(Image.open(tmp_path / "a.png").convert("L"))
    assert image.shape == (40, 50)
    assert image[20, 25] < 20 and image[5, 25] == 255
