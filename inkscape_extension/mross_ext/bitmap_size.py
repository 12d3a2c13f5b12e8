"""Pixel size of a PNG, JPEG or WebP file as Inkscape draws it, read from its header with the standard library only.

Inkscape's Python has no Pillow, and the SVG does not say how many pixels a bitmap has, yet that size is
what maps the document's rectangles onto the photo.

Inkscape (1.2.2 measured: `inkscape --export-type=png` of documents holding a 600×400 photo tagged
orientation 6; 1.4 decodes through the same gdk-pixbuf path) draws a JPEG turned by its EXIF
orientation tag, 400×600, but ignores the tag of a PNG (eXIf) and of a WebP. So a JPEG's size is
reported turned, and the orientation Inkscape applies travels with the job, for the server to show
the photo the same way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ExtensionError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers that carry the frame size: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field: TEM, RST0..RST7, SOI, EOI.
_JPEG_BARE_MARKERS = frozenset([0x01, *range(0xD0, 0xDA)])
_JPEG_START_OF_SCAN = 0xDA
_JPEG_APP1 = 0xE1
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
# Orientations 5 to 8 turn the photo a quarter, so its width and height swap on screen.
_QUARTER_TURNS = (5, 6, 7, 8)


@dataclass(frozen=True)
class PixelSize:
    """Width and height of a bitmap in pixels as Inkscape draws it, its MIME type, and the EXIF
    orientation (1-8) Inkscape applied to get there."""

    width: int
    height: int
    mime: str
    orientation: int = 1


def decode_pixel_size(data: bytes) -> PixelSize:
    """Return the pixel size of PNG, JPEG or WebP bytes; raise ExtensionError for anything else."""
    if data.startswith(_PNG_SIGNATURE):
        size = _png_size(data)
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp_size(data)
    else:
        raise ExtensionError("the selected image is not a PNG, JPEG or WebP bitmap")
    if size.width <= 0 or size.height <= 0:
        raise ExtensionError("the selected image's header gives it no pixels")
    return size


def _png_size(data: bytes) -> PixelSize:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ExtensionError("the selected PNG image is damaged (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return PixelSize(width, height, "image/png")


def _jpeg_size(data: bytes) -> PixelSize:
    orientation = 1
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_BARE_MARKERS:
            pos += 2
            continue
        if marker == _JPEG_START_OF_SCAN:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == _JPEG_APP1 and data[pos + 4 : pos + 10] == _EXIF_HEADER:
            orientation = _exif_orientation(data[pos + 10 : pos + 2 + length])
        if marker in _JPEG_FRAME_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            if orientation in _QUARTER_TURNS:
                width, height = height, width
            return PixelSize(width, height, "image/jpeg", orientation)
        pos += 2 + length
    raise ExtensionError("the selected JPEG image is damaged (no frame header)")


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag (1-8) of an EXIF block (a TIFF header and its first IFD); 1 when absent or damaged."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind = struct.unpack(order + "HH", tiff[entry : entry + 4])
        if tag == _ORIENTATION_TAG and kind == 3:  # SHORT, stored in the first two bytes of the value field
            (value,) = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else 1
    return 1


def _webp_size(data: bytes) -> PixelSize:
    chunk, body = data[12:16], data[20:30]
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return PixelSize(width & 0x3FFF, height & 0x3FFF, "image/webp")
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return PixelSize((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, "image/webp")
    if chunk == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return PixelSize(width, height, "image/webp")
    raise ExtensionError("the selected WebP image is damaged (unknown chunk)")
