"""Noticing that Inkscape gave up on the extension, so a running sketch job can be cancelled.

Inkscape never kills an extension: when the user cancels or Inkscape quits, the script keeps running.
What does change is the pipe Inkscape reads the result document from (the script's stdout): its
reading end closes, and polling the writing end reports POLLERR or POLLHUP. The parent pid cannot be
watched instead, because Inkscape's spawn leaves the script re-parented from the start.
"""

from __future__ import annotations

import select

_GONE = getattr(select, "POLLERR", 0) | getattr(select, "POLLHUP", 0) | getattr(select, "POLLNVAL", 0)


class InkscapeWatch:
    """Polls the stdout file descriptor for the hang-up that means nobody will read the result.

    Where poll() does not exist (Windows) it never reports Inkscape as gone; the job's own deadline
    still ends an orphaned run there.
    """

    def __init__(self, stdout_fd: int = 1) -> None:
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(stdout_fd, _GONE)

    def inkscape_gone(self) -> bool:
        """True once the reader of stdout has gone away; never blocks."""
        if self._poller is None:
            return False
        return any(events & _GONE for _, events in self._poller.poll(0))
