"""The extension's own windows: the job's progress with a live preview, Stop and keep, Cancel; and errors.

Inkscape 1.2 shows its own "working, please wait" window while an extension runs, but cannot paint it or
react to its Cancel (it waits for the script in a main loop of its own), so this window, drawn by the
extension's process, is the one the illustrator can use. The job runs in a worker thread (its zmq socket
lives there); GTK stays in the main thread and reads the shared JobMonitor ten times a second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .gtk_toolkit import Toolkit, drain, run_dialog, stderr_silenced
from .preview_picture import PreviewFrame, render
from .sketch_job import JobMonitor

T = TypeVar("T")
_REFRESH_MS = 100
#: The progress window's title (the settings dialog is titled with the extension's bare name).
WINDOW_TITLE = "MROSS Scene Sketch — sketching"
ERROR_TITLE = "MROSS Scene Sketch — not sketched"


def run_with_window(toolkit: Toolkit, monitor: JobMonitor, work: Callable[[], T], frame: PreviewFrame | None, note: str = "") -> T:
    """Run `work` in a worker thread while a progress window shows `monitor`; return its result.

    `frame` draws the strokes as they stand over the photo (None: no preview); `note` is a line shown
    above the progress. Cancel (or closing the window) asks the job to stop, Stop and keep to end it with
    the strokes as they stand; the window stays until the worker has finished, and whatever `work`
    raised is raised here once the window is gone.
    """
    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:
            outcome["error"] = err

    gtk = toolkit.gtk
    thread = threading.Thread(target=worker, name="mross-job", daemon=True)
    window = gtk.Window(title=WINDOW_TITLE)
    window.set_border_width(12)
    window.set_keep_above(True)
    window.set_position(gtk.WindowPosition.CENTER)
    picture = gtk.Image()
    label = gtk.Label(label=monitor.view().text, xalign=0.0)
    bar = gtk.ProgressBar()
    keep = gtk.Button(label="Stop and keep")
    keep.set_tooltip_text("End the sketch now and insert its strokes as they stand")
    cancel_button = gtk.Button(label="Cancel")
    cancel_button.set_tooltip_text("Stop the sketch; the document stays as it was")
    shown = {"preview": 0}

    def cancel(*_: Any) -> bool:
        monitor.request_cancel()
        for button in (keep, cancel_button):
            button.set_sensitive(False)
        cancel_button.set_label("Cancelling…")
        return True  # keep the window open until the job has really stopped

    def finish(*_: Any) -> None:
        monitor.request_finish()
        keep.set_sensitive(False)
        keep.set_label("Keeping the strokes as they stand…")

    def refresh() -> bool:
        view = monitor.view()
        label.set_text(view.text)
        bar.set_fraction(view.fraction)
        version, paths = monitor.preview()
        if frame is not None and version != shown["preview"]:
            shown["preview"] = version
            picture.set_from_pixbuf(render(toolkit, frame.svg(paths)))
        if thread.is_alive():
            return True
        gtk.main_quit()
        return False

    keep.connect("clicked", finish)
    cancel_button.connect("clicked", cancel)
    window.connect("delete-event", cancel)
    box = gtk.Box(orientation=gtk.Orientation.VERTICAL, spacing=8)
    if frame is not None:
        picture.set_size_request(*frame.shown_size)
        picture.set_from_pixbuf(render(toolkit, frame.svg(())))
        box.pack_start(picture, False, False, 0)
    if note:
        box.pack_start(gtk.Label(label=note, xalign=0.0, wrap=True, max_width_chars=60), False, False, 0)
    box.pack_start(label, False, False, 0)
    box.pack_start(bar, False, False, 0)
    buttons = gtk.Box(orientation=gtk.Orientation.HORIZONTAL, spacing=8, homogeneous=True)
    buttons.pack_start(keep, True, True, 0)
    buttons.pack_start(cancel_button, True, True, 0)
    box.pack_end(buttons, False, False, 0)
    window.add(box)
    with stderr_silenced():
        thread.start()
        window.show_all()
        toolkit.glib.timeout_add(_REFRESH_MS, refresh)
        gtk.main()
        window.destroy()
        drain(toolkit)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def show_error(toolkit: Toolkit, message: str) -> None:
    """Show one error sentence in a window of its own, kept above Inkscape's, until the user closes it.

    Inkscape would show stderr in a dialog of its own after the run, which can open behind the
    settings dialog; this one is in front while the script still runs.
    """
    gtk = toolkit.gtk
    dialog = gtk.MessageDialog(title=ERROR_TITLE, message_type=gtk.MessageType.ERROR, buttons=gtk.ButtonsType.OK, text="The sketch was not made")
    dialog.format_secondary_text(message)
    run_dialog(toolkit, dialog)
