"""Writing a file whole or not at all: a reader (or a crash) never sees half a file, and a failed write
leaves whatever was there before untouched."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a new file beside `path`, then rename it over `path` (atomic on POSIX and Windows).

    The file gets the permissions a plain open() would give (0666 less the umask). Raises OSError.
    """
    path = Path(path)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never follow or reuse something already there under the staging name.
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            staging.unlink()
        raise
