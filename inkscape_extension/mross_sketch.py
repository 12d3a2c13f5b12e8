#!/usr/bin/env python3
"""MROSS Scene Sketch: turn the selected photo into editable sketch strokes, one layer per round.

Reads the selected bitmap and ROI rectangles, sends the photo's bytes and the ROIs (in photo pixels)
to the MROSS sketch server, and once the job has finished adds one layer per round above the photo.
Any failure leaves the document as it was and is reported as one sentence; a failure after some
rounds arrived inserts those rounds if the user agrees (see mross_ext/partial_rounds.py).
"""

import functools
import os
import sys
import warnings
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
# Inkscape's Python has no pyzmq: install.py puts it and the mross_shared client into mross_vendor/.
# The extension's own folder is added too, so the helpers import however this file was loaded.
for _path in (os.path.join(_HERE, "mross_vendor"), _HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import inkex  # noqa: E402

# inkex turns all warnings on and Inkscape shows anything on stderr in a dialog. An auto-started
# server outlives this script on purpose, which Popen reports as a ResourceWarning at exit.
warnings.filterwarnings("ignore", category=ResourceWarning)

from mross_ext.bitmap_size import decode_pixel_size  # noqa: E402
from mross_ext.bitmap_source import ImageLink, read_image_bytes  # noqa: E402
from mross_ext.errors import ExtensionError, explain_client_error  # noqa: E402
from mross_ext.inkscape_watch import InkscapeWatch  # noqa: E402
from mross_ext.layers import StrokeStyle, add_round_layers  # noqa: E402
from mross_ext.partial_rounds import keep_interrupted_rounds  # noqa: E402
from mross_ext.photo_geometry import pixels_to_document, roi_to_pixels  # noqa: E402
from mross_ext.progress_window import load_toolkit, run_with_window  # noqa: E402
from mross_ext.selection import read_selection  # noqa: E402
from mross_ext.server_start import ServerChoice, connect  # noqa: E402
from mross_ext.sketch_job import JobInterrupted, JobMonitor, SketchRequest, run_sketch  # noqa: E402
from mross_shared.errors import MrossError, ProtocolError  # noqa: E402
from mross_shared.install_record import RECORD_NAME  # noqa: E402
from mross_shared.layers import LAYER_MODES  # noqa: E402
from mross_shared.messages import JobParams, RoiBox  # noqa: E402


class Sketch(inkex.EffectExtension):
    """Extensions ▸ Sketch ▸ MROSS Scene Sketch."""

    def add_arguments(self, pars):
        pars.add_argument("--tab", default="sketch")
        pars.add_argument("--strokes", type=int, default=48)
        pars.add_argument("--preset", default="fast")
        pars.add_argument("--iterations", type=int, default=0, help="0 = the preset's")
        pars.add_argument("--sketches", type=int, default=0, help="0 = the preset's")
        pars.add_argument("--seed", type=int, default=0)
        pars.add_argument("--freeze", type=inkex.Boolean, default=False)
        pars.add_argument("--layer_mode", default="snapshot", choices=LAYER_MODES)
        pars.add_argument("--stroke_width", type=float, default=1.0)
        pars.add_argument("--stroke_color", type=inkex.Color, default=inkex.Color("black"))
        pars.add_argument("--server", default="")
        pars.add_argument("--autostart", type=inkex.Boolean, default=True)

    def effect(self):
        try:
            self._sketch()
        except ExtensionError as err:
            raise inkex.AbortExtension(f"MROSS: {err}.") from None
        except MrossError as err:
            raise inkex.AbortExtension(f"MROSS: {explain_client_error(err, self.options.autostart)}.") from None

    def _sketch(self):
        chosen = read_selection(self.svg.selection.values())
        image = chosen.image
        link = ImageLink(
            href=image.get("xlink:href") or image.get("href") or "",
            absref=image.get("sodipodi:absref"),
            input_file=self.options.input_file,
            document_path=self.document_path(),
        )
        data = read_image_bytes(link)
        size = decode_pixel_size(data)
        rois = [roi_to_pixels(rect, image, size) for rect in chosen.rois]
        request = SketchRequest(data, tuple(RoiBox(*roi.as_tuple()) for roi in rois), self._job_params(size.orientation))
        interrupted_note = None
        try:
            rounds = self._run(request)
        except JobInterrupted as interrupted:
            interrupted_note = keep_interrupted_rounds(interrupted, load_toolkit())
            rounds = interrupted.rounds
        style = StrokeStyle(self.options.stroke_color, self.options.stroke_width)
        add_round_layers(image, pixels_to_document(image, size), rounds, self.options.layer_mode, style)
        if interrupted_note:
            inkex.errormsg(f"MROSS: {interrupted_note}.")
        for number, roi in enumerate(rois, start=1):
            if roi.approximated:
                inkex.errormsg(
                    f"MROSS note: ROI {number} ('{roi.element_id}') is rotated or skewed relative to the photo, "
                    "so its upright bounding box was sketched."
                )

    def _job_params(self, orientation):
        opts = self.options
        try:
            return JobParams(
                strokes=opts.strokes,
                preset=opts.preset,
                iterations=opts.iterations or None,
                sketches=opts.sketches or None,
                seed=opts.seed,
                freeze_previous=opts.freeze,
                # The photo as Inkscape draws it: strokes and ROIs are in those pixels.
                orientation=orientation,
            )
        except ProtocolError as err:
            raise ExtensionError(f"a setting is out of range: {err}") from None

    def _run(self, request):
        choice = ServerChoice(
            target=self.options.server.strip() or None,
            autostart=self.options.autostart,
            record=Path(_HERE) / "mross_vendor" / RECORD_NAME,
        )
        monitor = JobMonitor()
        watch = InkscapeWatch()
        work = functools.partial(run_sketch, functools.partial(connect, choice), request, monitor, watch)
        toolkit = load_toolkit()
        if toolkit is None:
            return work()
        return run_with_window(toolkit, "MROSS Scene Sketch", monitor, work)


if __name__ == "__main__":
    Sketch().run()
