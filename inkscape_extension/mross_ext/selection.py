"""Which photo to sketch, which rectangles mark its regions of interest, and which sketch (if any) to continue.

ROI order is the order of the selection as Inkscape reports it: the order in which objects were
shift-clicked, and stacking order (bottom to top) when the selection was made by rubber-band or
Edit ▸ Select All. ROI 1 is refined in round 2, ROI 2 in round 3, and so on. Selecting an earlier MROSS
sketch (its parent layer, or anything inside it) as well continues that sketch with one round per new
rectangle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import inkex

from .errors import ExtensionError
from .sketch_runs import SketchRun, run_of


@dataclass(frozen=True)
class SketchSelection:
    """The selected bitmap, the ROI rectangles in ROI order, and the sketch to continue (None: a new one)."""

    image: inkex.Image
    rois: tuple[inkex.Rectangle, ...]
    continued: SketchRun | None = None


def read_selection(selected: Iterable[inkex.BaseElement]) -> SketchSelection:
    """Split the selected elements (in selection order) into one image, its ROI rectangles and a sketch to continue."""
    items = list(selected)
    if not items:
        raise ExtensionError("select one bitmap image (and optionally rectangles marking regions of interest) first")
    runs: dict[str, SketchRun] = {}
    for item in items:
        # A rectangle is a region of interest even when drawn inside a sketch's layer.
        if isinstance(item, (inkex.Image, inkex.Rectangle)):
            continue
        run = run_of(item)
        if run is None:
            raise ExtensionError(
                f"only one bitmap image, rectangles and an MROSS sketch to continue may be selected, but '{item.get('id')}' is a <{item.TAG}>"
            )
        runs.setdefault(run.layer.getroottree().getpath(run.layer), run)
    images = [item for item in items if isinstance(item, inkex.Image)]
    if len(images) != 1:
        raise ExtensionError(f"select exactly one bitmap image to sketch ({len(images)} are selected)")
    rois = tuple(item for item in items if isinstance(item, inkex.Rectangle))
    continued = _one_run(list(runs.values()), images[0], rois)
    return SketchSelection(images[0], rois, continued)


def _one_run(runs: list[SketchRun], image: inkex.Image, rois: tuple[inkex.Rectangle, ...]) -> SketchRun | None:
    if not runs:
        return None
    if len(runs) > 1:
        names = " and ".join(f"'{run.layer.get('id')}'" for run in runs[:2])
        raise ExtensionError(f"parts of {len(runs)} MROSS sketches ({names}) are selected; continue one sketch at a time")
    run = runs[0]
    if not rois:
        raise ExtensionError(
            f"{run.name} — to continue it, select it together with the photo and new rectangles; "
            "to start over, select only the photo and rectangles"
        )
    photo_id = image.get("id")
    drawn_over = image.getroottree().getroot().getElementById(run.photo_id) if run.photo_id else None
    if drawn_over is not None and run.photo_id != photo_id:
        raise ExtensionError(f"{run.name}, drawn over the photo '{run.photo_id}', not over the selected '{photo_id}'")
    return run
