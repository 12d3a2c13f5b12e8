"""Which photo to sketch and which rectangles mark its regions of interest, read from the selection.

ROI order is the order of the selection as Inkscape reports it: the order in which objects were
shift-clicked, and stacking order (bottom to top) when the selection was made by rubber-band or
Edit ▸ Select All. ROI 1 is refined in round 2, ROI 2 in round 3, and so on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import inkex

from .errors import ExtensionError


@dataclass(frozen=True)
class SketchSelection:
    """The selected bitmap and the ROI rectangles, in ROI order."""

    image: inkex.Image
    rois: tuple[inkex.Rectangle, ...]


def read_selection(selected: Iterable[inkex.BaseElement]) -> SketchSelection:
    """Split the selected elements (in selection order) into one image and its ROI rectangles."""
    items = list(selected)
    if not items:
        raise ExtensionError("select one bitmap image (and optionally rectangles marking regions of interest) first")
    for item in items:
        if not isinstance(item, (inkex.Image, inkex.Rectangle)):
            raise ExtensionError(
                f"only one bitmap image and rectangles may be selected, but '{item.get('id')}' is a <{item.TAG}>"
            )
    images = [item for item in items if isinstance(item, inkex.Image)]
    if len(images) != 1:
        raise ExtensionError(f"select exactly one bitmap image to sketch ({len(images)} are selected)")
    rois = tuple(item for item in items if isinstance(item, inkex.Rectangle))
    return SketchSelection(images[0], rois)
