"""MROSS sketches in a document: each run of the extension is one parent layer, marked so it can be found again.

The parent layer carries `data-mross-*` attributes (plain SVG 2 data attributes, which Inkscape keeps):
the run's number, the id of the photo it was drawn over, and how many rounds the sketch has so far
(a continued sketch numbers its new rounds after the old ones). Labels are for people and may be edited;
the attributes are what the extension reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import inkex

RUN_ATTRIBUTE = "data-mross-run"
PHOTO_ATTRIBUTE = "data-mross-photo"
ROUNDS_ATTRIBUTE = "data-mross-rounds"


@dataclass(frozen=True)
class SketchRun:
    """An earlier run's parent layer and what it recorded about itself."""

    layer: inkex.Group
    number: int
    photo_id: str | None
    rounds: int

    @property
    def name(self) -> str:
        """How to name the run to a person: its id and its layer's label."""
        return f"'{self.layer.get('id')}' is the MROSS sketch '{self.layer.label or f'MROSS sketch {self.number}'}'"


def run_of(element: inkex.BaseElement) -> SketchRun | None:
    """The run `element` belongs to (it is the run's layer or lies inside it), or None."""
    node = element
    while isinstance(node, inkex.BaseElement):
        run = _read_run(node)
        if run is not None:
            return run
        node = node.getparent()
    return None


def next_run_number(svg: inkex.SvgDocumentElement) -> int:
    """One more than the highest run number in the document, so a deleted run's number is never reused."""
    numbers = [run.number for run in (_read_run(node) for node in svg.iter()) if run is not None]
    return max(numbers, default=0) + 1


def run_label(number: int, strokes: int, preset: str, continues: int | None) -> str:
    """'MROSS sketch 2 — 48 strokes, fast' (with '(continues sketch 1)' for a continued sketch)."""
    label = f"MROSS sketch {number} — {strokes} stroke{'s' if strokes != 1 else ''}, {preset}"
    return f"{label} (continues sketch {continues})" if continues is not None else label


def mark_run(layer: inkex.Group, number: int, photo_id: str, rounds: int) -> None:
    """Record on a new parent layer what a later run needs to continue it."""
    layer.set(RUN_ATTRIBUTE, str(number))
    layer.set(PHOTO_ATTRIBUTE, photo_id)
    layer.set(ROUNDS_ATTRIBUTE, str(rounds))


def _read_run(node: inkex.BaseElement) -> SketchRun | None:
    number = _whole_number(node.get(RUN_ATTRIBUTE))
    if number is None or not isinstance(node, inkex.Group):
        return None
    # A sketch whose round count was lost still continues; its new rounds then number from 2.
    return SketchRun(node, number, node.get(PHOTO_ATTRIBUTE), _whole_number(node.get(ROUNDS_ATTRIBUTE)) or 1)


def _whole_number(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None
