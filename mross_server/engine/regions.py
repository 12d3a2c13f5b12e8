"""Checking ROIs against the photo: clip what sticks out, refuse what has no area inside it.

An ROI's own values (finite, bounded, positive size) were checked when its RoiBox was made.
"""

from __future__ import annotations

import math

from mross_server.job import SketchInputError
from mross_shared.messages import RoiBox


def clip_rois(rois: list[RoiBox], width: int, height: int) -> tuple[list[RoiBox], list[str]]:
    """ROIs clipped to the photo and snapped to whole pixels, plus one note per clipped ROI.

    Raises:
        SketchInputError: an ROI covers less than a pixel of the photo.
    """
    clipped, notes = [], []
    for number, roi in enumerate(rois, start=1):
        x0, y0, x1, y1 = roi.box
        cx0, cy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        cx1, cy1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
        if cx1 - cx0 < 1 or cy1 - cy0 < 1:
            raise SketchInputError(f"ROI {number} ({_describe(roi)}) lies outside the {width}×{height} photo")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            notes.append(f"ROI {number} reached outside the photo and was clipped to {cx1 - cx0}×{cy1 - cy0} px at ({cx0}, {cy0})")
        clipped.append(RoiBox(cx0, cy0, cx1 - cx0, cy1 - cy0))
    return clipped, notes


def _describe(roi: RoiBox) -> str:
    return f"x={roi.x:g}, y={roi.y:g}, {roi.width:g}×{roi.height:g}"
