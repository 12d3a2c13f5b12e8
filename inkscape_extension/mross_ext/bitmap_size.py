"""Pixel size of a PNG, JPEG or WebP file, read from its header with the standard library only.

Inkscape's Python has no Pillow, and the SVG does not say how many pixels a bitmap has, yet that size is
what maps the document's rectangles onto the photo.
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


@dataclass(frozen=True)
class PixelSize:
    """Width and height of a bitmap in pixels, and its MIME type."""

    width: int
    height: int
    mime: str


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
        if marker in _JPEG_FRAME_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return PixelSize(width, height, "image/jpeg")
        pos += 2 + length
    raise ExtensionError("the selected JPEG image is damaged (no frame header)")


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
