"""The inner loop on its own: Adam over control points, best state kept, frozen strokes, cancel."""

from __future__ import annotations

import torch

from mross_server.engine.optimizer import LossScale, optimize_strokes


class DistanceTo:
    """A loss per sketch [K]: squared distance of the points to `goal`, plus noise when augmented.

    Its "picture" is the points themselves, so scoring a picture is scoring the points.
    """

    def __init__(self, goal: torch.Tensor) -> None:
        self.goal = goal

    def render(self, points: torch.Tensor) -> list[torch.Tensor]:
        return [points]

    def score(self, images: list[torch.Tensor], augment: bool, generator: torch.Generator) -> torch.Tensor:
        value = (images[0] - self.goal).pow(2).flatten(1).sum(1)
        if augment:
            value = value + torch.rand(value.shape, generator=generator, device=generator.device).to(value) * 1e-3
        return value


def test_the_points_move_towards_the_minimum_and_frozen_strokes_stay(device):
    goal = torch.full((2, 3, 4, 2), 5.0, device=device)
    start = torch.zeros(2, 3, 4, 2, device=device)
    movable = torch.tensor([True, False, True], device=device)
    generator = torch.Generator(device).manual_seed(0)
    result = optimize_strokes(start, movable, DistanceTo(goal), 60, generator, lr=0.5, eval_every=5)
    assert not result.cancelled and result.points.device.type == device.type
    assert torch.equal(result.points[:, 1], start[:, 1]), "a frozen stroke does not move"
    assert (result.points[:, [0, 2]] - goal[:, [0, 2]]).abs().max() < 0.5
    assert torch.allclose(result.losses, DistanceTo(goal).score([result.points], False, generator))


def test_the_best_plain_pair_state_is_kept_and_reported_every_step(device):
    goal = torch.zeros(1, 1, 4, 2, device=device)
    start = torch.full((1, 1, 4, 2), 0.1, device=device)
    reports = []
    # A huge learning rate overshoots: the best state stays the start, which is already close.
    result = optimize_strokes(start, torch.ones(1, dtype=torch.bool, device=device), DistanceTo(goal), 10,
                              torch.Generator(device).manual_seed(1), lr=100.0, eval_every=2, on_step=reports.append)
    assert torch.equal(result.points, start)
    assert [r.iteration for r in reports] == list(range(1, 11)) and all(r.iterations == 10 for r in reports)
    assert reports[-1].best_loss == float(result.losses.min())


def test_no_steps_return_the_start_with_its_loss(device):
    goal, start = torch.zeros(1, 1, 4, 2, device=device), torch.ones(1, 1, 4, 2, device=device)
    generator = torch.Generator(device).manual_seed(3)
    result = optimize_strokes(start, torch.ones(1, dtype=torch.bool, device=device), DistanceTo(goal), 0, generator)
    assert torch.equal(result.points, start)
    assert torch.allclose(result.losses, DistanceTo(goal).score([start], False, generator))


def test_cancel_is_checked_before_every_step(device):
    steps = []
    result = optimize_strokes(torch.zeros(1, 2, 4, 2, device=device), torch.ones(2, dtype=torch.bool, device=device),
                              DistanceTo(torch.ones(1, 2, 4, 2, device=device)), 50, torch.Generator(device).manual_seed(2),
                              on_step=steps.append, cancelled=lambda: len(steps) >= 3)
    assert result.cancelled and len(steps) == 3


def test_loss_scaling_keeps_the_gradient_and_survives_an_overflow(device):
    """The fp16 loss scale: a finite step is unscaled exactly; an overflowing one moves nothing and halves the scale."""
    scale = LossScale(device, initial=1024.0, growth_interval=2)
    grad = torch.full((3,), 2048.0, device=device)
    scale.unscale_(grad)
    assert torch.equal(grad, torch.full((3,), 2.0, device=device)) and float(scale.scale) == 1024.0
    scale.unscale_(torch.ones(3, device=device))
    assert float(scale.scale) == 2048.0, "doubles after growth_interval clean steps"
    overflow = torch.tensor([1.0, float("inf"), 0.0], device=device)
    scale.unscale_(overflow)
    assert torch.equal(overflow, torch.zeros(3, device=device)) and float(scale.scale) == 1024.0
    goal = torch.full((1, 1, 4, 2), 3.0, device=device)
    start = torch.zeros(1, 1, 4, 2, device=device)
    every = torch.ones(1, dtype=torch.bool, device=device)
    plain = optimize_strokes(start, every, DistanceTo(goal), 20, torch.Generator(device).manual_seed(0), lr=0.2)
    scaled = optimize_strokes(start, every, DistanceTo(goal), 20, torch.Generator(device).manual_seed(0), lr=0.2,
                              loss_scale=LossScale(device, initial=2.0**10))
    torch.testing.assert_close(scaled.points, plain.points)
