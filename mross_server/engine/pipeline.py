"""MROSS multi-round sketching: round 1 draws the whole scene, each later round adds detail in an ROI.

The stroke budget N is split between rounds in proportion to each region's boundaries (exactly N
in total). Every round appends its strokes, starting on the region's best distinct contour pieces,
and runs a fresh Adam over all strokes (or only the new ones with `freeze_previous`), keeping the
best state; every few steps and at the end the strokes are tidied (no knots, doubles or stubs, see
`hygiene.py`). From each ROI round on, the objective adds a zoomed view: the sketch's ROI window
rendered at full loss resolution against the photo's ROI crop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mross_server.engine.budget import allocate_strokes
from mross_server.engine.canvas import Box, Canvas, photo_view, to_tensor, view_size
from mross_server.engine.hygiene import SPLIT_MARGIN, HygieneRules, tidy_strokes
from mross_server.engine.initial_strokes import distinct_strokes, edge_pixels, farthest_point_sample, random_walk_strokes, uniform_points
from mross_server.engine.joints import find_joints, snap_joints
from mross_server.engine.losses.clip import ClipLoss
from mross_server.engine.losses.edge_f1 import EdgeF1Loss
from mross_server.engine.losses.ink import InkLoss
from mross_server.engine.losses.vgg import VggLoss
from mross_server.engine.models.clip import load_clip
from mross_server.engine.models.hed_h5 import load_hed
from mross_server.engine.models.locations import hed_weights_path
from mross_server.engine.objective import Objective, TermFactory, build_view, check_terms, parse_objective
from mross_server.engine.optimizer import StepReport, optimize_strokes
from mross_server.engine.presets import INIT_METHODS, get_preset
from mross_server.engine.region_analysis import Region, analyse_regions, stub_length
from mross_server.engine.regions import clip_rois
from mross_server.engine.saliency.clip_attention import clip_saliency, sample_salient_points
from mross_server.engine.stroke_geometry import fill_by_splitting
from mross_server.io.photo import load_photo
from mross_server.job import (
    CLIP_BACKBONE,
    SALIENCY_BACKBONE,
    VGG_BACKBONE,
    Progress,
    RoundResult,
    SketchCancelled,
    SketchInputError,
    SketchParams,
    SketchResult,
)
from mross_shared.messages import DEFAULT_MAX_IMAGE_PIXELS, RoiBox

log = logging.getLogger(__name__)

# Later seeds start from slightly jittered contour strokes so best-of-K has something to choose from.
SEED_JITTER = 1.0


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU is a SketchInputError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SketchInputError("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine")
    return torch.device(name)


class SketchEngine:
    """Holds the loss backbones warm and runs sketch jobs on one device, one at a time."""

    def __init__(
        self,
        device: str = "auto",
        clip_weights: str | Path | None = None,
        allow_download: bool = False,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.device = resolve_device(device)
        self.max_image_pixels = max_image_pixels
        self.notes: list[str] = []
        weights = hed_weights_path()
        # One weights file serves both: HED finds the boundaries, its VGG16 trunk is the vgg term's network.
        self.hed = load_hed(weights).to(self.device) if weights.is_file() else None
        self.vgg = self.hed.vgg if self.hed is not None else None
        if self.hed is None:
            self.notes.append(f"VGG16/HED weights not found at {weights} (install.py fetches them); the vgg term is off and strokes follow Canny edges")
        clip = load_clip("RN101", clip_weights, allow_download=allow_download, device=self.device)
        self.clip = clip.model
        # A single checkpoint file given by the user is RN101's; a folder may hold both models.
        folder = clip_weights if clip_weights is not None and Path(clip_weights).is_dir() else None
        vit = load_clip("ViT-B-32", folder, allow_download=allow_download, device=self.device)
        self.vit = vit.model
        self.notes += [loaded.note for loaded in (clip, vit) if not loaded.found]
        for note in self.notes:
            log.info(note)

    @property
    def backbones(self) -> tuple[str, ...]:
        """Names of the loaded loss networks."""
        models = ((VGG_BACKBONE, self.hed), (CLIP_BACKBONE, self.clip), (SALIENCY_BACKBONE, self.vit))
        return tuple(name for name, model in models if model is not None)

    def sketch(
        self,
        image: bytes | str | Path | np.ndarray,
        rois: Sequence[RoiBox],
        params: SketchParams,
        on_progress: Callable[[Progress], None] | None = None,
        on_round: Callable[[RoundResult], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> SketchResult:
        """Sketch a photo in 1 + len(rois) rounds; see the module docstring.

        `image` is encoded bytes, a path, or an [H, W, 3] float array in [0, 1]. Rounds are handed to
        `on_round` as they finish. Raises SketchInputError for bad input and SketchCancelled when
        `cancelled()` turns true (checked every iteration).
        """
        photo = image if isinstance(image, np.ndarray) else load_photo(image, self.max_image_pixels)
        height, width = photo.shape[:2]
        rois, notes = clip_rois(list(rois), width, height)
        rounds = 1 + len(rois)
        if params.strokes < rounds:
            raise SketchInputError(f"{params.strokes} strokes cannot be spread over {rounds} rounds; ask for at least {rounds}")
        try:
            preset = get_preset(params.preset)
            objective = parse_objective(params.objective or (preset.clip_objective if self.clip is not None else preset.offline_objective))
            factories = self._term_factories(params.strokes, preset.canvas_half_width)
            check_terms(objective, factories)
        except ValueError as error:
            raise SketchInputError(str(error)) from None
        init = params.init or preset.init
        if init not in INIT_METHODS:
            raise SketchInputError(f"unknown initialization {init!r}; choose one of {', '.join(INIT_METHODS)}")
        if init == "saliency" and self.vit is None:
            raise SketchInputError("the saliency initialization needs CLIP ViT-B/32 weights (ViT-B-32.pt in the CLIP folder)")
        iterations = params.iterations if params.iterations is not None else preset.iterations
        roi_weight = params.roi_weight if params.roi_weight is not None else preset.roi_weight

        canvas = Canvas(width, height, preset.resolution)
        photo_t = to_tensor(photo, self.device)
        # The job's one analysis per region (HED runs here, once); everything below reuses it.
        regions = analyse_regions(photo, rois, preset.analysis_size, self.hed)
        budget = allocate_strokes([_edges_inside(regions[0], r.box) for r in regions], params.strokes)
        rules = HygieneRules.for_width(stub_length(width, height) / canvas.scale, preset.canvas_half_width)
        spares = [region.pieces_on_canvas(canvas) for region in regions]

        rng = np.random.default_rng(params.seed)
        generator = torch.Generator(self.device).manual_seed(params.seed)
        whole = photo_view(photo_t, (0, 0, width, height), canvas.size)
        views = [build_view(objective, factories, whole, canvas.window, 1.0, preset.augmentations, regions[0].analysis)]
        points = torch.zeros(params.sketches, 0, 4, 2, device=self.device)
        groups = np.zeros(0, dtype=int)
        results: list[RoundResult] = []
        clock = _Eta(iterations * rounds)
        for index, (region, count) in enumerate(zip(regions, budget), start=1):
            started = time.perf_counter()
            new = self._initial_strokes(region, spares[index - 1], count, canvas, points[0], rules.near, rules.stub_length, rng, init, params.sketches)
            points = torch.cat([points, new], dim=1)
            groups = np.concatenate([groups, np.full(count, index - 1)])
            # Zoomed views stay in the objective for the rounds after theirs, so later rounds keep the
            # detail earlier ROIs added instead of pulling it back towards the coarse whole-photo target.
            if region.roi is not None and roi_weight > 0:
                zoom = view_size(region.box, preset.resolution)
                crop = photo_view(photo_t, region.box, zoom)
                views.append(build_view(objective, factories, crop, canvas.to_canvas(region.box), roi_weight, preset.augmentations, region.analysis))
            movable = torch.ones(points.shape[1], dtype=torch.bool, device=self.device)
            if params.freeze_previous:
                movable[: points.shape[1] - count] = False

            care = _RoundCare(points, movable, groups, spares, [canvas.to_canvas(r.box) for r in regions], rules)
            # What placement could only fill with random walks is moved before the first step.
            points, _ = care.tidy(points)

            def report(step: StepReport, index: int = index) -> None:
                clock.step(step.seconds_per_iteration)
                if on_progress is not None:
                    on_progress(Progress(index, rounds, step.iteration, step.iterations, step.loss, step.best_loss, clock.eta()))

            outcome = optimize_strokes(
                points, movable, Objective(list(views), preset.canvas_half_width), iterations, generator,
                eval_every=preset.eval_every, augment=preset.augmentations > 0, on_step=report, cancelled=cancelled,
                care=care, tidy_every=preset.tidy_every,
            )
            if outcome.cancelled:
                raise SketchCancelled(f"cancelled during round {index} of {rounds}")
            best = int(outcome.losses.argmin())
            points = outcome.points[best : best + 1].expand(params.sketches, -1, -1, -1).clone()
            total = points.shape[1]
            result = RoundResult(
                index=index,
                rounds=rounds,
                roi=region.roi,
                points=points[0].cpu().numpy().astype(np.float64) * canvas.scale,
                half_widths=np.full(total, preset.canvas_half_width * canvas.scale),
                added=tuple(range(total - count, total)),
                loss=float(outcome.losses[best]),
                seconds=time.perf_counter() - started,
            )
            results.append(result)
            if on_round is not None:
                on_round(result)
        objective_name = "+".join(name if w == 1 else f"{w:g}*{name}" for w, name in objective)
        return SketchResult(width, height, tuple(results), objective_name, self.backbones, tuple(self.notes + notes))

    def _initial_strokes(
        self,
        region: Region,
        spares: np.ndarray,
        count: int,
        canvas: Canvas,
        existing: Tensor,
        near: float,
        stub: float,
        rng: np.random.Generator,
        init: str,
        seeds: int,
    ) -> Tensor:
        """New strokes [seeds, count, 4, 2] in canvas units.

        "contours" takes the region's best contour pieces, spares [m, 4, 2] in canvas units, that
        neither `existing` strokes [n, 4, 2] nor each other already draw (within `near`); with
        fewer such pieces than strokes, the longest are split into strokes that continue one
        another (never into halves shorter than SPLIT_MARGIN stubs). What that cannot fill (and all of "fps")
        becomes random walks from farthest-point samples of the boundary pixels, or from uniform
        points when the region has none; the round's clean-up then moves them. "saliency" (CLIPasso) starts the random walks at points drawn by CLIP ViT
        attention on the boundaries.
        """
        affine = region.to_canvas(canvas)
        if init == "contours":
            chosen = spares[distinct_strokes(spares, count, existing.detach().cpu().double().numpy(), near)]
            strokes = fill_by_splitting(chosen, count, SPLIT_MARGIN * stub)
        else:
            strokes = np.zeros((0, 4, 2))
        missing = count - len(strokes)
        if missing > 0 and init == "saliency":
            with torch.no_grad():
                saliency = clip_saliency(self.vit, to_tensor(region.view, self.device))
            edges = torch.from_numpy(region.analysis.edges).to(saliency)
            # The sampler wants a CPU torch generator; seed it from the job's rng to stay deterministic.
            sampler = torch.Generator().manual_seed(int(rng.integers(2**31)))
            starts = sample_salient_points(saliency, edges, missing, sampler).double().numpy()
            strokes = np.concatenate([strokes, random_walk_strokes(starts @ affine[:, :2].T + affine[:, 2], canvas.resolution, rng)])
        elif missing > 0:
            candidates = edge_pixels(region.analysis.edges)
            if len(candidates):
                starts = farthest_point_sample(candidates, missing, rng) @ affine[:, :2].T + affine[:, 2]
            else:
                starts = np.zeros((0, 2))
            if len(starts) < missing:
                starts = np.concatenate([starts, uniform_points(canvas.to_canvas(region.box), missing - len(starts), rng)])
            strokes = np.concatenate([strokes, random_walk_strokes(starts, canvas.resolution, rng)])
        seeded = np.repeat(strokes[None], seeds, axis=0)
        seeded[1:] += rng.normal(0.0, SEED_JITTER, seeded[1:].shape)
        return torch.tensor(seeded, dtype=torch.float32, device=self.device)

    def _term_factories(self, strokes: int, half_width: float) -> dict[str, TermFactory]:
        factories: dict[str, TermFactory] = {
            "ink": lambda guide: InkLoss(guide.analysis, strokes, half_width * guide.zoom),
            "edges": lambda guide: EdgeF1Loss(guide.analysis.edges * guide.analysis.boundaries.importance),
        }
        vgg, clip = self.vgg, self.clip
        if vgg is not None:
            factories["vgg"] = lambda guide: VggLoss(vgg)
        if clip is not None:
            factories["clip"] = lambda guide: ClipLoss(clip)
        return factories


class _RoundCare:
    """The optimizer's stroke care for one round: joined contours stay joined, defects are tidied (see StrokeCare)."""

    def __init__(self, points: Tensor, movable: Tensor, groups: np.ndarray, spares: list[np.ndarray], boxes: list[Box], rules: HygieneRules) -> None:
        self.movable = movable
        self.groups = groups
        self.spares = spares
        self.boxes = boxes
        self.rules = rules
        self.joints = self._joints(points)

    def snap(self, points: Tensor) -> Tensor:
        return snap_joints(points, self.joints, self.movable)

    def tidy(self, points: Tensor) -> tuple[Tensor, Tensor]:
        sketches = points.detach().cpu().double().numpy()
        movable = self.movable.cpu().numpy()
        repaired, changed = zip(*(tidy_strokes(sketch, movable, self.groups, self.spares, self.boxes, self.rules) for sketch in sketches))
        result = torch.tensor(np.stack(repaired), dtype=points.dtype, device=points.device)
        # A moved stroke leaves its joints; one placed where a contour continues joins it.
        self.joints = self._joints(result)
        return result, torch.tensor(np.stack(changed), device=points.device)

    def _joints(self, points: Tensor) -> Tensor:
        return torch.from_numpy(find_joints(points[0].detach().cpu().double().numpy())).to(points.device)


def _edges_inside(whole: Region, box: Box) -> int:
    """Edge pixels of the whole-photo analysis that fall inside box (photo pixels)."""
    height, width = whole.view.shape[:2]
    sx, sy = width / whole.box[2], height / whole.box[3]
    x0, y0, x1, y1 = int(box[0] * sx), int(box[1] * sy), int(np.ceil(box[2] * sx)), int(np.ceil(box[3] * sy))
    return int(whole.analysis.edges[y0:y1, x0:x1].sum())


class _Eta:
    """Remaining time of the whole job from the running seconds-per-iteration."""

    def __init__(self, total_iterations: int) -> None:
        self.remaining = total_iterations
        self.per_iteration = 0.0

    def step(self, seconds_per_iteration: float) -> None:
        self.remaining = max(0, self.remaining - 1)
        self.per_iteration = seconds_per_iteration

    def eta(self) -> float:
        return self.remaining * self.per_iteration
