"""CLIP weights download against a real HTTP server on 127.0.0.1 that mimics OpenAI's URL layout.

The server serves tiny OpenAI-format checkpoints at `/clip/models/<sha256>/<name>.pt`: a good file,
a corrupt one (bytes that do not match the checksum in the URL), one whose first transfer breaks
off mid-body (the download must resume with a Range request), and a missing one (404).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mross_server.engine.models.clip import load_clip
from mross_server.engine.models.clip_download import BASE_URL_ENV, OPENAI_CHECKSUMS, checkpoint_url, fetch_clip_weights
from mross_server.engine.models.locations import WeightsError
from tests.server_process import SERVER_PYTHON, SOURCE_PATH
from tests.tiny_models import save_openai_checkpoint, tiny_clip


@dataclass
class Mirror:
    """What the loopback server holds and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    break_first: set[str] = field(default_factory=set)  # paths whose first GET stops halfway
    ranges: list[str | None] = field(default_factory=list)  # Range header of every GET
    paths: list[str] = field(default_factory=list)


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            mirror.paths.append(self.path)
            mirror.ranges.append(self.headers.get("Range"))
            body = mirror.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            if self.path in mirror.break_first:
                mirror.break_first.discard(self.path)
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.wfile.flush()
                self.close_connection = True  # the connection drops before Content-Length bytes came
                return
            self.wfile.write(body[start:])

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def mirror() -> Iterator[tuple[Mirror, str]]:
    state = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/clip/models"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("tiny")
    return {name: save_openai_checkpoint(tiny_clip(name), folder / f"{name}.pt").read_bytes() for name in ("RN101", "ViT-B-32")}


def publish(mirror: Mirror, base: str, name: str, body: bytes, sha256: str | None = None) -> dict[str, str]:
    """Put `body` at OpenAI's URL for `name` under the checksum `sha256` (default: the body's own)."""
    digest = sha256 or hashlib.sha256(body).hexdigest()
    mirror.files[urlsplit(checkpoint_url(name, digest, base)).path] = body
    return {name: digest}


def quiet(label: str):
    return lambda done, total: None


def test_good_files_land_where_the_server_looks_and_load(mirror, tiny_files, tmp_path, monkeypatch):
    state, base = mirror
    checksums = {**publish(state, base, "RN101", tiny_files["RN101"]), **publish(state, base, "ViT-B-32", tiny_files["ViT-B-32"])}
    monkeypatch.setenv("MROSS_CLIP_DIR", str(tmp_path / "clip"))
    fetched = fetch_clip_weights(base=base, checksums=checksums, progress=quiet)
    assert [(f.path.name, f.downloaded) for f in fetched] == [("RN101.pt", True), ("ViT-B-32.pt", True)]
    assert all(f.path.parent == tmp_path / "clip" for f in fetched) and not list((tmp_path / "clip").glob("*.part"))
    assert load_clip("RN101").found and load_clip("ViT-B-32").found, "the engine's own lookup finds them"
    requests = len(state.paths)
    again = fetch_clip_weights(base=base, checksums=checksums, progress=quiet)
    assert not any(f.downloaded for f in again) and len(state.paths) == requests, "verified files are not fetched again"


def test_a_broken_transfer_resumes_with_a_range_request(mirror, tiny_files, tmp_path):
    state, base = mirror
    body = tiny_files["RN101"]
    checksums = publish(state, base, "RN101", body)
    state.break_first.update(state.files)
    seen = []
    def follow(label: str):
        return lambda done, total: seen.append((done, total))

    fetch_clip_weights(("RN101",), tmp_path, base=base, checksums=checksums, retry_delay_s=0.0, progress=follow)
    assert (tmp_path / "RN101.pt").read_bytes() == body
    assert state.ranges[0] is None and state.ranges[1] == f"bytes={len(body) // 2}-"
    assert seen[-1] == (len(body), len(body)), "progress reaches the whole file"


def test_a_corrupt_file_is_refused_and_nothing_is_left(mirror, tiny_files, tmp_path):
    state, base = mirror
    claimed = hashlib.sha256(b"the real checkpoint").hexdigest()
    checksums = publish(state, base, "RN101", tiny_files["RN101"], sha256=claimed)
    with pytest.raises(WeightsError, match=f"failed after 2 attempts: the file's SHA-256 was [0-9a-f]{{64}}, not {claimed}"):
        fetch_clip_weights(("RN101",), tmp_path, base=base, checksums=checksums, attempts=2, retry_delay_s=0.0, progress=quiet)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_is_one_sentence_and_a_stale_file_is_replaced(mirror, tiny_files, tmp_path):
    state, base = mirror
    with pytest.raises(WeightsError, match=r"^downloading http://127\.0\.0\.1:\d+/clip/models/[0-9a-f]{64}/RN101\.pt failed: HTTP 404 Not Found\.$"):
        fetch_clip_weights(("RN101",), tmp_path, base=base, progress=quiet)
    assert list(tmp_path.iterdir()) == []
    checksums = publish(state, base, "RN101", tiny_files["RN101"])
    (tmp_path / "RN101.pt").write_bytes(b"an older, different file")
    [fetched] = fetch_clip_weights(("RN101",), tmp_path, base=base, checksums=checksums, progress=quiet)
    assert fetched.downloaded and fetched.path.read_bytes() == tiny_files["RN101"]


def test_mross_server_fetch_weights_uses_the_base_url_from_the_environment(mirror, tmp_path):
    """The command as installed: OpenAI's checksums, the mirror from $MROSS_CLIP_BASE_URL; this mirror has nothing."""
    _, base = mirror
    env = {**os.environ, "PYTHONPATH": SOURCE_PATH, BASE_URL_ENV: base, "MROSS_CLIP_DIR": str(tmp_path)}
    done = subprocess.run([SERVER_PYTHON, "-m", "mross_server.serve.cli", "fetch-weights"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    expected = checkpoint_url("RN101", OPENAI_CHECKSUMS["RN101"], base)
    assert done.stderr.strip() == f"mross-server: downloading {expected} failed: HTTP 404 Not Found."
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []


def test_install_py_clip_runs_fetch_weights_and_says_what_to_do_when_it_fails(mirror, tmp_path):
    """`install.py --clip` with the development server (--server-python) against a mirror without the files."""
    _, base = mirror
    installer = Path(__file__).resolve().parents[1] / "install.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_", "MROSS_CONFIG_DIR"))}
    env.update(HOME=str(tmp_path), MROSS_HOME=str(tmp_path / "mross"), MROSS_CLIP_DIR=str(tmp_path / "clip"), PATH=str(tmp_path / "bin"))
    env[BASE_URL_ENV] = base
    env["MROSS_WEIGHTS_DIR"] = os.environ.get("MROSS_WEIGHTS_DIR") or str(Path.home() / ".cache" / "mross" / "weights")
    python = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    done = subprocess.run([python, str(installer), "--clip", "--server-python", SERVER_PYTHON], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout
    assert "fetching OpenAI's CLIP weights" in done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("mross-server: downloading ") and lines[0].endswith("RN101.pt failed: HTTP 404 Not Found.")
    assert lines[-1] == "install.py: the CLIP weights could not be downloaded (see the message above); run install.py --clip again to resume"
    no_server = subprocess.run([python, str(installer), "--clip", "--no-server"], env=env, capture_output=True, text=True, timeout=120)
    assert no_server.returncode == 1
    assert no_server.stderr.strip() == "install.py: --clip downloads weights for the sketch server; drop --no-server"


def test_the_engine_loader_downloads_through_the_same_code(mirror, tmp_path, monkeypatch):
    """`load_clip(..., allow_download=True)` uses fetch_clip_weights: a failed download is a note, not an error."""
    _, base = mirror
    monkeypatch.setenv(BASE_URL_ENV, base)
    loaded = load_clip("RN101", cache_dir=tmp_path, allow_download=True)
    assert not loaded.found
    assert "and the download failed (downloading http://127.0.0.1:" in loaded.note and loaded.note.endswith("; using the offline objective")
