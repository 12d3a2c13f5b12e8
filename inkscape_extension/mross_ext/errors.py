"""The problems the extension reports to the user, each as one sentence."""

from __future__ import annotations

from mross_shared.errors import JobFailed, MrossError, NotAuthorised


class ExtensionError(Exception):
    """A problem the user can fix; its message is one sentence, shown to the user as is."""


def explain_client_error(err: MrossError, autostart: bool) -> str:
    """One sentence (without the final full stop) for an error the sketch client raised (not a cancel)."""
    detail = str(err).rstrip(".")
    if isinstance(err, JobFailed):
        return f"the sketch server could not finish the job: {detail}"
    if isinstance(err, NotAuthorised):
        return f"the sketch server refused this computer: {detail}"
    # ServerUnreachable: the client's sentence already says how to start the server by hand.
    return detail if autostart else f"{detail}, or turn on auto-start on the Server tab"
