"""Where the `mross` commands write, checked before any work starts: the one rule that keeps users' files safe.

A command writes only the outputs the user named or that are named after them (the preview
`OUT.preview.png` and the partial sketch `OUT.partial.svg` beside the SVG `OUT.svg`), each with the
suffix its content has, into a directory that exists and is writable, and never onto one of its
inputs or onto another of its outputs. A job that cannot write its result is refused before it runs,
so its work is never thrown away at the end.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mross_server.job import SketchInputError

PREVIEW_SUFFIX = ".preview.png"
PARTIAL_SUFFIX = ".partial.svg"


@dataclass(frozen=True)
class Output:
    """A file a command will write: its path, what it is called on the command line, the suffix its content needs."""

    path: Path
    role: str
    suffix: str


@dataclass(frozen=True)
class SketchOutputs:
    """The files `mross sketch` writes: the layered SVG, its PNG preview, and the SVG of the finished
    rounds should the job fail after round 1."""

    svg: Path
    preview: Path
    partial: Path


def sketch_outputs(photo: Path, svg: Path, preview: Path | None = None, inputs: Sequence[Path] = ()) -> SketchOutputs:
    """The outputs of sketching `photo` into `svg`, checked; the preview defaults to `OUT.preview.png`.

    Raises:
        SketchInputError: one sentence saying which output cannot be written, and why.
    """
    check_outputs(
        [
            Output(svg, "the SVG (-o)", ".svg"),
            Output(preview or default_preview(svg), "the preview" if preview is None else "the preview (--preview)", ".png"),
            Output(partial_path(svg), "the partial SVG", ".svg"),
        ],
        [photo, *inputs],
    )
    return SketchOutputs(svg, preview or default_preview(svg), partial_path(svg))


def default_preview(svg: Path) -> Path:
    """`OUT.preview.png` beside `OUT.svg`."""
    return _beside(svg, PREVIEW_SUFFIX)


def partial_path(svg: Path) -> Path:
    """`OUT.partial.svg` beside `OUT.svg`: where the finished rounds of a failed job go."""
    return _beside(svg, PARTIAL_SUFFIX)


def check_outputs(outputs: Sequence[Output], inputs: Sequence[Path]) -> None:
    """SketchInputError unless every output has its suffix, lies in a writable directory, and is
    neither an input nor another output (however the paths are spelled: links and `..` included)."""
    for number, output in enumerate(outputs):
        path = output.path
        if path.suffix.lower() != output.suffix or not path.stem:
            raise SketchInputError(f"{output.role} {path} must be a {output.suffix} file name (it holds {output.suffix[1:].upper()} data)")
        for source in inputs:
            if _same_file(path, source):
                raise SketchInputError(f"{output.role} {path} is the input {source}, which mross never overwrites; choose another name")
        for other in outputs[:number]:
            if _same_file(path, other.path):
                raise SketchInputError(f"{output.role} and {other.role} would both be {path}; choose another name")
        if path.is_dir():
            raise SketchInputError(f"{output.role} {path} is a directory; give a file name")
        folder = path.parent
        if not folder.is_dir():
            raise SketchInputError(f"cannot write {output.role} {path}: the directory {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise SketchInputError(f"cannot write {output.role} {path}: the directory {folder} is not writable")
        if path.exists() and not os.access(path, os.W_OK):
            raise SketchInputError(f"cannot write {output.role} {path}: the file is read-only")


def _beside(svg: Path, suffix: str) -> Path:
    return svg.with_name(svg.stem + suffix) if svg.suffix else svg.with_name(svg.name + suffix)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path, or (both existing) the same inode."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
