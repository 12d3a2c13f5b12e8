"""The benchmark photos (public domain or CC0; see photos/SOURCES.md) with two hand-picked ROIs each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mross_shared.messages import RoiBox

PHOTOS = Path(__file__).resolve().parent / "photos"


@dataclass(frozen=True)
class Scene:
    """A photo and its ROIs, in the order an illustrator would refine them."""

    name: str
    rois: tuple[RoiBox, ...]

    @property
    def path(self) -> Path:
        return PHOTOS / f"{self.name}.jpg"


SCENES = (
    Scene("coffee", (RoiBox(185, 190, 230, 145), RoiBox(170, 15, 240, 200))),  # handle and spoon; cup rim
    Scene("chelsea", (RoiBox(115, 65, 250, 110), RoiBox(210, 190, 110, 90))),  # eyes; nose and mouth
    Scene("astronaut", (RoiBox(150, 10, 150, 140), RoiBox(270, 335, 242, 177))),  # face; helmet
    Scene("rocket", (RoiBox(285, 115, 75, 310), RoiBox(0, 0, 100, 427))),  # the rocket; the left tower
    Scene("grace_hopper", (RoiBox(150, 140, 215, 195), RoiBox(150, 15, 220, 135))),  # face; cap
    Scene("ascent", (RoiBox(390, 240, 122, 160), RoiBox(0, 60, 100, 200))),  # climbers; the slats on the left
)
