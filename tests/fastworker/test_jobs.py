"""Jobs in the fast worker's reused horse: results, failures, replacement."""

import pytest
from rq import Callback, Retry, Worker
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from tests.testapp import jobs

pytestmark = pytest.mark.slow


def run_counts(connection):
    counts = connection.hgetall(jobs.RUN_COUNTS_KEY)
    return {key.decode(): int(value) for key, value in counts.items()}


def enqueue_pid_jobs(count):
    queue = get_queue()
    return [queue.enqueue(jobs.count_run_and_pid) for _ in range(count)]


def test_success_keeps_result(run_fast_worker):
    job = get_queue().enqueue(jobs.add, 2, 3)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 5


def test_jobs_see_worker_and_job_ids(run_fast_worker):
    queue = get_queue()
    queued = [queue.enqueue(jobs.worker_environment) for _ in range(3)]

    result = run_fast_worker("--name", "env-worker")

    assert result.returncode == 0, result.stderr
    for job in queued:
        assert job.return_value() == ["env-worker", job.id]


def test_failure_keeps_traceback(run_fast_worker):
    queue = get_queue()
    job = queue.enqueue(jobs.fail, "bad input")

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    exc_string = job.latest_result().exc_string
    assert "Traceback" in exc_string
    assert "ValueError: bad input" in exc_string


def test_jobs_share_one_horse(run_fast_worker, flush_redis):
    queued = enqueue_pid_jobs(4)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    pids = {job.return_value() for job in queued}
    assert len(pids) == 1
    assert run_counts(flush_redis) == {job.id: 1 for job in queued}


def test_horse_replaced_after_max_jobs(run_fast_worker, flush_redis):
    queued = enqueue_pid_jobs(6)

    result = run_fast_worker("--max-jobs-per-horse", "2")

    assert result.returncode == 0, result.stderr
    pids = [job.return_value() for job in queued]
    assert pids[0] == pids[1]
    assert pids[2] == pids[3]
    assert pids[4] == pids[5]
    assert len(set(pids)) == 3
    assert run_counts(flush_redis) == {job.id: 1 for job in queued}


def test_horse_replaced_after_timeout(run_fast_worker, flush_redis):
    queue = get_queue()
    before = queue.enqueue(jobs.count_run_and_pid)
    slow = queue.enqueue(jobs.sleep_then_return, 20, job_timeout=1)
    after = queue.enqueue(jobs.count_run_and_pid)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert slow.get_status() == JobStatus.FAILED
    assert slow.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert "JobTimeoutException" in slow.latest_result().exc_string
    assert after.get_status() == JobStatus.FINISHED
    assert after.return_value() != before.return_value()
    assert run_counts(flush_redis) == {before.id: 1, after.id: 1}


def test_horse_crash_fails_only_its_job(run_fast_worker, flush_redis):
    queue = get_queue()
    before = queue.enqueue(jobs.count_run_and_pid)
    crash = queue.enqueue(jobs.exit_horse, 3)
    after = queue.enqueue(jobs.count_run_and_pid)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert crash.get_status() == JobStatus.FAILED
    assert "Work-horse terminated unexpectedly (exit code 3)" in (
        crash.latest_result().exc_string
    )
    assert before.get_status() == JobStatus.FINISHED
    assert after.get_status() == JobStatus.FINISHED
    assert after.return_value() != before.return_value()
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert run_counts(flush_redis) == {before.id: 1, after.id: 1}


def test_retry_runs_job_again(run_fast_worker, tmp_path):
    counter = tmp_path / "calls"
    job = get_queue().enqueue(jobs.fail_times, str(counter), 2, retry=Retry(max=3))

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 2
    assert len(counter.read_text().splitlines()) == 3


def test_callbacks_run(run_fast_worker, flush_redis):
    queue = get_queue()
    options = {
        "on_success": Callback(jobs.record_success),
        "on_failure": Callback(jobs.record_failure),
    }
    succeeded = queue.enqueue(jobs.add, 1, 1, **options)
    failed = queue.enqueue(jobs.fail, **options)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    calls = [call.decode() for call in flush_redis.lrange("test:callbacks", 0, -1)]
    assert calls == [f"success:{succeeded.id}:2", f"failure:{failed.id}:ValueError"]


def test_job_runs_outside_worker_process(run_fast_worker, flush_redis):
    job = get_queue().enqueue(jobs.count_run_and_pid)

    result = run_fast_worker("--name", "pid-check")

    assert result.returncode == 0, result.stderr
    worker = Worker.find_by_key(
        f"{Worker.redis_worker_namespace_prefix}pid-check", connection=flush_redis
    )
    job.refresh()
    assert job.worker_name == "pid-check"
    assert job.return_value() != worker.pid


def test_max_jobs_per_horse_needs_fast_worker():
    from tests.commands.worker_process import run_worker

    result = run_worker(
        "--burst", "--worker-class", "rq.Worker", "--max-jobs-per-horse", "2"
    )

    assert result.returncode != 0
    assert "--max-jobs-per-horse needs a worker that reuses" in result.stderr
    assert "the worker class is rq.Worker." in result.stderr


def test_rqworker_default_is_fast_worker(flush_redis):
    from tests.commands.worker_process import run_worker

    queued = [get_queue().enqueue(jobs.worker_pid) for _ in range(2)]
    result = run_worker("--burst", "--max-jobs-per-horse", "2")

    assert result.returncode == 0, result.stderr
    pids = {job.latest_result().return_value for job in queued}
    # RQ's Worker would fork a horse per job; FastWorker reuses one.
    assert len(pids) == 1


def test_dependent_runs_after_parent(run_fast_worker):
    queue = get_queue()
    parent = queue.enqueue(jobs.add, 1, 2)
    child = queue.enqueue(jobs.add, 3, 4, depends_on=parent)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert parent.get_status() == JobStatus.FINISHED
    assert child.get_status() == JobStatus.FINISHED
    assert child.return_value() == 7


def test_dependent_of_result_ttl_zero_job_runs(run_fast_worker):
    queue = get_queue()
    parent = queue.enqueue(jobs.add, 1, 2, result_ttl=0)
    child = queue.enqueue(jobs.add, 3, 4, depends_on=parent)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert child.get_status() == JobStatus.FINISHED
    assert child.return_value() == 7


def test_result_ttl_zero_deletes_job(run_fast_worker, flush_redis):
    job = get_queue().enqueue(jobs.add, 1, 1, result_ttl=0)

    result = run_fast_worker()

    assert result.returncode == 0, result.stderr
    assert not flush_redis.exists(job.key)
