"""The inner loop on its own: Adam over control points, best state kept, frozen strokes, cancel."""

from __future__ import annotations

import torch

from mross_server.engine.optimizer import optimize_strokes


def distance_to(goal: torch.Tensor):
    """A loss per sketch [K]: squared distance of the points to `goal`, plus noise when augmented."""

    def loss(points: torch.Tensor, augment: bool, generator: torch.Generator) -> torch.Tensor:
        value = (points - goal).pow(2).flatten(1).sum(1)
        if augment:
            value = value + torch.rand(value.shape, generator=generator, device=generator.device).to(value) * 1e-3
        return value

    return loss


def test_the_points_move_towards_the_minimum_and_frozen_strokes_stay(device):
    goal = torch.full((2, 3, 4, 2), 5.0, device=device)
    start = torch.zeros(2, 3, 4, 2, device=device)
    movable = torch.tensor([True, False, True], device=device)
    generator = torch.Generator(device).manual_seed(0)
    result = optimize_strokes(start, movable, distance_to(goal), 60, generator, lr=0.5, eval_every=5)
    assert not result.cancelled and result.points.device.type == device.type
    assert torch.equal(result.points[:, 1], start[:, 1]), "a frozen stroke does not move"
    assert (result.points[:, [0, 2]] - goal[:, [0, 2]]).abs().max() < 0.5
    assert torch.allclose(result.losses, distance_to(goal)(result.points, False, generator))


def test_the_best_plain_pair_state_is_kept_and_reported_every_step(device):
    goal = torch.zeros(1, 1, 4, 2, device=device)
    start = torch.full((1, 1, 4, 2), 0.1, device=device)
    reports = []
    # A huge learning rate overshoots: the best state stays the start, which is already close.
    result = optimize_strokes(start, torch.ones(1, dtype=torch.bool, device=device), distance_to(goal), 10,
                              torch.Generator(device).manual_seed(1), lr=100.0, eval_every=2, on_step=reports.append)
    assert torch.equal(result.points, start)
    assert [r.iteration for r in reports] == list(range(1, 11)) and all(r.iterations == 10 for r in reports)
    assert reports[-1].best_loss == float(result.losses.min())


def test_cancel_is_checked_before_every_step(device):
    steps = []
    result = optimize_strokes(torch.zeros(1, 2, 4, 2, device=device), torch.ones(2, dtype=torch.bool, device=device),
                              distance_to(torch.ones(1, 2, 4, 2, device=device)), 50, torch.Generator(device).manual_seed(2),
                              on_step=steps.append, cancelled=lambda: len(steps) >= 3)
    assert result.cancelled and len(steps) == 3
