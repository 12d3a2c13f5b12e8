"""What the Ray pool costs and gives, on a real local Ray head (CPU) started here.

  * event transport: how late a job's events reach the driver from an actor, for a Ray streaming
    generator (what the pool uses) against an actor-side queue polled by the driver, every 50 ms or
    as a long poll; 300 events, one every 10 ms (a fast GPU iteration), each a real progress event;
  * dispatch overhead per job: a job that does almost nothing (no optimization), submit to `done`,
    through the single server and through `mross-server --ray` with one actor, in one run; the part
    outside the engine is the end-to-end time minus the engine's own `done.seconds`. Target: the Ray
    path adds <= 50 ms per job;
  * throughput: the same batch of small jobs through the single server (torch on every core), and
    through the pool with 1 and with 2 actors of 1 CPU each (Ray gives an actor's torch as many
    threads as it reserved CPUs).
Prints a table per part; the last line is one JSON object.

    python benchmarks/cluster.py [--jobs 8] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "shared")]
from mross_server.serve.dispatch import WorkerEvent  # noqa: E402
from mross_shared.client import SketchClient  # noqa: E402
from mross_shared.messages import Done, JobParams, JobState, ProgressUpdate, RoiBox  # noqa: E402
from tests.ray_head import RayHead, start_ray_head  # noqa: E402
from tests.server_process import SAMPLE_PHOTO, ServerProcess, start_server  # noqa: E402

TARGET_OVERHEAD_MS = 50.0
PHOTO = SAMPLE_PHOTO.read_bytes()
# No optimization at all: what is left is reading the photo, placing strokes and the way there and back.
TRIVIAL = JobParams(strokes=2, preset="test", iterations=0)
# About a second of optimization on one CPU thread, in two rounds.
SMALL = JobParams(strokes=16, preset="test", iterations=60)
ROI = RoiBox(200, 180, 250, 200)
EVENTS, EVENT_INTERVAL_S = 300, 0.01


# ---- event transport ----------------------------------------------------------------------------


def _event(index: int) -> tuple[float, WorkerEvent]:
    """A progress event as a worker sends it, stamped with its wall-clock birth (one machine, one clock)."""
    progress = ProgressUpdate("bench", JobState.RUNNING, 0, 1, 2, index, EVENTS, 0.5, 0.25, 3.0, 1.0)
    return time.time(), WorkerEvent("bench", progress)


class Emitter:
    """An actor that emits events the two ways: as a streaming generator, or into a queue the driver polls."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[float, WorkerEvent] | None] = queue.SimpleQueue()

    def stream(self) -> Iterator[tuple[float, WorkerEvent]]:
        for index in range(EVENTS):
            time.sleep(EVENT_INTERVAL_S)
            yield _event(index)

    def start(self) -> None:
        def emit() -> None:
            for index in range(EVENTS):
                time.sleep(EVENT_INTERVAL_S)
                self._queue.put(_event(index))
            self._queue.put(None)

        threading.Thread(target=emit, daemon=True).start()

    def poll(self, wait_s: float) -> list[tuple[float, WorkerEvent] | None]:
        """Every event queued so far; waits up to `wait_s` for the first."""
        try:
            batch = [self._queue.get(timeout=wait_s) if wait_s > 0 else self._queue.get_nowait()]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch


def transport(head: RayHead) -> dict[str, dict[str, float]]:
    """Event latency (ms) and driver calls per event, per transport."""
    import ray

    ray.init(address=head.address, logging_level="ERROR", log_to_driver=False)
    try:
        actor = ray.remote(num_cpus=0, max_concurrency=3)(Emitter).remote()
        ray.get(actor.poll.remote(0))
        results = {}

        latencies, calls = [], 0
        for ref in actor.stream.options(num_returns="streaming").remote():
            born, _ = ray.get(ref)
            latencies.append(time.time() - born)
            calls += 1
        results["streaming generator"] = _latency(latencies, calls)

        for label, wait_s, pause_s in (("queue, polled every 50 ms", 0.0, 0.05), ("queue, long poll", 1.0, 0.0)):
            latencies, calls, finished = [], 0, False
            ray.get(actor.start.remote())
            while not finished:
                batch = ray.get(actor.poll.remote(wait_s))
                calls += 1
                now = time.time()
                for item in batch:
                    if item is None:
                        finished = True
                    else:
                        latencies.append(now - item[0])
                time.sleep(pause_s)
            results[label] = _latency(latencies, calls)
        return results
    finally:
        ray.shutdown()


def _latency(latencies: list[float], calls: int) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "median_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
        "max_ms": 1000 * ordered[-1],
        "calls_per_event": calls / len(ordered),
    }


# ---- jobs through a server ----------------------------------------------------------------------


def run_job(connection_file: Path, params: JobParams, rois: tuple[RoiBox, ...] = ()) -> tuple[float, float]:
    """One job from its own client: (seconds from submit to `done`, the engine's own seconds)."""
    with SketchClient(connection_file) as client:
        started = time.perf_counter()
        job_id = client.submit(PHOTO, rois, params)
        done = list(client.events(job_id))[-1]
        assert isinstance(done, Done), done
        return time.perf_counter() - started, done.seconds


def overhead(connection_file: Path, repeats: int) -> dict[str, float]:
    """Median end-to-end and outside-the-engine milliseconds of a trivial job, one job at a time."""
    for _ in range(3):  # warm up the engine's first-use costs
        run_job(connection_file, TRIVIAL)
    samples = [run_job(connection_file, TRIVIAL) for _ in range(repeats)]
    return {
        "end_to_end_ms": 1000 * statistics.median(total for total, _ in samples),
        "outside_engine_ms": 1000 * statistics.median(total - engine for total, engine in samples),
    }


def throughput(connection_file: Path, jobs: int) -> dict[str, float]:
    """`jobs` small two-round jobs submitted at once; wall time and jobs per minute."""
    run_job(connection_file, SMALL, (ROI,))  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda _: run_job(connection_file, SMALL, (ROI,)), range(jobs)))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "jobs_per_min": 60 * jobs / seconds}


def serve(folder: Path, *args: str) -> ServerProcess:
    return start_server(folder, "--idle-exit", "600", *args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8, help="jobs in the throughput batch (default 8)")
    parser.add_argument("--repeats", type=int, default=20, help="trivial jobs per server for the overhead (default 20)")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mross-bench-") as scratch:
        folder = Path(scratch)
        head = start_ray_head(cpus=2, log_dir=folder)
        try:
            moves = transport(head)
            local = serve(folder / "local")
            try:
                local_overhead, local_rate = overhead(local.connection_file, args.repeats), throughput(local.connection_file, args.jobs)
            finally:
                local.stop()
            pools = {}
            for workers in (1, 2):
                pool = serve(folder / f"ray{workers}", "--ray", head.address, "--workers", str(workers))
                try:
                    pools[workers] = (overhead(pool.connection_file, args.repeats) if workers == 1 else None, throughput(pool.connection_file, args.jobs))
                finally:
                    pool.stop()
        finally:
            head.kill()

    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs\n")
    print(f"event transport ({EVENTS} events, one per {1000 * EVENT_INTERVAL_S:.0f} ms)")
    print(f"  {'transport':28} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'calls/event':>12}")
    for label, row in moves.items():
        print(f"  {label:28} {row['median_ms']:10.2f} {row['p95_ms']:8.2f} {row['max_ms']:8.2f} {row['calls_per_event']:12.2f}")
    ray_overhead = pools[1][0]
    assert ray_overhead is not None
    added = ray_overhead["outside_engine_ms"] - local_overhead["outside_engine_ms"]
    print(f"\ndispatch overhead (trivial job, median of {args.repeats})")
    print(f"  {'server':22} {'submit→done ms':>15} {'outside engine ms':>18}")
    for label, row in (("single server", local_overhead), ("Ray pool, 1 actor", ray_overhead)):
        print(f"  {label:22} {row['end_to_end_ms']:15.1f} {row['outside_engine_ms']:18.1f}")
    print(f"  Ray adds {added:.1f} ms per job (target <= {TARGET_OVERHEAD_MS:.0f} ms): {'ok' if added <= TARGET_OVERHEAD_MS else 'MISSED'}")
    speedup = pools[1][1]["seconds"] / pools[2][1]["seconds"]
    print(f"\nthroughput ({args.jobs} two-round jobs at once)")
    print(f"  {'server':36} {'seconds':>8} {'jobs/min':>9}")
    for label, row in (
        ("single server (torch on all cores)", local_rate), ("Ray pool, 1 actor x 1 CPU", pools[1][1]), ("Ray pool, 2 actors x 1 CPU", pools[2][1]),
    ):
        print(f"  {label:36} {row['seconds']:8.1f} {row['jobs_per_min']:9.1f}")
    print(f"  2 actors / 1 actor: {speedup:.2f}x")
    print(json.dumps({
        "load_average": load[0], "cpus": os.cpu_count(), "transport": moves,
        "overhead": {"single_server": local_overhead, "ray_pool": ray_overhead, "added_ms": added, "target_ms": TARGET_OVERHEAD_MS},
        "throughput": {"single_server": local_rate, "ray_1_actor": pools[1][1], "ray_2_actors": pools[2][1], "speedup_2_vs_1": speedup},
    }))
    return 0 if added <= TARGET_OVERHEAD_MS else 1


if __name__ == "__main__":
    sys.exit(main())
