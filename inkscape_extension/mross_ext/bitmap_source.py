"""The bytes behind an <image> element's href: an embedded data: URI or a linked file.

Inkscape hands the extension a temporary copy of the document and rewrites relative links so that they are
relative to that copy's folder, so a relative link is looked up next to the input file first, then next to
the saved document (DOCUMENT_PATH), then at the absolute path Inkscape remembered in sodipodi:absref.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes, urlparse
from urllib.request import url2pathname

from .errors import ExtensionError


@dataclass(frozen=True)
class ImageLink:
    """Where an <image> gets its pixels, and the context needed to resolve a relative link."""

    href: str
    absref: str | None
    input_file: str
    document_path: str | None


def read_image_bytes(link: ImageLink) -> bytes:
    """Return the raw file bytes the image shows; raise ExtensionError when they cannot be read."""
    href = link.href.strip()
    if not href:
        raise ExtensionError("the selected image has no link or embedded data")
    if href.startswith("data:"):
        return _decode_data_uri(href)
    return _read_file(_resolve_linked_file(href, link))


def _decode_data_uri(uri: str) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma:
        raise ExtensionError("the selected image's embedded data is malformed (no comma in the data: URI)")
    if header.endswith(";base64"):
        try:
            # Inkscape wraps embedded base64 over several lines; whitespace is not part of the alphabet.
            return base64.b64decode("".join(payload.split()), validate=True)
        except binascii.Error as err:
            raise ExtensionError("the selected image's embedded base64 data is corrupt") from err
    return unquote_to_bytes(payload)


def _resolve_linked_file(href: str, link: ImageLink) -> str:
    parsed = urlparse(href)
    if parsed.scheme == "file":
        return url2pathname(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ExtensionError(f"the selected image links to a {parsed.scheme}: address; embed it or link a local file")
    path = os.path.expanduser(unquote(href))
    candidates = [path] if os.path.isabs(path) else _relative_candidates(path, link)
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    if not link.document_path:
        # Inkscape rewrites a relative link of a never-saved document against wherever the document
        # came from (for a new one, its templates folder), so the path it hands over means nothing.
        raise ExtensionError(
            f"the image links to '{os.path.basename(path)}' relative to a document that was never saved; save the document first"
        )
    if os.path.isabs(path):
        return path
    raise ExtensionError(f"the linked image file '{path}' was not found next to the document")


def _relative_candidates(path: str, link: ImageLink) -> list[str]:
    candidates = [os.path.join(os.path.dirname(os.path.abspath(link.input_file)), path)]
    if link.document_path:
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(link.document_path)), path))
    if link.absref:
        candidates.append(link.absref)
    return candidates


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as err:
        raise ExtensionError(f"the linked image file '{path}' does not exist") from err
    except OSError as err:
        raise ExtensionError(f"the linked image file '{path}' cannot be read ({err.strerror})") from err
