"""Issue 15 in Inkscape: strokes land on the photo as Inkscape draws it (EXIF), and finished rounds survive a failure.

Runs under both inkex 1.2 (Inkscape's /usr/bin/python3, no Pillow) and inkex 1.4, against real servers on
loopback; the photos are committed fixtures (tests/data/images/coffee_exif6.*: the 96×64 coffee photo
stored turned a quarter left, tagged EXIF orientation 6).
"""

import base64
import os
import signal
from contextlib import redirect_stderr
from io import BytesIO, StringIO
from unittest.mock import patch

import inkex
import pytest

import mross_sketch
from mross_shared.client import SketchClient
from mross_shared.messages import RoundUpdate
from tests.extension_dir import TEST_DATA
from tests.gtk_script import needs_xvfb, run_with_gtk
from tests.server_process import running_server, start_server

IMAGES = TEST_DATA / "images"
JOB = ("--preset=test", "--strokes=8", "--autostart=false", "--layer_mode=delta")
# The photo's box in the document (user units = px), and a ROI inside its lower right part.
DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" width="200" height="200" viewBox="0 0 200 200">
  <g id="layer1" inkscape:groupmode="layer" inkscape:label="Photo">
    <image id="photo" x="10" y="20" width="{width}" height="{height}" preserveAspectRatio="none" xlink:href="data:{mime};base64,{data}"/>
    <rect id="roi" x="{roi_x}" y="{roi_y}" width="18" height="18" style="fill:none;stroke:red"/>
  </g>
</svg>
"""


@pytest.fixture(scope="module", autouse=True)
def sketch_server(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("mross-config")
    with patch.dict(os.environ, {"MROSS_CONFIG_DIR": str(config_dir)}), running_server(config_dir) as connection_file:
        yield connection_file


def document(tmp_path, name, mime, width, height, roi):
    path = tmp_path / f"{name}.svg"
    data = base64.b64encode((IMAGES / name).read_bytes()).decode()
    path.write_text(DOCUMENT.format(width=width, height=height, mime=mime, data=data, roi_x=roi[0], roi_y=roi[1]))
    return path


def run_effect(path, *args):
    """Run the effect on a document file; (effect, stderr text, output bytes)."""
    effect = mross_sketch.Sketch()
    stderr, output = StringIO(), BytesIO()
    with redirect_stderr(stderr):
        effect.run([str(path), *JOB, "--id=photo", "--id=roi", *args], output=output)
    return effect, stderr.getvalue(), output.getvalue()


def sketch_layers(effect):
    """The round layers of the document's MROSS sketches (each run is a parent layer holding them)."""
    return [layer for run in effect.svg if isinstance(run, inkex.Layer) and run.get("data-mross-run") for layer in run]


def stroke_boxes(layer):
    group = layer[0]
    return [path.bounding_box(inkex.Transform(group.get("transform"))) for path in group]


@pytest.mark.parametrize(
    ("name", "mime", "size", "roi"),
    [
        # Inkscape draws the JPEG turned (96×64); the ROI lies where the stored 64×96 pixels have none.
        ("coffee_exif6.jpg", "image/jpeg", (96, 64), (85, 62)),
        # Inkscape ignores a PNG's eXIf, so the photo stays 64×96 and the ROI lies below a turned one's edge.
        ("coffee_exif6.png", "image/png", (64, 96), (50, 95)),
    ],
)
def test_strokes_land_on_the_photo_as_inkscape_draws_it(tmp_path, name, mime, size, roi):
    width, height = size
    effect, stderr, _ = run_effect(document(tmp_path, name, mime, width, height, roi))
    assert "MROSS" not in stderr, stderr
    layers = sketch_layers(effect)
    assert len(layers) == 2, "the ROI was inside the photo the server sketched"
    photo = inkex.BoundingBox((10 - 1, 10 + width + 1), (20 - 1, 20 + height + 1))
    for box in stroke_boxes(layers[0]) + stroke_boxes(layers[1]):
        assert photo.left <= box.left and box.right <= photo.right and photo.top <= box.top and box.bottom <= photo.bottom, box
    roi_box = inkex.BoundingBox((roi[0] - 6, roi[0] + 24), (roi[1] - 6, roi[1] + 24))
    centres = [box.center for box in stroke_boxes(layers[1])]
    inside = sum(roi_box.left <= c.x <= roi_box.right and roi_box.top <= c.y <= roi_box.bottom for c in centres)
    assert inside >= len(centres) / 2, "the ROI round's strokes start in the ROI as drawn"


def test_a_failure_after_round_1_inserts_the_finished_round_and_says_so(tmp_path):
    """The server dies in round 2; without GTK (none in a test run) the finished round is inserted with a note."""
    server = start_server(tmp_path / "doomed")

    class ServerDiesAfterRound1(SketchClient):
        def events(self, job_id, cancelled=None, finish=None):
            for event in super().events(job_id, cancelled, finish):
                yield event
                if isinstance(event, RoundUpdate):
                    server.stop(signal.SIGKILL)

    def connect(choice, monitor):
        return ServerDiesAfterRound1(server.connection_file, silence_timeout_s=2.0)

    path = document(tmp_path, "coffee_exif6.jpg", "image/jpeg", 96, 64, (85, 62))
    try:
        with patch.object(mross_sketch, "connect", connect), patch.object(mross_sketch, "load_toolkit", lambda: None):
            effect, stderr, output = run_effect(path, "--iterations=40")
    finally:
        server.stop(signal.SIGKILL)
    assert output, "the document with the finished round is returned to Inkscape"
    layers = sketch_layers(effect)
    assert len(layers) == 1 and layers[0].label.startswith("MROSS round 1")
    assert stderr.strip().splitlines() == [
        "MROSS: the sketch stopped after round 1 of 2 (the MROSS server at "
        + server.connection_file.read_text().split('"endpoint": "')[1].split('"')[0]
        + " stopped answering (no reply within 2 s)), so only the finished round was inserted; Edit ▸ Undo removes it."
    ]


@needs_xvfb
def test_with_gtk_the_user_chooses_whether_finished_rounds_are_inserted():
    done = run_with_gtk(
        """
        from mross_ext.errors import ExtensionError
        from mross_ext.partial_rounds import keep_interrupted_rounds
        from mross_ext.sketch_job import JobInterrupted
        from mross_shared.errors import ErrorCode, JobFailed
        from mross_shared.messages import RoundUpdate, StrokePath

        gtk = toolkit.gtk
        rounds = (RoundUpdate("job", 1, 3, None, (StrokePath("M 0 0 C 1 1 2 2 3 3", 1.0),), (0,), None, 1.0),)
        failure = JobInterrupted(JobFailed(ErrorCode.INTERNAL, "the server failed on job job (RuntimeError)"), rounds)

        def answer(response):
            def click():
                for window in gtk.Window.list_toplevels():
                    if isinstance(window, gtk.MessageDialog) and "after round 1 of 3" in window.get_property("text"):
                        window.response(response)
                return False
            toolkit.glib.timeout_add(300, click)

        answer(gtk.ResponseType.NO)
        try:
            keep_interrupted_rounds(failure, toolkit)
        except ExtensionError as error:
            print("declined:", error)
        answer(gtk.ResponseType.YES)
        print("accepted:", keep_interrupted_rounds(failure, toolkit))
        """
    )
    assert done.stdout.splitlines() == [
        "declined: the sketch server could not finish the job: the server failed on job job (RuntimeError); "
        "the finished round was discarded as you chose, so the document is unchanged",
        "accepted: the sketch stopped after round 1 of 3 (the sketch server could not finish the job: the server failed "
        "on job job (RuntimeError)), so only the finished round was inserted; Edit ▸ Undo removes it",
    ], done.stderr
    assert done.stderr == ""
