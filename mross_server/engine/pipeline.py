"""MROSS multi-round sketching: round 1 draws the whole scene, each later round adds detail in an ROI.

The stroke budget N is split between rounds in proportion to each region's boundaries, counted
in the region's own view, the whole photo's round keeping at least 60 % and an ROI getting no more
strokes than it has contour pieces (exactly N in total, see `budget.py`). Every round appends its
strokes, starting on the region's best distinct contour pieces (or, with CLIP, where CLIPasso
starts them), and runs a fresh Adam over its new strokes and the earlier ones near its region
(only the new ones with `freeze_previous`); an ROI round's strokes stay in its ROI (see
`roi_scope.py`). It keeps the best state; every few steps and at the end the strokes are tidied
(no knots, doubles or stubs, see `hygiene.py`; a continued sketch's own strokes are left as the
illustrator drew them). From each ROI round on, the objective adds a zoomed view: the sketch's
ROI window rendered at full loss resolution against the photo's ROI crop.
With the CLIP term every view is rendered at CLIP's input size (a squashed view of a non-square
window, as CLIPasso squashes its photos), so nothing is resampled before CLIP. Best-of-K seeds
each draw their own start strokes and augmentations. A continued sketch starts from given strokes
and runs only its ROI rounds; a job asked to finish early delivers the round under way as its last.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mross_server.engine.budget import roi_room, split_budget
from mross_server.engine.canvas import Box, Canvas, to_tensor, view_size, working_scale
from mross_server.engine.cost import check_job_cost
from mross_server.engine.eta import JobClock, RoundPlan
from mross_server.engine.hygiene import SPLIT_MARGIN, HygieneRules, tidy_strokes
from mross_server.engine.initial_strokes import distinct_strokes
from mross_server.engine.joints import find_joints, snap_joints
from mross_server.engine.losses.clip import ClipLoss, input_size
from mross_server.engine.losses.edge_f1 import EdgeF1Loss
from mross_server.engine.losses.ink import InkLoss
from mross_server.engine.losses.vgg import VggLoss
from mross_server.engine.models.clip import load_clip
from mross_server.engine.models.hed_h5 import load_hed
from mross_server.engine.models.locations import hed_weights_path
from mross_server.engine.objective import Objective, TermFactory, View, build_view, check_terms
from mross_server.engine.optimizer import LossScale, StepReport, optimize_strokes
from mross_server.engine.presets import INIT_METHODS, Preset, Recipe, get_preset, job_recipe
from mross_server.engine.region_analysis import Region, analyse_regions, stub_length
from mross_server.engine.regions import clip_rois
from mross_server.engine.roi_scope import near_box, stroke_bounds
from mross_server.engine.seeds import StartArea, seed_streams, seeded_strokes
from mross_server.engine.stroke_geometry import fill_by_splitting
from mross_server.io.photo import Photo, check_photo_size, open_photo, photo_size, read_photo_bytes
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
    StartingStrokes,
)
from mross_shared.messages import Limits, RoiBox
from mross_shared.objective_spec import parse_objective

log = logging.getLogger(__name__)

OFFLINE_METHOD = "offline objective (no CLIP weights)"


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU is a SketchInputError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SketchInputError("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine")
    return torch.device(name)


@dataclass(frozen=True)
class _Plan:
    """A job's settings once its parameters were checked: the preset's side for this engine with the
    job's overrides applied (`recipe`), and notes on what was substituted."""

    preset: Preset
    recipe: Recipe
    objective: list[tuple[float, str]]
    factories: dict[str, TermFactory]
    init: str
    roi_weight: float
    notes: tuple[str, ...]


class SketchEngine:
    """Holds the loss backbones warm and runs sketch jobs on one device, one at a time."""

    def __init__(
        self,
        device: str = "auto",
        clip_weights: str | Path | None = None,
        allow_download: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.device = resolve_device(device)
        # The same limits locally as on a server: the largest photo, job and estimated cost.
        self.limits = limits or Limits()
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
        finish: Callable[[], bool] | None = None,
        start: StartingStrokes | None = None,
    ) -> SketchResult:
        """Sketch a photo in 1 + len(rois) rounds; see the module docstring.

        `image` is encoded bytes, a path, or an [H, W, 3] float array in [0, 1]; ROIs and the strokes
        of the rounds are in the full-size upright photo's pixels (however small the working copy
        it is decoded to). Rounds are handed to `on_round` as they finish. `start` continues a
        sketch: its strokes are kept (and move unless frozen) and only the ROI rounds run, adding
        `params.strokes` new strokes between them. When `finish()` turns true the round under way
        stops with its best state so far, which is delivered as the job's last round. Raises
        SketchInputError for bad input or a job over the limits, and SketchCancelled when
        `cancelled()` turns true (both are checked every iteration).
        """
        kept_count = 0 if start is None else len(start.points)
        if start is not None and not rois:
            raise SketchInputError("continuing a sketch adds one round per new ROI, so give at least one ROI")
        plan = self._plan(params, len(rois), kept_count)
        preset, objective, factories = plan.preset, plan.objective, plan.factories
        photo, rois, notes = self._photo(image, list(rois), params.orientation, max(preset.resolution, preset.analysis_size))
        notes += plan.notes
        width, height = photo.width, photo.height
        rounds = len(rois) + (1 if start is None else 0)
        recipe, roi_weight, init = plan.recipe, plan.roi_weight, plan.init
        iterations = recipe.iterations
        method = _method(recipe, self.clip is not None)

        canvas = Canvas(width, height, preset.resolution)
        # The job's one analysis per region (HED runs here, once per region); everything below reuses
        # it. The whole photo's region is analysed for a continued sketch too: its kept strokes belong to it.
        analysed = analyse_regions(photo, rois, preset.analysis_size, self.hed)
        region_ids = range(0 if start is None else 1, len(analysed))
        regions = [analysed[i] for i in region_ids]
        boxes = [canvas.to_canvas(region.box) for region in analysed]
        # An ROI's strokes start on its contour pieces; more strokes than pieces would start as random
        # walks crowded into the ROI (the house's window ROIs: 9 and 10 strokes for 4 and 8 pieces,
        # drawn as tangles), and more than its room at the line width cross one another, so the whole
        # photo keeps those.
        capacities = [
            len(region.analysis.pieces) if region.roi is None else min(len(region.analysis.pieces), roi_room(boxes[i], preset.canvas_half_width))
            for i, region in zip(region_ids, regions)
        ]
        budget = split_budget([int(r.analysis.edges.sum()) for r in regions], params.strokes, whole_first=start is None, capacities=capacities)
        rules = HygieneRules.for_width(stub_length(width, height) / canvas.scale, preset.canvas_half_width)
        spares = [region.pieces_on_canvas(canvas) for region in analysed]

        streams = seed_streams(params.seed, recipe.sketches)
        generator = torch.Generator(self.device).manual_seed(params.seed)
        clip_size = input_size(self.clip) if recipe.uses_clip and self.clip is not None else None

        def view(region: Region, weight: float) -> View:
            target, window, line_scale = view_target(photo, region.box, canvas, preset.resolution, clip_size, self.device)
            return build_view(objective, factories, target, window, weight, recipe.augmentations, region.analysis, line_scale)

        views = [view(analysed[0], 1.0)]
        kept = _kept_strokes(start, canvas, recipe.sketches, self.device)
        points = kept.points
        half_widths = kept.half_widths
        # Each stroke's region in `analysed` (the clean-up moves a stroke within its own region); the
        # illustrator's kept strokes are the whole photo's, and the clean-up leaves them alone.
        groups = np.zeros(len(kept.frozen), dtype=int)
        zooms = np.cumsum([region.roi is not None and roi_weight > 0 for region in regions])
        clock = JobClock(
            [RoundPlan(iterations, (len(kept.frozen) + int(added)) * recipe.sketches, 1 + int(zoom)) for added, zoom in zip(np.cumsum(budget), zooms)]
        )
        results: list[RoundResult] = []
        for index, (group, count) in enumerate(zip(region_ids, budget), start=1):
            started = time.perf_counter()
            region = analysed[group]
            new = self._initial_strokes(region, spares[group], count, canvas, points[0], rules, streams, init)
            points = torch.cat([points, new], dim=1)
            half_widths = np.concatenate([half_widths, np.full(count, preset.canvas_half_width * canvas.scale)])
            groups = np.concatenate([groups, np.full(count, group)])
            # Zoomed views stay in the objective for the rounds after theirs, so later rounds keep the
            # detail earlier ROIs added instead of pulling it back towards the coarse whole-photo target.
            if region.roi is not None and roi_weight > 0:
                views.append(view(region, roi_weight))
            movable = torch.ones(points.shape[1], dtype=torch.bool, device=self.device)
            movable[: len(kept.frozen)] = ~kept.frozen
            earlier = points.shape[1] - count
            if params.freeze_previous:
                movable[:earlier] = False
            elif region.roi is not None:
                movable[:earlier] &= near_box(points[0, :earlier], boxes[group], rules.stub_length)
            tidyable = movable.cpu().numpy() & (np.arange(len(groups)) >= len(kept.frozen))
            care = _RoundCare(points, movable, tidyable, groups, spares, boxes, rules)
            # What placement could only fill with random walks is moved before the first step.
            points, _ = care.tidy(points)
            last_step = time.perf_counter()

            def report(step: StepReport, index: int = index, widths: np.ndarray = half_widths) -> None:
                nonlocal last_step
                now = time.perf_counter()
                clock.step(index - 1, now - last_step)
                last_step = now
                if on_progress is not None:
                    strokes = functools.partial(_photo_strokes, step.points[0], widths, canvas.scale)
                    on_progress(Progress(index, rounds, step.iteration, step.iterations, step.loss, step.best_loss, clock.eta(), method, strokes))

            def stop() -> bool:
                return (cancelled is not None and cancelled()) or (finish is not None and finish())

            outcome = optimize_strokes(
                points, movable, Objective(list(views), preset.canvas_half_width), iterations, generator,
                lr=recipe.lr, eval_every=preset.eval_every, augment=recipe.augmentations > 0, on_step=report, cancelled=stop,
                loss_scale=LossScale(self.device) if recipe.uses_clip and self.device.type == "cuda" else None,
                care=care, tidy_every=preset.tidy_every,
            )
            if cancelled is not None and cancelled():
                raise SketchCancelled(f"cancelled during round {index} of {rounds}")
            finishing = finish is not None and finish()
            best = int(outcome.losses.argmin())
            points = outcome.points[best : best + 1].expand(recipe.sketches, -1, -1, -1).clone()
            total = points.shape[1]
            result = RoundResult(
                index=index,
                rounds=index if finishing else rounds,
                roi=region.roi,
                points=_photo_strokes(points[0], half_widths, canvas.scale)[0],
                half_widths=half_widths,
                added=tuple(range(total - count, total)),
                loss=float(outcome.losses[best]),
                seconds=time.perf_counter() - started,
            )
            results.append(result)
            if on_round is not None:
                on_round(result)
            if finishing:
                notes.append(f"stopped early on request during round {index} of {rounds}, keeping the strokes as they stood")
                break
        objective_name = "+".join(name if w == 1 else f"{w:g}*{name}" for w, name in objective)
        return SketchResult(width, height, tuple(results), objective_name, self.backbones, tuple(self.notes + notes))

    def _plan(self, params: SketchParams, rois: int, kept: int) -> _Plan:
        """The job's settings (`kept`: strokes of a sketch it continues); SketchInputError for a job over
        the limits or one this engine cannot run."""
        rounds = rois + (0 if kept else 1)
        if params.strokes < rounds:
            raise SketchInputError(f"{params.strokes} strokes cannot be spread over {rounds} rounds; ask for at least {rounds}")
        whole = params.keeping(kept)
        try:
            self.limits.check_job(rois, whole)
            preset = get_preset(params.preset)
            recipe = job_recipe(preset, self.clip is not None, params)
            objective = parse_objective(recipe.objective)
            # The ink target is drawn for every stroke the sketch will hold, kept ones included.
            factories = self._term_factories(whole.strokes, preset.canvas_half_width)
            check_terms(objective, factories)
        except ValueError as error:  # ProtocolError (a limit) is a ValueError too
            raise SketchInputError(str(error)) from None
        check_job_cost(whole, rois, self.limits.max_job_cost, self.clip is not None)
        init = recipe.init
        notes: tuple[str, ...] = ()
        if init not in INIT_METHODS:
            raise SketchInputError(f"unknown initialization {init!r}; choose one of {', '.join(INIT_METHODS)}")
        if init == "saliency" and self.vit is None:
            if params.init is not None:
                raise SketchInputError("the saliency initialization needs CLIP ViT-B/32 weights (ViT-B-32.pt in the CLIP folder)")
            init, notes = "contours", ("CLIP ViT-B/32 weights not found, so strokes start on contours instead of CLIP attention",)
        roi_weight = params.roi_weight if params.roi_weight is not None else preset.roi_weight
        return _Plan(preset, recipe, objective, factories, init, roi_weight, notes)

    def _photo(
        self, image: bytes | str | Path | np.ndarray, rois: list[RoiBox], orientation: int | None, long_side: int
    ) -> tuple[Photo, list[RoiBox], list[str]]:
        """The photo decoded no larger than its views need, its ROIs clipped to it, and notes on the clipping."""
        if isinstance(image, np.ndarray):
            photo = Photo.from_array(image)
            clipped, notes = clip_rois(rois, photo.width, photo.height)
            return photo, clipped, notes
        data = read_photo_bytes(image)
        name = "the image data" if isinstance(image, bytes) else str(image)
        width, height = photo_size(data, orientation, name)
        check_photo_size(width, height, self.limits.max_image_pixels, name)
        clipped, notes = clip_rois(rois, width, height)
        scale = working_scale([(0, 0, width, height), *(roi.box for roi in clipped)], long_side)
        return open_photo(data, self.limits.max_image_pixels, orientation, scale, name), clipped, notes

    def _initial_strokes(
        self,
        region: Region,
        spares: np.ndarray,
        count: int,
        canvas: Canvas,
        existing: Tensor,
        rules: HygieneRules,
        streams: list[np.random.Generator],
        init: str,
    ) -> Tensor:
        """New strokes [K, count, 4, 2] in canvas units, one set per seed stream (see seeds.py).

        "contours" takes the region's best contour pieces, spares [m, 4, 2] in canvas units, that
        neither `existing` strokes [n, 4, 2] nor each other already draw (within `rules.near`); with
        fewer such pieces than strokes, the longest are split into strokes that continue one another
        (never into halves shorter than SPLIT_MARGIN stubs). What that cannot fill (and all of "fps"
        and "saliency") becomes random walks, which the round's clean-up then moves.
        """
        pieces = np.zeros((0, 4, 2))
        if init == "contours":
            chosen = spares[distinct_strokes(spares, count, existing.detach().cpu().double().numpy(), rules.near)]
            pieces = fill_by_splitting(chosen, count, SPLIT_MARGIN * rules.stub_length)
        affine = region.to_canvas(canvas)
        area = StartArea(region.view, region.analysis.edges, affine, canvas.to_canvas(region.box), canvas.resolution)
        strokes = seeded_strokes(pieces, count, area, streams, init, self.vit)
        return torch.tensor(strokes, dtype=torch.float32, device=self.device)

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


def view_target(
    photo: Photo, box: Box, canvas: Canvas, resolution: int, clip_size: tuple[int, int] | None, device: torch.device
) -> tuple[Tensor, Box, float | None]:
    """What a loss view of `box` (photo pixels) compares: the photo's crop [1, 3, h, w], the canvas window
    and the line scale (see View).

    The crop has `resolution` on its long side at its own aspect, or exactly CLIP's input size
    `clip_size` (h, w) when the objective has the CLIP term. The squashed CLIP view keeps the line
    weight of the unsquashed one (its smaller scale), so lines reach CLIP 3 px wide at 224 whatever
    their direction, as in CLIPasso; nothing is resampled later.
    """
    window = canvas.to_canvas(box)
    if clip_size is None:
        return to_tensor(photo.view(box, view_size(box, resolution)), device), window, None
    height, width = clip_size
    line_scale = min(width / (window[2] - window[0]), height / (window[3] - window[1]))
    return to_tensor(photo.view(box, clip_size), device), window, line_scale


def _method(recipe: Recipe, clip_loaded: bool) -> str:
    """The phrase the progress window shows for the loss a job optimizes."""
    if recipe.uses_clip:
        return f"CLIP objective ({recipe.objective})"
    return OFFLINE_METHOD if not clip_loaded else f"offline objective ({recipe.objective}, as asked)"


class _RoundCare:
    """The optimizer's stroke care for one round: joined contours stay joined, ROI strokes stay in their
    ROI (see roi_scope.py), defects are tidied (see StrokeCare).

    Best-of-K sketches differ once tidied, so each keeps its own joints.
    """

    def __init__(
        self, points: Tensor, movable: Tensor, tidyable: np.ndarray, groups: np.ndarray, spares: list[np.ndarray], boxes: list[Box], rules: HygieneRules
    ) -> None:
        self.movable = movable
        self.tidyable = tidyable
        self.groups = groups
        self.spares = spares
        self.boxes = boxes
        self.rules = rules
        self.joints = self._joints(points)
        low, high = stroke_bounds(groups, tidyable, boxes, rules.stub_length)
        self.low = torch.tensor(low, dtype=points.dtype, device=points.device)
        self.high = torch.tensor(high, dtype=points.dtype, device=points.device)

    def snap(self, points: Tensor) -> Tensor:
        joined = torch.stack([snap_joints(points[k : k + 1], joints, self.movable)[0] for k, joints in enumerate(self.joints)])
        return torch.clamp(joined, self.low, self.high)

    def tidy(self, points: Tensor) -> tuple[Tensor, Tensor]:
        sketches = points.detach().cpu().double().numpy()
        repaired, changed = zip(*(tidy_strokes(sketch, self.tidyable, self.groups, self.spares, self.boxes, self.rules) for sketch in sketches))
        repaired_points = torch.tensor(np.stack(repaired), dtype=points.dtype, device=points.device)
        # An ROI stroke given half of a line that leaves the ROI is held in it like the rest.
        result = torch.clamp(repaired_points, self.low, self.high)
        moved = torch.tensor(np.stack(changed), device=points.device) | (result != repaired_points).any(dim=(2, 3))
        # A moved stroke leaves its joints; one placed where a contour continues joins it.
        self.joints = self._joints(result)
        return result, moved

    def _joints(self, points: Tensor) -> list[Tensor]:
        return [torch.from_numpy(find_joints(sketch)).to(points.device) for sketch in points.detach().cpu().double().numpy()]


@dataclass(frozen=True)
class _Kept:
    """A continued sketch's strokes on the canvas: points [K, n, 4, 2], half-widths [n] in photo pixels, frozen [n]."""

    points: Tensor
    half_widths: np.ndarray
    frozen: Tensor


def _kept_strokes(start: StartingStrokes | None, canvas: Canvas, seeds: int, device: torch.device) -> _Kept:
    """The strokes a job starts from: none for a new sketch, else `start`'s, in canvas units, one copy per seed."""
    if start is None:
        return _Kept(torch.zeros(seeds, 0, 4, 2, device=device), np.zeros(0), torch.zeros(0, dtype=torch.bool, device=device))
    points = torch.tensor(start.points / canvas.scale, dtype=torch.float32, device=device)
    frozen = torch.tensor(start.frozen, dtype=torch.bool, device=device)
    return _Kept(points[None].expand(seeds, -1, -1, -1).clone(), start.half_widths.astype(np.float64), frozen)


def _photo_strokes(points: Tensor, half_widths: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """One sketch's control points [n, 4, 2] from canvas units to photo pixels, with its half-widths [n]."""
    return points.detach().cpu().numpy().astype(np.float64) * scale, half_widths
