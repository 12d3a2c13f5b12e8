"""Reading photos: any format Pillow decodes, alpha composited onto white, as float RGB.

The largest photo anyone accepts is one number, `Limits.max_image_pixels` on the wire (its default
`DEFAULT_MAX_IMAGE_PIXELS`): the server admits jobs by it and decodes by it, so a photo that passes
admission is never refused later.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mross_server.job import SketchInputError
from mross_shared.messages import DEFAULT_MAX_IMAGE_PIXELS

#: Pillow refuses to open anything larger than this as a decompression bomb, whatever our own limit says.
PILLOW_HARD_LIMIT = 2 * (Image.MAX_IMAGE_PIXELS or 0)


class UnreadablePhoto(SketchInputError):
    """The bytes are not an image Pillow can decode."""


class PhotoTooLarge(SketchInputError):
    """The photo has more pixels than the limit allows."""


def photo_size(data: bytes, name: str = "the image") -> tuple[int, int]:
    """(width, height) of an encoded photo, read from its header without decoding the pixels.

    Raises:
        UnreadablePhoto: Pillow cannot identify the data.
        PhotoTooLarge: the header declares a decompression bomb.
    """
    with _opened(data, name) as image:
        return image.size


def check_photo_size(width: int, height: int, max_pixels: int, name: str = "the image") -> None:
    """PhotoTooLarge unless width × height fits within `max_pixels`."""
    if width * height > max_pixels:
        raise PhotoTooLarge(f"{name} has {width}×{height} pixels; the limit is {max_pixels:,}")


def load_photo(source: bytes | str | Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a photo from bytes or a file into an [H, W, 3] float32 array in [0, 1].

    Transparent pixels are composited onto white, as the renderer composites strokes.

    Raises:
        SketchInputError: the file is missing (UnreadablePhoto: not an image; PhotoTooLarge: over `max_pixels`).
    """
    name = "the image data" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as error:
        raise SketchInputError(f"cannot read {name}: {error.strerror or error}") from None
    with _opened(data, name) as image:
        check_photo_size(image.width, image.height, max_pixels, name)
        try:
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        except (OSError, SyntaxError, ValueError):
            raise _undecodable(name) from None
    alpha = rgba[..., 3:]
    rgb: np.ndarray = rgba[..., :3] * alpha + (1.0 - alpha)
    return rgb


@contextlib.contextmanager
def _opened(data: bytes, name: str) -> Iterator[Image.Image]:
    """Pillow's lazy open of `data`, with our errors and without its stderr warning about large images."""
    with warnings.catch_warnings():
        # The callers apply their own pixel limit; a warning on stderr would reach Inkscape's dialogs.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise PhotoTooLarge(f"{name} has more than {PILLOW_HARD_LIMIT:,} pixels, too many to decode safely") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise _undecodable(name) from None
        with image:
            yield image


def _undecodable(name: str) -> UnreadablePhoto:
    return UnreadablePhoto(f"{name} is not an image that can be decoded (PNG, JPEG, WebP, …)")
