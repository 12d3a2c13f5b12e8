"""Raster previews of stroke layers with our own renderer (what `mross render` and `mross sketch` write)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageColor

from mross_server.engine.renderer import render
from mross_server.io.files import write_atomically
from mross_server.io.svg import StrokeLayer


def rasterize_layers(layers: list[StrokeLayer], width: int, height: int, long_side: int | None = None) -> np.ndarray:
    """Visible layers over white as an [h, w, 3] uint8 image; `long_side` rescales (default: viewBox size)."""
    factor = 1.0 if long_side is None else long_side / max(width, height)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    image = torch.ones(3, *size)
    for layer in layers:
        if not layer.visible or len(layer.points) == 0:
            continue
        points = torch.tensor(layer.points, dtype=torch.float32)[None]
        color = torch.tensor(ImageColor.getrgb(layer.color)[:3], dtype=torch.float32) / 255
        with torch.no_grad():
            drawn = render(points, torch.tensor(layer.half_widths, dtype=torch.float32)[None], (0, 0, width, height), size, color=color)[0]
        # Layers stack like strokes do: each one's ink multiplies onto what lies below.
        image = image * drawn
    return (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_png(pixels: np.ndarray, path: Path) -> None:
    """Write an [h, w, 3] uint8 image as PNG (whatever the file name says), whole or not at all (OSError)."""
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG")
    write_atomically(path, encoded.getvalue())
