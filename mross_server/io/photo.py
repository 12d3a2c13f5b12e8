"""Reading photos: any format Pillow decodes, alpha composited onto white, as float RGB."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mross_server.job import SketchInputError

# Decompression-bomb guard; far above any photo an illustrator embeds.
MAX_PIXELS = 64_000_000


def load_photo(source: bytes | str | Path) -> np.ndarray:
    """Decode a photo from bytes or a file into an [H, W, 3] float32 array in [0, 1].

    Transparent pixels are composited onto white, as the renderer composites strokes.

    Raises:
        SketchInputError: the file is missing, not an image, or too large.
    """
    name = "the image data" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as error:
        raise SketchInputError(f"cannot read {name}: {error.strerror or error}") from None
    undecodable = SketchInputError(f"{name} is not an image that can be decoded (PNG, JPEG, WebP, …)")
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise undecodable from None
    if image.width * image.height > MAX_PIXELS:
        raise SketchInputError(f"{name} has {image.width}×{image.height} pixels; the limit is {MAX_PIXELS:,}")
    try:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    except (OSError, SyntaxError, ValueError):
        raise undecodable from None
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + (1.0 - alpha)
