"""What the transport tests do with a job's event stream, for the single server and the Ray pool alike.

Jobs are tiny (8 strokes, the `test` preset) unless a test needs one that runs until cancelled.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from mross_shared.client import JobEvent, SketchClient
from mross_shared.errors import JobCancelled
from mross_shared.messages import JobParams, JobState, ProgressUpdate, RoiBox, RoundUpdate
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
