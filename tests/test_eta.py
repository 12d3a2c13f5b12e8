"""The job's time estimate: smoothed over the whole job, no jump when a heavier round starts."""

from __future__ import annotations

import itertools

import pytest

from mross_server.engine.eta import JobClock, RoundPlan

# A three-round job as the pipeline plans it: each ROI round draws more strokes in one more view.
PLAN = [RoundPlan(20, 12, 1), RoundPlan(20, 16, 2), RoundPlan(20, 20, 3)]
SECONDS_PER_UNIT = 0.01


def _run(clock: JobClock, slowdown: float = 1.0, from_round: int = 3) -> list[float]:
    """Feed the clock iterations that take their planned work (times `slowdown` from round `from_round` on)."""
    estimates = []
    for index, plan in enumerate(PLAN):
        for _ in range(plan.iterations):
            factor = slowdown if index + 1 >= from_round else 1.0
            clock.step(index, plan.cost * SECONDS_PER_UNIT * factor)
            estimates.append(clock.eta())
    return estimates


def test_the_estimate_is_the_true_remaining_time_when_speed_holds_and_never_rises():
    estimates = _run(JobClock(PLAN))
    costs = [plan.cost * SECONDS_PER_UNIT for plan in PLAN for _ in range(plan.iterations)]
    remaining = [sum(costs[i + 1 :]) for i in range(len(costs))]
    assert estimates == pytest.approx(remaining)
    assert all(later <= earlier for earlier, later in itertools.pairwise(estimates)), "no jump at a round change"


def test_a_real_slowdown_raises_the_estimate_gradually_and_by_no_more_than_the_slowdown():
    estimates = _run(JobClock(PLAN), slowdown=2.0)
    rises = [later / earlier for earlier, later in itertools.pairwise(estimates) if earlier and later > earlier]
    assert rises and max(rises) <= 2.0
    assert max(rises) < 1.2, "one slow iteration moves the estimate by a tenth of the slowdown"


def test_no_estimate_before_the_first_iteration():
    clock = JobClock(PLAN)
    assert clock.eta() == 0.0
    clock.step(0, 0.5)
    assert clock.eta() > 0
