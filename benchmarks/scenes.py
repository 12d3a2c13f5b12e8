"""The benchmark photos (licences in photos/SOURCES.md) with two hand-picked ROIs each.

`SCENES` are the six single-subject photos the offline objective was first tuned on; `CLUTTERED`
are scenes with several objects, background and clutter (issue 10). The garage motorcycle is
loaded from scikit-image at run time and never stored here: its licence is not stated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mross_server.io.photo import load_photo
from mross_shared.messages import RoiBox

PHOTOS = Path(__file__).resolve().parent / "photos"
# Loaded from scikit-image rather than from photos/ (see the module docstring).
SKIMAGE_MOTORCYCLE = "garage_motorcycle"


@dataclass(frozen=True)
class Scene:
    """A photo, its ROIs in the order an illustrator would refine them, and what they show."""

    name: str
    rois: tuple[RoiBox, ...]
    subject: str = ""
    roi_objects: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        """The photo file (the skimage motorcycle has none)."""
        return PHOTOS / f"{self.name}.jpg"

    def load(self) -> np.ndarray:
        """The photo as an [H, W, 3] float32 array in [0, 1]."""
        if self.name == SKIMAGE_MOTORCYCLE:
            from skimage.data import stereo_motorcycle

            return stereo_motorcycle()[0].astype(np.float32) / 255.0
        return load_photo(self.path)


SCENES = (
    Scene("coffee", (RoiBox(185, 190, 230, 145), RoiBox(170, 15, 240, 200)), "a cup of coffee on a saucer", ("handle and spoon", "cup rim")),
    Scene("chelsea", (RoiBox(115, 65, 250, 110), RoiBox(210, 190, 110, 90)), "a cat's face", ("eyes", "nose and mouth")),
    Scene("astronaut", (RoiBox(150, 10, 150, 140), RoiBox(270, 335, 242, 177)), "an astronaut", ("face", "helmet")),
    Scene("rocket", (RoiBox(285, 115, 75, 310), RoiBox(0, 0, 100, 427)), "a rocket on its launch pad", ("the rocket", "the left tower")),
    Scene("grace_hopper", (RoiBox(150, 140, 215, 195), RoiBox(150, 15, 220, 135)), "a woman in uniform", ("face", "cap")),
    Scene("ascent", (RoiBox(390, 240, 122, 160), RoiBox(0, 60, 100, 200)), "people on a stair tower", ("climbers", "slats")),
)

CLUTTERED = (
    Scene(
        "street_cars_basilica", (RoiBox(0, 455, 440, 78), RoiBox(328, 142, 62, 100)),
        "a large brick building with a tree and parked cars", ("parked cars", "an arched window"),
    ),
    Scene("house_tree_lawn", (RoiBox(268, 200, 68, 76), RoiBox(360, 322, 70, 80)), "a house with a bare tree", ("a dormer window", "a window with shutters")),
    Scene(
        "room_interior_table", (RoiBox(195, 95, 90, 180), RoiBox(385, 155, 90, 105)),
        "a room: table with a bottle, a drum on a bean bag", ("a wine bottle and glass", "a coffee grinder"),
    ),
    Scene(
        "drumkit_guitar_clutter", (RoiBox(520, 310, 100, 140), RoiBox(340, 55, 190, 145)),
        "a drum kit and an electric guitar", ("guitar pickups and bridge", "a tom drum"),
    ),
    Scene(
        "people_mariachi", (RoiBox(640, 155, 150, 190), RoiBox(150, 85, 220, 115)),
        "a band of musicians (trumpets, guitar)", ("a smiling face", "a trumpet player"),
    ),
    Scene("lemurs_vegetation", (RoiBox(310, 160, 125, 95), RoiBox(535, 260, 170, 170)), "two lemurs on a log", ("a lemur's face", "a ringed tail")),
    Scene("gorilla_vegetation", (RoiBox(335, 160, 130, 150), RoiBox(610, 255, 190, 160)), "a gorilla among leaves", ("the gorilla's face", "a leafy plant")),
    Scene("building_cathedral_trees", (RoiBox(280, 50, 190, 150), RoiBox(390, 325, 110, 115)), "a domed cathedral with trees", ("the main dome", "the portal")),
    Scene(
        "festival_stalls_night", (RoiBox(0, 195, 440, 105), RoiBox(460, 295, 110, 130)),
        "a night festival: stalls, lanterns, drums", ("lit stalls with a crowd", "a drummer"),
    ),
    Scene("pagoda_trees_sky", (RoiBox(95, 25, 225, 115), RoiBox(80, 185, 260, 110)), "a pagoda tower among trees", ("the top roof", "a balcony tier")),
    Scene(SKIMAGE_MOTORCYCLE, (RoiBox(330, 240, 150, 130), RoiBox(500, 105, 90, 90)), "a motorcycle in a garage", ("the engine", "the headlight")),
)
