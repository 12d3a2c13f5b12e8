"""The inner loop: Adam over stroke control points, best state kept, best-of-K seeds in one batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# (points [K, N, 4, 2], augment, generator) -> loss [K]
LossFn = Callable[[Tensor, bool, torch.Generator], Tensor]


@dataclass(frozen=True)
class StepReport:
    """What the loop reports after every iteration; `points` [K, N, 4, 2] is the state the step reached."""

    iteration: int
    iterations: int
    loss: float
    best_loss: float
    seconds_per_iteration: float
    points: Tensor


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
) -> Optimized:
    """Optimize K sketches of N strokes at once; return the best plain-pair state of each.

    Args:
        points: initial control points [K, N, 4, 2], canvas units.
        movable: bool [N]; strokes marked False stay where they are (frozen earlier rounds).
        loss_fn: per-sketch loss [K]; `augment=False` must give the plain-pair loss.
        iterations: Adam steps; the plain-pair loss is evaluated before the first and every
            `eval_every` steps after, and at the end, and the best state is kept.
        cancelled: checked before every step; when it turns true the loop stops, evaluates the
            state it reached, and returns the best state so far with `cancelled=True`.
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
            # A caller that stops early to keep the result gets the state it saw, not one up to
            # eval_every steps older.
            evaluate()
            break
        optimizer.zero_grad(set_to_none=True)
        losses = loss_fn(assemble(), augment, generator)
        losses.sum().backward()
        optimizer.step()
        if step % eval_every == 0 or step == iterations:
            evaluate()
        if on_step is not None:
            seconds = (time.perf_counter() - started) / step
            on_step(StepReport(step, iterations, float(losses.detach().min()), float(best_losses.min()), seconds, assemble().detach()))
    return Optimized(best_points, best_losses, was_cancelled)
