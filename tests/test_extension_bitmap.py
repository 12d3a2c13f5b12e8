"""Bitmap bytes behind an <image> href, and their pixel size read from the header (stdlib only)."""

import base64
import shutil
from pathlib import Path

import pytest

from mross_ext.bitmap_size import PixelSize, decode_pixel_size
from mross_ext.bitmap_source import ImageLink, read_image_bytes
from mross_ext.errors import ExtensionError
from tests.extension_dir import TEST_DATA

IMAGES = TEST_DATA / "images"


@pytest.mark.parametrize(
    "name, mime",
    [
        ("coffee.png", "image/png"),
        ("coffee.jpg", "image/jpeg"),
        ("coffee_progressive.jpg", "image/jpeg"),
        ("coffee.webp", "image/webp"),
        ("coffee_lossless.webp", "image/webp"),
        ("coffee_alpha.webp", "image/webp"),
    ],
)
def test_header_gives_pixel_size(name, mime):
    assert decode_pixel_size((IMAGES / name).read_bytes()) == PixelSize(96, 64, mime)


def test_size_is_the_photo_as_inkscape_draws_it():
    """Inkscape 1.2.2 turns a JPEG by its EXIF orientation but not a PNG (measured, see bitmap_size.py)."""
    assert decode_pixel_size((IMAGES / "coffee_exif6.jpg").read_bytes()) == PixelSize(96, 64, "image/jpeg", 6)
    assert decode_pixel_size((IMAGES / "coffee_exif6.png").read_bytes()) == PixelSize(64, 96, "image/png", 1)


@pytest.mark.parametrize(
    "tiff",
    [
        b"XX*\x00\x08\x00\x00\x00",  # no byte order mark
        b"II*\x00\xff\xff\x00\x00",  # first IFD beyond the block
        b"II*\x00\x08\x00\x00\x00\x05\x00" + bytes(10),  # five entries announced, not one complete
        b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x09\x00\x00",  # orientation 9
    ],
)
def test_damaged_exif_leaves_the_jpeg_unturned(tiff):
    jpeg = (IMAGES / "coffee.jpg").read_bytes()
    app1 = b"\xff\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    assert decode_pixel_size(jpeg[:2] + app1 + jpeg[2:]) == PixelSize(96, 64, "image/jpeg", 1)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"GIF89a" + bytes(20), "not a PNG, JPEG or WebP"),
        (b"", "not a PNG, JPEG or WebP"),
        (b"\x89PNG\r\n\x1a\n" + bytes(8), "damaged"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(5) + b"\xff\xda", "damaged"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8Z" + bytes(20), "damaged"),
    ],
)
def test_bad_headers_give_one_sentence(data, message):
    with pytest.raises(ExtensionError, match=message):
        decode_pixel_size(data)


def test_zero_sized_png_is_rejected():
    header = (IMAGES / "coffee.png").read_bytes()[:16] + bytes(8)
    with pytest.raises(ExtensionError, match="no pixels"):
        decode_pixel_size(header)


def _link(href, input_file, document_path, absref=None):
    return ImageLink(href=href, absref=absref, input_file=str(input_file), document_path=document_path)


def test_embedded_base64_with_line_breaks_decodes():
    raw = (IMAGES / "coffee.jpg").read_bytes()
    wrapped = "\n".join(base64.b64encode(raw).decode()[i : i + 76] for i in range(0, 4000, 76))
    assert read_image_bytes(_link(f"data:image/jpeg;base64,{wrapped}", "/nowhere/in.svg", "")) == raw


def test_embedded_percent_encoded_data():
    assert read_image_bytes(_link("data:text/plain,a%20b", "/nowhere/in.svg", "")) == b"a b"


def test_corrupt_base64_is_reported():
    with pytest.raises(ExtensionError, match="base64 data is corrupt"):
        read_image_bytes(_link("data:image/png;base64,@@@@", "/nowhere/in.svg", ""))


def test_relative_link_prefers_the_input_files_folder(tmp_path):
    temp_copy, saved = tmp_path / "tmp", tmp_path / "saved"
    (temp_copy / "work").mkdir(parents=True)
    (saved / "work").mkdir(parents=True)
    (temp_copy / "work" / "photo.png").write_bytes(b"as rewritten by Inkscape")
    (saved / "work" / "photo.png").write_bytes(b"next to the saved document")
    link = _link("work/photo.png", temp_copy / "ink_ext_1.svg", str(saved / "doc.svg"))
    assert read_image_bytes(link) == b"as rewritten by Inkscape"


def test_relative_link_falls_back_to_document_path_then_absref(tmp_path):
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "photo name.png").write_bytes(b"beside the document")
    link = _link("photo%20name.png", tmp_path / "elsewhere" / "in.svg", str(saved / "doc.svg"))
    assert read_image_bytes(link) == b"beside the document"

    absolute = tmp_path / "remembered.png"
    absolute.write_bytes(b"from absref")
    link = _link("gone.png", tmp_path / "in.svg", str(saved / "doc.svg"), absref=str(absolute))
    assert read_image_bytes(link) == b"from absref"


def test_absolute_path_and_file_uri(tmp_path):
    photo = tmp_path / "photo.jpg"
    shutil.copy(IMAGES / "coffee.jpg", photo)
    assert read_image_bytes(_link(str(photo), "/x/in.svg", "")) == photo.read_bytes()
    assert read_image_bytes(_link(photo.as_uri(), "/x/in.svg", "")) == photo.read_bytes()


def test_missing_relative_link_in_saved_document(tmp_path):
    with pytest.raises(ExtensionError, match=r"'missing\.png' was not found next to the document"):
        read_image_bytes(_link("missing.png", tmp_path / "in.svg", str(tmp_path / "doc.svg")))


def test_relative_link_in_unsaved_document_asks_to_save(tmp_path):
    with pytest.raises(ExtensionError, match=r"'photo\.png' relative to a document that was never saved; save the document first"):
        read_image_bytes(_link("photo.png", tmp_path / "in.svg", ""))
    # Inkscape hands a never-saved document's relative link over rewritten against its templates folder.
    rewritten = "/usr/share/inkscape/templates/photo.png"
    with pytest.raises(ExtensionError, match=r"^the image links to 'photo\.png' relative to a document that was never saved") as caught:
        read_image_bytes(_link(rewritten, tmp_path / "in.svg", ""))
    assert "templates" not in str(caught.value)


def test_missing_absolute_file_and_remote_link(tmp_path):
    with pytest.raises(ExtensionError, match="does not exist"):
        read_image_bytes(_link(str(tmp_path / "nope.png"), tmp_path / "in.svg", str(tmp_path / "doc.svg")))
    with pytest.raises(ExtensionError, match="links to a https: address"):
        read_image_bytes(_link("https://example.org/a.png", tmp_path / "in.svg", ""))


def test_empty_href_is_reported():
    with pytest.raises(ExtensionError, match="no link or embedded data"):
        read_image_bytes(_link("  ", "/x/in.svg", ""))


def test_unreadable_path_is_reported(tmp_path):
    with pytest.raises(ExtensionError, match="cannot be read"):
        read_image_bytes(_link(str(tmp_path), tmp_path / "in.svg", ""))


def test_link_resolution_does_not_depend_on_cwd(tmp_path, monkeypatch):
    (tmp_path / "photo.png").write_bytes(b"x")
    monkeypatch.chdir(Path("/"))
    assert read_image_bytes(_link("photo.png", tmp_path / "in.svg", "")) == b"x"
