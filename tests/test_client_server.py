"""SketchClient against real `mross-server` processes on loopback, running the real pipeline (CPU).

Jobs are tiny (8 strokes, the `test` preset) unless a test needs a job that runs until cancelled.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mross_server.io.svg import round_layers, to_svg
from mross_server.serve.wire import sketch_result
from mross_shared.client import SketchClient
from mross_shared.connection import read
from mross_shared.errors import ErrorCode, JobFailed, NotAuthorised, ServerUnreachable
from mross_shared.messages import Done, JobParams, JobState, ProgressUpdate, RoundUpdate
from tests.job_stream import ENDLESS, PHOTO, QUICK, ROI, cancel_mid_round, finish_continued_sketch, late_iterations, until_running
from tests.server_process import SAMPLE_PHOTO, ServerProcess, environment, free_port, start_server

CLIENT_TIMEOUT_S = 4.0

# A client in its own process, so the test can kill or freeze it. Prints the job id, then "running".
CLIENT_SCRIPT = """
import sys
from mross_shared.client import SketchClient
from mross_shared.messages import JobParams
with SketchClient() as client:
    job_id = client.submit(open(sys.argv[1], "rb").read(), (), JobParams(strokes=8, preset="test", iterations=20_000))
    print(job_id, flush=True)
    for event in client.events(job_id):
        if event.state == "running":
            print("running", flush=True)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    process = start_server(tmp_path_factory.mktemp("server"), "--client-timeout", str(CLIENT_TIMEOUT_S))
    yield process
    assert process.stop(signal.SIGINT) == 0  # Ctrl-C; test_restarted_server… covers SIGTERM
    assert not process.connection_file.exists(), "the connection file outlived the server"
    assert "Traceback" not in process.log()


@pytest.fixture
def client(server) -> SketchClient:
    with SketchClient(server.connection_file) as client:
        yield client


def wait_for_state(client: SketchClient, job_id: str, state: JobState, timeout_s: float) -> float:
    """Poll `status` until the job reaches `state`; return how long that took."""
    started = time.monotonic()
    while client.status(job_id).state is not state:
        assert time.monotonic() - started < timeout_s, f"job {job_id} not {state.value} after {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_two_round_job_end_to_end(client):
    assert client.server.devices == ("cpu",) and client.server.limits.max_image_pixels > 0
    job_id = client.submit(PHOTO, [ROI], QUICK)
    events = list(client.events(job_id))

    done = events[-1]
    assert isinstance(done, Done) and done.job_id == job_id
    assert (done.width, done.height, done.rounds) == (600, 400, 2)
    rounds = [e for e in events if isinstance(e, RoundUpdate)]
    assert [r.index for r in rounds] == [1, 2] and rounds[0].roi is None and rounds[1].roi == ROI
    assert len(rounds[1].paths) == 8 and sorted(rounds[0].added + rounds[1].added) == list(range(8))
    # Round 1 is delivered as soon as it is done, before round 2's progress.
    first_round2_progress = next(i for i, e in enumerate(events) if isinstance(e, ProgressUpdate) and e.round == 2)
    assert events.index(rounds[0]) < first_round2_progress
    assert {e.iterations for e in events if isinstance(e, ProgressUpdate) and e.round} == {6}

    svg = to_svg(round_layers(sketch_result(done, rounds).rounds, "delta"), done.width, done.height).decode()
    assert svg.count('inkscape:groupmode="layer"') == 2 and svg.count("<path") == 8
    assert client.status(job_id).state is JobState.DONE


def test_waiting_job_gets_heartbeats_and_the_server_answers_at_once(server, client):
    running = client.submit(PHOTO, [], ENDLESS)
    waiting = client.submit(PHOTO, [], ENDLESS)
    arrivals, states = [], set()
    events = client.events(waiting)
    for event in events:
        arrivals.append(time.monotonic())
        states.add((event.state, event.queue_position))
        if arrivals[-1] - arrivals[0] > 2.5:
            break
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert states == {(JobState.QUEUED, 1)} and len(arrivals) >= 4 and max(gaps) < 1.0
    with SketchClient(server.connection_file) as other:  # its `hello` is answered while the worker computes
        started = time.monotonic()
        assert other.status(running).state is JobState.RUNNING
        assert time.monotonic() - started < 0.5
    assert client.cancel(running).state is JobState.CANCELLING
    events.close()  # leaving a job's events early cancels it
    wait_for_state(client, waiting, JobState.CANCELLED, timeout_s=5.0)
    wait_for_state(client, running, JobState.CANCELLED, timeout_s=5.0)


def test_eight_clients_at_once_each_get_their_own_result(server):
    def one_job(seed: int) -> tuple[str, list]:
        with SketchClient(server.connection_file) as client:
            job_id = client.submit(PHOTO, [ROI], JobParams(strokes=8, preset="test", seed=seed))
            return job_id, list(client.events(job_id))

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one_job, range(8)))
    assert len({job_id for job_id, _ in outcomes}) == 8
    for job_id, events in outcomes:
        assert {e.job_id for e in events} == {job_id}
        assert isinstance(events[-1], Done) and [e.index for e in events if isinstance(e, RoundUpdate)] == [1, 2]
    # The jobs queued behind each other and said so while they waited.
    positions = {e.queue_position for _, events in outcomes for e in events if isinstance(e, ProgressUpdate) and e.state is JobState.QUEUED}
    assert max(positions, default=0) >= 2


def test_cancel_mid_round_stops_within_one_iteration(server, client):
    job_id, took = cancel_mid_round(client)
    assert took < 2.0
    assert client.status(job_id).state is JobState.CANCELLED
    assert late_iterations(server.log(), job_id) <= 1


def test_continued_sketch_streams_previews_and_finish_keeps_the_strokes(client):
    finish_continued_sketch(client)


def start_client_process(server: ServerProcess) -> tuple[subprocess.Popen, str]:
    """A client in another process whose job is running; returns the process and the job id."""
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, str(SAMPLE_PHOTO)],
        stdout=subprocess.PIPE, text=True, env=environment(server.config_dir),
    )
    job_id = process.stdout.readline().strip()
    assert process.stdout.readline().strip() == "running"
    return process, job_id


def test_killed_client_gets_its_job_cancelled_within_10_s(server, client):
    process, job_id = start_client_process(server)
    process.kill()
    process.wait()
    assert wait_for_state(client, job_id, JobState.CANCELLED, timeout_s=10.0) < 10.0
    assert f"job {job_id}: client" in server.log() and "disconnected; cancelling" in server.log()


def test_frozen_client_is_dropped_after_the_heartbeat_timeout(server, client):
    process, job_id = start_client_process(server)
    process.send_signal(signal.SIGSTOP)  # connection stays open, pings stop
    try:
        took = wait_for_state(client, job_id, JobState.CANCELLED, timeout_s=CLIENT_TIMEOUT_S + 5)
    finally:
        process.kill()
        process.wait()
    assert CLIENT_TIMEOUT_S - 2.5 < took < CLIENT_TIMEOUT_S + 5
    assert f"job {job_id}: no message from client" in server.log()


def test_deadline_and_silence_end_the_wait_and_cancel_the_job(server):
    with SketchClient(server.connection_file, deadline_s=1.0) as client:
        job_id = client.submit(PHOTO, [], ENDLESS)
        with pytest.raises(JobFailed, match=f"job {job_id} did not finish within 1 s, so it was cancelled") as caught:
            list(client.events(job_id))
        assert caught.value.code is ErrorCode.DEADLINE
        wait_for_state(client, job_id, JobState.CANCELLED, timeout_s=5.0)
    with SketchClient(server.connection_file, silence_timeout_s=1.5) as client:
        job_id = client.submit(PHOTO, [], ENDLESS)
        events = client.events(job_id)
        until_running(events)
        server.process.send_signal(signal.SIGSTOP)  # a hung server: connection open, nothing sent
        started = time.monotonic()
        try:
            with pytest.raises(ServerUnreachable, match="stopped answering"):
                list(events)
            assert 1.0 < time.monotonic() - started < 4.0
        finally:
            server.process.send_signal(signal.SIGCONT)
        # The cancel sent on giving up reaches the server once it runs again.
        wait_for_state(client, job_id, JobState.CANCELLED, timeout_s=10.0)


def test_bad_jobs_fail_with_a_code_and_one_sentence(client):
    with pytest.raises(JobFailed, match="not a format the server can read") as caught:
        client.submit(b"GIF89a but not really", [], QUICK)
    assert caught.value.code is ErrorCode.BAD_IMAGE
    with pytest.raises(JobFailed, match="at most 32") as caught:
        client.submit(PHOTO, [ROI] * 33, QUICK)  # checked against `hello` limits before uploading
    assert caught.value.code is ErrorCode.LIMIT_EXCEEDED
    job_id = client.submit(PHOTO, [ROI, ROI, ROI], JobParams(strokes=2, preset="test"))
    with pytest.raises(JobFailed, match="2 strokes cannot be spread over 4 rounds") as caught:
        list(client.events(job_id))
    assert caught.value.code is ErrorCode.BAD_INPUT
    with pytest.raises(JobFailed, match="already taken") as caught:
        client.submit(PHOTO, [], QUICK, job_id=job_id)
    assert caught.value.code is ErrorCode.DUPLICATE_JOB


def test_wrong_key_is_not_authorised(server):
    with pytest.raises(NotAuthorised, match="signs with a different key"):
        SketchClient(read(server.connection_file).endpoint, key=b"not the server's key, 32 bytes.")
    assert "bad_signature" in server.log()


def test_nothing_listening_is_reported_within_5_s(tmp_path, monkeypatch):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match=f"not reachable at {endpoint} — start it with `mross-server`"):
        SketchClient(endpoint, key=bytes(32))
    assert time.monotonic() - started < 5.0
    monkeypatch.setenv("MROSS_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ServerUnreachable, match="no MROSS server connection file"):
        SketchClient()


def run_cli(config_dir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mross_server.serve.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment(config_dir), timeout=120, check=False)


def test_refuses_unsafe_or_duplicate_starts(server):
    exposed = run_cli(server.config_dir, "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "without CurveZMQ" in exposed.stderr and "--curve-keys" in exposed.stderr
    twice = run_cli(server.config_dir)
    assert twice.returncode == 2 and f"a server (pid {server.process.pid}) already runs" in twice.stderr
    assert "Traceback" not in exposed.stderr + twice.stderr


def test_restarted_server_gives_the_client_a_clear_error(tmp_path):
    port = str(free_port())
    first = start_server(tmp_path, "--port", port)
    with SketchClient(first.connection_file, silence_timeout_s=120) as client:
        job_id = client.submit(PHOTO, [], ENDLESS)
        events = client.events(job_id)
        until_running(events)
        first.stop(signal.SIGKILL)  # a crash: the connection file is left behind
        second = start_server(tmp_path, "--port", port)
        with pytest.raises(JobFailed, match=f"was restarted and lost job {job_id} — submit it again") as caught:
            list(events)
        assert caught.value.code is ErrorCode.JOB_LOST
    # A clean stop (SIGTERM) mid-job tells the client and removes the connection file.
    with SketchClient(second.connection_file) as client:
        job_id = client.submit(PHOTO, [], ENDLESS)
        events = client.events(job_id)
        until_running(events)
        assert second.stop(signal.SIGTERM) == 0
        with pytest.raises(JobFailed, match="shutting down") as caught:
            list(events)
        assert caught.value.code is ErrorCode.SERVER_STOPPING
    assert not second.connection_file.exists()
    assert "Traceback" not in second.log()


def test_curve_admits_allowed_keys_and_names_rejected_ones(tmp_path):
    keys, allow = tmp_path / "keys", tmp_path / "allow"
    for name in ("server", "alice", "mallory"):
        assert run_cli(tmp_path, "keygen", str(keys), "--name", name).returncode == 0
        assert stat.S_IMODE((keys / f"{name}.key_secret").stat().st_mode) == 0o600
    allow.mkdir()
    shutil.copy(keys / "alice.key", allow)
    server = start_server(tmp_path / "cfg", "--curve-keys", str(keys), "--allow", str(allow), "--idle-exit", "5")
    assert read(server.connection_file).server_public_key

    with SketchClient(server.connection_file, client_keys=keys / "alice.key_secret") as alice:
        job_id = alice.submit(PHOTO, [], QUICK)
        assert isinstance(list(alice.events(job_id))[-1], Done)
    started = time.monotonic()
    with pytest.raises(NotAuthorised, match=r"did not accept this client's CurveZMQ key \(not authorised\)"):
        SketchClient(server.connection_file, client_keys=keys / "mallory.key_secret")
    assert time.monotonic() - started < 4.0, "a rejected key must not look like a timeout"
    # A connection file that lost the server's CURVE key: the server runs, and the sentence says so.
    keyless = tmp_path / "keyless.json"
    keyless.write_text(json.dumps({**json.loads(server.connection_file.read_text()), "server_public_key": None}))
    started = time.monotonic()
    with pytest.raises(NotAuthorised, match="uses CurveZMQ, but the connection details give no server key"):
        SketchClient(keyless, client_keys=keys / "alice.key_secret")
    assert time.monotonic() - started < 4.0, "a running server must not look unreachable"

    assert server.process.wait(timeout=30) == 0, "--idle-exit did not stop the server"
    assert "--idle-exit" in server.log() and not server.connection_file.exists()
    assert "rejected a client's CurveZMQ key" in server.log()



def test_a_photo_the_server_admits_is_never_refused_later(tmp_path):
    """One limit for admission and decoding: a 70 MP photo under `--max-image-pixels 100000000` sketches."""
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (10_000, 7_000), "white")
    ImageDraw.Draw(photo).ellipse((2_000, 1_000, 8_000, 6_000), outline="black", width=60)
    path = tmp_path / "huge.png"
    photo.save(path)
    server = start_server(tmp_path / "server", "--max-image-pixels", "100000000")
    try:
        with SketchClient(server.connection_file) as client:
            assert client.server.limits.max_image_pixels == 100_000_000
            job_id = client.submit(path.read_bytes(), [], JobParams(strokes=3, preset="test", iterations=0))
            done = list(client.events(job_id))[-1]
        assert isinstance(done, Done) and (done.width, done.height) == (10_000, 7_000)
    finally:
        server.stop()
