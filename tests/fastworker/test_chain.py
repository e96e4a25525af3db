"""Jobs that the fast worker's horse dequeues itself after a hand-off."""

import signal

import pytest
from rq.command import send_stop_job_command
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from tests.commands.worker_process import wait_for
from tests.fastworker.test_shutdown import wait_until_started
from tests.testapp import jobs

pytestmark = pytest.mark.slow


def test_stop_command_stops_dequeued_job(start_fast_worker, flush_redis):
    queue = get_queue()
    first = queue.enqueue(jobs.add, 1, 1)
    # The horse takes this job itself, right after the first one.
    sleeping = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_fast_worker("--name", "chain-stop")
    wait_until_started(sleeping)

    send_stop_job_command(flush_redis, sleeping.id)
    wait_for(lambda: sleeping.get_status() == JobStatus.STOPPED, 10, "not stopped")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert first.return_value() == 2
    assert sleeping.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert StartedJobRegistry(queue=queue).get_job_ids() == []


def test_stop_command_for_ended_job_ignored(start_fast_worker, flush_redis):
    queue = get_queue()
    first = queue.enqueue(jobs.add, 1, 1)
    sleeping = queue.enqueue(jobs.sleep_then_return, 2)
    worker = start_fast_worker("--name", "chain-ignore")
    wait_until_started(sleeping)

    send_stop_job_command(flush_redis, first.id)
    wait_for(lambda: sleeping.get_status() == JobStatus.FINISHED, 15, "not done")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert first.get_status() == JobStatus.FINISHED
    assert sleeping.return_value() == "done"


def test_max_jobs_counts_each_job(run_fast_worker, flush_redis):
    queue = get_queue()
    queued = [queue.enqueue(jobs.add, index, 1) for index in range(3)]

    result = run_fast_worker("--max-jobs", "2")

    assert result.returncode == 0, result.stderr
    statuses = [job.get_status() for job in queued]
    assert statuses == [JobStatus.FINISHED, JobStatus.FINISHED, JobStatus.QUEUED]
