"""OpenAI's CLIP checkpoints (RN101, ViT-B/32) downloaded into the CLIP folder: verified, resumable, standard library only.

OpenAI publishes each file at `<base>/<sha256>/<name>.pt`; the SHA-256 in the path is the file's
checksum, so a download is only kept when its digest matches. Bytes arrive in `<name>.pt.part`
beside the destination; a broken transfer is resumed with an HTTP Range request (or restarted
when the server ignores ranges) up to `attempts` times, and only a verified file is renamed into
place, so the server never sees a truncated checkpoint. `mross-server fetch-weights` and
`install.py --clip` (which runs it) are the two ways in.

The base URL can be changed with `$MROSS_CLIP_BASE_URL` (mirrors, tests); the checksums cannot.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from mross_server.engine.models.locations import WeightsError, clip_dir

OPENAI_BASE_URL = "https://openaipublic.azureedge.net/clip/models"
BASE_URL_ENV = "MROSS_CLIP_BASE_URL"
#: File stem -> SHA-256, as in OpenAI's URLs (open_clip's pretrained.py lists the same URLs, tag "openai").
OPENAI_CHECKSUMS = MappingProxyType({
    "RN101": "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
    "ViT-B-32": "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
})
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0

# Receives (bytes so far, total bytes or None when the server does not say) while a file arrives.
ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Fetched:
    """One checkpoint in place: its path and whether this call downloaded it (False: it was already there)."""

    path: Path
    downloaded: bool


def base_url() -> str:
    """Where OpenAI's files are fetched from: `$MROSS_CLIP_BASE_URL`, else OpenAI's own address."""
    return (os.environ.get(BASE_URL_ENV) or OPENAI_BASE_URL).rstrip("/")


def checkpoint_url(name: str, sha256: str, base: str | None = None) -> str:
    """`<base>/<sha256>/<name>.pt`, OpenAI's layout."""
    return f"{(base or base_url()).rstrip('/')}/{sha256}/{name}.pt"


def fetch_clip_weights(
    names: tuple[str, ...] = tuple(OPENAI_CHECKSUMS),
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    base: str | None = None,
    checksums: Mapping[str, str] = OPENAI_CHECKSUMS,
    attempts: int = 5,
    retry_delay_s: float = 2.0,
    progress: Callable[[str], ProgressFn] | None = None,
) -> list[Fetched]:
    """Make sure `<dest_dir>/<name>.pt` holds OpenAI's checkpoint for each name; download what is missing.

    A file already there with the right SHA-256 is kept; one with another digest is replaced.
    `progress(name)` gives the callback that follows that file's transfer (default: a line on stderr).
    Raises WeightsError with one sentence when a file cannot be had (HTTP error, wrong checksum
    after every attempt, no space, ...).
    """
    dest = Path(dest_dir) if dest_dir is not None else clip_dir()
    unknown = [name for name in names if name not in checksums]
    if unknown:
        raise WeightsError(f"no checksum is known for CLIP model {unknown[0]!r}; choose from {', '.join(checksums)}.")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WeightsError(f"cannot create the CLIP folder {dest}: {err.strerror or err}.") from None
    fetched = []
    for name in names:
        target = dest / f"{name}.pt"
        if target.is_file() and sha256_of(target) == checksums[name]:
            fetched.append(Fetched(target, downloaded=False))
            continue
        url = checkpoint_url(name, checksums[name], base)
        report = (progress or terminal_progress)(f"{name}.pt")
        _download(url, target, checksums[name], attempts, retry_delay_s, report)
        fetched.append(Fetched(target, downloaded=True))
    return fetched


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path, sha256: str, attempts: int, retry_delay_s: float, report: ProgressFn) -> None:
    """Fetch url into target via target.part, resuming broken transfers; raise WeightsError when it cannot."""
    partial = target.with_name(target.name + ".part")
    problem = "no attempt was made"
    for attempt in range(1, max(1, attempts) + 1):
        try:
            _transfer(url, partial, report)
        except urllib.error.HTTPError as err:
            if err.code != 416:  # 416: the part already holds every byte; verify it below
                raise WeightsError(f"downloading {url} failed: HTTP {err.code} {err.reason}.") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            # Includes connections dropped mid-body (IncompleteRead, resets, timeouts): resume.
            problem = f"the transfer broke ({_reason(err)})"
            if attempt < attempts:
                time.sleep(retry_delay_s)
            continue
        digest = sha256_of(partial)
        if digest == sha256:
            partial.replace(target)
            return
        # A complete file with the wrong digest cannot be repaired by resuming: start over.
        problem = f"the file's SHA-256 was {digest}, not {sha256}"
        partial.unlink(missing_ok=True)
    partial.unlink(missing_ok=True)
    raise WeightsError(f"downloading {url} failed after {attempts} attempts: {problem}.")


def _transfer(url: str, partial: Path, report: ProgressFn) -> None:
    """Append the rest of url's body to partial (HTTP Range), or rewrite it when ranges are not honoured."""
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        with open(partial, "ab" if resumed else "wb") as out:
            _copy(response, out, have, total, report)


def _copy(response: BinaryIO, out: BinaryIO, have: int, total: int | None, report: ProgressFn) -> None:
    report(have, total)
    while chunk := response.read(_CHUNK):
        out.write(chunk)
        have += len(chunk)
        report(have, total)
    if total is not None and have < total:
        raise OSError(f"the connection closed after {have} of {total} bytes")


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return " ".join(str(reason).split()) or type(err).__name__


def terminal_progress(label: str) -> ProgressFn:
    """A progress callback for stderr: one line rewritten in place on a terminal, else a line every 10 %."""
    interactive = sys.stderr.isatty()
    last = [-1]

    def report(done: int, total: int | None) -> None:
        # Without a total, a "step" is 50 MB; with one, a percent (terminal) or ten (log file).
        step = done // 50_000_000 if not total else 100 * done // total if interactive else 10 * done // total
        finished = total is not None and done >= total
        if step == last[0] and not finished:
            return
        last[0] = step
        size = f"{done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else "")
        line = f"  {label}: {100 * done // total:3d} % ({size})" if total else f"  {label}: {size}"
        print(line, end="\n" if finished or not interactive else "\r", file=sys.stderr, flush=True)

    return report
