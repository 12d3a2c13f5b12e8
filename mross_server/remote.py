"""Running a sketch job on an mross-server: what `mross sketch --server` does instead of a local run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mross_server.io.photo import read_photo_bytes
from mross_server.job import Progress, RoundResult, SketchParams, SketchResult
from mross_server.serve import wire
from mross_shared.client import SketchClient
from mross_shared.errors import MrossError
from mross_shared.layers import standing_rounds
from mross_shared.messages import Done, ProgressUpdate, RoiBox, RoundUpdate


def sketch_remote(
    server: str,
    photo: Path,
    rois: Sequence[RoiBox],
    params: SketchParams,
    on_progress: Callable[[Progress], None],
    on_round: Callable[[RoundResult], None],
) -> SketchResult:
    """Submit the photo's bytes to the server at `server` (endpoint or connection file) and collect the rounds.

    Raises the client's errors (ServerUnreachable, NotAuthorised, JobFailed, JobCancelled), each
    carrying one sentence for the user.
    """
    image = read_photo_bytes(photo)
    with SketchClient(server) as client:
        job_id = client.submit(image, rois, params)
        rounds: list[RoundUpdate] = []
        for event in client.events(job_id):
            if isinstance(event, ProgressUpdate):
                update = wire.progress(event)
                if update is not None:
                    on_progress(update)
            elif isinstance(event, RoundUpdate):
                rounds.append(event)
                on_round(wire.round_result(event))
            elif isinstance(event, Done):
                return wire.sketch_result(event, standing_rounds(rounds))
    raise MrossError("the server closed the job's event stream without a result")
