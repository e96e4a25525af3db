"""START_SCRIPT writes a job's start exactly as the round trip of its own does."""

import contextlib
import marshal
import os
import signal
import time
import uuid

import pytest
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue, get_worker
from django_rq_lite.fastworker import FastWorker
from django_rq_lite.fastworker import worker as worker_module
from django_rq_lite.fastworker.channel import Channel
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


def new_worker():
    """Return a FastWorker set up as its horse is, without a process of its own."""
    worker = get_worker("default", worker_class=FastWorker)
    worker.register_birth()
    worker._stand_in_job_id = uuid.uuid4().hex
    worker._stand_in_queue_name = f"q{uuid.uuid4().hex}"
    return worker


@pytest.fixture
def worker(flush_redis):
    worker = new_worker()
    yield worker
    worker.register_death()


def start_with_script(worker):
    """Dequeue and start the next job as a horse does after a job's success."""
    with worker.connection.pipeline() as pipeline:
        worker._add_dequeue(pipeline)
        (reply,) = pipeline.execute()
    pending = worker._pending_start
    job, _ = worker._restore_dequeued(reply)
    return job, worker._adopt_start(pending, job)


def start_in_own_round_trip(worker):
    job, queue = worker._dequeue()
    execution, _ = worker._start_execution(job, queue, read_hash=False)
    return job, execution


def snapshot(connection, worker, job, execution, margin=False):
    """Return what Redis contains about ``job``'s start, with ids and times replaced.

    With ``margin``, TTLs and registry scores (seconds from now) match
    values one second away, because a slow run can cross a second between
    writing a start and reading it.
    """

    def seconds(value):
        return pytest.approx(value, abs=1) if margin and value >= 0 else value

    def normal(value):
        text = (
            value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        )
        text = text.replace(job.id, "{job}").replace(execution.id, "{execution}")
        text = text.replace(worker.name, "{worker}").replace(str(worker.pid), "{pid}")
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and abs(number - time.time()) < 60:
            return "{now}"
        if text[:2] == "20" and text.endswith("Z"):
            return "{timestamp}"
        return text

    found = {}
    for key in connection.keys("*"):
        name = normal(key)
        kind = connection.type(key).decode()
        ttl = seconds(connection.ttl(key))
        if kind == "hash":
            content = {
                normal(field): normal(value)
                for field, value in connection.hgetall(key).items()
                if normal(field) not in ("created_at", "enqueued_at", "data")
            }
        elif kind == "zset":
            content = {
                normal(member): seconds(round(score - time.time()))
                for member, score in connection.zrange(key, 0, -1, withscores=True)
                if job.id.encode() in member
            }
        elif kind == "set":
            content = sorted(
                normal(member)
                for member in connection.smembers(key)
                if job.id.encode() in member
            )
        elif kind == "list":
            content = [
                normal(member)
                for member in connection.lrange(key, 0, -1)
                if member == job.id.encode()
            ]
        else:
            content = kind
        if "{job}" in name or "{execution}" in name or content:
            found[name] = (kind, ttl, content)
    return found


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "job_timeout": 600,
            "result_ttl": 30,
            "ttl": 120,
            "meta": {"source": "test"},
            "description": "custom",
        },
    ],
    ids=["defaults", "custom-options"],
)
def test_script_writes_same_start_as_round_trip(worker, flush_redis, options):
    queue = get_queue()

    queue.enqueue(jobs.add, 1, 2, **options)
    job, execution = start_in_own_round_trip(worker)
    expected = snapshot(flush_redis, worker, job, execution, margin=True)
    # The second start happens with the first one's records gone.
    flush_redis.flushdb()
    second_worker = new_worker()
    queue.enqueue(jobs.add, 1, 2, **options)
    job, execution = start_with_script(second_worker)
    written = snapshot(flush_redis, second_worker, job, execution)

    assert written == expected
    assert "rq:job:{job}" in written
    assert written["rq:job:{job}"][2]["status"] == "started"
    assert any(name.startswith("rq:execution:{job}") for name in written)


def test_script_updates_job_and_worker_objects(worker, flush_redis):
    get_queue().enqueue(jobs.add, 1, 2)

    job, execution = start_with_script(worker)

    assert job.get_status(refresh=False) == JobStatus.STARTED
    assert job.worker_name == worker.name
    assert job.started_at is not None
    assert execution.job_id == job.id
    assert worker.executions == {execution.id: execution}
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert flush_redis.lrange(get_queue().intermediate_queue_key, 0, -1) == []


def run_script(worker):
    with worker.connection.pipeline() as pipeline:
        worker._add_dequeue(pipeline)
        (reply,) = pipeline.execute()
    return reply


def test_script_leaves_short_timeout_job_queued(worker, flush_redis):
    queued = get_queue().enqueue(jobs.add, 1, 2, job_timeout=5)

    reply = run_script(worker)

    # RQ gives this job a shorter heartbeat, so the worker's own dequeue
    # takes it.
    assert reply == 0
    assert get_queue().job_ids == [queued.id]
    assert queued.get_status(refresh=True) == JobStatus.QUEUED
    assert worker.executions == {}


def test_script_starts_job_with_custom_id(worker, flush_redis):
    queued = get_queue().enqueue(jobs.add, 1, 2, job_id="custom-id_with-dashes")

    job, execution = start_with_script(worker)

    assert job.id == queued.id
    assert queued.get_status(refresh=True) == JobStatus.STARTED
    assert flush_redis.exists(f"rq:executions:{queued.id}")


def test_script_skips_jobs_whose_hash_is_gone(worker, flush_redis):
    queue = get_queue()
    deleted = [queue.enqueue(jobs.add, 1, 2) for _ in range(2)]
    remaining = queue.enqueue(jobs.add, 3, 4)
    for job in deleted:
        flush_redis.delete(job.key)

    job, _ = start_with_script(worker)

    assert job.id == remaining.id
    assert queue.job_ids == []
    assert flush_redis.lrange(queue.intermediate_queue_key, 0, -1) == []


def test_script_takes_from_later_queue(flush_redis):
    worker = get_worker("high", "default", worker_class=FastWorker)
    worker.register_birth()
    worker._stand_in_job_id = uuid.uuid4().hex
    worker._stand_in_queue_name = f"q{uuid.uuid4().hex}"
    queued = get_queue("default").enqueue(jobs.add, 1, 2)

    job, execution = start_with_script(worker)

    assert job.id == queued.id
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert flush_redis.zscore("rq:wip:default", f"{job.id}:{execution.id}")
    assert not flush_redis.exists("rq:wip:high")
    worker.register_death()


def test_script_leaves_job_of_other_origin_queued(worker, flush_redis):
    queued = get_queue("high").enqueue(jobs.add, 1, 2)
    # A job whose id was pushed onto another queue by hand.
    flush_redis.lrem("rq:queue:high", 1, queued.id)
    flush_redis.rpush("rq:queue:default", queued.id)

    assert run_script(worker) == 0
    assert flush_redis.lrange("rq:queue:default", 0, -1) == [queued.id.encode()]


def test_script_with_empty_queue_writes_nothing(worker, flush_redis):
    keys_before = set(flush_redis.keys("*"))

    reply = run_script(worker)

    assert reply is None
    assert set(flush_redis.keys("*")) == keys_before
    assert worker.executions == {}


def test_worker_fails_job_started_by_dead_horse(worker, flush_redis):
    queue = get_queue()
    queued = queue.enqueue(jobs.add, 1, 2)
    # The horse started the job in a success transaction and was killed
    # before its message reached the worker, which has no record of it.
    job, execution = start_with_script(worker)
    worker.executions.clear()

    worker._fail_unreported_jobs(-signal.SIGKILL)

    assert queued.get_status(refresh=True) == JobStatus.FAILED
    assert queued.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert "Work-horse terminated unexpectedly" in queued.latest_result().exc_string
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert flush_redis.smembers(f"rq:worker:{worker.name}:executions") == set()


def report_after_closed_channel(worker, worker_pid):
    """Start a job, then report it on a channel whose worker end is closed."""
    queue = get_queue()
    queued = queue.enqueue(jobs.add, 1, 2)
    job, execution = start_with_script(worker)
    worker._worker_pid = worker_pid
    (horse_end, worker_end) = Channel.pair()
    worker_end.close()
    retired = worker._report_or_fail(horse_end, job, queue, execution)
    return queued, retired


def test_horse_fails_started_job_when_worker_is_gone(worker, flush_redis):
    queued, retired = report_after_closed_channel(worker, 12345)

    assert retired
    assert queued.get_status(refresh=True) == JobStatus.FAILED
    reason = queued.latest_result().exc_string
    assert "outlived its worker process 12345 before the job ran" in reason
    assert StartedJobRegistry(queue=get_queue()).get_job_ids() == []


def test_horse_reports_broken_channel(worker, flush_redis):
    # The worker is alive (this process's parent), but a job closed the channel.
    queued, retired = report_after_closed_channel(worker, os.getppid())

    assert retired
    assert queued.get_status(refresh=True) == JobStatus.FAILED
    reason = queued.latest_result().exc_string
    assert f"lost its channel to worker process {os.getppid()}" in reason
    assert "The job did not run; requeue it." in reason


@pytest.mark.parametrize(
    "data",
    [
        (2**62).to_bytes(8, "big"),
        (2**63).to_bytes(8, "big"),
        (3).to_bytes(8, "big") + b"\xff\xff\xff",
        (5).to_bytes(8, "big") + marshal.dumps(7),
        (4).to_bytes(8, "big") + marshal.dumps(7)[:4],
        (100).to_bytes(8, "big") + b"short",
    ],
    ids=[
        "huge-size",
        "larger-size",
        "bad-marshal",
        "not-a-tuple",
        "marshal-cut-short",
        "message-cut-short",
    ],
)
def test_invalid_reply_kills_horse(worker, monkeypatch, data):
    monkeypatch.setattr(worker_module, "REPLY_READ_TIMEOUT", 0.5)
    pid = os.fork()
    if pid == 0:
        os.setpgrp()
        time.sleep(60)
        os._exit(0)
    # Set here too, so the kill cannot come before the child's setpgrp().
    os.setpgid(pid, pid)
    worker_end, horse_end = Channel.pair()
    worker._channel = worker_end
    worker._horse_process_pid = pid
    try:
        horse_end._socket.sendall(data)

        assert worker._receive_reply() is None
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status)
        assert os.WTERMSIG(status) == signal.SIGKILL
    finally:
        worker._channel = None
        worker._horse_process_pid = 0
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_sent_start_read_before_next_pipeline(worker):
    queue = get_queue()
    queued = queue.enqueue(jobs.add, 1, 2)
    worker._in_fast_horse = True
    try:
        with worker.connection.pipeline(transaction=False) as pipeline:
            worker._add_dequeue(pipeline)
            worker._dequeued = worker._send_pipeline(pipeline)
        # Another pipeline on the kept connection reads the start's reply
        # first, so each gets its own.
        with worker.connection.pipeline(transaction=False) as pipeline:
            pipeline.llen(queue.key)
            assert worker._execute_pipeline(pipeline) == [0]
        reply = worker._read_dequeued(worker._dequeued)
    finally:
        worker._in_fast_horse = False
        if worker._kept_connection is not None:
            worker.connection.connection_pool.release(worker._kept_connection)
    pending = worker._pending_start
    job, _ = worker._restore_dequeued(reply)
    execution = worker._adopt_start(pending, job)
    assert job.id == queued.id
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert execution.job_id == queued.id
