"""The message types of the MROSS wire protocol, one frozen dataclass each, with their own value checks.

Client -> server: `hello`, `submit`, `cancel`, `finish`, `status`, `ping`.
Server -> client: `hello`, `accepted`, `progress`, `preview`, `round`, `done`, `error`, `status`.

Every job message carries the client-made `job_id`; coordinates are photo pixels. Type checks come
from the annotations (see fields.py); the range checks below are what the annotations cannot say.
Bump `PROTOCOL_VERSION` for any change a peer of the previous version would misread.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import ClassVar

from mross_shared.errors import ErrorCode, ProtocolError
from mross_shared.fields import bad_field
from mross_shared.objective_spec import MAX_WEIGHT, parse_objective

PROTOCOL_VERSION = 2
#: Largest ROI coordinate or size in pixels: beyond any photo the server decodes, far below float overflow.
MAX_COORDINATE = 1e7
#: The largest photo (width × height) a server accepts unless its operator says otherwise.
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
#: The largest job a server admits unless its operator says otherwise, in stroke-steps (see
#: mross_server.engine.cost): about 5 hours of a 2-core CPU, minutes on a GPU.
DEFAULT_MAX_JOB_COST = 100_000_000

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Preset and init names, and objective expressions such as "ink + 0.2*vgg".
_NAME = re.compile(r"[A-Za-z0-9_.+* -]{1,64}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
# Exactly the `M x y C x1 y1 x2 y2 x3 y3` the server writes (and the extension sends back when it
# continues a sketch): it goes into a document, so nothing else gets through.
_CUBIC_PATH = re.compile(rf"M {_NUMBER} {_NUMBER} C {_NUMBER} {_NUMBER} {_NUMBER} {_NUMBER} {_NUMBER} {_NUMBER}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise bad_field(message)


def _check_job_id(job_id: str) -> None:
    _check(_JOB_ID.fullmatch(job_id) is not None, "field 'job_id' must be 1-64 letters, digits, '-' or '_'")


def _check_name(value: str | None, name: str) -> None:
    _check(value is None or _NAME.fullmatch(value) is not None, f"field '{name}' must be a short name (letters, digits, _ . + * -)")


def _check_non_negative(**values: float | None) -> None:
    for name, value in values.items():
        _check(value is None or value >= 0, f"field '{name}' must not be negative")


class JobState(str, Enum):
    """Where a job stands. `unknown`: the server never saw it or has forgotten it (e.g. it restarted).

    A `str` mix-in, like ErrorCode, for Python 3.10 (Inkscape on Windows).
    """

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Limits:
    """What the server accepts, advertised in `hello` so a client can check before uploading.

    Frame limits apply to the frames after the routing id; `max_json_bytes` to the header and content
    frames; `max_image_pixels` to the decoded photo (width * height); `max_job_cost` to the job's
    estimated work in stroke-steps (the server estimates it from the preset; see engine/cost.py).
    """

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_frames: int = 8
    max_frame_bytes: int = 64 * 2**20
    max_total_bytes: int = 65 * 2**20
    max_json_bytes: int = 2**20
    max_rois: int = 32
    max_strokes: int = 1024
    max_iterations: int = 20_000
    max_sketches: int = 16
    max_job_cost: int = DEFAULT_MAX_JOB_COST

    def __post_init__(self) -> None:
        _check(min(vars(self).values()) >= 1, "every limit must be at least 1")

    def check_submit(self, submit: Submit) -> None:
        """Reject a job larger than these limits with `limit_exceeded` (the image's pixels are checked by the server)."""
        self.check_job(len(submit.rois), submit.params.keeping(len(submit.strokes)))

    def check_job(self, rois: int, params: JobParams) -> None:
        """Reject a job of `rois` ROIs and these parameters with `limit_exceeded` when it counts more than the limits."""
        for name, value, limit in (
            ("ROIs", rois, self.max_rois),
            ("strokes", params.strokes, self.max_strokes),
            ("iterations", params.iterations or 0, self.max_iterations),
            ("sketches", params.sketches or 0, self.max_sketches),
        ):
            if value > limit:
                raise ProtocolError(ErrorCode.LIMIT_EXCEEDED, f"the job asks for {value} {name}; at most {limit} are allowed")


@dataclass(frozen=True)
class RoiBox:
    """A region of interest in photo pixels: top-left corner and size.

    Coordinates are the full-size photo's pixels as it is shown upright (EXIF orientation applied),
    never those of a reduced working copy. The corner may lie outside the photo (the engine clips
    the box to it and says so); every value must be a finite number no larger than MAX_COORDINATE
    in size, and the size must be positive.
    """

    x: float
    y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            value = getattr(self, name)
            _check(math.isfinite(value) and abs(value) <= MAX_COORDINATE, f"an ROI's {name} must be a finite number of at most {MAX_COORDINATE:g} pixels")
        _check(self.width > 0 and self.height > 0, "an ROI's width and height must be positive")

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The region as (x0, y0, x1, y1)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


@dataclass(frozen=True)
class JobParams:
    """The job's knobs (None = the preset's value); the server's pipeline takes them as they are.

    iterations=0 skips optimization: the round shows its initial strokes. `sketches` is best-of-K:
    seeds optimized side by side, the best kept. `objective` is an expression such as
    'ink+2*edges' (see objective_spec.py). `orientation` is the EXIF orientation (1-8) the client
    shows the photo with, so strokes land where the client draws the photo (Inkscape honours a
    JPEG's tag but not a PNG's); None applies the file's own tag.
    """

    strokes: int = 48
    preset: str = "fast"
    iterations: int | None = None
    sketches: int | None = None
    seed: int = 0
    freeze_previous: bool = False
    roi_weight: float | None = None
    objective: str | None = None
    init: str | None = None
    orientation: int | None = None

    def __post_init__(self) -> None:
        _check(self.strokes >= 1, "field 'params.strokes' must be at least 1")
        _check(self.iterations is None or self.iterations >= 0, "field 'params.iterations' must not be negative")
        _check(self.sketches is None or self.sketches >= 1, "field 'params.sketches' must be at least 1")
        _check(0 <= self.seed < 2**63, "field 'params.seed' must be between 0 and 2**63 - 1")
        _check(
            self.roi_weight is None or 0 <= self.roi_weight <= MAX_WEIGHT,
            f"field 'params.roi_weight' must be between 0 and {MAX_WEIGHT:g}",
        )
        _check(self.orientation is None or 1 <= self.orientation <= 8, "field 'params.orientation' must be an EXIF orientation, 1 to 8")
        _check_name(self.preset, "params.preset")
        _check_name(self.objective, "params.objective")
        _check_name(self.init, "params.init")
        if self.objective is not None:
            try:
                parse_objective(self.objective)
            except ValueError as error:
                raise bad_field(f"field 'params.objective': {error}") from None

    def keeping(self, kept: int) -> JobParams:
        """These parameters as a job that also keeps `kept` strokes of a sketch it continues counts
        against limits and cost: `strokes` is then the sketch's whole stroke count."""
        return dataclasses.replace(self, strokes=self.strokes + kept) if kept else self


@dataclass(frozen=True)
class StrokePath:
    """One stroke as SVG data: cubic path `d` in photo pixels, full stroke width, `#rrggbb` colour.

    Every coordinate and the width are finite numbers no larger than MAX_COORDINATE in size.
    """

    d: str
    width: float
    color: str = "#000000"

    def __post_init__(self) -> None:
        _check(
            all(math.isfinite(value) and abs(value) <= MAX_COORDINATE for value in self.points),
            f"a path's coordinates must be finite numbers of at most {MAX_COORDINATE:g} pixels",
        )
        _check(math.isfinite(self.width) and 0 < self.width <= MAX_COORDINATE, f"a path's width must be positive and at most {MAX_COORDINATE:g} pixels")
        _check(_COLOR.fullmatch(self.color) is not None, "a path's color must be #rrggbb")

    @property
    def points(self) -> tuple[float, ...]:
        """The eight control-point coordinates x0, y0, x1, y1, x2, y2, x3, y3."""
        match = _CUBIC_PATH.fullmatch(self.d)
        _check(match is not None, "a path's 'd' must be one 'M x y C x1 y1 x2 y2 x3 y3' cubic")
        return tuple(float(value) for value in match.groups()) if match else ()


# ---- client -> server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloRequest:
    """First message of a session: who is asking. Answered by the server's `Hello`."""

    msg_type: ClassVar[str] = "hello"
    client: str = "mross_shared"

    def __post_init__(self) -> None:
        _check(len(self.client) <= 200, "field 'client' must be at most 200 characters")


@dataclass(frozen=True)
class Submit:
    """A job: the photo's encoded bytes (PNG, JPEG, ...; a binary frame), ROIs in its pixels, parameters.

    `strokes` continues a sketch: its strokes as they stand (photo pixels), which the job keeps and
    refines in one new round per ROI, adding `params.strokes` new ones; `frozen` indexes those of
    them that must not move. `preview` asks for `preview` messages with the strokes as they stand.
    """

    msg_type: ClassVar[str] = "submit"
    job_id: str
    image: bytes
    rois: tuple[RoiBox, ...] = ()
    params: JobParams = field(default_factory=JobParams)
    strokes: tuple[StrokePath, ...] = ()
    frozen: tuple[int, ...] = ()
    preview: bool = False

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        _check(len(self.image) > 0, "the image frame is empty")
        _check(all(0 <= i < len(self.strokes) for i in self.frozen), "field 'frozen' must index into 'strokes'")
        _check(len(set(self.frozen)) == len(self.frozen), "field 'frozen' must not name a stroke twice")


@dataclass(frozen=True)
class Cancel:
    """Stop a queued or running job; answered with `Status`, and the job's stream ends with `error cancelled`."""

    msg_type: ClassVar[str] = "cancel"
    job_id: str

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)


@dataclass(frozen=True)
class Finish:
    """Stop a running job early and keep what it has: answered with `Status`; the round under way ends
    with its best strokes so far, arrives as the job's last `round`, then `done` (a queued job is cancelled)."""

    msg_type: ClassVar[str] = "finish"
    job_id: str

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)


@dataclass(frozen=True)
class StatusRequest:
    """Ask where a job stands (or, with no job id, how long the queue is)."""

    msg_type: ClassVar[str] = "status"
    job_id: str | None = None

    def __post_init__(self) -> None:
        if self.job_id is not None:
            _check_job_id(self.job_id)


@dataclass(frozen=True)
class Ping:
    """The client's heartbeat while it waits for a job; no reply unless the server does not know the job."""

    msg_type: ClassVar[str] = "ping"
    job_id: str

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)


# ---- server -> client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerInfo:
    """One engine that runs jobs: its name (`local`, or the Ray actor's), device, loaded backbones, and whether it runs a job now."""

    name: str
    device: str
    backbones: tuple[str, ...]
    busy: bool

    def __post_init__(self) -> None:
        _check(0 < len(self.name) <= 200, "field 'workers[].name' must be 1-200 characters")
        _check(0 < len(self.device) <= 200, "field 'workers[].device' must be 1-200 characters")
        for backbone in self.backbones:
            _check_name(backbone, "workers[].backbones")


@dataclass(frozen=True)
class Hello:
    """The server introducing itself: version, limits, queue length, and its workers.

    `devices` and `backbones` summarize the workers (each distinct value once); a job may need a
    backbone that only some workers have, and then waits for one of those.
    """

    msg_type: ClassVar[str] = "hello"
    server_version: str
    limits: Limits
    devices: tuple[str, ...]
    backbones: tuple[str, ...]
    queue_length: int
    workers: tuple[WorkerInfo, ...]

    def __post_init__(self) -> None:
        _check_non_negative(queue_length=self.queue_length)

    @property
    def busy(self) -> int:
        """How many workers run a job now."""
        return sum(worker.busy for worker in self.workers)


@dataclass(frozen=True)
class Accepted:
    """The job is queued; `queue_position` 1 means it runs next (0: it is already running)."""

    msg_type: ClassVar[str] = "accepted"
    job_id: str
    queue_position: int

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        _check_non_negative(queue_position=self.queue_position)


@dataclass(frozen=True)
class ProgressUpdate:
    """Sent at least once a second per job; while queued only `queue_position` and `elapsed_s` mean anything.

    A running job goes back to `queued` when its worker died (a Ray-pool server runs it again once).

    `round` is 1-based (0 before the first round starts); losses and ETA are None until known.
    `method` names the loss the job optimizes, for people (e.g. "offline objective (no CLIP weights)").
    """

    msg_type: ClassVar[str] = "progress"
    job_id: str
    state: JobState
    queue_position: int
    round: int
    rounds: int
    iteration: int
    iterations: int
    loss: float | None
    best_loss: float | None
    eta_s: float | None
    elapsed_s: float
    method: str | None = None

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        _check_non_negative(
            queue_position=self.queue_position, round=self.round, rounds=self.rounds, iteration=self.iteration,
            iterations=self.iterations, eta_s=self.eta_s, elapsed_s=self.elapsed_s,
        )
        _check(self.method is None or (len(self.method) <= 120 and self.method.isprintable()), "field 'method' must be at most 120 printable characters")


@dataclass(frozen=True)
class PreviewUpdate:
    """The strokes as they stand in iteration `iteration` of round `round` (1-based) of `rounds`.

    Sent only to a job submitted with `preview`, at most about once a second.
    """

    msg_type: ClassVar[str] = "preview"
    job_id: str
    round: int
    rounds: int
    iteration: int
    paths: tuple[StrokePath, ...]

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        _check(1 <= self.round <= self.rounds, "field 'round' must be between 1 and 'rounds'")
        _check_non_negative(iteration=self.iteration)


@dataclass(frozen=True)
class RoundUpdate:
    """All strokes after round `index` (1-based) of `rounds`; `added` indexes the strokes this round added.

    A job whose worker died is queued again and restarts at round 1, so an index can arrive twice;
    the later message replaces the earlier (`mross_shared.layers.standing_rounds`).
    """

    msg_type: ClassVar[str] = "round"
    job_id: str
    index: int
    rounds: int
    roi: RoiBox | None
    paths: tuple[StrokePath, ...]
    added: tuple[int, ...]
    loss: float | None
    seconds: float

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        _check(1 <= self.index <= self.rounds, "field 'index' must be between 1 and 'rounds'")
        _check(all(0 <= i < len(self.paths) for i in self.added), "field 'added' must index into 'paths'")
        _check_non_negative(seconds=self.seconds)


@dataclass(frozen=True)
class Done:
    """The job finished: photo size, rounds delivered, loss objective and backbones used, notes for the user."""

    msg_type: ClassVar[str] = "done"
    job_id: str
    width: int
    height: int
    rounds: int
    objective: str
    backbones: tuple[str, ...]
    notes: tuple[str, ...]
    seconds: float

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        _check(self.width >= 1 and self.height >= 1, "fields 'width' and 'height' must be at least 1")
        _check_non_negative(rounds=self.rounds, seconds=self.seconds)


@dataclass(frozen=True)
class Error:
    """A request was rejected or a job ended badly: a code and one sentence for a person."""

    msg_type: ClassVar[str] = "error"
    code: ErrorCode
    message: str
    job_id: str | None = None

    def __post_init__(self) -> None:
        if self.job_id is not None:
            _check_job_id(self.job_id)


@dataclass(frozen=True)
class Status:
    """Answer to `status` and `cancel`: the job's state and place in the queue, and the queue's length."""

    msg_type: ClassVar[str] = "status"
    job_id: str | None
    state: JobState
    queue_position: int
    queue_length: int

    def __post_init__(self) -> None:
        if self.job_id is not None:
            _check_job_id(self.job_id)
        _check_non_negative(queue_position=self.queue_position, queue_length=self.queue_length)


ClientMessage = HelloRequest | Submit | Cancel | Finish | StatusRequest | Ping
ServerMessage = Hello | Accepted | ProgressUpdate | PreviewUpdate | RoundUpdate | Done | Error | Status

#: msg_type -> class, per direction (both directions have a `hello` and a `status`).
CLIENT_MESSAGES = MappingProxyType({cls.msg_type: cls for cls in (HelloRequest, Submit, Cancel, Finish, StatusRequest, Ping)})
SERVER_MESSAGES = MappingProxyType(
    {cls.msg_type: cls for cls in (Hello, Accepted, ProgressUpdate, PreviewUpdate, RoundUpdate, Done, Error, Status)}
)

