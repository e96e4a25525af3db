"""The hand-packed enqueue transaction writes what RQ's own enqueue writes."""

import gc

import pytest
import redis
from django.test import override_settings
from rq import Callback, Queue, Repeat, Retry
from rq.job import Job, JobStatus
from rq.serializers import DefaultSerializer

from django_rq_lite import get_queue
from django_rq_lite.job_writer import (
    GC_PAUSE_MIN_JOBS,
    execute_transaction,
    pack_command,
)
from django_rq_lite.queues import SettingsDefaultsMixin, creates_plain_jobs
from tests.dashboard.helpers import InProcessWorker
from tests.testapp.jobs import add, fail

# Fields that hold the time of the enqueue, so they differ between two jobs.
TIME_FIELDS = {b"created_at", b"enqueued_at"}

OPTION_CASES = {
    "none": {},
    "ttls": {"job_timeout": 45, "result_ttl": 600, "failure_ttl": 700, "ttl": 800},
    "description": {"description": "adds two numbers"},
    "meta": {"meta": {"source": "test", "count": 2}},
    "retry": {"retry": Retry(max=3, interval=[5, 10])},
    "repeat": {"repeat": Repeat(times=2, interval=30)},
    "callbacks": {
        "on_success": Callback(add, timeout=9),
        "on_failure": Callback(fail),
        "on_stopped": Callback("tests.testapp.jobs.add"),
    },
    "at_front": {"at_front": True},
}


def saved_fields(client, job_id):
    fields = client.hgetall(f"rq:job:{job_id}")
    return {name: value for name, value in fields.items() if name not in TIME_FIELDS}


@pytest.fixture
def rq_queue(redis_url):
    """RQ's own queue ``default`` on the same server, without django-rq-lite."""
    client = redis.Redis.from_url(redis_url)
    yield Queue("default", connection=client)
    client.close()


@pytest.mark.parametrize("case", OPTION_CASES)
def test_saved_hash_same_as_rq(rq_queue, case):
    options = OPTION_CASES[case]
    ours = get_queue().enqueue(add, 1, 2, job_id="ours", **options)
    theirs = rq_queue.enqueue(add, 1, 2, job_id="theirs", **options)
    client = rq_queue.connection

    assert saved_fields(client, ours.id) == saved_fields(client, theirs.id)
    assert client.ttl(ours.key) == pytest.approx(client.ttl(theirs.key), abs=2)
    assert ours.to_dict().keys() == theirs.to_dict().keys()


def test_saved_hash_json_serializer(redis_url):
    queues = {"default": {"URL": redis_url, "SERIALIZER": "json"}}
    with override_settings(RQ_QUEUES=queues):
        queue = get_queue()
        ours = queue.enqueue(add, 1, 2, job_id="ours")
        client = queue.connection
        theirs = Queue("default", connection=client, serializer="json").enqueue(
            add, 1, 2, job_id="theirs"
        )
        fetched = queue.fetch_job(ours.id)

    assert saved_fields(client, ours.id) == saved_fields(client, theirs.id)
    assert fetched.args == [1, 2]


def test_saved_job_runs_in_rq_worker(rq_queue):
    enqueued = get_queue().enqueue(add, 2, 3, meta={"k": "v"})
    worker = InProcessWorker([rq_queue], connection=rq_queue.connection)
    worker.work(burst=True)
    assert enqueued.get_status() == JobStatus.FINISHED
    assert enqueued.return_value() == 5
    assert enqueued.get_meta() == {"k": "v"}


@pytest.mark.parametrize("option", ["ttl", "job_timeout"])
def test_zero_ttl_or_timeout_raises(option):
    with pytest.raises(ValueError):
        get_queue().enqueue(add, 1, 2, **{option: 0})
    assert get_queue().count == 0


def test_queue_key_wrong_type_raises(flush_redis):
    queue = get_queue()
    flush_redis.set(queue.key, "not a list")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        queue.enqueue(add, 1, 2)

    flush_redis.delete(queue.key)
    enqueued = queue.enqueue(add, 1, 2)
    assert queue.job_ids == [enqueued.id]


def test_rejected_command_raises_its_error():
    client = get_queue().connection
    request = b"".join(
        [
            pack_command(b"MULTI"),
            pack_command(b"SET", b"only-a-key"),
            pack_command(b"EXEC"),
        ]
    )
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        execute_transaction(client, request, 1)
    assert client.ping() is True


def test_transaction_returns_results():
    client = get_queue().connection
    request = b"".join(
        [
            pack_command(b"MULTI"),
            pack_command(b"SET", b"writer-key", b"1"),
            pack_command(b"INCR", b"writer-key"),
            pack_command(b"EXEC"),
        ]
    )
    assert execute_transaction(client, request, 2) == [b"OK", 2]


class MarkingQueue(Queue):
    """A queue class whose create_job() adds to the job's meta."""

    def create_job(self, *args, **kwargs):
        job = super().create_job(*args, **kwargs)
        job.meta["marked"] = True
        return job


class InitJob(Job):
    """A job class whose __init__ stores the serializer it is given."""

    def __init__(self, id=None, connection=None, serializer=None):
        super().__init__(id=id, connection=connection, serializer=serializer)
        self.serializer_given = serializer


def test_custom_create_job_runs():
    with override_settings(RQ={"QUEUE_CLASS": "tests.test_job_writer.MarkingQueue"}):
        enqueued = get_queue().enqueue(add, 1, 2)
        fetched = get_queue().fetch_job(enqueued.id)
    assert fetched.meta == {"marked": True}


def test_custom_job_init_runs():
    with override_settings(RQ={"JOB_CLASS": "tests.test_job_writer.InitJob"}):
        enqueued = get_queue().enqueue(add, 1, 2)
    assert isinstance(enqueued, InitJob)
    assert enqueued.serializer_given is DefaultSerializer


def test_creates_plain_jobs_rq_classes():
    queue_class = type("Plain", (SettingsDefaultsMixin, Queue), {})
    assert creates_plain_jobs(queue_class, Job) is True


def test_creates_plain_jobs_custom_classes():
    marking = type("Marking", (SettingsDefaultsMixin, MarkingQueue), {})
    plain = type("Plain", (SettingsDefaultsMixin, Queue), {})
    assert creates_plain_jobs(marking, Job) is False
    assert creates_plain_jobs(plain, InitJob) is False


class GcRecordingQueue(Queue):
    """A queue class that records whether the collector runs in create_job()."""

    gc_enabled = []

    def create_job(self, *args, **kwargs):
        GcRecordingQueue.gc_enabled.append(gc.isenabled())
        return super().create_job(*args, **kwargs)


@pytest.fixture
def gc_recording_queue():
    GcRecordingQueue.gc_enabled = []
    path = "tests.test_job_writer.GcRecordingQueue"
    with override_settings(RQ={"QUEUE_CLASS": path}):
        yield get_queue()


def test_gc_paused_for_large_batch(gc_recording_queue):
    datas = [Queue.prepare_data(add, args=(i, i)) for i in range(GC_PAUSE_MIN_JOBS)]
    gc_recording_queue.enqueue_many(datas)
    assert GcRecordingQueue.gc_enabled == [False] * GC_PAUSE_MIN_JOBS
    assert gc.isenabled() is True
    assert gc_recording_queue.count == GC_PAUSE_MIN_JOBS


def test_gc_running_for_small_batch(gc_recording_queue):
    gc_recording_queue.enqueue_many([Queue.prepare_data(add, args=(1, 1))])
    assert GcRecordingQueue.gc_enabled == [True]


def test_gc_stays_off_after_batch(gc_recording_queue):
    datas = [Queue.prepare_data(add, args=(i, i)) for i in range(GC_PAUSE_MIN_JOBS)]
    gc.disable()
    try:
        gc_recording_queue.enqueue_many(datas)
        assert gc.isenabled() is False
    finally:
        gc.enable()


def test_gc_restarted_after_error(gc_recording_queue, flush_redis):
    flush_redis.set(gc_recording_queue.key, "not a list")
    datas = [Queue.prepare_data(add, args=(i, i)) for i in range(GC_PAUSE_MIN_JOBS)]
    with pytest.raises(redis.ResponseError):
        gc_recording_queue.enqueue_many(datas)
    assert gc.isenabled() is True
