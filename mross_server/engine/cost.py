"""How much work a job is, estimated before it runs, so a server can refuse one that would run for days.

A job runs `rounds` × `iterations` optimizer steps. One step renders and scores every sketch's
strokes, plus a fixed amount of work for the loss views and the photo targets whatever the stroke
count: measured on a 2-core CPU (fast preset, coffee photo) a step takes about 0.08 s + 0.17 ms
per stroke per sketch, so the fixed part is worth STEP_OVERHEAD_STROKES strokes. Both parts grow
with the canvas's pixels. The estimate's unit, the stroke-step, is one stroke of one sketch through
one step on a 224-pixel canvas; the limit is Limits.max_job_cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mross_server.engine.presets import REFERENCE_RESOLUTION, get_preset, job_recipe
from mross_server.job import SketchInputError
from mross_shared.messages import JobParams

#: The per-step work that does not depend on the stroke count, in strokes (0.08 s / 0.17 ms).
STEP_OVERHEAD_STROKES = 500


class JobTooLarge(SketchInputError):
    """The job's estimated cost is over the limit; the message names what to reduce."""


@dataclass(frozen=True)
class JobCost:
    """A job's size as the estimate sees it; `stroke_steps` is the product of the others."""

    rounds: int
    iterations: int
    strokes: int
    sketches: int
    resolution: int

    @property
    def stroke_steps(self) -> int:
        """rounds × iterations × (strokes × sketches + STEP_OVERHEAD_STROKES) × (resolution / 224)²."""
        area = (self.resolution / REFERENCE_RESOLUTION) ** 2
        return math.ceil(self.rounds * self.iterations * (self.strokes * self.sketches + STEP_OVERHEAD_STROKES) * area)


def job_cost(params: JobParams, rois: int, clip_loaded: bool | None = None) -> JobCost:
    """The cost of a job with these parameters and `rois` ROIs on an engine with or without CLIP
    weights (None: whichever side of the preset costs more); SketchInputError for an unknown preset
    or objective."""
    try:
        preset = get_preset(params.preset)
        recipes = [job_recipe(preset, side, params) for side in ((True, False) if clip_loaded is None else (clip_loaded,))]
    except ValueError as error:
        raise SketchInputError(str(error)) from None
    recipe = max(recipes, key=lambda r: r.iterations * r.sketches)
    return JobCost(1 + rois, recipe.iterations, params.strokes, recipe.sketches, preset.resolution)


def check_job_cost(params: JobParams, rois: int, max_cost: int, clip_loaded: bool | None = None) -> None:
    """JobTooLarge, naming what to reduce, when the job's estimated stroke-steps exceed `max_cost`
    (SketchInputError for an unknown preset); `clip_loaded` as in `job_cost`."""
    cost = job_cost(params, rois, clip_loaded)
    if cost.stroke_steps <= max_cost:
        return
    raise JobTooLarge(
        f"the job is too large: {cost.rounds} rounds × {cost.iterations:,} iterations × "
        f"({cost.strokes:,} strokes × {cost.sketches} sketches + {STEP_OVERHEAD_STROKES} for the loss) "
        f"= {_millions(cost.stroke_steps)} stroke-steps, over the limit of {_millions(max_cost)}; "
        f"ask for fewer {', '.join(_biggest_factors(params, cost))}"
    )


def _biggest_factors(params: JobParams, cost: JobCost) -> list[str]:
    """The knobs to turn down, the one furthest above its default first."""
    defaults = JobParams()
    preset_iterations = get_preset(params.preset).iterations
    factors = {
        "iterations": cost.iterations / max(1, preset_iterations),
        "sketches": cost.sketches,  # one sketch is the usual job
        "strokes": cost.strokes / defaults.strokes,
        "ROIs": cost.rounds / 3,  # two ROIs is the usual job
    }
    return sorted(factors, key=lambda name: -factors[name])


def _millions(steps: int) -> str:
    return f"{steps / 1e6:,.0f} million" if steps >= 10_000_000 else f"{steps:,}"
