"""A Redis restart, with append-only persistence on, loses no queued job, and
a running worker reconnects and goes on."""

import signal

import pytest
from rq.job import JobStatus

from django_rq_lite import get_queue
from tests.testapp import jobs

from .helpers import WORKER_CLASSES, wait_for, worker_log

QUEUED_JOBS = 20


def is_listening(redis_client):
    """Tell whether a worker is registered and idle, waiting for jobs."""
    from rq import Worker

    registered = Worker.all(connection=redis_client)
    return any(worker.get_state() == "idle" for worker in registered)


def crash_and_restart(redis_server):
    """Kill the server with SIGKILL, so it cannot save anything, then start it."""
    redis_server.process.send_signal(signal.SIGKILL)
    redis_server.process.wait(timeout=10)
    redis_server.process = None
    redis_server.start()


def wait_until_finished(queued, timeout, worker):
    wait_for(
        lambda: all(
            job.get_status(refresh=True) == JobStatus.FINISHED for job in queued
        ),
        timeout=timeout,
        message=f"queued jobs did not finish. Worker log:\n{worker_log(worker)}",
        interval=0.2,
    )


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_restart_idle_worker_reconnects(
    private_queues, redis_server, redis_client, workers, reliability_stats, worker_class
):
    queue = get_queue("default")
    worker = workers.start(worker_class=worker_class)
    wait_for(lambda: is_listening(redis_client), 30, "the worker did not start")

    redis_server.restart()
    reliability_stats.record(faults_injected=1)
    queued = [queue.enqueue(jobs.add, i, 1) for i in range(QUEUED_JOBS)]

    # RQ's worker retries a lost connection after 1, 2, 4... seconds.
    wait_until_finished(queued, timeout=30, worker=worker)
    reliability_stats.record(jobs_run=len(queued))
    assert [job.return_value() for job in queued] == [i + 1 for i in range(QUEUED_JOBS)]
    assert worker.poll() is None


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_restart_during_job_loses_nothing(
    private_queues,
    redis_server,
    redis_client,
    workers,
    tmp_path,
    reliability_stats,
    worker_class,
    crash,
):
    queue = get_queue("default")
    flag = tmp_path / "release"
    running = queue.enqueue(jobs.wait_for_file_then_count, str(flag))
    queued = [queue.enqueue(jobs.add, i, 1) for i in range(QUEUED_JOBS)]
    worker = workers.start(worker_class=worker_class)
    wait_for(
        lambda: redis_client.hget(jobs.RUN_COUNTS_KEY, running.id),
        timeout=30,
        message="the job did not start",
    )

    if crash:
        crash_and_restart(redis_server)
    else:
        redis_server.restart()
    reliability_stats.record(faults_injected=1)
    assert queue.count == QUEUED_JOBS
    flag.write_text("go")

    wait_until_finished([running, *queued], timeout=30, worker=worker)
    lost = QUEUED_JOBS - sum(job.return_value() is not None for job in queued)
    reliability_stats.record(jobs_run=QUEUED_JOBS + 1, jobs_lost=lost)
    assert lost == 0
    assert running.return_value() == 1
    assert worker.poll() is None
