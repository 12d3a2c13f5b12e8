"""How long a job has left: the work its rounds still have, at the speed measured over the whole job.

Later rounds are slower per iteration than round 1: they draw more strokes, in more views (every ROI
round adds a zoomed one). Dividing the time per iteration by that round's cost gives a speed that stays
put across rounds, so an exponential moving average of it, over every iteration of the job, predicts
the rest without the jump a per-round average makes when a heavier round starts. The estimate can only
rise when the measured speed drops, and then by no more than the drop. A round's first iteration also
pays for its start (the first loss evaluation, allocations), so it moves no estimate.

The cost model is rough on purpose: a step's fixed work is cost.py's (measured on a 2-core CPU), and a
zoomed view, measured the same way, costs less than the whole photo's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mross_server.engine.cost import STEP_OVERHEAD_STROKES

#: Weight of the newest iteration in the moving average of seconds per unit of work.
SMOOTHING = 0.1
#: The work of each zoomed view relative to the whole-photo view.
ZOOM_VIEW_WEIGHT = 0.4


@dataclass(frozen=True)
class RoundPlan:
    """One round ahead: its iterations, and the strokes (of every sketch tried) and views each of them draws."""

    iterations: int
    strokes: int
    views: int

    @property
    def cost(self) -> float:
        """Work units of one iteration."""
        return (1.0 + ZOOM_VIEW_WEIGHT * (self.views - 1)) * (self.strokes + STEP_OVERHEAD_STROKES)


class JobClock:
    """Remaining seconds of a job of `rounds` (in order) from the iterations finished so far."""

    def __init__(self, rounds: Sequence[RoundPlan], smoothing: float = SMOOTHING) -> None:
        self._plan = list(rounds)
        self._remaining = [plan.iterations for plan in self._plan]
        self._smoothing = smoothing
        self._seconds_per_unit: float | None = None

    def step(self, round_index: int, seconds: float) -> None:
        """Note one finished iteration of round `round_index` (0-based) that took `seconds`."""
        first = self._remaining[round_index] == self._plan[round_index].iterations
        self._remaining[round_index] = max(0, self._remaining[round_index] - 1)
        if first:
            return
        measured = seconds / self._plan[round_index].cost
        if self._seconds_per_unit is None:
            self._seconds_per_unit = measured
        else:
            self._seconds_per_unit += self._smoothing * (measured - self._seconds_per_unit)

    def eta(self) -> float:
        """Seconds the remaining iterations of every round should take; NaN (not known) until measured."""
        if self._seconds_per_unit is None:
            return math.nan
        work = sum(left * plan.cost for left, plan in zip(self._remaining, self._plan, strict=True))
        return work * self._seconds_per_unit
