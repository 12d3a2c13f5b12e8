"""Log lines that anyone able to connect can cause, at a bounded rate: a flood of junk cannot fill the disk.

The first `burst` lines of each `window_s` seconds are written as they come; the rest are counted by
kind and summed up in one line when the window ends.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable


class RateLimitedLog:
    """Warnings through `logger`, at most `burst` per window plus one summary line of what was held back.

    Not thread-safe: the server's I/O thread owns it. `flush` must be called now and then (the
    server's tick does) so that a window's summary is written even when the flood stops.
    """

    def __init__(self, logger: logging.Logger, burst: int = 20, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._window_start = clock()
        self._written = 0
        self._held: Counter[str] = Counter()

    def warning(self, kind: str, message: str, *args: object) -> None:
        """Log `message % args` as a warning, or count it under `kind` when this window's burst is spent."""
        self.flush()
        if self._written < self._burst:
            self._written += 1
            self._logger.warning(message, *args)
        else:
            self._held[kind] += 1

    def flush(self) -> None:
        """End the window if its time is up: write the summary of what was held back, start a new one."""
        now = self._clock()
        if now - self._window_start < self._window_s:
            return
        self.close()
        self._window_start = now

    def close(self) -> None:
        """Write the summary of what this window held back, if anything."""
        if self._held:
            kinds = ", ".join(f"{kind}: {count:,}" for kind, count in self._held.most_common())
            self._logger.warning(
                "held back %d more warnings like the above in the last %.0f s (%s)", sum(self._held.values()), self._window_s, kinds
            )
        self._held.clear()
        self._written = 0
