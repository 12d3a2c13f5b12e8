"""The inner loop: Adam over stroke control points, best state kept, best-of-K seeds in one batch.

On a GPU the loop never waits for the device on its own account: the best state is kept with
`torch.where`, progress values travel to the host by a non-blocking copy and are reported once
they have arrived, and fp16 loss scaling adjusts itself on the device. The renderer's one size
read per step is then the step's only wait (see renderer.py); stroke care's tidying, which reads
the strokes on the host, adds one every `tidy_every` steps.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor


class StrokeLoss(Protocol):
    """What the loop minimizes, in two halves so an evaluation can reuse a step's pictures."""

    def render(self, points: Tensor) -> Sequence[Tensor]:
        """The images the loss looks at, from control points [K, N, 4, 2]."""

    def score(self, images: Sequence[Tensor], augment: bool, generator: torch.Generator) -> Tensor:
        """Loss per sketch [K]; `augment=False` must give the plain-pair loss."""


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
    """What the loop reports after every iteration.

    Losses are NaN until the first values reach the host; `points` [K, N, 4, 2] is the state the
    step reached (still on the device).
    """

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


class LossScale:
    """Dynamic loss scaling for fp16 autocast, kept on the device so it never makes the host wait.

    The loss is multiplied by the scale before the backward pass and the gradient divided by it
    after. A non-finite gradient zeroes that step's gradient (Adam then coasts on its momentum; on
    the first step it does not move) and halves the scale; `growth_interval` clean steps double it.
    """

    def __init__(self, device: torch.device, initial: float = 2.0**16, growth_interval: int = 200) -> None:
        self.scale = torch.full((), initial, device=device)
        self.clean_steps = torch.zeros((), dtype=torch.long, device=device)
        self.growth_interval = growth_interval

    def unscale_(self, grad: Tensor) -> None:
        """Turn a gradient of the scaled loss into one of the loss, in place, and adjust the scale."""
        finite = torch.isfinite(grad).all()
        grad.copy_(torch.where(finite, grad / self.scale, 0.0))
        self.clean_steps = torch.where(finite, self.clean_steps + 1, 0)
        grow = self.clean_steps >= self.growth_interval
        self.scale = torch.where(finite, torch.where(grow, self.scale * 2.0, self.scale), self.scale / 2.0)
        self.clean_steps = torch.where(grow, 0, self.clean_steps)


def optimize_strokes(
    points: Tensor,
    movable: Tensor,
    loss: StrokeLoss,
    iterations: int,
    generator: torch.Generator,
    lr: float = 1.0,
    eval_every: int = 10,
    augment: bool = True,
    on_step: Callable[[StepReport], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    loss_scale: LossScale | None = None,
    care: StrokeCare | None = None,
    tidy_every: int = 10,
) -> Optimized:
    """Optimize K sketches of N strokes at once; return the best plain-pair state of each.

    Args:
        points: initial control points [K, N, 4, 2], canvas units.
        movable: bool [N]; strokes marked False stay where they are (frozen earlier rounds).
        loss: per-sketch loss [K] (see StrokeLoss).
        iterations: Adam steps; the plain-pair loss of the state before the first step, every
            `eval_every` steps after, and after the last is evaluated, and the best state is kept.
            A state is evaluated on the pictures its training step renders anyway.
        cancelled: checked before every step; when it turns true the loop stops, evaluates the
            state it reached, and returns the best state so far with `cancelled=True`.
        loss_scale: fp16 loss scaling (for a loss that runs under CUDA autocast), or None.
        care: snaps the strokes after every step, and tidies them every `tidy_every` steps and in
            the returned best state (never frozen strokes). A repaired sketch's best state restarts
            from the repair: states before it hold the defects it removed. Tidying reads the
            strokes on the host, one wait every `tidy_every` steps on a GPU.
    """
    fixed = points.detach()
    index = movable.nonzero().squeeze(1)  # once per round, so assembling needs no boolean mask
    free = fixed[:, index].clone().requires_grad_(True)
    # Fused on CUDA: one kernel, and its step counter stays on the device (the default reads it on the host).
    optimizer = torch.optim.Adam([free], lr=lr, fused=free.device.type == "cuda" or None)

    def assemble() -> Tensor:
        full = fixed.clone()
        full[:, index] = free
        return full

    best_points = fixed.clone()
    best_losses = torch.full((points.shape[0],), math.inf, device=points.device)

    def keep_if_better(state: Tensor, images: Sequence[Tensor]) -> None:
        nonlocal best_points, best_losses
        with torch.no_grad():
            losses = loss.score([image.detach() for image in images], False, generator).float()
            better = losses < best_losses
            best_points = torch.where(better[:, None, None, None], state.detach(), best_points)
            best_losses = torch.where(better, losses, best_losses)

    def evaluate_reached() -> None:
        with torch.no_grad():
            state = assemble()
            keep_if_better(state, loss.render(state))

    if iterations == 0:
        evaluate_reached()  # no step renders it: the start is the state returned
    readback = _Readback()
    started = time.perf_counter()
    was_cancelled = False
    for step in range(1, iterations + 1):
        if cancelled is not None and cancelled():
            was_cancelled = True
            # A caller that stops early to keep the result gets the state it saw, not one up to
            # eval_every steps older.
            evaluate_reached()
            break
        state = assemble()
        images = loss.render(state)
        # A tidied state is scored before Adam moves it on: its sketch's best restarts there.
        if (step - 1) % eval_every == 0 or (care is not None and (step - 1) % tidy_every == 0):
            keep_if_better(state, images)
        optimizer.zero_grad(set_to_none=True)
        losses = loss.score(images, augment, generator)
        total = losses.sum()
        (total if loss_scale is None else total * loss_scale.scale).backward()
        if loss_scale is not None and free.grad is not None:
            loss_scale.unscale_(free.grad)
        optimizer.step()
        if care is not None:
            with torch.no_grad():
                free.copy_(care.snap(assemble())[:, index])
            if step % tidy_every == 0 and step < iterations:
                repaired = _apply_tidy(care, assemble(), free, index, optimizer)
                if repaired is not None:
                    best_losses = torch.where(repaired, math.inf, best_losses)
        if step == iterations:
            evaluate_reached()
        readback.push(torch.stack([losses.detach().min().float(), best_losses.min()]))
        if on_step is not None:
            latest = readback.newest()
            reported = (math.nan, math.nan) if latest is None else (float(latest[0]), float(latest[1]))
            on_step(StepReport(step, iterations, *reported, (time.perf_counter() - started) / step, assemble().detach()))
    if care is not None:
        # The kept state may predate the last repair: tidy it too, and score what is returned.
        with torch.no_grad():
            repaired, changed = care.tidy(best_points)
            redo = changed.any(dim=1)
            if bool(redo.any()):
                best_points = torch.where(redo[:, None, None, None], repaired, best_points)
                rescored = loss.score(loss.render(best_points), False, generator).float()
                best_losses = torch.where(redo, rescored, best_losses)
    return Optimized(best_points, best_losses, was_cancelled)


def _apply_tidy(care: StrokeCare, current: Tensor, free: Tensor, index: Tensor, optimizer: torch.optim.Adam) -> Tensor | None:
    """Write the repairs of `care.tidy` into the free parameters and return which sketches changed
    (None when none did); repaired strokes lose their momentum."""
    with torch.no_grad():
        repaired, changed = care.tidy(current.detach())
        if not bool(changed.any()):
            return None
        free.copy_(repaired[:, index])
        # Momentum pointed the old stroke somewhere; the step-size statistics stay useful.
        momentum = optimizer.state[free].get("exp_avg")
        if momentum is not None:
            momentum[changed[:, index]] = 0.0
        return changed.any(dim=1)


class _Readback:
    """The newest of a stream of small device tensors that has reached the host, without waiting for the device.

    On CUDA each value is copied into pinned memory without blocking and becomes readable once its
    event has passed; on the CPU the tensor already is host memory.
    """

    def __init__(self) -> None:
        self._pending: deque[tuple[Tensor, torch.cuda.Event | None]] = deque()
        self._newest: np.ndarray | None = None

    def push(self, values: Tensor) -> None:
        """Start bringing `values` to the host."""
        if values.device.type == "cuda":
            host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            host.copy_(values, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._pending.append((host, event))
        elif values.device.type == "cpu":
            self._pending.append((values.clone(), None))
        else:
            self._pending.append((values.to("cpu"), None))

    def newest(self) -> np.ndarray | None:
        """The most recently pushed values that have arrived, or None before any have."""
        while self._pending and (self._pending[0][1] is None or self._pending[0][1].query()):
            self._newest = self._pending.popleft()[0].numpy()
        return self._newest
