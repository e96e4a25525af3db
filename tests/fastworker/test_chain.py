"""Jobs that the fast worker's horse dequeues itself after a hand-off."""

import os
import signal
from pathlib import Path

import pytest
from rq.command import send_stop_job_command
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from django_rq_lite.fastworker.horse import MAX_HANDED_END_BYTES
from tests.commands.worker_process import run_worker, wait_for
from tests.fastworker.conftest import FAST_WORKER
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


def test_orphaned_horse_takes_no_job(start_fast_worker, flush_redis, tmp_path):
    queue = get_queue()
    flag = tmp_path / "release"
    first = queue.enqueue(jobs.add, 1, 1)
    # The horse takes this job itself, then the worker is killed.
    waiting = queue.enqueue(jobs.wait_for_file_then_count, str(flag))
    last = queue.enqueue(jobs.add, 2, 2)
    worker = start_fast_worker()
    horse_pid = int(
        wait_for(lambda: flush_redis.hget(jobs.RUN_PIDS_KEY, waiting.id), 15, "start")
    )

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    flag.write_text("go")
    wait_for(lambda: not process_exists(horse_pid), 15, "horse still running")

    assert first.return_value() == 2
    assert waiting.get_status() == JobStatus.FINISHED
    assert last.get_status() == JobStatus.QUEUED
    assert StartedJobRegistry(queue=queue).get_job_ids() == []


def process_exists(pid):
    """Tell whether ``pid`` runs. A zombie counts as ended, since its new
    parent may never reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_job_deleted_while_queued_is_skipped(run_fast_worker, flush_redis):
    queue = get_queue()
    first = queue.enqueue(jobs.add, 1, 1)
    # The horse dequeues this id with the first job's success and finds no
    # hash, so it dequeues again, as RQ's dequeue_any() does.
    deleted = queue.enqueue(jobs.add, 2, 2)
    flush_redis.delete(deleted.key)
    last = queue.enqueue(jobs.add, 3, 3)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert first.return_value() == 2
    assert last.return_value() == 6
    assert queue.count == 0
    assert flush_redis.llen(queue.intermediate_queue_key) == 0


def test_horse_dequeues_queues_in_order(run_fast_worker, flush_redis, tmp_path):
    marker = tmp_path / "order.txt"
    for name, text in [("low", "low-1"), ("high", "high-1"), ("high", "high-2")]:
        get_queue(name).enqueue(jobs.write_marker, str(marker), text)
    get_queue("low").enqueue(jobs.write_marker, str(marker), "low-2")

    result = run_fast_worker("high", "low")

    assert result.returncode == 0, result.stderr
    assert marker.read_text().split() == ["high-1", "high-2", "low-1", "low-2"]
    assert get_queue("high").count == 0
    assert get_queue("low").count == 0


def test_custom_queue_class_dequeues_every_job(run_fast_worker, flush_redis):
    queue = get_queue()
    queued = [queue.enqueue(jobs.add, index, 1) for index in range(3)]

    result = run_fast_worker("--queue-class", "tests.testapp.jobs.CountingQueue")

    assert result.returncode == 0, result.stderr
    assert [job.get_status() for job in queued] == [JobStatus.FINISHED] * 3
    # The horse's own dequeue goes through the class's dequeue_any() too.
    assert flush_redis.get(jobs.CountingQueue.counter_key) == b"3"


@pytest.mark.parametrize("first_size", ["small", "too large to hand on"])
def test_lost_start_reply_fails_unrun_job(flush_redis, tmp_path, first_size):
    queue = get_queue()
    if first_size == "small":
        first = queue.enqueue(jobs.add, 1, 2)
        first_result = 3
    else:
        # Random bytes, which zlib cannot shrink below the limit.
        data = os.urandom(MAX_HANDED_END_BYTES)
        first = queue.enqueue(jobs.measure_argument, data)
        first_result = len(data)
    marker = tmp_path / "ran"
    # The horse's start script takes this job, and the switch loses the
    # script's reply after Redis ran it.
    lost = queue.enqueue(jobs.write_marker, str(marker))
    after = queue.enqueue(jobs.add, 3, 4)

    result = run_worker(
        *FAST_WORKER,
        "--burst",
        settings="tests.worker_settings",
        RQ_LITE_LOSE_START_REPLY="1",
    )

    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "failed to dequeue and start the next job" in log
    assert first.get_status() == JobStatus.FINISHED
    assert first.return_value() == first_result
    assert not marker.exists()
    assert lost.get_status() == JobStatus.FAILED, log
    reason = lost.latest_result().exc_string
    assert "after the job's start was written" in reason
    assert "The job did not run; requeue it." in reason
    assert after.get_status() == JobStatus.FINISHED
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert flush_redis.keys("rq:execution:*") == []
