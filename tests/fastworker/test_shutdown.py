"""Signals, stop commands and several processes with the fast worker."""

import signal
import time

import pytest
from rq import Worker
from rq.command import send_kill_horse_command, send_stop_job_command
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from tests.commands.worker_process import (
    process_exists,
    run_worker,
    wait_for,
    wait_for_worker_state,
    wait_until_started,
)
from tests.fastworker.conftest import FAST_WORKER
from tests.testapp import jobs

pytestmark = pytest.mark.slow


def test_idle_worker_stops_its_horse(start_fast_worker, flush_redis):
    job = get_queue().enqueue(jobs.count_run_and_pid)
    worker = start_fast_worker("--name", "idle-fast")
    wait_for(lambda: job.get_status() == JobStatus.FINISHED, 15, "job not done")
    wait_for_worker_state(flush_redis, "idle-fast", "idle")

    sent_at = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    returncode = worker.wait(timeout=10)

    assert returncode == 0, worker.output()
    assert time.monotonic() - sent_at < 5
    horse_pid = job.return_value()
    wait_for(lambda: not process_exists(horse_pid), 5, f"horse {horse_pid} runs")


def test_killed_worker_idle_horse_exits(start_fast_worker, flush_redis):
    job = get_queue().enqueue(jobs.count_run_and_pid)
    worker = start_fast_worker("--name", "killed-fast")
    wait_for(lambda: job.get_status() == JobStatus.FINISHED, 15, "job not done")
    horse_pid = job.return_value()

    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    wait_for(lambda: not process_exists(horse_pid), 5, f"horse {horse_pid} runs")


def test_warm_shutdown_finishes_job(start_fast_worker):
    queue = get_queue()
    running = queue.enqueue(jobs.sleep_then_return, 2, "slept")
    waiting = queue.enqueue(jobs.add, 1, 2)
    worker = start_fast_worker()
    wait_until_started(running)

    worker.send_signal(signal.SIGTERM)
    returncode = worker.wait(timeout=15)

    assert returncode == 0, worker.output()
    assert running.get_status() == JobStatus.FINISHED
    assert running.return_value() == "slept"
    assert waiting.get_status() == JobStatus.QUEUED


def test_cold_shutdown_fails_job(start_fast_worker):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_fast_worker()
    wait_until_started(job)

    worker.send_signal(signal.SIGTERM)
    # RQ ignores a second signal that comes within a second of the first.
    time.sleep(1.5)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert job.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert "cold shutdown" in job.latest_result().exc_string


def test_stop_job_command_stops_job(start_fast_worker, flush_redis):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_fast_worker("--name", "stop-fast")
    wait_until_started(job)

    send_stop_job_command(flush_redis, job.id)
    wait_for(lambda: job.get_status() == JobStatus.STOPPED, 10, "job not stopped")
    after = queue.enqueue(jobs.add, 2, 2)
    wait_for(lambda: after.get_status() == JobStatus.FINISHED, 15, "next job")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert after.return_value() == 4


def test_kill_horse_command_fails_job(start_fast_worker, flush_redis):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_fast_worker("--name", "kill-fast")
    wait_until_started(job)

    send_kill_horse_command(flush_redis, "kill-fast")
    wait_for(lambda: job.get_status() == JobStatus.FAILED, 10, "job not failed")
    after = queue.enqueue(jobs.add, 3, 3)
    wait_for(lambda: after.get_status() == JobStatus.FINISHED, 15, "next job")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert "killed by SIGKILL" in job.latest_result().exc_string
    assert after.return_value() == 6


def test_processes_share_queue(flush_redis):
    queue = get_queue()
    queued = [queue.enqueue(jobs.sleep_then_return, 0.3, index) for index in range(8)]

    result = run_worker(
        *FAST_WORKER, "--burst", "--processes", "2", "--name", "pool", timeout=60
    )

    assert result.returncode == 0, result.stderr
    for job in queued:
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED
    assert {job.worker_name for job in queued} == {"pool-1", "pool-2"}


def test_processes_stop_on_sigterm(start_fast_worker, flush_redis):
    worker = start_fast_worker("--processes", "2", "--name", "sig-pool")
    wait_for_worker_state(flush_redis, "sig-pool-1", "idle")
    wait_for_worker_state(flush_redis, "sig-pool-2", "idle")

    worker.send_signal(signal.SIGTERM)
    returncode = worker.wait(timeout=10)

    assert returncode == 0, worker.output()


def test_processes_reject_bad_option_early():
    result = run_worker(
        "--burst",
        "--processes",
        "2",
        "--worker-class",
        "rq.Worker",
        "--max-jobs-per-horse",
        "2",
    )

    assert result.returncode != 0
    assert "--max-jobs-per-horse needs a worker that reuses" in result.stderr
    assert "Started worker process" not in result.stderr


def test_heartbeats_during_long_job(start_fast_worker, flush_redis):
    job = get_queue().enqueue(jobs.sleep_then_return, 4)
    worker = start_fast_worker("--name", "beat-fast", "--job-monitoring-interval", "1")
    wait_until_started(job)
    key = f"{Worker.redis_worker_namespace_prefix}beat-fast"
    first = Worker.find_by_key(key, connection=flush_redis).last_heartbeat

    time.sleep(2.5)
    later = Worker.find_by_key(key, connection=flush_redis).last_heartbeat
    job.refresh()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=15)

    assert later > first
    assert job.last_heartbeat > job.started_at


def test_idle_worker_stops_horse_after_a_second(start_fast_worker, flush_redis):
    first = get_queue().enqueue(jobs.count_run_and_pid)
    worker = start_fast_worker("--name", "idle-horse")
    wait_for(lambda: first.get_status() == JobStatus.FINISHED, 15, "job not done")
    first_horse = first.return_value()

    # An idle worker is one process again, as RQ's worker is.
    wait_for(lambda: not process_exists(first_horse), 10, "idle horse still runs")
    second = get_queue().enqueue(jobs.count_run_and_pid)
    wait_for(lambda: second.get_status() == JobStatus.FINISHED, 15, "job not done")

    assert worker.process.poll() is None, worker.output()
    assert second.return_value() not in (first_horse, worker.pid)
