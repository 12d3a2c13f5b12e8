"""The Ray pool's scheduling rules (serve/pool.py), on the real WorkerPool with jobs that never run.

The same rules run against a real Ray cluster in test_cluster.py; here each rule gets its exact case.
"""

from __future__ import annotations

from mross_server.job import CLIP_BACKBONE, SALIENCY_BACKBONE, VGG_BACKBONE, required_backbones
from mross_server.serve.cluster.pool import WorkerPool
from mross_server.serve.dispatch import Job
from mross_shared.errors import ErrorCode
from mross_shared.messages import JobParams, JobState, WorkerInfo

PLAIN = WorkerInfo("plain", "cpu on a", (VGG_BACKBONE,), False)
CLIP = WorkerInfo("clip", "cuda:0 on b", (VGG_BACKBONE, CLIP_BACKBONE), False)


def job(job_id: str, objective: str | None = None) -> Job:
    return Job(job_id, b"photo", (), JobParams(strokes=8, preset="test", objective=objective), 0.0)


def assigned(pool: WorkerPool) -> list[tuple[str, str]]:
    return [(worker, j.job_id) for worker, j in pool.assign()]


def test_a_job_needs_the_backbones_its_objective_names():
    assert required_backbones(JobParams()) == frozenset()  # the preset picks an objective the engine has
    assert required_backbones(JobParams(objective="clip + 0.2*vgg")) == {CLIP_BACKBONE, VGG_BACKBONE}
    assert required_backbones(JobParams(objective="ink+2*edges", init="saliency")) == {SALIENCY_BACKBONE}


def test_jobs_go_only_to_free_workers_and_the_next_to_the_first_that_frees():
    pool = WorkerPool([PLAIN, CLIP])
    for name in "abc":
        pool.add(job(name))
    assert assigned(pool) == [("plain", "a"), ("clip", "b")]
    assert assigned(pool) == [] and [w.busy for w in pool.workers()] == [True, True]
    pool.finished("b")
    assert assigned(pool) == [("clip", "c")]
    pool.finished("a")
    assert assigned(pool) == [] and [w.busy for w in pool.workers()] == [False, True]


def test_clip_jobs_wait_for_a_clip_worker_and_others_pass_them():
    pool = WorkerPool([CLIP, PLAIN])  # the CLIP worker first: plain jobs still leave it free
    pool.add(job("plain-1"))
    pool.add(job("clip-1", "clip"))
    assert assigned(pool) == [("plain", "plain-1"), ("clip", "clip-1")]
    pool.add(job("clip-2", "clip"))
    pool.add(job("plain-2"))
    pool.finished("plain-1")
    assert assigned(pool) == [("plain", "plain-2")], "the CLIP job waits; the plain one behind it runs"
    pool.finished("clip-1")
    assert assigned(pool) == [("clip", "clip-2")]


def test_a_lost_worker_requeues_its_job_once_at_the_head():
    pool = WorkerPool([PLAIN, CLIP])
    pool.add(job("a"))
    pool.add(job("b"))
    assert assigned(pool) == [("plain", "a"), ("clip", "b")]
    pool.add(job("c"))
    pool.started("a")
    requeued = pool.lost("plain")
    assert (requeued.job_id, requeued.state, requeued.message) == ("a", JobState.QUEUED, None)
    assert [w.name for w in pool.workers()] == ["clip"], "a lost worker takes no job until it is back"
    pool.finished("b")
    assert assigned(pool) == [("clip", "a")], "the requeued job goes first"
    pool.back(PLAIN)
    assert assigned(pool) == [("plain", "c")]
    pool.started("a")
    failed = pool.lost("clip")
    assert failed.state is JobState.FAILED and failed.message.code is ErrorCode.WORKER_LOST
    assert "died 2 times" in failed.message.message


def test_a_worker_that_died_before_starting_the_job_does_not_count_against_it():
    pool = WorkerPool([PLAIN])
    pool.add(job("a"))
    for _ in range(3):
        assert assigned(pool) == [("plain", "a")]
        assert pool.lost("plain").state is JobState.QUEUED
        pool.back(PLAIN)


def test_cancel_drops_waiting_jobs_and_reaches_started_ones():
    pool = WorkerPool([PLAIN])
    for name in "abc":
        pool.add(job(name))
    assert assigned(pool) == [("plain", "a")]
    assert pool.cancel("a") is None, "not started yet: the cancel goes out when it starts"
    assert pool.started("a").job_id == "a"
    assert pool.cancel("a") == "plain"
    assert pool.cancel("b") is None
    pool.jobs()[-1].cancel.set()  # c: cancelled while waiting, before the pool heard of it
    pool.finished("a")
    assert assigned(pool) == [], "b was dropped and c was cancelled"
    cancelling = job("d")
    pool.add(cancelling)
    assigned(pool)
    cancelling.cancel.set()
    assert pool.lost("plain").state is JobState.CANCELLED


def test_jobs_no_worker_left_can_run_are_handed_back():
    pool = WorkerPool([PLAIN, CLIP])
    pool.add(job("a"))
    pool.add(job("b"))
    assigned(pool)
    pool.add(job("clip", "clip"))
    pool.add(job("plain"))
    assert pool.lost("clip").state is JobState.QUEUED
    assert [j.job_id for j in pool.gone("clip")] == ["clip"]
    assert [j.job_id for j in pool.jobs()] == ["a", "b", "plain"]
    assert pool.capabilities() == (frozenset({VGG_BACKBONE}),)
