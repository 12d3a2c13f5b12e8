"""End to end through real Inkscape 1.2 under Xvfb: install.py into a fresh HOME, then run the effect twice.

The document holds an embedded photo and three ROI rectangles; the extension runs from Inkscape's menu
action with short jobs against a server it starts itself (auto-start). The first run sketches the photo
with two ROIs: one parent layer with three round layers with the right stroke counts, lying on the photo.
The second run continues that sketch with the third rectangle: a second parent layer on top, holding one
new round layer. PNGs of the results are kept under $MROSS_TEST_ARTEFACTS (default: the test's temporary
folder) for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.document_text import without_layout
from tests.inkscape_home import PHOTO_BOX, artefact_dir, set_up, write_preferences

pytestmark = pytest.mark.skipif(
    not (shutil.which("inkscape") and shutil.which("xvfb-run")), reason="needs Inkscape and xvfb-run (apt)"
)

STROKES = 16
ADDED = 6
# Written as Inkscape's own preferences, because `.noprefs` actions take their parameters from there.
PARAMETERS = {"strokes": STROKES, "preset": "fast", "iterations": 3, "layer_mode": "snapshot", "autostart": "true"}
SVG_NS = {"svg": "http://www.w3.org/2000/svg", "inkscape": "http://www.inkscape.org/namespaces/inkscape"}
LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"


def test_installed_extension_sketches_and_continues_a_sketch_inside_real_inkscape(inkscape_home, tmp_path):
    env, document = set_up(inkscape_home, tmp_path, PARAMETERS)

    first = _run_effect(document, "image1,roi1,roi2", tmp_path / "sketched.svg", env)
    (run,) = _runs(first)
    layers = list(run)
    labels = [layer.get(LABEL) for layer in layers]
    counts = [len(layer.findall(".//svg:path", SVG_NS)) for layer in layers]
    assert run.get(LABEL) == f"MROSS sketch 1 — {STROKES} strokes, fast" and run.get("data-mross-run") == "1"
    assert len(layers) == 3, labels
    assert labels[0].startswith("MROSS round 1 — ") and labels[0].endswith("(whole image)")
    assert labels[1].endswith("(ROI 1)") and labels[2].endswith("(ROI 2)")
    assert [f"— {n} strokes" in label for n, label in zip(counts, labels)] == [True] * 3
    assert counts[0] < counts[1] < counts[2] == STROKES
    assert [layer.get("style") for layer in layers[:2]] == ["display:none"] * 2
    for layer in layers:
        _assert_strokes_on_photo(layer)

    # Continue the sketch: select the photo, the sketch's parent layer and the third rectangle.
    write_preferences(inkscape_home, {"strokes": ADDED})
    second = _run_effect(first, f"image1,{run.get('id')},roi3", tmp_path / "continued.svg", env)
    runs = _runs(second)
    assert [g.get("id") for g in runs] == [run.get("id"), list(ET.parse(second).getroot())[-1].get("id")], "the new sketch is on top"
    old, new = runs
    assert without_layout(ET.tostring(old)).strip() == without_layout(ET.tostring(run)).strip(), "the first sketch is left as it was"
    assert new.get(LABEL) == f"MROSS sketch 2 — {STROKES + ADDED} strokes, fast (continues sketch 1)"
    (round_layer,) = list(new)
    assert round_layer.get(LABEL) == f"MROSS round 4 — {STROKES + ADDED} strokes (ROI 3)"
    _assert_strokes_on_photo(round_layer)

    pictures = artefact_dir(tmp_path)
    for svg, name in ((first, "inkscape_e2e_sketch.png"), (second, "inkscape_e2e_continued.png")):
        exported = subprocess.run(
            ["inkscape", str(svg), "--export-type=png", f"--export-filename={pictures / name}", "--export-dpi=150"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert exported.returncode == 0 and (pictures / name).stat().st_size > 1000, exported.stderr


def _run_effect(document: Path, selection: str, result: Path, env: dict[str, str]) -> Path:
    """Select `selection` (ids), run the effect with the stored settings, and save the document as `result`."""
    actions = f"select-by-id:{selection};org.mross.sketch.noprefs;export-filename:{result};export-do"
    run = subprocess.run(
        ["timeout", "180", "xvfb-run", "-a", "inkscape", "--with-gui", "--batch-process", f"--actions={actions}", str(document)],
        env=env, capture_output=True, text=True, timeout=200,
    )
    assert run.returncode == 0, run.stderr
    assert result.is_file(), run.stderr
    return result


def _runs(svg: Path) -> list[ET.Element]:
    root = ET.parse(svg).getroot()
    return [g for g in root.findall("svg:g", SVG_NS) if g.get("data-mross-run")]


def _assert_strokes_on_photo(layer: ET.Element) -> None:
    """Every control point, mapped through the group's translate/scale, lies on the photo (1 unit slack)."""
    group = layer.find("svg:g", SVG_NS)
    scale_x, _, _, scale_y, shift_x, shift_y = _matrix(group.get("transform"))
    left, top, right, bottom = PHOTO_BOX
    for path in group.findall("svg:path", SVG_NS):
        numbers = [float(token) for token in path.get("d").replace(",", " ").split() if token not in ("M", "C")]
        for x, y in zip(numbers[0::2], numbers[1::2]):
            doc_x, doc_y = shift_x + scale_x * x, shift_y + scale_y * y
            assert left - 1 <= doc_x <= right + 1 and top - 1 <= doc_y <= bottom + 1, (doc_x, doc_y)


def _matrix(transform: str) -> tuple[float, ...]:
    """Inkscape writes a group transform as scale(...), translate(...) or matrix(...)."""
    name, _, args = transform.partition("(")
    values = [float(v) for v in args.rstrip(")").replace(",", " ").split()]
    if name == "matrix":
        return tuple(values)
    if name == "scale":
        return (values[0], 0, 0, values[-1], 0, 0)
    if name == "translate":
        return (1, 0, 0, 1, values[0], values[1] if len(values) > 1 else 0)
    raise AssertionError(f"unexpected group transform {transform}")
