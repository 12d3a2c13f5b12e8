"""The whole effect through inkex.tester, against a real mross-server subprocess on loopback.

Run under both inkex 1.2 (Inkscape's, /usr/bin/python3) and inkex 1.4 (PyPI). Strokes come from a real
optimization with the server's tiny `test` preset; their path data is hidden from the reference
comparison (it depends on floating point), everything else — layers, labels, counts, transforms,
styles and the untouched rest of the document — is compared exactly. When the server's output
legitimately changes (stroke budget, widths), regenerate the references with
`EXPORT_COMPARE=3 pytest tests/test_extension_effect.py` and review the diff.
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
    with patch.dict(os.environ, {"MROSS_CONFIG_DIR": str(config_dir)}), running_server(config_dir) as connection_file:
        yield connection_file


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
        """Run the effect expecting an abort; check the document is untouched and return the message."""
        effect = Sketch()
        stderr = StringIO()
        output = BytesIO()
        with redirect_stderr(stderr), self.assertRaises(SystemExit) as stopped:
            effect.run([self.data_file(SCENE), *args], output=output)
        self.assertEqual(stopped.exception.code, ABORT_STATUS)
        self.assertEqual(output.getvalue(), b"", "an aborted run must not write a document")
        original = inkex.load_svg(self.data_file(SCENE)).getroot()
        self.assertEqual(effect.svg.tostring(), original.tostring(), "the document was changed")
        message = stderr.getvalue().strip()
        self.assertNotIn("Traceback", message)
        self.assertEqual(len(message.splitlines()), 1, message)
        return message

    def test_layers_hold_the_right_stroke_counts_inside_the_photo(self):
        effect = self.assertEffect(SCENE, args=[*JOB, "--id=image1", "--id=roi1", "--id=roi2"])
        layers = [g for g in effect.svg if isinstance(g, inkex.Layer) and g.label.startswith("MROSS")]
        counts = [len(layer[0]) for layer in layers]
        self.assertEqual(len(layers), 3)
        self.assertEqual(counts[-1], 12, "the last snapshot holds every stroke")
        self.assertTrue(counts[0] < counts[1] < counts[2])
        self.assertRegex(layers[1].label, r"^MROSS round 2 — \d+ strokes \(ROI 1\)$")
        for layer in layers:
            effect.svg.remove(layer)
        original = inkex.load_svg(self.data_file(SCENE)).getroot()
        self.assertEqual(without_layout(effect.svg.tostring()), without_layout(original.tostring()), "content changed")
        photo = inkex.BoundingBox((10, 10 + 96), (10, 10 + 64))  # image1 as drawn in the document
        for path in layers[-1][0]:
            box = path.bounding_box(inkex.Transform(layers[-1][0].get("transform")))
            self.assertTrue(photo.left - 1 <= box.left and box.right <= photo.right + 1, box)
            self.assertTrue(photo.top - 1 <= box.top and box.bottom <= photo.bottom + 1, box)

    def test_rotated_roi_is_sketched_with_a_note(self):
        effect = Sketch()
        stderr = StringIO()
        with redirect_stderr(stderr):
            effect.run([self.data_file(SCENE), *JOB, "--id=image1", "--id=roi_tilted"], output=BytesIO())
        self.assertEqual(len([g for g in effect.svg if isinstance(g, inkex.Layer)]), 3 + 2)
        self.assertIn("ROI 1 ('roi_tilted') is rotated or skewed", stderr.getvalue())

    def test_selection_errors(self):
        self.assertIn("MROSS: select one bitmap image", self._abort(*JOB))
        self.assertIn("'path1' is a <path>", self._abort(*JOB, "--id=image1", "--id=path1"))
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

    def test_inkscape_going_away_cancels_the_job(self):
        """Closing the pipe Inkscape reads the result from is how the script learns it was abandoned."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        script = EXTENSION_DIR / "mross_sketch.py"
        args = ["--preset=test", "--iterations=20000", "--autostart=false", "--id=image1", self.data_file(SCENE)]
        process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(4)  # long enough to have submitted; the job itself would run for minutes
        self.assertIsNone(process.poll(), process.stderr.read() if process.poll() is not None else "")
        closed_at = time.monotonic()
        process.stdout.close()
        returncode = process.wait(timeout=30)
        self.assertEqual(returncode, 251)
        self.assertLess(time.monotonic() - closed_at, 10)
        self.assertIn(b"MROSS: the sketch was cancelled, so the document is unchanged.", process.stderr.read())
        process.stderr.close()

