"""Named speed/quality trade-offs. Every value can be overridden per job where SketchParams allows."""

from __future__ import annotations

from dataclasses import dataclass

# CLIPasso's canvas size, the scale at which preset half-widths are stated.
REFERENCE_RESOLUTION = 224
#: Where strokes can start (see Preset.init); "saliency" needs CLIP ViT-B/32 weights.
INIT_METHODS = ("contours", "fps", "saliency")


@dataclass(frozen=True)
class Preset:
    """How hard one job works.

    resolution: long side of the optimization canvas (loss views) in pixels.
    analysis_size: long side of the image on which contours are found for initialization.
    offline_objective / clip_objective: the loss used without / with CLIP weights.
    half_width: stroke half-width on a 224 px canvas (diffvg convention, as CLIPasso's 1.5); it
        scales with the canvas, so the drawn line keeps its weight relative to the photo.
    roi_weight: weight of the zoomed ROI view in ROI rounds.
    augmentations: augmented pairs per step (0 = plain pair only).
    tidy_every: steps between stroke clean-ups (knots, doubled strokes, stubs; see hygiene.py).
    init: where strokes start: "contours" (fitted to the region's strongest edge chains) or
        "fps" (MROSS: farthest-point samples on edge pixels, each a short random walk).
    """

    name: str
    resolution: int
    analysis_size: int
    iterations: int
    offline_objective: str
    clip_objective: str
    half_width: float = 1.5
    roi_weight: float = 1.0
    augmentations: int = 4
    eval_every: int = 10
    tidy_every: int = 10
    init: str = "contours"

    @property
    def canvas_half_width(self) -> float:
        """The stroke half-width in canvas units at this preset's resolution."""
        return self.half_width * self.resolution / REFERENCE_RESOLUTION


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        # Tiny and quick: for tests and for trying the plumbing, not for pictures.
        Preset(
            "test", resolution=96, analysis_size=160, iterations=6, offline_objective="ink", clip_objective="clip",
            augmentations=0, eval_every=3, tidy_every=3,
        ),
        Preset("fast", resolution=224, analysis_size=512, iterations=50, offline_objective="ink+2*edges", clip_objective="clip+vgg", augmentations=0),
        Preset("standard", resolution=224, analysis_size=512, iterations=150, offline_objective="ink+2*edges", clip_objective="clip+vgg", augmentations=2),
        # GPU-sized: the VGG term's cost per step is ~50× the ink term's on a CPU.
        Preset(
            "quality", resolution=224, analysis_size=512, iterations=800,
            offline_objective="ink+2*edges+0.05*vgg", clip_objective="clip+vgg", augmentations=4,
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
