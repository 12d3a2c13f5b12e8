"""The whole effect through inkex.tester, against a real mross-server subprocess on loopback.

Run under both inkex 1.2 (Inkscape's, /usr/bin/python3) and inkex 1.4 (PyPI). Strokes come from a real
optimization with the server's tiny `test` preset; their path data is hidden from the reference
comparison (it depends on floating point), everything else — layers, labels, counts, transforms,
styles and the untouched rest of the document — is compared exactly. When the server's output
legitimately changes (stroke budget, widths), regenerate the references with
`EXPORT_COMPARE=3 pytest tests/test_extension_effect.py` and review the diff.

The effect runs without a display here (DISPLAY is emptied for the module), as it does without GTK:
errors then reach stderr for Inkscape's dialog, and no window waits for a click.
"""

import json
import os
import re
import subprocess
import sys
import time
from contextlib import redirect_stderr
from io import BytesIO, StringIO
from unittest.mock import patch

import inkex
import pytest
from inkex.base import ABORT_STATUS
from inkex.tester import ComparisonMixin, TestCase
from inkex.tester.filters import Compare, CompareNumericFuzzy
from inkex.tester.inx import InxMixin

from mross_sketch import Sketch
from tests.document_text import without_layout
from tests.extension_dir import EXTENSION_DIR
from tests.server_process import running_server

SCENE = "svg/mross_scene.svg"
# The server's tiny preset: a 3-round job takes well under a second.
JOB = ("--preset=test", "--strokes=12", "--autostart=false")


class StrokeDataHidden(Compare):
    """Replaces path data by a marker, keeping every other attribute for the comparison."""

    @staticmethod
    def filter(contents):
        return re.sub(rb'\sd="M [^"]*"', b' d="(stroke)"', contents)


@pytest.fixture(scope="module", autouse=True)
def sketch_server(tmp_path_factory):
    """One real server for this module, found through MROSS_CONFIG_DIR like a user's default server."""
    config_dir = tmp_path_factory.mktemp("mross-config")
    headless = dict.fromkeys(("DISPLAY", "WAYLAND_DISPLAY"), "")
    with patch.dict(os.environ, {"MROSS_CONFIG_DIR": str(config_dir), **headless}), running_server(config_dir) as connection_file:
        yield connection_file


def _runs(svg):
    """The MROSS parent layers at the document's top level, bottom to top."""
    return [g for g in svg if isinstance(g, inkex.Layer) and g.get("data-mross-run")]


class SketchComparisons(ComparisonMixin, TestCase):
    """0, 1 and 2 ROIs; embedded and linked photos; transformed photo, ROIs and preserveAspectRatio."""

    effect_class = Sketch
    compare_file = SCENE
    compare_filters = (StrokeDataHidden(), CompareNumericFuzzy())
    comparisons = (
        (*JOB, "--id=image1"),
        (*JOB, "--id=image1", "--id=roi1", "--layer_mode=delta"),
        (*JOB, "--id=image1", "--id=roi2", "--id=roi1"),
        (*JOB, "--id=image_linked", "--id=roi3", "--stroke_color=4278190335", "--stroke_width=2"),
    )


class SketchInx(InxMixin, TestCase):
    """The .inx matches the script's arguments and defaults, and sets the limits Inkscape needs."""

    def test_inx_matches_the_script(self):
        cwd = os.getcwd()
        os.chdir(EXTENSION_DIR)  # inkex loads the script named in the .inx relative to the cwd
        try:
            self.assertInxIsGood("mross_sketch.inx")
        finally:
            os.chdir(cwd)

    @pytest.mark.skipif(not hasattr(InxMixin, "assertInxSchemaValid"), reason="inkex 1.4 brings the .inx schemas")
    def test_inx_follows_the_schema(self):
        self.assertInxSchemaValid(str(EXTENSION_DIR / "mross_sketch.inx"))

    def test_every_number_has_an_explicit_maximum_and_no_underscore_in_the_id(self):
        inx = (EXTENSION_DIR / "mross_sketch.inx").read_text()
        numbers = re.findall(r'<param name="(\w+)" type="(?:int|float)"([^>]*)>', inx)
        assert numbers and all('max="' in attrs for _, attrs in numbers)
        assert "<id>org.mross.sketch</id>" in inx and 'needs-live-preview="false"' in inx


class SketchRuns(TestCase):
    """Behaviour beyond the reference files: what is sent, notes, and every error sentence."""

    effect_class = Sketch

    def setUp(self):
        super().setUp()
        environment = patch.dict(os.environ, {"DOCUMENT_PATH": self.data_file(SCENE)})
        environment.start()
        self.addCleanup(environment.stop)

    def _abort(self, *args):
        """Run the effect on the scene expecting an abort; return the message."""
        return self._abort_on(self.data_file(SCENE), *args)

    def _abort_on(self, document, *args):
        """Run the effect expecting an abort; check the document is untouched and return the message."""
        effect = Sketch()
        stderr = StringIO()
        output = BytesIO()
        with redirect_stderr(stderr), self.assertRaises(SystemExit) as stopped:
            effect.run([document, *args], output=output)
        self.assertEqual(stopped.exception.code, ABORT_STATUS)
        self.assertEqual(output.getvalue(), b"", "an aborted run must not write a document")
        original = inkex.load_svg(document).getroot()
        self.assertEqual(effect.svg.tostring(), original.tostring(), "the document was changed")
        message = stderr.getvalue().strip()
        self.assertNotIn("Traceback", message)
        self.assertEqual(len(message.splitlines()), 1, message)
        return message

    def _sketch(self, document, *args):
        """Run the effect on `document` (a path); return it and the path of the document it wrote."""
        effect = Sketch()
        output = os.path.join(self.tempdir, f"out{len(os.listdir(self.tempdir))}.svg")
        with redirect_stderr(StringIO()) as stderr:
            effect.run([document, *args], output=output)
        self.assertEqual(stderr.getvalue(), "")
        return effect, output

    def test_layers_hold_the_right_stroke_counts_inside_the_photo(self):
        effect = self.assertEffect(SCENE, args=[*JOB, "--id=image1", "--id=roi1", "--id=roi2"])
        (run,) = _runs(effect.svg)
        layers = list(run)
        counts = [len(layer[0]) for layer in layers]
        self.assertEqual(len(layers), 3)
        self.assertEqual(counts[-1], 12, "the last snapshot holds every stroke")
        self.assertTrue(counts[0] < counts[1] < counts[2])
        self.assertRegex(layers[1].label, r"^MROSS round 2 — \d+ strokes \(ROI 1\)$")
        effect.svg.remove(run)
        original = inkex.load_svg(self.data_file(SCENE)).getroot()
        self.assertEqual(without_layout(effect.svg.tostring()), without_layout(original.tostring()), "content changed")
        photo = inkex.BoundingBox((10, 10 + 96), (10, 10 + 64))  # image1 as drawn in the document
        for path in layers[-1][0]:
            box = path.bounding_box(inkex.Transform(layers[-1][0].get("transform")))
            self.assertTrue(photo.left - 1 <= box.left and box.right <= photo.right + 1, box)
            self.assertTrue(photo.top - 1 <= box.top and box.bottom <= photo.bottom + 1, box)

    def test_each_run_is_a_parent_layer_on_top_and_earlier_runs_stay_untouched(self):
        _, first = self._sketch(self.data_file(SCENE), *JOB, "--id=image1", "--id=roi1")
        effect, _ = self._sketch(first, *JOB, "--strokes=8", "--preset=test", "--id=image1", "--id=roi2", "--layer_mode=delta")
        runs = _runs(effect.svg)
        self.assertIs(effect.svg[-1], runs[-1], "the newest sketch is on top of everything")
        self.assertEqual([run.label for run in runs], ["MROSS sketch 1 — 12 strokes, test", "MROSS sketch 2 — 8 strokes, test"])
        self.assertEqual([run.get("data-mross-run") for run in runs], ["1", "2"])
        self.assertEqual([[layer.label.split(" — ")[0] for layer in run] for run in runs], [["MROSS round 1", "MROSS round 2"]] * 2)
        self.assertEqual([layer.style.get("display") for layer in runs[1]], [None, None], "delta layers all show")
        before = inkex.load_svg(first).getroot()
        self.assertEqual(without_layout(_runs(before)[0].tostring()), without_layout(runs[0].tostring()), "the first run changed")

    def test_continuing_starts_from_the_strokes_as_edited_by_hand(self):
        _, first = self._sketch(self.data_file(SCENE), *JOB, "--id=image1", "--id=roi1")
        document = inkex.load_svg(first).getroot()
        run = _runs(document)[0]
        last_round = run[-1][0]  # the visible snapshot layer's group, paths in photo pixels
        strokes = list(last_round)
        strokes[0].set("d", "M 10 10 C 20 20 30 20 40 10")  # nodes moved
        strokes[1].set("d", "M 50 30 L 70 50")  # turned into a straight line
        strokes[2].style["stroke-width"] = "3"  # restyled
        strokes[2].style["stroke"] = "#ff0000"
        last_round.remove(strokes[3])  # deleted
        strokes[5].set("id", "picked_stroke")  # any stroke of a sketch selects the sketch
        edited = os.path.join(self.tempdir, "edited.svg")
        with open(edited, "wb") as handle:
            handle.write(document.tostring())
        effect, _ = self._sketch(edited, *JOB, "--strokes=4", "--freeze=true", "--id=image1", "--id=picked_stroke", "--id=roi2")

        runs = _runs(effect.svg)
        self.assertEqual(len(runs), 2)
        self.assertEqual(runs[1].label, "MROSS sketch 2 — 15 strokes, test (continues sketch 1)")
        self.assertEqual((runs[1].get("data-mross-rounds"), [layer.label for layer in runs[1]]), ("3", ["MROSS round 3 — 15 strokes (ROI 2)"]))
        new_group = runs[1][0][0]
        self.assertEqual(new_group.get("transform"), last_round.get("transform"), "both sketches map pixels onto the photo alike")
        paths = list(new_group)
        self.assertEqual(len(paths), 11 + 4, "11 kept strokes (12 less the deleted one) and 4 new ones")
        self.assertEqual(paths[0].get("d"), "M 10 10 C 20 20 30 20 40 10")
        line = [float(v) for v in paths[1].get("d").replace("M", "").replace("C", "").split()]
        self.assertEqual((line[:2], line[-2:]), ([50.0, 30.0], [70.0, 50.0]))
        self.assertEqual(paths[2].get("d"), strokes[2].get("d"))
        self.assertEqual((paths[2].style["stroke"], float(paths[2].style["stroke-width"])), ("#ff0000", 3.0))
        for kept, original in zip(paths[3:11], strokes[4:]):
            self.assertEqual(kept.get("d"), original.get("d"), "frozen strokes come back exactly")
        self.assertEqual({p.style["stroke"] for p in paths[11:]}, {"#000000"})
        self.assertEqual(without_layout(_runs(document)[0].tostring()), without_layout(runs[0].tostring()), "sketch 1 changed")

    def test_selecting_a_sketch_without_new_rectangles_explains_what_to_select(self):
        _, first = self._sketch(self.data_file(SCENE), *JOB, "--id=image1")
        run = _runs(inkex.load_svg(first).getroot())[0]
        with patch.dict(os.environ, {"DOCUMENT_PATH": first}):
            message = self._abort_on(first, *JOB, "--id=image1", f"--id={run[-1].get('id')}")
        self.assertIn(f"'{run.get('id')}' is the MROSS sketch '{run.label}' — to continue it, select it together with the photo", message)
        self.assertIn("to start over, select only the photo and rectangles", message)

    def test_rotated_roi_is_sketched_with_a_note(self):
        effect = Sketch()
        stderr = StringIO()
        with redirect_stderr(stderr):
            effect.run([self.data_file(SCENE), *JOB, "--id=image1", "--id=roi_tilted"], output=BytesIO())
        self.assertEqual([len(run) for run in _runs(effect.svg)], [2])
        self.assertIn("MROSS note: ROI 1 ('roi_tilted') is rotated or skewed", stderr.getvalue())

    def test_selection_errors(self):
        self.assertIn("MROSS: select one bitmap image", self._abort(*JOB))
        self.assertIn("'path1' is a <path>", self._abort(*JOB, "--id=image1", "--id=path1"))
        self.assertIn("'layer2' is a <g>", self._abort(*JOB, "--id=image1", "--id=layer2"))
        self.assertIn("(2 are selected)", self._abort(*JOB, "--id=image1", "--id=image_linked"))
        self.assertIn("'roi_outside' lies outside the photo", self._abort(*JOB, "--id=image1", "--id=roi_outside"))

    def test_bitmap_errors(self):
        self.assertIn("'missing_photo.png' was not found", self._abort(*JOB, "--id=image_missing"))
        self.assertIn("not a PNG, JPEG or WebP bitmap", self._abort(*JOB, "--id=image_gif"))
        with patch.dict(os.environ, {"DOCUMENT_PATH": ""}):
            self.assertIn("save the document first", self._abort(*JOB, "--id=image_missing"))

    def test_server_unreachable_says_how_to_start_it(self):
        with patch.dict(os.environ, {"MROSS_CONFIG_DIR": self.tempdir}):
            message = self._abort(*JOB, "--id=image1")
        self.assertIn("start the server with `mross-server`", message)
        self.assertIn("turn on auto-start on the Server tab", message)
        closed_port = self._abort(*JOB, "--id=image1", "--server=tcp://127.0.0.1:9")
        self.assertIn("not reachable at tcp://127.0.0.1:9", closed_port)

    def test_wrong_key_is_reported(self):
        with open(os.path.join(os.environ["MROSS_CONFIG_DIR"], "server.json")) as handle:
            real = json.load(handle)
        forged = os.path.join(self.tempdir, "forged.json")
        with open(forged, "w") as handle:
            json.dump({**real, "key": "00" * 32}, handle)
        self.assertIn("MROSS: the sketch server refused this computer", self._abort(*JOB, "--id=image1", f"--server={forged}"))

    def test_job_failure_is_reported(self):
        message = self._abort("--preset=no-such-preset", "--autostart=false", "--id=image1")
        self.assertIn("MROSS: the sketch server could not finish the job", message)
        self.assertIn("no-such-preset", message)

    def test_inkscape_going_away_cancels_the_job_quietly(self):
        """Closing the pipe Inkscape reads the result from is how the script learns it was abandoned.

        A cancelled run, by the user or by Inkscape, writes nothing and says nothing: no document (so no
        undo step in Inkscape) and no stderr (so no dialog).
        """
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        script = EXTENSION_DIR / "mross_sketch.py"
        args = ["--preset=test", "--iterations=20000", "--autostart=false", "--id=image1", self.data_file(SCENE)]
        process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(4)  # long enough to have submitted; the job itself would run for minutes
        self.assertIsNone(process.poll(), process.stderr.read() if process.poll() is not None else "")
        closed_at = time.monotonic()
        process.stdout.close()
        returncode = process.wait(timeout=30)
        self.assertEqual(returncode, 0)
        self.assertLess(time.monotonic() - closed_at, 10)
        self.assertEqual(process.stderr.read(), b"")
        process.stderr.close()

