"""A virtual X display with a window manager, for driving real Inkscape as a person would.

Xvfb runs on the first free display of MROSS_TEST_DISPLAYS (a range such as `41-49`; default `99-199`,
where `xvfb-run -a` looks too), with openbox as window manager, so windows get frames, focus and
stacking as on a desktop. Everything started here is stopped by its PID when the session ends.
Windows are found by title with xdotool; their position comes from xwininfo (xdotool's own geometry
is off by the frame under a reparenting window manager); screenshots are ImageMagick's `import`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("Xvfb", "openbox", "xdotool", "xwininfo", "import")
SCREEN = (1280, 900)
_DEFAULT_DISPLAYS = "99-199"


@dataclass(frozen=True)
class Box:
    """A window's position and size on the screen, in pixels."""

    x: int
    y: int
    width: int
    height: int


def tools_missing() -> list[str]:
    """The programs a session needs that are not installed."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class XSession:
    """An X display with a window manager; `start` runs programs on it, `close` stops them all."""

    def __init__(self, env: dict[str, str]) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []
        try:
            self.display = self._start_xvfb(env)
            self.env = {**env, "DISPLAY": self.display, "NO_AT_BRIDGE": "1"}
            self.start(["openbox"])
            self.wait_until(lambda: '"Openbox"' in self._tree(), 20, "openbox to manage the display")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> XSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, command: list[str], log: Path | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a program on this display (output appended to `log`, or discarded); it is stopped by `close`."""
        with open(log or os.devnull, "ab") as output:
            process = subprocess.Popen(command, env=self.env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd)
        self._processes.append(process)
        return process

    def close(self) -> None:
        """Stop every program started here, newest first, then the X server."""
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()

    # ---- windows --------------------------------------------------------------------------------------

    def window(self, title: str, timeout_s: float = 30.0) -> int:
        """The id of a visible window whose whole title matches the regular expression `title`."""
        found: list[int] = []

        def visible() -> bool:
            found[:] = self.windows(title)
            return bool(found)

        self.wait_until(visible, timeout_s, f"a window titled {title!r}")
        return found[0]

    def windows(self, title: str) -> list[int]:
        """Ids of the visible windows whose whole title matches `title` (none is fine)."""
        done = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"], env=self.env, capture_output=True, text=True)
        return [int(line) for line in done.stdout.split()]

    def wait_gone(self, title: str, timeout_s: float) -> None:
        """Wait until no visible window matches `title`."""
        self.wait_until(lambda: not self.windows(title), timeout_s, f"the window {title!r} to close")

    def title_of(self, window: int) -> str:
        """A window's current title."""
        return subprocess.run(["xdotool", "getwindowname", str(window)], env=self.env, capture_output=True, text=True).stdout.strip()

    def box(self, window: int) -> Box:
        """Where a window's content lies on the screen."""
        info = subprocess.run(["xwininfo", "-id", str(window)], env=self.env, capture_output=True, text=True, check=True).stdout
        number = {key: int(re.search(rf"{key}:\s+(-?\d+)", info).group(1)) for key in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")}
        return Box(number["Absolute upper-left X"], number["Absolute upper-left Y"], number["Width"], number["Height"])

    def menus(self, app_class: str, count: int, timeout_s: float = 10.0) -> list[Box]:
        """Wait until `count` of an application's menus are open; return their boxes."""
        found: list[Box] = []

        def opened() -> bool:
            found[:] = self.popup_menus(app_class)
            return len(found) >= count

        self.wait_until(opened, timeout_s, f"{count} open menu(s)")
        return found

    def popup_menus(self, app_class: str) -> list[Box]:
        """The boxes of an application's menus that are open now (GTK menus are override-redirect windows)."""
        tree = self._tree()
        boxes = []
        for window in (re.findall(rf"^\s+(0x[0-9a-f]+) \"[^\"]*\": \(\"{re.escape(app_class)}\"", tree, re.MULTILINE)):
            info = subprocess.run(["xwininfo", "-id", window], env=self.env, capture_output=True, text=True).stdout
            if "IsViewable" in info and re.search(r"Override Redirect State:\s+yes", info):
                boxes.append(self.box(int(window, 16)))
        return boxes

    # ---- input and pictures ---------------------------------------------------------------------------

    def click(self, x: int, y: int) -> None:
        """Move the pointer to (x, y) and click the left button.

        The pointer first leaves for a corner: a GTK button only takes a click after the pointer has
        entered it, and one that was insensitive when the pointer arrived never saw it enter.
        """
        self.xdotool("mousemove", "0", str(SCREEN[1] - 1))
        time.sleep(0.1)
        self.xdotool("mousemove", str(x), str(y))
        time.sleep(0.2)
        self.xdotool("click", "1")

    def hover(self, x: int, y: int) -> None:
        """Move the pointer to (x, y)."""
        self.xdotool("mousemove", str(x), str(y))

    def activate(self, window: int) -> None:
        """Raise a window and give it the keyboard focus."""
        self.xdotool("windowactivate", "--sync", str(window))
        time.sleep(0.3)

    def keys(self, *names: str) -> None:
        """Press keys one after the other, e.g. `ctrl+alt+a`, `F10`, `Right`."""
        for name in names:
            self.xdotool("key", name)
            time.sleep(0.15)

    def xdotool(self, *args: str) -> None:
        """Run one xdotool command on this display."""
        subprocess.run(["xdotool", *args], env=self.env, check=True, capture_output=True)

    def screenshot(self, path: Path, window: int | None = None) -> Path:
        """Save the whole screen (or one window) as an image file; the format follows the suffix."""
        target = "root" if window is None else str(window)
        subprocess.run(["import", "-window", target, str(path)], env=self.env, check=True, capture_output=True)
        return path

    # ---- plumbing -------------------------------------------------------------------------------------

    def _tree(self) -> str:
        """Every window on the display, as `xwininfo -root -tree` lists them."""
        return subprocess.run(["xwininfo", "-root", "-tree"], env=self.env, capture_output=True, text=True, check=True).stdout

    def _start_xvfb(self, env: dict[str, str]) -> str:
        first, last = (int(v) for v in (os.environ.get("MROSS_TEST_DISPLAYS") or _DEFAULT_DISPLAYS).split("-"))
        for number in range(first, last + 1):
            if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
                continue
            size = f"{SCREEN[0]}x{SCREEN[1]}x24"
            process = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", size, "-nolisten", "tcp"], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            )
            socket = Path(f"/tmp/.X11-unix/X{number}")
            deadline = time.monotonic() + 10
            while process.poll() is None and not socket.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is None and socket.exists():
                self._processes.append(process)
                return f":{number}"
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()  # another session took this display first; try the next
        raise RuntimeError(f"no free X display in {first}-{last} (set MROSS_TEST_DISPLAYS to a free range)")

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll `condition` four times a second; TimeoutError naming `what` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f} s")
            time.sleep(0.25)


@contextlib.contextmanager
def x_session(env: dict[str, str]) -> Iterator[XSession]:
    """An XSession that is closed (every program stopped by PID) however the block ends."""
    session = XSession(env)
    try:
        yield session
    finally:
        session.close()
