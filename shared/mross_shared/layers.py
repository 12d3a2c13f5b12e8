"""How sketch rounds become layers; one rule for the CLI's SVG files and the Inkscape extension.

`snapshot` layers hold every stroke as it stood after that round (only the last one visible, so
an illustrator can compare rounds by toggling); `delta` layers hold just the strokes that round
added, all visible, so together they form the final sketch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

LAYER_MODES = ("snapshot", "delta")


def round_region(index: int) -> str:
    """What round `index` (1-based) sketches: 'whole image' for round 1, 'ROI k' for round k + 1."""
    return "whole image" if index == 1 else f"ROI {index - 1}"


def layer_label(index: int, strokes: int) -> str:
    """'MROSS round 2 — 14 strokes (ROI 1)'."""
    return f"MROSS round {index} — {strokes} stroke{'s' if strokes != 1 else ''} ({round_region(index)})"


def layer_stroke_indices(mode: str, total: int, added: tuple[int, ...] | list[int]) -> list[int]:
    """Indices of the round's strokes that its layer holds: all `total` (snapshot) or the `added` ones (delta)."""
    if mode not in LAYER_MODES:
        raise ValueError(f"unknown layer mode {mode!r}; choose one of {', '.join(LAYER_MODES)}")
    return list(range(total)) if mode == "snapshot" else list(added)


def layer_visible(mode: str, index: int, rounds: int) -> bool:
    """Whether round `index` (1-based) of `rounds` starts visible."""
    return mode == "delta" or index == rounds


class _Round(Protocol):
    @property
    def index(self) -> int:
        """The round's number, 1-based."""


R = TypeVar("R", bound=_Round)


def standing_rounds(received: Iterable[R]) -> tuple[R, ...]:
    """A job's rounds (`round` messages, or the CLI's RoundResults) in index order, the last one received for each index.

    A job whose worker died restarts at round 1 and sends its rounds again; those replace the earlier ones.
    """
    latest = {update.index: update for update in received}
    return tuple(latest[index] for index in sorted(latest))
