"""Reading photos: any format Pillow decodes, shown upright, in 8-bit RGB over white, no larger than needed.

- **One pixel limit.** The largest photo anyone accepts is `Limits.max_image_pixels` on the wire (its
  default `DEFAULT_MAX_IMAGE_PIXELS`): the server admits jobs by it and decodes by it, so a photo that
  passes admission is never refused later.
- **Upright.** A photo is shown with its EXIF orientation applied, as photo viewers (and Inkscape,
  for JPEGs) show it; a caller that displays the photo differently passes the orientation it uses.
  Every size and coordinate is the full-size upright photo's.
- **Every mode.** 16-bit and float greyscale are scaled to 8 bits by their range (a 16-bit PNG is
  not clipped to white), palette and alpha images are composited onto white, CMYK is converted.
- **Decoded small.** The engine never needs more pixels than its largest view takes (see
  `engine.canvas.working_scale`), so `open_photo` decodes a JPEG at 1/2, 1/4 or 1/8 size when that
  is enough (libjpeg's DCT scaling, Pillow's `draft`) and box-reduces other formats by a whole factor
  right after decoding. A `Photo` keeps that working copy and maps boxes onto it itself.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mross_server.job import SketchInputError
from mross_shared.messages import DEFAULT_MAX_IMAGE_PIXELS

#: Pillow refuses to open anything larger than this as a decompression bomb, whatever our own limit says.
PILLOW_HARD_LIMIT = 2 * (Image.MAX_IMAGE_PIXELS or 0)
ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that shows the stored pixels upright (EXIF 2.32, tag 0x0112).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_HIGH_DEPTH_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
# What Pillow raises for damaged data, while opening or while decoding.
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError)

Box = tuple[float, float, float, float]


class UnreadablePhoto(SketchInputError):
    """The bytes are not an image Pillow can decode."""


class PhotoTooLarge(SketchInputError):
    """The photo has more pixels than the limit allows."""


@dataclass(frozen=True)
class Photo:
    """A decoded photo: `image` is an upright RGB working copy, maybe reduced, of the `width` × `height`
    upright photo in whose pixels every box is given."""

    image: Image.Image
    width: int
    height: int

    @classmethod
    def from_array(cls, rgb: np.ndarray) -> Photo:
        """A full-size Photo of an [H, W, 3] float array in [0, 1]."""
        pixels = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return cls(Image.fromarray(pixels, "RGB"), pixels.shape[1], pixels.shape[0])

    @property
    def scale(self) -> tuple[float, float]:
        """Working-copy pixels per photo pixel, (x, y)."""
        return self.image.width / self.width, self.image.height / self.height

    def view(self, box: Box, size: tuple[int, int]) -> np.ndarray:
        """The box (x0, y0, x1, y1 in photo pixels, rounded to whole pixels) resized to size (h, w) with
        an antialiased bilinear filter, as an [h, w, 3] float32 array in [0, 1]."""
        x0, y0, x1, y1 = (round(v) for v in box)
        sx, sy = self.scale
        region = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
        resized = self.image.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=region)
        return np.asarray(resized, dtype=np.float32) / 255.0

    def pixels(self) -> np.ndarray:
        """The working copy as an [h, w, 3] float32 array in [0, 1]."""
        return np.asarray(self.image, dtype=np.float32) / 255.0


def read_photo_bytes(source: bytes | str | Path) -> bytes:
    """The encoded photo: `source` itself, or the file's bytes; SketchInputError when it cannot be read."""
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise SketchInputError(f"cannot read {source}: {error.strerror or error}") from None


def photo_size(data: bytes, orientation: int | None = None, name: str = "the image") -> tuple[int, int]:
    """(width, height) of an encoded photo shown upright, read from its header without decoding the pixels.

    `orientation` (EXIF 1-8) overrides the file's own tag.

    Raises:
        UnreadablePhoto: Pillow cannot identify the data.
        PhotoTooLarge: the header declares a decompression bomb.
    """
    with _opened(data, name) as image:
        return _upright_size(image, orientation)


def check_photo_size(width: int, height: int, max_pixels: int, name: str = "the image") -> None:
    """PhotoTooLarge unless width × height fits within `max_pixels`."""
    if width * height > max_pixels:
        raise PhotoTooLarge(f"{name} has {width}×{height} pixels; the limit is {max_pixels:,}")


def open_photo(
    source: bytes | str | Path,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    orientation: int | None = None,
    scale: float = 1.0,
    name: str | None = None,
) -> Photo:
    """Decode a photo upright, with at least `scale` (0 < scale <= 1) of its pixels along each side.

    `orientation` (EXIF 1-8) overrides the file's own tag; the first frame of an animation is used.
    `name` is what error sentences call the photo (default: its path, or "the image data").

    Raises:
        SketchInputError: the file is missing (UnreadablePhoto: not an image; PhotoTooLarge: over `max_pixels`).
    """
    name = name or ("the image data" if isinstance(source, bytes) else str(source))
    data = read_photo_bytes(source)
    with _opened(data, name) as image:
        width, height = _upright_size(image, orientation)
        check_photo_size(width, height, max_pixels, name)
        upright = _UPRIGHT.get(orientation or _orientation_tag(image))
        try:
            working = _decode(image, scale)
        except Image.DecompressionBombError:
            raise _too_many_pixels(name) from None
        except _DECODE_ERRORS:
            raise _undecodable(name) from None
    if upright is not None:
        working = working.transpose(upright)
    return Photo(working, width, height)


def load_photo(source: bytes | str | Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, orientation: int | None = None) -> np.ndarray:
    """The whole photo at full size, upright, as an [H, W, 3] float32 array in [0, 1]; see `open_photo`."""
    return open_photo(source, max_pixels, orientation).pixels()


def _decode(image: Image.Image, scale: float) -> Image.Image:
    """The stored (not yet upright) pixels as 8-bit RGB, reduced by the largest whole factor `scale` allows."""
    target = (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale)))
    if scale < 1.0:
        image.draft(None, target)  # JPEG: decode at 1/2, 1/4 or 1/8 size (still >= target); others: nothing
    image.load()
    rgb = _to_rgb(image)
    factor = min(rgb.width // target[0], rgb.height // target[1])
    return rgb.reduce(factor) if factor > 1 else rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: deep greyscale scaled by its range, transparency composited onto white."""
    if image.mode in _HIGH_DEPTH_GREY:
        return _grey_to_8bit(image).convert("RGB")
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, "white")
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image if image.mode == "RGB" else image.convert("RGB")  # a copy of 4 bytes a pixel saved


def _grey_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit or float greyscale as 8-bit 'L'.

    16-bit modes span 0-65535. Modes I and F say nothing about their range, so the smallest usual
    range holding the values is used: 0-1 (float), 0-255, 0-65535, else the values' own maximum.
    """
    values = np.asarray(image)
    low, peak = min(0.0, float(values.min())), float(values.max())
    if image.mode.startswith("I;16"):
        high = 65535.0
    else:
        ranges = (1.0, 255.0, 65535.0) if image.mode == "F" else (255.0, 65535.0)
        high = next((limit for limit in ranges if peak <= limit), peak)
    scaled = (values.astype(np.float32) - low) * (255.0 / max(high - low, 1e-12))
    return Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), "L")


def _upright_size(image: Image.Image, orientation: int | None) -> tuple[int, int]:
    """The image's size once shown upright: width and height swap for the orientations that turn it."""
    turned = (orientation or _orientation_tag(image)) in (5, 6, 7, 8)
    return (image.height, image.width) if turned else (image.width, image.height)


def _orientation_tag(image: Image.Image) -> int:
    """The file's EXIF orientation (1-8), 1 when it has none or a damaged one; never decodes the pixels."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # Pillow would decode the whole PNG to look for an eXIf chunk after the pixels
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@contextlib.contextmanager
def _opened(data: bytes, name: str) -> Iterator[Image.Image]:
    """Pillow's lazy open of `data`, with our errors and without its stderr warning about large images."""
    with warnings.catch_warnings():
        # The callers apply their own pixel limit; a warning on stderr would reach Inkscape's dialogs.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise _too_many_pixels(name) from None
        except _DECODE_ERRORS:
            raise _undecodable(name) from None
        with image:
            yield image


def _undecodable(name: str) -> UnreadablePhoto:
    return UnreadablePhoto(f"{name} is not an image that can be decoded (PNG, JPEG, WebP, …)")


def _too_many_pixels(name: str) -> PhotoTooLarge:
    return PhotoTooLarge(f"{name} has more than {PILLOW_HARD_LIMIT:,} pixels, too many to decode safely")
