"""Comparing serialised documents by content, ignoring the whitespace between tags.

lxml versions differ in which element keeps the indentation text when siblings are inserted and
removed, and that whitespace means nothing to Inkscape.
"""

import re


def without_layout(document: bytes) -> bytes:
    """The serialised XML with whitespace between tags removed."""
    return re.sub(rb">\s+<", b"><", document)
