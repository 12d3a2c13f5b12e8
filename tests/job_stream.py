"""What the transport tests do with a job's event stream, for the single server and the Ray pool alike.

Jobs are tiny (8 strokes, the `test` preset) unless a test needs one that runs until cancelled.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest

from mross_shared.client import JobEvent, SketchClient
from mross_shared.errors import JobCancelled
from mross_shared.messages import Done, JobParams, JobState, PreviewUpdate, ProgressUpdate, RoiBox, RoundUpdate, StrokePath
from tests.server_process import SAMPLE_PHOTO

PHOTO = SAMPLE_PHOTO.read_bytes()
ROI = RoiBox(200, 180, 250, 200)
QUICK = JobParams(strokes=8, preset="test")
ENDLESS = JobParams(strokes=8, preset="test", iterations=20_000)


def until_running(events: Iterator[JobEvent]) -> ProgressUpdate:
    """Advance a job's event iterator to its first progress from inside the pipeline."""
    return next(e for e in events if isinstance(e, ProgressUpdate) and e.state is JobState.RUNNING and e.iteration > 0)


def cancel_mid_round(client: SketchClient) -> tuple[str, float]:
    """Run an endless two-round job and cancel it at its fifth iteration; returns the job id and the
    seconds from the cancel request to the job's `error cancelled`."""
    job_id = client.submit(PHOTO, [ROI], ENDLESS)
    seen: dict[str, float] = {"iteration": 0}

    def cancelled() -> bool:
        if "cancelled_at" not in seen and seen["iteration"] >= 5:
            seen["cancelled_at"] = time.monotonic()
        return "cancelled_at" in seen

    with pytest.raises(JobCancelled, match=f"job {job_id} was cancelled"):
        for event in client.events(job_id, cancelled):
            assert not isinstance(event, RoundUpdate)
            seen["iteration"] = getattr(event, "iteration", 0)
    return job_id, time.monotonic() - seen["cancelled_at"]


def late_iterations(log: str, job_id: str) -> int | None:
    """How many iterations the worker finished after the job's cancel request, as its log says (None: not yet)."""
    late = re.search(rf"job {job_id} stopped: (\d+) iteration\(s\) finished after the cancel request", log)
    return None if late is None else int(late.group(1))


def finish_continued_sketch(client: SketchClient) -> None:
    """Continue a two-stroke sketch (one stroke frozen) with previews, then stop and keep: previews come at
    most about once a second, and the round under way arrives as the job's last, keeping the kept strokes."""
    kept = (StrokePath("M 210 190 C 260 200 300 240 330 300", 4.0), StrokePath("M 20 30 C 60 40 90 80 120 60", 2.0))
    job_id = client.submit(PHOTO, [ROI, RoiBox(100, 20, 300, 180)], ENDLESS, strokes=kept, frozen=(1,), preview=True)
    previews: list[tuple[float, PreviewUpdate]] = []
    rounds: list[RoundUpdate] = []
    events = []
    for event in client.events(job_id, finish=lambda: len(previews) >= 3):
        events.append(event)
        if isinstance(event, PreviewUpdate):
            previews.append((time.monotonic(), event))
        elif isinstance(event, RoundUpdate):
            rounds.append(event)
    done = events[-1]
    assert isinstance(done, Done) and done.rounds == 1 and any("stopped early" in note for note in done.notes)
    assert [(r.index, r.rounds, r.roi) for r in rounds] == [(1, 1, ROI)]
    assert len(rounds[0].paths) == 2 + len(rounds[0].added) and rounds[0].added[0] == 2
    assert rounds[0].paths[1] == kept[1], "the frozen kept stroke comes back as it went"
    assert rounds[0].paths[0].width == 4.0, "kept strokes keep their widths"
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(previews)]
    assert gaps and min(gaps) > 0.8, "previews come at most about once a second"
    assert all(p.job_id == job_id and p.round == 1 and len(p.paths) == len(rounds[0].paths) for _, p in previews)
    assert client.status(job_id).state is JobState.DONE
