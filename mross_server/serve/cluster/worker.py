"""The worker of the Ray pool: one warm SketchEngine on one GPU (or a few CPUs) of some node.

A plain class; the bridge makes it a Ray actor (`ray.remote`) that takes two calls at once, and calls
`run` as a streaming generator, so each of the job's events (`running`, progress, rounds, the final
one) reaches the bridge as soon as it happens. The pipeline runs in a thread of its own, since it
reports through callbacks; `cancel` and `finish` run beside `run` and set the job's cancel or finish
event, which the pipeline checks every iteration.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator

from mross_server.job import SketchInputError
from mross_server.serve.cluster.link import RunJob
from mross_server.serve.dispatch import FINAL_STATES, Job, WorkerEvent
from mross_server.serve.runner import Engine, run_job
from mross_shared.messages import Limits, WorkerInfo


class SketchWorker:
    """Loads the engine once (models warm), then runs one job at a time for the front door."""

    def __init__(self, name: str, device: str, clip_weights: str | None, limits: Limits) -> None:
        # The worker's lines reach the front door's log through Ray's log forwarding.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s mross-worker %(levelname)s: %(message)s")
        # Imported here: the bridge process imports this module only to name the actor's class.
        from mross_server.engine.models.locations import WeightsError
        from mross_server.engine.pipeline import SketchEngine

        self._name = name
        self._engine: Engine | None = None
        self._problem: str | None = None
        try:
            self._engine = SketchEngine(device=device, clip_weights=clip_weights, limits=limits)
        except (SketchInputError, WeightsError) as error:
            self._problem = f"worker {name} on {socket.gethostname()} cannot load its engine: {error}"
        self._jobs: dict[str, Job] = {}

    def describe(self) -> WorkerInfo | str:
        """This worker as `hello` reports it, or one sentence saying why its engine did not load."""
        if self._engine is None:
            return self._problem or f"worker {self._name} has no engine"
        return WorkerInfo(self._name, f"{self._engine.device} on {socket.gethostname()}", tuple(self._engine.backbones), False)

    def run(self, run: RunJob) -> Iterator[WorkerEvent]:
        """Run a job, yielding its events as they happen; the last one has a final state (`num_returns="streaming"`)."""
        assert self._engine is not None, "the bridge sends jobs only to workers whose engine loaded"
        job = Job(run.job_id, run.image, run.rois, run.params, time.monotonic() - run.waited_s, run.start, run.preview)
        events: queue.SimpleQueue[WorkerEvent] = queue.SimpleQueue()
        self._jobs[job.job_id] = job
        worker = threading.Thread(target=run_job, args=(self._engine, job, events.put), name=f"job-{job.job_id}", daemon=True)
        worker.start()
        try:
            while True:
                event = events.get()
                yield event
                if event.state in FINAL_STATES:
                    return
        finally:
            job.cancel.set()  # the bridge stopped listening: stop computing too
            worker.join()
            del self._jobs[job.job_id]

    def cancel(self, job_id: str) -> None:
        """Stop the job `job_id` within one iteration (nothing if it is not running here)."""
        job = self._jobs.get(job_id)
        if job is not None:
            job.cancel.set()

    def finish(self, job_id: str) -> None:
        """End the job `job_id` within one iteration, keeping the round under way (nothing if it is not running here)."""
        job = self._jobs.get(job_id)
        if job is not None:
            job.finish.set()
