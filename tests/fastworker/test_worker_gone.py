"""A FastWorker horse whose worker process is SIGKILLed during a job."""

import signal

import pytest
from rq.job import JobStatus
from rq.registry import StartedJobRegistry

from django_rq_lite import get_queue
from tests.commands.worker_process import process_exists, wait_for
from tests.testapp import jobs

pytestmark = pytest.mark.slow


def horse_pid_of(connection, job):
    """Return the pid that ``job``, a wait_for_file_then_count job, stores."""
    pid = wait_for(
        lambda: connection.hget(jobs.RUN_PIDS_KEY, job.id),
        15,
        f"job {job.id} did not start",
    )
    return int(pid)


def kill_worker_during_job(start_fast_worker, connection, job, release):
    """SIGKILL the worker while ``job`` waits for ``release``, then let it end.

    Return the worker process and the horse's pid, once the horse has exited.
    """
    worker = start_fast_worker("--name", "gone")
    horse_pid = horse_pid_of(connection, job)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    release.touch()
    wait_for(lambda: not process_exists(horse_pid), 15, f"horse {horse_pid} runs")
    return worker, horse_pid


def assert_one_warning(output, horse_pid, worker_pid):
    expected = (
        f"Horse {horse_pid}: worker process {worker_pid} exited or closed the channel"
    )
    assert output.count(expected) == 1, output
    assert "Traceback" not in output
    assert "unexpected error" not in output


def test_horse_finishes_job_of_killed_worker(start_fast_worker, flush_redis, tmp_path):
    queue = get_queue()
    release = tmp_path / "release"
    running = queue.enqueue(jobs.wait_for_file_then_count, str(release))
    waiting = queue.enqueue(jobs.add, 1, 2)

    worker, horse_pid = kill_worker_during_job(
        start_fast_worker, flush_redis, running, release
    )

    assert running.get_status() == JobStatus.FINISHED
    assert running.return_value() == 1
    # The horse takes no job once no worker monitors it.
    assert waiting.get_status() == JobStatus.QUEUED
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert_one_warning(worker.output(), horse_pid, worker.pid)


def test_horse_writes_handed_end_of_killed_worker(
    start_fast_worker, flush_redis, tmp_path
):
    queue = get_queue()
    release = tmp_path / "release"
    # The horse runs the first job, then dequeues the second itself and
    # hands the first one's success to the worker.
    first = queue.enqueue(jobs.add, 2, 2)
    chained = queue.enqueue(jobs.wait_for_file_then_count, str(release))
    waiting = queue.enqueue(jobs.add, 3, 3)

    worker, horse_pid = kill_worker_during_job(
        start_fast_worker, flush_redis, chained, release
    )

    assert first.get_status() == JobStatus.FINISHED
    assert first.return_value() == 4
    assert chained.get_status() == JobStatus.FINISHED
    assert chained.return_value() == 1
    assert waiting.get_status() == JobStatus.QUEUED
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert_one_warning(worker.output(), horse_pid, worker.pid)
