"""The job's time estimate: smoothed over the whole job, no jump when a heavier round starts."""

from __future__ import annotations

import itertools
import math

import pytest

from mross_server.engine.eta import JobClock, RoundPlan

# A three-round job as the pipeline plans it: each ROI round draws more strokes in one more view.
PLAN = [RoundPlan(20, 12, 1), RoundPlan(20, 16, 2), RoundPlan(20, 20, 3)]
SECONDS_PER_UNIT = 0.01


def _run(clock: JobClock, slowdown: float = 1.0, from_round: int = 3, warm_up_s: float = 0.0) -> list[float]:
    """Feed the clock iterations that take their planned work (times `slowdown` from round `from_round`
    on, each round's first `warm_up_s` longer); return the estimates after the job's second iteration."""
    estimates = []
    for index, plan in enumerate(PLAN):
        for iteration in range(plan.iterations):
            factor = slowdown if index + 1 >= from_round else 1.0
            clock.step(index, plan.cost * SECONDS_PER_UNIT * factor + (warm_up_s if iteration == 0 else 0.0))
            estimates.append(clock.eta())
    return estimates[1:]


def test_the_estimate_is_the_true_remaining_time_when_speed_holds_and_never_rises():
    estimates = _run(JobClock(PLAN), warm_up_s=5.0)
    costs = [plan.cost * SECONDS_PER_UNIT for plan in PLAN for _ in range(plan.iterations)]
    remaining = [sum(costs[i + 1 :]) for i in range(len(costs))][1:]
    assert estimates == pytest.approx(remaining), "a round's slow first iteration moves nothing"
    assert all(later <= earlier for earlier, later in itertools.pairwise(estimates)), "no jump at a round change"


def test_a_real_slowdown_raises_the_estimate_gradually_and_by_no_more_than_the_slowdown():
    estimates = _run(JobClock(PLAN), slowdown=2.0)
    rises = [later / earlier for earlier, later in itertools.pairwise(estimates) if earlier and later > earlier]
    assert rises and max(rises) <= 2.0
    assert max(rises) < 1.2, "one slow iteration moves the estimate by a tenth of the slowdown"


def test_no_estimate_until_an_iteration_has_been_measured():
    clock = JobClock(PLAN)
    assert math.isnan(clock.eta())
    clock.step(0, 9.0)  # the first iteration pays for the round's start
    assert math.isnan(clock.eta())
    clock.step(0, 0.5)
    assert clock.eta() > 0
