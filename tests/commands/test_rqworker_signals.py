"""Warm and cold shutdown of real rqworker processes on SIGTERM and SIGINT."""

import signal
import time

import pytest
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from tests.commands.worker_process import (
    wait_for,
    wait_for_worker_state,
    wait_until_started,
)
from tests.testapp import jobs

pytestmark = pytest.mark.slow

WORKER_CLASSES = {
    "forking": [],
    "simple": ["--worker-class", "rq.SimpleWorker"],
}
SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_idle_worker_exits_at_once(start_worker, flush_redis, worker_class, signum):
    name = f"idle-{worker_class}-{signum.name}"
    worker = start_worker("--name", name, *WORKER_CLASSES[worker_class])
    wait_for_worker_state(flush_redis, name, "idle")

    sent_at = time.monotonic()
    worker.send_signal(signum)
    returncode = worker.wait(timeout=5)

    assert returncode == 0, worker.output()
    assert time.monotonic() - sent_at < 5


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_signal_during_job_finishes_it(start_worker, worker_class, signum):
    running = get_queue().enqueue(jobs.sleep_then_return, 3, "slept")
    waiting = get_queue().enqueue(jobs.add, 1, 2)
    worker = start_worker(*WORKER_CLASSES[worker_class])
    wait_until_started(running)

    worker.send_signal(signum)
    returncode = worker.wait(timeout=15)

    assert returncode == 0, worker.output()
    assert running.get_status() == JobStatus.FINISHED
    assert running.latest_result().return_value == "slept"
    assert waiting.get_status() == JobStatus.QUEUED


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_second_signal_kills_job(start_worker, worker_class):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_worker(*WORKER_CLASSES[worker_class])
    wait_until_started(job)

    worker.send_signal(signal.SIGTERM)
    # RQ ignores a second signal that comes within a second of the first.
    time.sleep(1.5)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert job.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    reason = job.latest_result().exc_string
    assert "Job killed by a cold shutdown of worker" in reason
    assert "received SIGTERM twice" in reason


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_signal_while_starting_unregisters_the_worker(
    start_worker, flush_redis, tmp_path, signum
):
    from rq import Worker

    started_file = tmp_path / "registered"
    worker = start_worker(
        "--burst",
        "--worker-class",
        "tests.testapp.workers.SlowStartWorker",
        RQ_LITE_TEST_STARTED_FILE=str(started_file),
    )
    wait_for(started_file.exists, 20, "the worker did not register")
    assert len(Worker.all(connection=flush_redis)) == 1

    worker.send_signal(signum)
    returncode = worker.wait(timeout=15)

    assert returncode == 0, worker.output()
    assert Worker.all(connection=flush_redis) == []
