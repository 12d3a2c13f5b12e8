"""The rounds of a job that failed part-way: inserted if the user agrees, never half of them, never silently.

With GTK, the user is asked. Without it there is nobody to ask before the document is returned, so
the finished rounds are inserted and a note says so: each is minutes of computation the user asked
for, one Edit ▸ Undo removes them all, while discarding them could not be undone.
"""

from __future__ import annotations

from typing import Any

from .errors import ExtensionError, explain_client_error
from .gtk_toolkit import Toolkit, run_dialog
from .sketch_job import JobInterrupted


def keep_interrupted_rounds(interrupted: JobInterrupted, toolkit: Toolkit | None) -> str:
    """The note to show once `interrupted.rounds` are inserted (no final full stop).

    Raises:
        ExtensionError: the user chose not to insert them; the document stays as it was.
    """
    # The server answered once, so the hint about auto-starting it does not apply.
    reason = explain_client_error(interrupted.error, autostart=True)
    done, total = len(interrupted.rounds), interrupted.rounds[-1].rounds
    finished, was, them = ("the finished round", "was", "it") if done == 1 else (f"the {done} finished rounds", "were", "them")
    if toolkit is not None:
        question = f"The sketch stopped after round {done} of {total}: {reason}.\n\nInsert {finished} as layers?"
        if not ask(toolkit, "MROSS Scene Sketch", question, f"Insert {finished}", "Discard"):
            raise ExtensionError(f"{reason}; {finished} {was} discarded as you chose, so the document is unchanged")
    return f"the sketch stopped after round {done} of {total} ({reason}), so only {finished} {was} inserted; Edit ▸ Undo removes {them}"


def ask(toolkit: Toolkit, title: str, question: str, yes: str, no: str) -> bool:
    """Show a modal question with two buttons; True when `yes` was chosen."""
    gtk = toolkit.gtk
    dialog: Any = gtk.MessageDialog(message_type=gtk.MessageType.QUESTION, text=question, title=title)
    dialog.add_buttons(no, gtk.ResponseType.NO, yes, gtk.ResponseType.YES)
    dialog.set_default_response(gtk.ResponseType.YES)
    return bool(run_dialog(toolkit, dialog) == gtk.ResponseType.YES)
