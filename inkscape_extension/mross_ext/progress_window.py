"""A small GTK 3 window with the job's progress and a Cancel button, when GTK 3 and a display exist.

The .inx declares a custom GUI, so Inkscape shows no "working, please wait" window of its own. Debian's
Inkscape package does not pull in PyGObject, so without it the job simply runs without a window.
The job runs in a worker thread (its zmq socket lives there); GTK stays in the main thread and reads
the shared JobMonitor ten times a second.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from .sketch_job import JobMonitor

T = TypeVar("T")
_REFRESH_MS = 100


@dataclass(frozen=True)
class Toolkit:
    """The imported PyGObject modules the window needs."""

    gtk: Any
    glib: Any


def load_toolkit() -> Toolkit | None:
    """GTK 3 and GLib when they import and a display can be opened, else None."""
    # Without this, GTK on a bare X server warns about the accessibility bus.
    os.environ.setdefault("NO_AT_BRIDGE", "1")
    # PyGObject's import warnings would reach stderr, and Inkscape shows anything there in a dialog.
    with warnings.catch_warnings(), stderr_silenced():
        warnings.simplefilter("ignore")
        try:
            import gi

            gi.require_version("Gtk", "3.0")
            from gi.repository import GLib, Gtk
        except (ImportError, ValueError):
            return None
        return Toolkit(Gtk, GLib) if Gtk.init_check(None)[0] else None


def run_with_window(toolkit: Toolkit, title: str, monitor: JobMonitor, work: Callable[[], T]) -> T:
    """Run `work` in a worker thread while a progress window shows `monitor`; return its result.

    Cancel (or closing the window) asks the job to stop through the monitor; the window stays until the
    worker has finished, and whatever `work` raised is raised here once the window is gone.
    """
    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:
            outcome["error"] = err

    gtk = toolkit.gtk
    thread = threading.Thread(target=worker, name="mross-job", daemon=True)
    window = gtk.Window(title=title)
    window.set_default_size(460, -1)
    window.set_border_width(12)
    window.set_keep_above(True)
    label = gtk.Label(label=monitor.view().text, xalign=0.0)
    bar = gtk.ProgressBar()
    button = gtk.Button(label="Cancel")

    def cancel(*_: Any) -> bool:
        monitor.request_cancel()
        button.set_sensitive(False)
        button.set_label("Cancelling…")
        return True  # keep the window open until the job has really stopped

    def refresh() -> bool:
        view = monitor.view()
        label.set_text(view.text)
        bar.set_fraction(view.fraction)
        if thread.is_alive():
            return True
        gtk.main_quit()
        return False

    button.connect("clicked", cancel)
    window.connect("delete-event", cancel)
    box = gtk.Box(orientation=gtk.Orientation.VERTICAL, spacing=8)
    box.pack_start(label, False, False, 0)
    box.pack_start(bar, False, False, 0)
    box.pack_end(button, False, False, 0)
    window.add(box)
    with stderr_silenced():
        thread.start()
        window.show_all()
        toolkit.glib.timeout_add(_REFRESH_MS, refresh)
        gtk.main()
        window.destroy()
        while gtk.events_pending():
            gtk.main_iteration()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at the null device: GTK's own diagnostics are not for the user."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
