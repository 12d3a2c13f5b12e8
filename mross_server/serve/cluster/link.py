"""What the front door and its Ray bridge process say to each other (pickled over a multiprocessing Pipe).

The front door (`dispatcher.py`) never imports Ray: Ray's driver ends its own process when the cluster's
head is gone for a minute, and the front door must outlive that. So a child process, the bridge
(`cluster/bridge.py`), is the Ray driver; this module is the vocabulary both sides share.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from mross_server.job import SketchParams, StartingStrokes
from mross_server.serve.dispatch import WorkerEvent
from mross_shared.messages import Limits, RoiBox, WorkerInfo

#: The Ray namespace of the workers' actors, e.g. to find one with `ray.get_actor(name, namespace=...)`.
NAMESPACE = "mross"


@dataclass(frozen=True)
class PoolSettings:
    """The pool to start: the head's `address` (host:port), how many workers (None: one per GPU, or one
    when the cluster has none), their device (`auto`, `cpu`, `cuda`), CPUs per worker, and the engine's
    options (the CLIP path must exist on the worker's node) and the server's limits, which the workers'
    engines apply too. `prefix` starts every actor's name."""

    address: str
    workers: int | None
    device: str
    worker_cpus: float
    clip_weights: str | None
    limits: Limits
    prefix: str


# ---- front door -> bridge ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunJob:
    """Run a job on worker `worker`; `waited_s` is how long it has waited since it was accepted; `start`
    the sketch it continues, `preview` whether its client wants the strokes as they stand."""

    worker: str
    job_id: str
    image: bytes
    rois: tuple[RoiBox, ...]
    params: SketchParams
    waited_s: float
    start: StartingStrokes | None = None
    preview: bool = False


@dataclass(frozen=True)
class CancelJob:
    """Stop the job running on worker `worker` (within one iteration)."""

    worker: str
    job_id: str


@dataclass(frozen=True)
class FinishJob:
    """Stop and keep: end the job running on worker `worker` with the round under way (within one iteration)."""

    worker: str
    job_id: str


# ---- bridge -> front door ----------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    """The bridge joined the cluster (its first message); the workers now load their engines."""


@dataclass(frozen=True)
class PoolReady:
    """Every worker has its engine warm (the bridge's second message when all went well)."""

    workers: tuple[WorkerInfo, ...]


@dataclass(frozen=True)
class StartFailed:
    """The pool could not start; `reason` is one sentence for the operator (the bridge then exits)."""

    reason: str


@dataclass(frozen=True)
class JobEvent:
    """A job's event, from the worker running it."""

    worker: str
    event: WorkerEvent


@dataclass(frozen=True)
class WorkerLost:
    """Worker `worker` died while running a job (Ray restarts it if it can: `WorkerBack` or `WorkerGone`)."""

    worker: str


@dataclass(frozen=True)
class WorkerBack:
    """A lost worker was restarted with its engine warm."""

    worker: WorkerInfo


@dataclass(frozen=True)
class WorkerGone:
    """A lost worker will not come back."""

    worker: str


@dataclass(frozen=True)
class ClusterLost:
    """The head stopped answering; the bridge exits after saying so."""

    reason: str


FrontDoorCommand = RunJob | CancelJob | FinishJob
BridgeMessage = Joined | PoolReady | StartFailed | JobEvent | WorkerLost | WorkerBack | WorkerGone | ClusterLost


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) as (host, port); ValueError with one sentence when it is not one."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not a Ray head address; expected HOST:PORT, e.g. 10.0.0.5:6379")
    return host.strip("[]"), int(port)


def head_answers(address: str, timeout_s: float) -> bool:
    """Whether something accepts TCP connections at the head's address (its GCS port).

    Ray's own connection attempts retry for minutes when nothing is there, so this quick check comes first.
    """
    try:
        with socket.create_connection(split_address(address), timeout=timeout_s):
            return True
    except OSError:
        return False
