"""A job's success that the horse hands the worker is written as the horse writes it."""

import os

import pytest
from redis import Redis
from rq.job import JobStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from rq.utils import now

from django_rq_lite import get_queue, get_worker
from django_rq_lite.fastworker import FastWorker
from django_rq_lite.fastworker.channel import SharedCounter
from django_rq_lite.fastworker.horse import MAX_HANDED_END_BYTES, HandedEnd
from django_rq_lite.fastworker.worker import UnwrittenEnd
from tests.redis_server import free_port
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(flush_redis):
    worker = get_worker("default", worker_class=FastWorker)
    worker.register_birth()
    yield worker
    worker.register_death()


def run_in_place(worker, job, return_value):
    """Start ``job`` and leave it as a horse's job that just returned."""
    queue = get_queue()
    execution, _ = worker._start_execution(job, queue, read_hash=False)
    job.started_at = now()
    job.ended_at = now()
    job._result = return_value
    job._status = JobStatus.FINISHED
    return queue, execution


def hand_to_worker(worker, job, queue, execution, counter):
    """Write the success of ``job`` as the worker writes a handed end."""
    message = worker._handed_message(job, queue, execution)
    assert message is not None
    worker._unwritten_ends.append(UnwrittenEnd(counter, message))
    worker._write_unwritten_ends()
    return message


def record(connection, job, execution):
    """Return what Redis contains about ``job``'s end, with ids and times left out."""
    job_hash = {
        name.decode(): value
        for name, value in connection.hgetall(job.key).items()
        if name
        not in (
            b"started_at",
            b"ended_at",
            b"last_heartbeat",
            b"created_at",
            b"enqueued_at",
        )
    }
    job_hash["data"] = job_hash["data"] != b""
    result = job.latest_result()
    return {
        "hash": job_hash,
        "key_ttl": connection.ttl(job.key),
        "result": (result.type, result.return_value, result.worker_name),
        "result_execution": result.execution_id == execution.id,
        "finished": job.id in FinishedJobRegistry(queue=get_queue()).get_job_ids(),
        "started": job.id in StartedJobRegistry(queue=get_queue()).get_job_ids(),
        "execution_key": connection.exists(execution.key),
        "job_executions": connection.zcard(f"rq:executions:{job.id}"),
    }


@pytest.mark.parametrize("return_value", [{"total": 3, "items": [1, 2]}, None, "text"])
def test_handed_end_writes_what_the_horse_writes(worker, flush_redis, return_value):
    queue = get_queue()
    handed = queue.enqueue(jobs.add, 1, 2, description="same")
    own = queue.enqueue(jobs.add, 1, 2, description="same")
    queue.dequeue_any([queue], None, connection=flush_redis)
    queue.dequeue_any([queue], None, connection=flush_redis)
    counter = SharedCounter()

    _, handed_execution = run_in_place(worker, handed, return_value)
    message = hand_to_worker(worker, handed, queue, handed_execution, counter)
    _, own_execution = run_in_place(worker, own, return_value)
    worker.handle_job_success(own, queue, queue.started_job_registry, own_execution)

    handed_record = record(flush_redis, handed, handed_execution)
    own_record = record(flush_redis, own, own_execution)
    assert handed_record == own_record
    assert handed_record["hash"]["status"] == b"finished"
    assert handed_record["finished"] and not handed_record["started"]
    assert handed_record["execution_key"] == 0
    assert handed.return_value(refresh=True) == return_value
    assert counter.value == message[0]
    assert worker._unwritten_ends == []
    assert int(flush_redis.hget(worker.key, "successful_job_count")) == 2


def test_large_or_unpicklable_end_not_handed(worker, flush_redis):
    queue = get_queue()
    unpicklable = queue.enqueue(jobs.add, 1, 2)
    # Random bytes, which zlib cannot shrink.
    large = queue.enqueue(jobs.measure_argument, os.urandom(MAX_HANDED_END_BYTES))
    small = queue.enqueue(jobs.add, 1, 2)

    _, execution = run_in_place(worker, unpicklable, lambda: None)
    assert worker._handed_message(unpicklable, queue, execution) is None
    _, execution = run_in_place(worker, large, MAX_HANDED_END_BYTES)
    assert worker._handed_message(large, queue, execution) is None
    _, execution = run_in_place(worker, small, 3)
    assert worker._handed_message(small, queue, execution) is not None


def test_failed_write_is_retried_in_order(worker, flush_redis):
    queue = get_queue()
    first = queue.enqueue(jobs.add, 1, 2)
    second = queue.enqueue(jobs.add, 2, 2)
    counter = SharedCounter()
    _, first_execution = run_in_place(worker, first, 3)
    _, second_execution = run_in_place(worker, second, 4)
    first_message = worker._handed_message(first, queue, first_execution)
    second_message = worker._handed_message(second, queue, second_execution)

    connection = worker.connection
    # A real connection that fails: nothing listens on this port.
    worker.connection = Redis(port=free_port(), socket_connect_timeout=1)
    worker._unwritten_ends.append(UnwrittenEnd(counter, first_message))
    worker._write_unwritten_ends()
    worker._unwritten_ends.append(UnwrittenEnd(counter, second_message))
    worker._write_unwritten_ends()
    assert [end.job_id for end in worker._unwritten_ends] == [first.id, second.id]
    assert counter.value == 0
    assert first.get_status(refresh=True) == JobStatus.STARTED

    worker.connection = connection
    worker._write_unwritten_ends()

    assert worker._unwritten_ends == []
    assert counter.value == second_message[0]
    assert first.return_value(refresh=True) == 3
    assert second.return_value(refresh=True) == 4
    assert len(first.results()) == 1


def test_horse_writes_ends_its_worker_did_not(worker, flush_redis):
    queue = get_queue()
    written = queue.enqueue(jobs.add, 1, 2)
    left = queue.enqueue(jobs.add, 2, 2)
    counter = SharedCounter()
    worker._handed_ack = counter
    worker._in_fast_horse = True
    # A pid that is not this process's parent: the worker is gone.
    worker._worker_pid = -1
    for number, (job, value) in enumerate([(written, 3), (left, 4)], start=1):
        _, execution = run_in_place(worker, job, value)
        message = worker._handed_message(job, queue, execution)
        worker._handed[number] = HandedEnd(number, job, queue, execution, message, True)
    # The worker wrote the first one and set the counter.
    worker._in_fast_horse = False
    worker.handle_job_success(written, queue, None, worker._handed[1].execution)
    worker._in_fast_horse = True
    counter.value = 1

    worker._settle_handed_ends()

    assert worker._handed == {}
    assert written.return_value(refresh=True) == 3
    assert len(written.results()) == 1
    assert left.return_value(refresh=True) == 4
    assert StartedJobRegistry(queue=queue).get_job_ids() == []


def test_horse_skips_end_already_written(worker, flush_redis):
    queue = get_queue()
    job = queue.enqueue(jobs.add, 1, 2)
    worker._handed_ack = SharedCounter()
    worker._worker_pid = -1
    _, execution = run_in_place(worker, job, 3)
    message = worker._handed_message(job, queue, execution)
    worker.handle_job_success(job, queue, None, execution)
    worker._handed[1] = HandedEnd(1, job, queue, execution, message, True)

    worker._in_fast_horse = True
    worker._settle_handed_ends()

    assert len(job.results()) == 1
    assert int(flush_redis.hget(worker.key, "successful_job_count")) == 1


def test_burst_worker_hands_ends_on(run_fast_worker, flush_redis):
    queue = get_queue()
    queued = [queue.enqueue(jobs.add, index, 1) for index in range(20)]

    result = run_fast_worker("--logging-level", "DEBUG")

    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    handed = [job.id for job in queued if f"success of job {job.id}, handed" in log]
    # Each job's end but the last is handed on, unless a chain ends first.
    assert len(handed) >= 10
    assert [job.return_value() for job in queued] == [index + 1 for index in range(20)]
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert flush_redis.keys("rq:execution:*") == []


def test_large_end_in_chain_written_here(run_fast_worker, flush_redis):
    queue = get_queue()
    before = [queue.enqueue(jobs.add, index, 1) for index in range(3)]
    large_data = os.urandom(MAX_HANDED_END_BYTES)
    large = queue.enqueue(jobs.measure_argument, large_data)
    after = [queue.enqueue(jobs.add, index, 1) for index in range(3, 6)]

    result = run_fast_worker("--logging-level", "DEBUG")

    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    # The horse dequeued the next job before it found this end too large,
    # so it wrote the end itself and ran that job.
    assert f"success of job {large.id}, handed" not in log
    assert large.return_value() == len(large_data)
    assert len(large.results()) == 1
    queued = [*before, *after]
    assert [job.return_value() for job in queued] == [index + 1 for index in range(6)]
    assert all(len(job.results()) == 1 for job in queued)
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert flush_redis.keys("rq:execution:*") == []
    (worker_key,) = flush_redis.keys("rq:worker:*")
    assert int(flush_redis.hget(worker_key, "successful_job_count")) == 7


def finished_with_deferred_dependent(queue):
    """Return a finished job whose dependent is still deferred, as after a crash
    between the success and the enqueue of its dependents."""
    job = queue.enqueue(jobs.add, 1, 2)
    dependent = queue.enqueue(jobs.add, 3, 4, depends_on=job)
    assert dependent.get_status() == JobStatus.DEFERRED
    job.set_status(JobStatus.FINISHED)
    return job, dependent


def test_horse_enqueues_dependents_the_worker_left(worker, flush_redis):
    queue = get_queue()
    job, dependent = finished_with_deferred_dependent(queue)
    worker._handed_ack = SharedCounter()
    worker._worker_pid = -1
    execution, _ = worker._start_execution(job, queue, read_hash=False)
    job.set_status(JobStatus.FINISHED)
    worker._handed[1] = HandedEnd(1, job, queue, execution, (), True)

    worker._in_fast_horse = True
    worker._settle_handed_ends()

    assert dependent.get_status(refresh=True) == JobStatus.QUEUED
    assert dependent.id in queue.get_job_ids()


def test_lost_finished_job_gets_dependents_enqueued(worker, flush_redis):
    queue = get_queue()
    job, dependent = finished_with_deferred_dependent(queue)

    worker._fail_lost_job(job, queue, None, None)

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert dependent.get_status(refresh=True) == JobStatus.QUEUED
    assert queue.get_job_ids().count(dependent.id) == 1


def test_dependents_enqueued_once_when_asked_twice(worker, flush_redis):
    queue = get_queue()
    job, dependent = finished_with_deferred_dependent(queue)

    worker._enqueue_dependents_if_any(job, queue)
    worker._enqueue_dependents_if_any(job, queue)

    assert queue.get_job_ids().count(dependent.id) == 1


def test_still_ready_lists_skipped_dependents(worker, flush_redis):
    queue = get_queue()
    ready = queue.enqueue(jobs.add, 1, 2)
    queued = queue.enqueue(jobs.add, 2, 2)
    ready.set_status(JobStatus.READY_TO_ENQUEUE)

    waiting = worker._still_ready({"default": [ready.id, queued.id], "other": []})

    assert waiting == {"default": [ready.id]}


def test_interrupted_write_is_not_repeated(worker, flush_redis):
    queue = get_queue()
    job = queue.enqueue(jobs.add, 1, 2)
    counter = SharedCounter()
    _, execution = run_in_place(worker, job, 3)
    message = hand_to_worker(worker, job, queue, execution, counter)

    # As if a cold shutdown's SystemExit had cut the write short after
    # Redis ran it, so the end is still listed with one attempt made.
    worker._unwritten_ends.append(UnwrittenEnd(counter, message, attempts=1))
    worker._write_unwritten_ends()

    assert worker._unwritten_ends == []
    assert len(job.results()) == 1
    assert int(flush_redis.hget(worker.key, "successful_job_count")) == 1


@pytest.mark.slow
def test_dependent_of_two_jobs_runs_once(run_fast_worker, flush_redis):
    """Two processes that end a dependent's two dependencies at once move it once.

    With two jobs per horse, the worker writes one dependency's success
    while the horse writes the other's, so the two often end together.
    """
    queue = get_queue()
    queued = []
    for index in range(300):
        depends_on = queued[-2:] if index % 3 == 2 else None
        queued.append(queue.enqueue(jobs.count_run, depends_on=depends_on))

    result = run_fast_worker("--max-jobs-per-horse", "2", timeout=120)

    assert result.returncode == 0, result.stderr
    runs = {
        job_id.decode(): int(count)
        for job_id, count in flush_redis.hgetall(jobs.RUN_COUNTS_KEY).items()
    }
    assert sorted(runs.values()) == [1] * len(queued)
    assert [len(job.results()) for job in queued] == [1] * len(queued)


def test_stop_while_starting_job_waits_for_it(worker):
    """A warm shutdown between a dequeue and the job's start lets the job run."""
    from rq.exceptions import StopRequested

    # RQ's request_stop() sets this date before it calls _shutdown().
    worker._shutdown_requested_date = now()
    with pytest.raises(StopRequested):
        worker._shutdown()
    worker._starting_job = True

    worker._shutdown()

    assert worker._stop_requested
    assert worker._chain_seconds() == 0.0
