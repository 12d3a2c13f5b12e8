"""How sketch rounds become layers; one rule for the CLI's SVG files and the Inkscape extension.

`snapshot` layers hold every stroke as it stood after that round (only the last one visible, so
an illustrator can compare rounds by toggling); `delta` layers hold just the strokes that round
added, all visible, so together they form the final sketch.
"""

from __future__ import annotations

LAYER_MODES = ("snapshot", "delta")


def layer_label(index: int, strokes: int, roi_number: int | None) -> str:
    """'MROSS round 2 — 14 strokes (ROI 1)'; round 1 covers the whole image."""
    where = "whole image" if roi_number is None else f"ROI {roi_number}"
    return f"MROSS round {index} — {strokes} stroke{'s' if strokes != 1 else ''} ({where})"


def layer_stroke_indices(mode: str, total: int, added: tuple[int, ...] | list[int]) -> list[int]:
    """Indices of the round's strokes that its layer holds: all `total` (snapshot) or the `added` ones (delta)."""
    if mode not in LAYER_MODES:
        raise ValueError(f"unknown layer mode {mode!r}; choose one of {', '.join(LAYER_MODES)}")
    return list(range(total)) if mode == "snapshot" else list(added)


def layer_visible(mode: str, index: int, rounds: int) -> bool:
    """Whether round `index` (1-based) of `rounds` starts visible."""
    return mode == "delta" or index == rounds
