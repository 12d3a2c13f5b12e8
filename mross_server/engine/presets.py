"""Named speed/quality trade-offs, and what a job runs once its preset, the loaded weights and its own knobs are combined.

docs/presets.md tells users what each preset runs with and without CLIP weights, and how long it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mross_shared.messages import JobParams
from mross_shared.objective_spec import parse_objective

# CLIPasso's canvas size, the scale at which preset half-widths are stated.
REFERENCE_RESOLUTION = 224
#: Where strokes can start (see Preset.init); "saliency" needs CLIP ViT-B/32 weights.
INIT_METHODS = ("contours", "fps", "saliency")
#: CLIPasso's augmented pairs per step; an objective with the CLIP term always gets them.
CLIP_AUGMENTATIONS = 4
#: Adam's step in canvas units: CLIPasso's 1 with the CLIP term. The offline terms start strokes on
#: the very outlines they score, so a half step refines them instead of carrying them to other
#: outlines (with the other changes of issue 10, doubled line share about 0.21 → 0.17 on 11 cluttered scenes).
CLIP_LR = 1.0
OFFLINE_LR = 0.5


@dataclass(frozen=True)
class Preset:
    """How hard one job works.

    resolution: long side of the optimization canvas (loss views) in pixels.
    analysis_size: long side of the image on which contours are found for initialization.
    offline_objective / clip_objective: the loss used without / with CLIP weights.
    iterations, augmentations, init: the offline side's steps per round, augmented pairs per step
        (0 = plain pair only) and stroke start: "contours" (fitted to the region's strongest edge
        chains), "fps" (MROSS: farthest-point samples on edge pixels, each a short random walk) or
        "saliency" (CLIPasso: CLIP attention on XDoG lines, each a short random walk).
    clip_iterations, clip_init, clip_sketches: the CLIP side's steps per round and stroke start
        (None: as the offline side) and its best-of-K seeds.
    half_width: stroke half-width on a 224 px canvas (diffvg convention, as CLIPasso's 1.5); it
        scales with the canvas, so the drawn line keeps its weight relative to the photo.
    roi_weight: weight of the zoomed ROI view in ROI rounds.
    eval_every: steps between evaluations of the plain-pair loss (the best state is kept).
    tidy_every: steps between stroke clean-ups (knots, doubled strokes, stubs; see hygiene.py).
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
    clip_iterations: int | None = None
    clip_init: str | None = None
    clip_sketches: int = 1

    @property
    def canvas_half_width(self) -> float:
        """The stroke half-width in canvas units at this preset's resolution."""
        return self.half_width * self.resolution / REFERENCE_RESOLUTION


@dataclass(frozen=True)
class Recipe:
    """What one job runs: objective, steps per round, augmented pairs, stroke start, best-of-K seeds and step size."""

    objective: str
    iterations: int
    augmentations: int
    init: str
    sketches: int
    lr: float

    @property
    def uses_clip(self) -> bool:
        """Whether the objective has the CLIP term."""
        return any(name == "clip" for _, name in parse_objective(self.objective))


def job_recipe(preset: Preset, clip_loaded: bool, params: JobParams) -> Recipe:
    """The preset's CLIP side (for an objective with the CLIP term) or offline side, with the job's own values over it.

    The default objective is the CLIP one when CLIP weights are loaded. An objective with the CLIP
    term always gets at least CLIPasso's 4 augmented pairs: without them the geometric term sees one
    fixed view. Raises ValueError for an unreadable objective.
    """
    objective = params.objective or (preset.clip_objective if clip_loaded else preset.offline_objective)
    # The CLIP side's settings go with the CLIP term, whoever chose the objective.
    clip = any(name == "clip" for _, name in parse_objective(objective))
    iterations = preset.clip_iterations if clip and preset.clip_iterations is not None else preset.iterations
    init = preset.clip_init if clip and preset.clip_init is not None else preset.init
    return Recipe(
        objective=objective,
        iterations=params.iterations if params.iterations is not None else iterations,
        augmentations=max(preset.augmentations, CLIP_AUGMENTATIONS) if clip else preset.augmentations,
        init=params.init or init,
        sketches=params.sketches if params.sketches is not None else (preset.clip_sketches if clip else 1),
        lr=CLIP_LR if clip else OFFLINE_LR,
    )


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
        # The paper with CLIP weights: MROSS's clip+vgg (weights 1 and 1), CLIPasso's 4 augmented
        # pairs, 2000 steps per round (CLIPasso's num_iter=2001 evaluates the states after 0, 10, …,
        # 2000 steps; so does this), CLIP-attention start and best of 3 seeds. Without CLIP it is `quality`.
        Preset(
            "paper", resolution=224, analysis_size=512, iterations=800,
            offline_objective="ink+2*edges+0.05*vgg", clip_objective="clip+vgg", augmentations=4,
            clip_iterations=2000, clip_init="saliency", clip_sketches=3,
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
