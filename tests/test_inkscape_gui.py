"""The illustrator's path through real Inkscape 1.2's GUI, on Xvfb with openbox, driven by keys and clicks.

Extensions ▸ Sketch ▸ MROSS Scene Sketch… must open the settings dialog; Apply must show the progress
window, whose preview fills with strokes; its Cancel must stop the job and leave the document unmodified
(no "*" in the title, no message, the file as it was); a second Apply's Stop and keep must insert the
strokes as they stand (one parent layer with its round layers, saved with Ctrl+S). Screenshots of each
step go to $MROSS_TEST_ARTEFACTS (default: the test's temporary folder): gui_1_dialog.png,
gui_2_progress.png (the window) with gui_2_screen.png (the whole screen), gui_3_cancelled.png,
gui_4_kept.png.

The cancel comes first on purpose: once an effect has changed the document, Inkscape 1.2 records a
(content-free) undo step and marks the document modified for every later effect run, even one that
writes nothing — measured with a probe extension that only sleeps — so only a first run can show
what the extension itself does on Cancel.

The Extensions menu is opened from the keyboard (F10, then Right to the ninth top-level menu); its
popup's rows are 25 px high in the default theme, and the Sketch row is found by counting the submenus
Inkscape builds (the .inx files' plus its built-in Raster). A wrong row cannot pass unnoticed: the test
waits for the dialog by its title.
"""

from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.inkscape_home import artefact_dir, set_up
from tests.x_session import XSession, tools_missing, x_session

pytestmark = pytest.mark.skipif(
    bool(tools_missing()) or not shutil.which("inkscape"), reason=f"needs Inkscape, {', '.join(tools_missing())} (apt)"
)

APP_CLASS = "org.inkscape.Inkscape"
DIALOG = "MROSS Scene Sketch"
PROGRESS = "MROSS Scene Sketch — sketching"
ERROR_TITLE = "MROSS Scene Sketch — not sketched"
# Long enough that the preview shows strokes before Stop and keep ends the job.
PARAMETERS = {"strokes": 16, "preset": "fast", "iterations": 400, "layer_mode": "snapshot", "autostart": "true"}
MENU_ROW_PX = 25
# The top-level menus before Extensions in Inkscape 1.2: File, Edit, View, Layer, Object, Path, Text, Filters.
MENUS_BEFORE_EXTENSIONS = 8
# Submenus of Extensions that come from Inkscape itself rather than from .inx files.
BUILT_IN_SUBMENUS = ("Raster",)
INX_NS = "{http://www.inkscape.org/namespace/inkscape/extension}"
SVG_LAYER = "{http://www.w3.org/2000/svg}g"


def test_menu_opens_the_dialog_apply_previews_stop_keeps_and_cancel_changes_nothing(inkscape_home, tmp_path):
    env, document = set_up(inkscape_home, tmp_path, PARAMETERS)
    pictures = artefact_dir(tmp_path)

    with x_session(env) as x:
        x.start(["inkscape", str(document)], log=tmp_path / "inkscape.log", cwd=tmp_path)
        main = x.window("scene.svg - Inkscape", timeout_s=90)
        time.sleep(2)  # let the canvas settle before selecting
        original = document.read_bytes()

        _open_dialog(x, inkscape_home)
        x.screenshot(pictures / "gui_1_dialog.png")
        progress = _apply(x)
        _wait_for_preview(x, progress, pictures / "gui_2_progress.png")
        _press(x, progress, "Cancel")
        x.wait_gone(PROGRESS, timeout_s=30)
        _close_dialog(x, main)
        x.screenshot(pictures / "gui_3_cancelled.png")
        assert not x.title_of(main).startswith("*"), "a cancelled run must leave the document unmodified"
        assert not x.windows(".*additional data.*") and not x.windows(ERROR_TITLE)
        assert document.read_bytes() == original

        _open_dialog(x, inkscape_home)
        progress = _apply(x)
        _wait_for_preview(x, progress, tmp_path / "preview.png")
        _press(x, progress, "Stop and keep")
        x.wait_gone(PROGRESS, timeout_s=120)
        _close_dialog(x, main)
        assert x.title_of(main).startswith("*"), "keeping the strokes modified the document"
        x.keys("ctrl+s")
        x.wait_until(lambda: not x.title_of(main).startswith("*"), 30, "the document to be saved")
        x.screenshot(pictures / "gui_4_kept.png")
        (run,) = _runs(document)
        assert run.get("data-mross-run") == "1" and len(run) >= 1
        assert all(len(layer.findall(".//{http://www.w3.org/2000/svg}path")) > 0 for layer in run)


def _open_dialog(x: XSession, home: Path) -> None:
    """Select everything (photo, rectangles, and any sketch), then click Extensions ▸ Sketch ▸ MROSS Scene Sketch…."""
    x.keys("Escape", "ctrl+alt+a")
    x.keys("F10", *["Right"] * MENUS_BEFORE_EXTENSIONS)
    (menu,) = x.menus(APP_CLASS, 1)
    submenus = _extension_submenus(home)
    rows = (menu.height - 2) // MENU_ROW_PX
    # Previous Extension, Previous Extension Settings…, the submenus, Manage Extensions….
    assert rows == 2 + len(submenus) + 1, f"the Extensions menu has {rows} rows; expected these submenus: {submenus}"
    row = 2 + submenus.index("Sketch")
    x.click(menu.x + 60, menu.y + 1 + MENU_ROW_PX * row + MENU_ROW_PX // 2)  # a click on a submenu's row opens it
    submenu = next(box for box in x.menus(APP_CLASS, 2) if box != menu)
    x.click(submenu.x + 40, submenu.y + 1 + MENU_ROW_PX // 2)  # its one item: MROSS Scene Sketch…
    x.window(DIALOG, timeout_s=30)


def _apply(x: XSession) -> int:
    """Press the dialog's Apply; return the progress window that appears."""
    x.click(*_dialog_button(x, "Apply"))
    return x.window(PROGRESS, timeout_s=60)


def _close_dialog(x: XSession, main: int) -> None:
    """Close the settings dialog and give the keyboard back to the document window.

    Inkscape ignores the dialog's buttons until it has taken the effect's result in, which on a
    loaded 2-core machine took over 20 s, so Close is clicked every 2 s until the dialog goes.
    """
    deadline = time.monotonic() + 60
    while x.windows(DIALOG) and time.monotonic() < deadline:
        x.click(*_dialog_button(x, "Close"))
        time.sleep(2)
    x.wait_gone(DIALOG, timeout_s=5)
    x.activate(main)


def _dialog_button(x: XSession, name: str) -> tuple[int, int]:
    """Where the settings dialog's Close or Apply button is (bottom right: … Close, Apply)."""
    box = x.box(x.window(DIALOG))
    return (box.x + box.width - (45 if name == "Apply" else 135), box.y + box.height - 22)


def _press(x: XSession, window: int, label: str) -> None:
    """Click one of the progress window's two buttons (Stop and keep on the left, Cancel on the right)."""
    box = x.box(window)
    column = 1 if label == "Stop and keep" else 3
    x.click(box.x + box.width * column // 4, box.y + box.height - 28)


def _wait_for_preview(x: XSession, window: int, picture: Path) -> None:
    """Wait until the preview shows dark strokes (the faded photo alone has no near-black pixels); keep that screenshot."""
    from PIL import Image

    def strokes_shown() -> bool:
        x.screenshot(picture, window)
        with Image.open(picture) as shot:
            gray = shot.convert("L")
            preview = gray.crop((0, 0, gray.width, gray.height * 2 // 3))
            return sum(preview.histogram()[:40]) > 200

    x.wait_until(strokes_shown, 240, "strokes in the preview")
    x.screenshot(picture.with_name(picture.stem.replace("progress", "screen") + picture.suffix))


def _extension_submenus(home: Path) -> list[str]:
    """The submenus of Inkscape's Extensions menu, sorted as Inkscape sorts them (C locale)."""
    names = set(BUILT_IN_SUBMENUS)
    for folder in (Path("/usr/share/inkscape/extensions"), home / ".config" / "inkscape" / "extensions"):
        for inx in folder.rglob("*.inx"):
            try:
                menu = ET.parse(inx).getroot().find(f"{INX_NS}effect/{INX_NS}effects-menu")
            except ET.ParseError:
                continue
            submenu = menu.find(f"{INX_NS}submenu") if menu is not None and menu.get("hidden") != "true" else None
            if submenu is not None:
                names.add(submenu.get("name") or submenu.get("_name"))
    return sorted(names)


def _runs(document: Path) -> list[ET.Element]:
    return [g for g in ET.parse(document).getroot().findall(SVG_LAYER) if g.get("data-mross-run")]
