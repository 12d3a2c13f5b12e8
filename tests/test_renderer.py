"""The PyTorch stroke renderer: gradients, agreement with an independent rasterizer, windows, edge cases."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from mross_server.engine.renderer import Frame, render, render_frames
from mross_server.engine.shapes import check_shape
from mross_server.io.svg import StrokeLayer, to_svg


def random_strokes(k: int, n: int, canvas: float = 64.0, spread: float = 0.3, seed: int = 0, device: str | torch.device = "cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    start = torch.rand(k, n, 1, 2, generator=generator) * canvas
    steps = (torch.rand(k, n, 3, 2, generator=generator) - 0.5) * spread * canvas
    return torch.cat([start, start + steps.cumsum(2)], dim=2).double().to(device)


def test_white_canvas_and_shape_without_strokes(device):
    image = render(torch.zeros(2, 0, 4, 2, device=device), 1.5, (0, 0, 10, 10), (8, 12))
    assert image.shape == (2, 3, 8, 12)
    assert torch.equal(image, torch.ones_like(image))


def test_a_horizontal_line_has_the_width_of_twice_the_half_width(device):
    points = torch.tensor([[[[2.0, 10.0], [8.0, 10.0], [14.0, 10.0], [18.0, 10.0]]]], device=device)
    image = render(points, 1.5, (0, 0, 20, 20), 20)[0, 0]
    column = image[:, 10]
    # diffvg semantics: half-width 1.5 draws a 3 px band, i.e. 3 pixels' worth of ink across.
    assert float((1 - column).sum()) == pytest.approx(3.0, abs=0.05)
    assert float(image[10, 10]) == pytest.approx(0.0, abs=1e-5)


def test_gradients_match_finite_differences(device):
    points = random_strokes(1, 3, canvas=24, seed=1, device=device).requires_grad_(True)
    half_widths = torch.tensor([[1.2, 0.8, 1.7]], dtype=torch.double, device=device, requires_grad=True)
    opacities = torch.tensor([[0.9, 0.6, 0.75]], dtype=torch.double, device=device, requires_grad=True)
    weights = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(3), dtype=torch.double).to(device)

    def loss(p, w, o):
        return (render(p, w, (0, 0, 24, 24), 24, opacities=o) * weights).sum()

    # Coverage is piecewise linear in the distance, so compare on a small step against central differences.
    assert torch.autograd.gradcheck(loss, (points, half_widths, opacities), eps=1e-4, atol=2e-2, rtol=2e-2)


def test_batched_sketches_render_independently(device):
    points = random_strokes(3, 5, seed=2, device=device)
    batch = render(points, 1.0, (0, 0, 64, 64), 32)
    for k in range(3):
        single = render(points[k : k + 1], 1.0, (0, 0, 64, 64), 32)
        assert torch.allclose(batch[k], single[0], atol=1e-9)


def test_roi_window_equals_the_crop_of_a_high_resolution_render():
    points = random_strokes(1, 24, canvas=224, spread=0.4, seed=4)
    full = render(points, 1.5, (0, 0, 224, 224), 896)
    window = render(points, 1.5, (56, 84, 112, 140), 224)
    crop = full[:, :, 336:560, 224:448]
    assert float((window - crop).abs().mean()) < 1e-6


def test_matches_cairosvg_on_a_written_svg():
    """Independent rasterizer on the same SVG file; tolerance: mean |Δ| ≤ 0.01 over the image."""
    cairosvg = pytest.importorskip("cairosvg")
    points = random_strokes(1, 48, canvas=224, seed=5).float()
    half_widths = torch.full((1, 48), 1.5)
    ours = render(points, half_widths, (0, 0, 224, 224), 224)[0, 0].numpy()
    svg = to_svg([StrokeLayer("strokes", points[0].numpy(), half_widths[0].numpy())], 224, 224)
    png = cairosvg.svg2png(bytestring=svg, output_width=224, output_height=224, background_color="white")
    reference = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32) / 255
    assert (1 - reference).mean() > 0.05  # the comparison is about real ink
    assert np.abs(ours - reference).mean() <= 0.01


@pytest.mark.parametrize(
    "points",
    [
        [[5.0, 5.0]] * 4,  # all four control points equal: a round dot
        [[-50.0, -50.0], [-40.0, -45.0], [-30.0, -35.0], [-20.0, -20.0]],  # wholly outside
        [[-10.0, 8.0], [5.0, 8.0], [15.0, 8.0], [40.0, 8.0]],  # partly outside
    ],
)
def test_degenerate_strokes_render_without_nan(points, device):
    tensor = torch.tensor([[points]], device=device, requires_grad=True)
    image = render(tensor, 1.5, (0, 0, 16, 16), 16)
    image.sum().backward()
    assert torch.isfinite(image).all() and torch.isfinite(tensor.grad).all()


def test_zero_width_draws_nothing_and_keeps_finite_gradients(device):
    points = random_strokes(1, 4, canvas=16, seed=6, device=device).requires_grad_(True)
    half_widths = torch.zeros(1, 4, dtype=torch.double, device=device, requires_grad=True)
    image = render(points, half_widths, (0, 0, 16, 16), 16)
    image.sum().backward()
    assert torch.equal(image, torch.ones_like(image))
    assert torch.isfinite(points.grad).all() and torch.isfinite(half_widths.grad).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_control_points_raise_a_clear_error(bad, device):
    points = torch.zeros(1, 1, 4, 2, device=device)
    points[0, 0, 2, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        render(points, 1.0, (0, 0, 8, 8), 8)


def test_color_and_opacity(device):
    points = torch.tensor([[[[0.0, 4.0], [3.0, 4.0], [5.0, 4.0], [8.0, 4.0]]]], device=device)
    opacity, red = torch.tensor([[0.5]], device=device), torch.tensor([1.0, 0.0, 0.0], device=device)
    pixel = render(points, 2.0, (0, 0, 8, 8), 8, opacities=opacity, color=red)[0, :, 4, 4]
    assert torch.allclose(pixel.cpu(), torch.tensor([1.0, 0.5, 0.5]), atol=1e-4)


def test_shape_errors_name_the_expected_shape_and_what_arrived():
    with pytest.raises(ValueError, match=r"^the control points must be \[K, N, 4, 2\], got \[3, 4, 2\]\.$"):
        render(torch.zeros(3, 4, 2), 1.0, (0, 0, 10, 10), 8)
    sketches = torch.ones(2, 3, 8, 8)
    sizes = check_shape(sketches, "K,3,H,W", "the sketches")
    assert sizes == {"K": 2, "H": 8, "W": 8}
    with pytest.raises(ValueError, match=r"the target must be \[1, 3, H, W\] with H=8, W=8, got \[1, 3, 8, 9\]"):
        check_shape(torch.ones(1, 3, 8, 9), "1,3,H,W", "the target", sizes)


@pytest.mark.parametrize("kind", ["walks", "long", "wild"])
def test_bounded_sizing_draws_what_exact_sizing_draws(kind, device):
    """The accelerator sizing (one host read, padded boxes) against exact boxes, several frames at once.

    Pictures are equal; gradients equal up to summation order (PyTorch's parallel accumulation
    chunks by tensor length, which the padding changes).
    """
    generator = torch.Generator().manual_seed(11)
    if kind == "walks":
        points = random_strokes(2, 30, canvas=224, spread=0.05, seed=11)
    elif kind == "long":
        points = torch.rand(2, 6, 4, 2, generator=generator, dtype=torch.double) * 300 - 40
    else:  # control points far apart and far outside: uneven legs, clipped boxes
        points = torch.randn(2, 6, 4, 2, generator=generator, dtype=torch.double) * 120 + 80
    points = points.to(device)
    frames = [Frame((0.0, 0.0, 224.0, 149.0), (149, 224)), Frame((30.5, 40.2, 100.1, 90.7), (224, 224), line_scale=224 / 69.6)]
    weights = [torch.rand(2, 3, *f.size, generator=generator, dtype=torch.double).to(device) for f in frames]
    results = []
    for bounded in (False, True):
        p = points.clone().requires_grad_(True)
        images = render_frames(p, 1.5, frames, bounded=bounded)
        sum((image * w).sum() for image, w in zip(images, weights)).backward()
        results.append((images, p.grad))
    (exact, exact_grad), (bounded_images, bounded_grad) = results
    for a, b in zip(exact, bounded_images):
        assert torch.equal(a, b)
    torch.testing.assert_close(bounded_grad, exact_grad, rtol=1e-9, atol=1e-9)


def test_frames_render_as_they_would_alone_and_a_line_scale_sets_the_line_weight():
    points = random_strokes(2, 12, canvas=60, seed=12)
    frames = [Frame((0.0, 0.0, 60.0, 40.0), (40, 60)), Frame((0.0, 0.0, 60.0, 40.0), (60, 60), line_scale=1.0)]
    together = render_frames(points, 1.0, frames)
    for frame, image in zip(frames, together):
        assert torch.equal(image, render_frames(points, 1.0, [frame])[0])
    # A horizontal line squashed into a square frame stays 2 px thick with line_scale 1 (not 2·sqrt(1.5)).
    line = torch.tensor([[[[5.0, 20.0], [20.0, 20.0], [40.0, 20.0], [55.0, 20.0]]]], dtype=torch.double)
    squashed = render_frames(line, 1.0, frames[1:])[0][0, 0]
    assert float((1 - squashed[:, 30]).sum()) == pytest.approx(2.0, abs=0.05)
