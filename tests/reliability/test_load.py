"""Producer and worker processes under load: every job runs exactly once."""

import os
import subprocess
import sys
import time

import pytest
from django.urls import reverse
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from tests.testapp import jobs

from .helpers import (
    FAST_WORKER,
    FAST_WORKER_MARKS,
    FORKING_WORKER,
    REPO_DIR,
    SIMPLE_WORKER,
    wait_for,
    worker_log,
)
from .producer import ENQUEUED_KEY, FAILING_KEY

PRODUCERS = 4
WORKERS = 2
TOTAL_JOBS = 10_000
# One job in FAIL_EVERY fails on its first run in the requeue test.
FAIL_EVERY = 10
RUN_TIMEOUT = 180
# These tests restart no server, so they run without an fsync per write.
REDIS_APPENDONLY = False


def start_producers(url, fail_every, total=TOTAL_JOBS):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": url}
    command = [sys.executable, "-m", "tests.reliability.producer"]
    count = str(total // PRODUCERS)
    return [
        subprocess.Popen([*command, count, str(fail_every)], cwd=REPO_DIR, env=env)
        for _ in range(PRODUCERS)
    ]


def wait_for_producers(producers):
    for producer in producers:
        assert producer.wait(timeout=RUN_TIMEOUT) == 0


def read_run_counts(redis_client):
    """Return the run count of every enqueued job, by id, and the failing ids."""
    counts = {
        job_id.decode(): int(runs)
        for job_id, runs in redis_client.hgetall(jobs.RUN_COUNTS_KEY).items()
    }
    normal = [job_id.decode() for job_id in redis_client.lrange(ENQUEUED_KEY, 0, -1)]
    failing = [job_id.decode() for job_id in redis_client.lrange(FAILING_KEY, 0, -1)]
    return counts, normal, failing


def count_outcomes(counts, normal, failing):
    """Return (lost, run twice) job counts, given each job's expected runs.

    A failing job runs twice: its first run fails, and it runs again after
    the requeue.
    """
    expected = {job_id: 1 for job_id in normal}
    expected.update({job_id: 2 for job_id in failing})
    lost = sum(1 for job_id, runs in expected.items() if counts.get(job_id, 0) < runs)
    twice = sum(1 for job_id, runs in expected.items() if counts.get(job_id, 0) > runs)
    return lost, twice


def finished_count(queue):
    return queue.finished_job_registry.count


@pytest.mark.slow
@pytest.mark.parametrize(
    "worker_class,total",
    # A forking worker forks once per job, which is several times slower,
    # so it gets fewer jobs to keep the run short.
    [
        pytest.param(SIMPLE_WORKER, TOTAL_JOBS, id="simple"),
        pytest.param(FORKING_WORKER, TOTAL_JOBS // 20, id="forking"),
        pytest.param(FAST_WORKER, TOTAL_JOBS, id="fast", marks=FAST_WORKER_MARKS),
    ],
)
def test_load_every_job_runs_once(
    private_queues,
    redis_server,
    redis_client,
    workers,
    reliability_stats,
    worker_class,
    total,
):
    queue = get_queue("default")
    processes = [workers.start(worker_class=worker_class) for _ in range(WORKERS)]
    started = time.monotonic()

    wait_for_producers(start_producers(redis_server.url, fail_every=0, total=total))
    wait_for(
        lambda: finished_count(queue) >= total,
        timeout=RUN_TIMEOUT,
        message=f"jobs did not finish. Worker log:\n{worker_log(processes[0])}",
        interval=0.25,
    )
    elapsed = time.monotonic() - started
    for process in processes:
        assert workers.stop(process) == 0

    counts, normal, failing = read_run_counts(redis_client)
    lost, twice = count_outcomes(counts, normal, failing)
    reliability_stats.record(jobs_run=sum(counts.values()), jobs_lost=lost)
    reliability_stats.record(jobs_run_twice=twice)
    print(f"{total} jobs in {elapsed:.1f} s")
    assert len(normal) == total
    assert failing == []
    assert lost == 0
    assert twice == 0
    assert len(counts) == total
    assert queue.count == 0


@pytest.mark.slow
@pytest.mark.django_db
def test_load_failures_requeued_from_view(
    private_queues, redis_server, redis_client, workers, admin_client, reliability_stats
):
    queue = get_queue("default")
    failed = FailedJobRegistry(queue=queue)
    requeue_url = reverse("admin:django_rq_lite_queue_requeue_all", args=["default"])
    processes = [workers.start(worker_class=SIMPLE_WORKER) for _ in range(WORKERS)]

    producers = start_producers(redis_server.url, fail_every=FAIL_EVERY)
    # Requeue from the dashboard while producers enqueue and workers run,
    # until every job has finished.
    requests = 0
    deadline = time.monotonic() + RUN_TIMEOUT
    while finished_count(queue) < TOTAL_JOBS:
        assert time.monotonic() < deadline, worker_log(processes[0])
        time.sleep(0.5)
        if failed.count:
            response = admin_client.post(requeue_url)
            requests += 1
            assert response.status_code == 302
    wait_for_producers(producers)
    for process in processes:
        assert workers.stop(process) == 0

    counts, normal, failing = read_run_counts(redis_client)
    lost, twice = count_outcomes(counts, normal, failing)
    reliability_stats.record(faults_injected=len(failing))
    reliability_stats.record(jobs_run=sum(counts.values()), jobs_lost=lost)
    reliability_stats.record(jobs_run_twice=twice)
    print(f"{requests} requeue-all requests during the run")
    assert requests > 0
    assert len(normal) + len(failing) == TOTAL_JOBS
    assert len(failing) == TOTAL_JOBS // FAIL_EVERY
    assert lost == 0
    assert twice == 0
    assert failed.count == 0
    assert StartedJobRegistry(queue=queue).count == 0
    assert queue.count == 0
