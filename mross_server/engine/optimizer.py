"""The inner loop: Adam over stroke control points, best state kept, best-of-K seeds in one batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

# (points [K, N, 4, 2], augment, generator) -> loss [K]
LossFn = Callable[[Tensor, bool, torch.Generator], Tensor]


class StrokeCare(Protocol):
    """Geometric care of the strokes between steps, whatever the loss (see hygiene.py and joints.py)."""

    def snap(self, points: Tensor) -> Tensor:
        """After every step: the points moved onto the constraints (joined contours stay joined).

        Shape:
            - points: [K, N, 4, 2]
            - output: [K, N, 4, 2]
        """

    def tidy(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Every few steps: the repaired points, and which strokes changed.

        Shape:
            - points: [K, N, 4, 2]
            - output: [K, N, 4, 2] and [K, N] (bool)
        """


@dataclass(frozen=True)
class StepReport:
    """What the loop reports after every iteration."""

    iteration: int
    iterations: int
    loss: float
    best_loss: float
    seconds_per_iteration: float


@dataclass(frozen=True)
class Optimized:
    """Best control points per seed [K, N, 4, 2], their plain-pair losses [K], and whether it was cancelled."""

    points: Tensor
    losses: Tensor
    cancelled: bool


def optimize_strokes(
    points: Tensor,
    movable: Tensor,
    loss_fn: LossFn,
    iterations: int,
    generator: torch.Generator,
    lr: float = 1.0,
    eval_every: int = 10,
    augment: bool = True,
    on_step: Callable[[StepReport], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    care: StrokeCare | None = None,
    tidy_every: int = 10,
) -> Optimized:
    """Optimize K sketches of N strokes at once; return the best plain-pair state of each.

    Args:
        points: initial control points [K, N, 4, 2], canvas units.
        movable: bool [N]; strokes marked False stay where they are (frozen earlier rounds).
        loss_fn: per-sketch loss [K]; `augment=False` must give the plain-pair loss.
        iterations: Adam steps; the plain-pair loss is evaluated before the first and every
            `eval_every` steps after, and at the end, and the best state is kept.
        cancelled: checked before every step; when it turns true the loop stops and returns
            the best state so far with `cancelled=True`.
        care: snaps the strokes after every step, and tidies them every `tidy_every` steps and in
            the returned best state (never frozen strokes). A repaired sketch's best state restarts
            from the repair: states before it hold the defects it removed.
    """
    fixed = points.detach()
    free = fixed[:, movable].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([free], lr=lr)

    def assemble() -> Tensor:
        full = fixed.clone()
        full[:, movable] = free
        return full

    best_points = fixed.clone()
    best_losses = torch.full((points.shape[0],), float("inf"), device=points.device)

    def evaluate() -> None:
        with torch.no_grad():
            current = assemble()
            losses = loss_fn(current, False, generator).float()
            better = losses < best_losses
            best_points[better] = current[better]
            best_losses[better] = losses[better]

    evaluate()
    started = time.perf_counter()
    was_cancelled = False
    for step in range(1, iterations + 1):
        if cancelled is not None and cancelled():
            was_cancelled = True
            break
        optimizer.zero_grad(set_to_none=True)
        losses = loss_fn(assemble(), augment, generator)
        losses.sum().backward()
        optimizer.step()
        if care is not None:
            with torch.no_grad():
                free.copy_(care.snap(assemble())[:, movable])
            if step % tidy_every == 0 and step < iterations:
                _apply_tidy(care, assemble(), free, movable, optimizer, best_losses)
        if step % eval_every == 0 or step == iterations or (care is not None and step % tidy_every == 0):
            evaluate()
        if on_step is not None:
            on_step(StepReport(step, iterations, float(losses.detach().min()), float(best_losses.min()), (time.perf_counter() - started) / step))
    if care is not None and not was_cancelled:
        # The kept state may predate the last repair: tidy it too, and score what is returned.
        with torch.no_grad():
            repaired, changed = care.tidy(best_points)
            redo = changed.any(dim=1)
            if bool(redo.any()):
                best_points[redo] = repaired[redo]
                best_losses[redo] = loss_fn(best_points, False, generator).float()[redo]
    return Optimized(best_points, best_losses, was_cancelled)


def _apply_tidy(care: StrokeCare, current: Tensor, free: Tensor, movable: Tensor, optimizer: torch.optim.Adam, best_losses: Tensor) -> None:
    """Write the repairs of `care.tidy` into the free parameters; repaired strokes lose their momentum."""
    with torch.no_grad():
        repaired, changed = care.tidy(current.detach())
        if not bool(changed.any()):
            return
        free.copy_(repaired[:, movable])
        # Momentum pointed the old stroke somewhere; the step-size statistics stay useful.
        momentum = optimizer.state[free].get("exp_avg")
        if momentum is not None:
            momentum[changed[:, movable]] = 0.0
        best_losses[changed.any(dim=1)] = float("inf")
