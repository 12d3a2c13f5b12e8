"""`mross-server --ray` against a real local Ray cluster: a head with 2 CPUs started here, two CPU actors
each holding a warm engine, real jobs (the `test` preset) sent by SketchClient over ZeroMQ.

The tests share one cluster and one front door (starting them takes most of the time); each begins by
waiting until both workers are up and idle, since killing workers leaves Ray restarting them.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mross_server.serve.cluster.link import NAMESPACE
from mross_shared.client import SketchClient
from mross_shared.errors import ErrorCode, JobCancelled, JobFailed
from mross_shared.layers import standing_rounds
from mross_shared.messages import Done, Hello, JobParams, JobState, ProgressUpdate, RoundUpdate
from tests.job_stream import ENDLESS, PHOTO, QUICK, ROI, cancel_mid_round, finish_continued_sketch, late_iterations, until_running
from tests.ray_head import ActorKiller, RayHead, start_ray_head
from tests.server_process import ServerProcess, environment, free_port, start_server

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install '.[cluster]')")

# Two rounds of a few seconds each on one CPU thread: long enough to kill a worker in round 2.
LONG = JobParams(strokes=8, preset="test", iterations=200)
WORKERS = 2
RESTART_TIMEOUT_S = 120.0


class Cluster:
    """The module's Ray head (replaced when a test restarts it) and the front door using it."""

    def __init__(self, head: RayHead, server: ServerProcess) -> None:
        self.head = head
        self.server = server

    @property
    def connection_file(self) -> Path:
        return self.server.connection_file


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    folder = tmp_path_factory.mktemp("cluster")
    head = start_ray_head(cpus=WORKERS, log_dir=folder)
    try:
        server = start_server(folder / "server", "--ray", head.address, "--workers", str(WORKERS))
    except BaseException:
        head.kill()
        raise
    cluster = Cluster(head, server)
    yield cluster
    assert server.stop() == 0 and not server.connection_file.exists()
    cluster.head.kill()


@pytest.fixture
def client(cluster) -> SketchClient:
    wait_for_pool(cluster.connection_file, WORKERS)
    with SketchClient(cluster.connection_file) as client:
        yield client


@pytest.fixture
def killer(cluster) -> ActorKiller:
    killer = ActorKiller(cluster.head, NAMESPACE)
    yield killer
    killer.close()


def hello(connection_file: Path) -> Hello:
    """A fresh `hello` (the pool as it is now)."""
    with SketchClient(connection_file) as client:
        return client.server


def wait_for_pool(connection_file: Path, workers: int, timeout_s: float = RESTART_TIMEOUT_S) -> Hello:
    """Wait until the pool has `workers` workers up and idle."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = hello(connection_file)
        if len(current.workers) == workers and current.busy == 0:
            return current
        assert time.monotonic() < deadline, f"the pool did not get back to {workers} idle workers: {current.workers}"
        time.sleep(0.5)


def busy_worker(connection_file: Path) -> str:
    """The name of the one worker running a job."""
    busy = [worker.name for worker in hello(connection_file).workers if worker.busy]
    assert len(busy) == 1, busy
    return busy[0]


def worker_of(log: str, job_id: str) -> list[str]:
    """The workers a job was given to, in order, from the server's log."""
    return re.findall(rf"job {job_id} goes to Ray worker (\S+)", log)


def test_two_jobs_run_at_once_and_a_third_takes_the_worker_that_frees_first(cluster, client):
    assert all(worker.device.startswith("cpu on ") for worker in client.server.workers)
    first, second = client.submit(PHOTO, [], ENDLESS), client.submit(PHOTO, [], ENDLESS)
    first_events, second_events = client.events(first), client.events(second)
    until_running(first_events)
    until_running(second_events)
    third = client.submit(PHOTO, [], QUICK)
    status = client.status(third)
    assert (status.state, status.queue_position) == (JobState.QUEUED, 1)
    pool = hello(cluster.connection_file)
    assert (pool.busy, pool.queue_length) == (2, 1)
    log = cluster.server.log()
    assert len(set(worker_of(log, first) + worker_of(log, second))) == 2, "the two jobs share a worker"

    assert client.cancel(first).state is JobState.CANCELLING
    with pytest.raises(JobCancelled):
        list(first_events)
    third_events = list(client.events(third))
    assert isinstance(third_events[-1], Done) and [e.index for e in third_events if isinstance(e, RoundUpdate)] == [1]
    assert worker_of(cluster.server.log(), third) == worker_of(cluster.server.log(), first)
    assert client.status(second).state is JobState.RUNNING, "the second job kept running meanwhile"
    second_events.close()  # leaving a job's events cancels it


def test_cancel_reaches_the_running_worker_within_one_iteration(cluster, client):
    job_id, took = cancel_mid_round(client)
    assert took < 2.0
    # The worker's log line reaches the server's log through Ray, a little later.
    deadline = time.monotonic() + 15.0
    while (late := late_iterations(cluster.server.log(), job_id)) is None:
        assert time.monotonic() < deadline, "the worker did not log how late it stopped"
        time.sleep(0.2)
    assert late <= 1


def test_finish_reaches_the_running_worker_which_keeps_a_continued_sketch(cluster, client):
    finish_continued_sketch(client)


def test_a_killed_worker_requeues_its_job_and_the_client_gets_every_round(cluster, client, killer):
    job_id = client.submit(PHOTO, [ROI], LONG)
    events = client.events(job_id)
    received = []
    for event in events:
        received.append(event)
        if isinstance(event, ProgressUpdate) and event.round == 2 and event.iteration > 0:
            break
    victim = busy_worker(cluster.connection_file)
    killer.kill(victim, restart=True)
    received += list(events)

    assert isinstance(received[-1], Done) and received[-1].rounds == 2
    rounds = [e for e in received if isinstance(e, RoundUpdate)]
    assert [r.index for r in rounds] == [1, 1, 2]
    assert [r.index for r in standing_rounds(rounds)] == [1, 2]
    states = [e.state for e in received if isinstance(e, ProgressUpdate)]
    requeued = states.index(JobState.QUEUED, states.index(JobState.RUNNING))
    assert JobState.RUNNING in states[requeued:], "the job did not run again"
    workers = worker_of(cluster.server.log(), job_id)
    assert len(workers) == 2 and workers[0] == victim != workers[1]
    assert f"worker {victim} died running job {job_id}" in cluster.server.log()
    wait_for_pool(cluster.connection_file, WORKERS)  # Ray restarted the killed worker


def test_a_job_that_kills_two_workers_fails_with_worker_lost(cluster, client, killer):
    job_id = client.submit(PHOTO, [], ENDLESS)
    events = client.events(job_id)
    until_running(events)
    killer.kill(busy_worker(cluster.connection_file), restart=True)
    assert next(e for e in events if getattr(e, "state", None) is JobState.QUEUED).queue_position == 1
    until_running(events)
    killer.kill(busy_worker(cluster.connection_file), restart=True)
    with pytest.raises(JobFailed, match=f"job {job_id} was not finished: the sketch worker running it died 2 times") as caught:
        list(events)
    assert caught.value.code is ErrorCode.WORKER_LOST
    wait_for_pool(cluster.connection_file, WORKERS)


def test_the_front_door_outlives_the_cluster_and_rejoins_it(cluster, client):
    job_id = client.submit(PHOTO, [], ENDLESS)
    events = client.events(job_id)
    until_running(events)
    killed = time.monotonic()
    cluster.head.kill()
    with pytest.raises(JobFailed, match=f"went away .*; job {job_id} was not finished") as caught:
        list(events)
    assert caught.value.code is ErrorCode.CLUSTER_UNAVAILABLE
    assert time.monotonic() - killed < 5.0

    # The front door still answers, and refuses new jobs in one sentence. Its worker list may lag
    # the failed job by the bridge's next look at the cluster (seconds on a loaded machine).
    assert wait_for_pool(cluster.connection_file, 0, timeout_s=15.0).workers == ()
    assert client.status(job_id).state is JobState.FAILED
    with pytest.raises(JobFailed, match=f"the Ray cluster at {cluster.head.address} is unavailable") as caught:
        client.submit(PHOTO, [], QUICK)
    assert caught.value.code is ErrorCode.CLUSTER_UNAVAILABLE

    # A head back at the same address is joined again.
    cluster.head = cluster.head.restart()
    wait_for_pool(cluster.connection_file, WORKERS)
    job_id = client.submit(PHOTO, [], QUICK)
    assert isinstance(list(client.events(job_id))[-1], Done)
    assert "rejoined the Ray cluster" in cluster.server.log()


def run_cli(config_dir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mross_server.serve.cli", "--device", "cpu", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment(config_dir), timeout=300, check=False)


def test_setup_problems_are_one_sentence(cluster, tmp_path):
    nowhere = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    missing = run_cli(tmp_path, "--ray", nowhere)
    assert missing.returncode == 2 and f"no Ray cluster answers at {nowhere}" in missing.stderr
    assert time.monotonic() - started < 30.0
    crowded = run_cli(tmp_path, "--ray", cluster.head.address, "--workers", "3")
    assert crowded.returncode == 2 and "but 3 worker(s) need 0 and 3" in crowded.stderr
    stray = run_cli(tmp_path, "--workers", "2")
    assert stray.returncode == 2 and "pass --ray HOST:PORT too" in stray.stderr
    assert "Traceback" not in missing.stderr + crowded.stderr + stray.stderr


def test_nothing_of_ray_is_imported_without_ray(tmp_path):
    probe = "import sys, mross_server.serve.cli, mross_server.serve.cluster.dispatcher; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment(tmp_path), check=True)
    assert result.stdout.strip() == "False"
