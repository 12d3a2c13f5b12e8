"""The live preview's picture: the strokes as they stand, over a small copy of the photo, written as SVG.

GTK shows it through GdkPixbuf's SVG loader (librsvg, which Inkscape itself depends on), so the preview
needs nothing beyond PyGObject's GTK 3 — no pycairo, whose GObject bridge (Debian's python3-gi-cairo)
Inkscape does not pull in. The photo is scaled once, to a PNG embedded in every frame; a photo GdkPixbuf
cannot decode (WebP without its loader) leaves the strokes on white.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mross_shared.messages import StrokePath

from .gtk_toolkit import Toolkit

#: The largest preview, in screen pixels.
PREVIEW_BOX = (480, 320)
# The photo is faded under the strokes so that they stand out.
_PHOTO_OPACITY = 0.55
# Strokes never get thinner on screen than this many screen pixels.
_MIN_SCREEN_WIDTH = 0.8


@dataclass(frozen=True)
class PreviewFrame:
    """What every preview frame shares: the photo's pixel size, the size shown, the thumbnail, the stroke colour."""

    photo_size: tuple[int, int]
    shown_size: tuple[int, int]
    thumbnail_uri: str | None
    color: str

    @classmethod
    def for_photo(cls, toolkit: Toolkit, photo: bytes, photo_size: tuple[int, int], color: str) -> PreviewFrame:
        """Fit the photo into PREVIEW_BOX (a small photo grows to fill it) and scale it once with GdkPixbuf."""
        scale = min(PREVIEW_BOX[0] / photo_size[0], PREVIEW_BOX[1] / photo_size[1])
        shown = (max(1, round(photo_size[0] * scale)), max(1, round(photo_size[1] * scale)))
        return cls(photo_size, shown, _thumbnail_uri(toolkit, photo, shown), color)

    def svg(self, paths: Sequence[StrokePath]) -> bytes:
        """One frame: the faded photo and every stroke, in photo pixels, shown at `shown_size`."""
        width, height = self.photo_size
        least = _MIN_SCREEN_WIDTH * width / self.shown_size[0]
        photo = (
            f'<image width="{width}" height="{height}" preserveAspectRatio="none" opacity="{_PHOTO_OPACITY}" xlink:href="{self.thumbnail_uri}"/>'
            if self.thumbnail_uri
            else ""
        )
        # Path data and colour were validated on the wire (digits and the letters M and C only).
        strokes = "".join(f'<path d="{path.d}" stroke-width="{max(path.width, least):.3g}"/>' for path in paths)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="{self.shown_size[0]}" height="{self.shown_size[1]}" '
            f'viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" fill="#ffffff"/>{photo}'
            f'<g fill="none" stroke="{self.color}" stroke-linecap="round" stroke-linejoin="round">{strokes}</g></svg>'
        ).encode()


def render(toolkit: Toolkit, svg: bytes) -> Any | None:
    """The SVG rasterized as a GdkPixbuf.Pixbuf, or None when GdkPixbuf has no SVG loader."""
    try:
        loader = toolkit.pixbuf.PixbufLoader.new_with_type("svg")
        loader.write(svg)
        loader.close()
    except toolkit.glib.Error:  # no SVG loader, or librsvg refused the frame: the window shows no picture
        return None
    return loader.get_pixbuf()


def _thumbnail_uri(toolkit: Toolkit, photo: bytes, size: tuple[int, int]) -> str | None:
    """The photo scaled to `size` as a PNG data URI, or None when GdkPixbuf cannot decode it."""
    try:
        loader = toolkit.pixbuf.PixbufLoader()
        loader.connect("size-prepared", lambda chosen, _w, _h: chosen.set_size(*size))
        loader.write(photo)
        loader.close()
        saved, png = loader.get_pixbuf().save_to_bufferv("png", [], [])
    except toolkit.glib.Error:  # a format without a loader (WebP on a bare system), or a damaged file
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii") if saved else None
