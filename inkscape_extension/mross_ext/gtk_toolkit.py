"""GTK 3 for the extension's own windows, when PyGObject and a display are there.

Debian's Inkscape package does not pull in PyGObject, so without it the extension simply works without
its windows. Anything GTK or PyGObject prints is kept off stderr: Inkscape shows stderr in a dialog.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Toolkit:
    """The imported PyGObject modules the windows need: Gtk, GLib and GdkPixbuf."""

    gtk: Any
    glib: Any
    pixbuf: Any


def load_toolkit() -> Toolkit | None:
    """GTK 3, GLib and GdkPixbuf when they import and a display can be opened, else None."""
    # Without this, GTK on a bare X server warns about the accessibility bus.
    os.environ.setdefault("NO_AT_BRIDGE", "1")
    # PyGObject's import warnings would reach stderr, and Inkscape shows anything there in a dialog.
    with warnings.catch_warnings(), stderr_silenced():
        warnings.simplefilter("ignore")
        try:
            import gi

            gi.require_version("Gtk", "3.0")
            gi.require_version("GdkPixbuf", "2.0")
            from gi.repository import GdkPixbuf, GLib, Gtk
        except (ImportError, ValueError):
            return None
        return Toolkit(Gtk, GLib, GdkPixbuf) if Gtk.init_check(None)[0] else None


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


def run_dialog(toolkit: Toolkit, dialog: Any) -> Any:
    """Show a modal Gtk.Dialog above every other window until it is answered; return its response."""
    with stderr_silenced():
        dialog.set_keep_above(True)
        dialog.set_position(toolkit.gtk.WindowPosition.CENTER)
        response = dialog.run()
        dialog.destroy()
        drain(toolkit)
    return response


def drain(toolkit: Toolkit) -> None:
    """Let GTK finish unmapping windows before the script goes on (or exits, and Inkscape redraws)."""
    while toolkit.gtk.events_pending():
        toolkit.gtk.main_iteration()
