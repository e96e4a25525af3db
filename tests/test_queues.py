"""Queue factories, enqueue(), and where a job's timeout and TTLs come from."""

import json
import os
import zlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import DefaultSerializer, JSONSerializer

from django_rq_lite import QueueNotFound, enqueue, get_connection, get_queue, get_worker
from django_rq_lite.decorators import UnimportableFunctionError, job
from django_rq_lite.queues import get_queues
from tests.testapp.jobs import add, fail, plain_job, sleep_then_return

RQ_DEFAULT_TIMEOUT = 180
RQ_DEFAULT_RESULT_TTL = 500
RQ_DEFAULT_FAILURE_TTL = 365 * 24 * 3600

handled_jobs = []


class CustomJob(Job):
    pass


class CustomQueue(Queue):
    pass


class CustomWorker(SimpleWorker):
    pass


class BurstWorker(SimpleWorker):
    """A SimpleWorker that stops its pubsub thread without waiting 60 seconds.

    NOTE: RQ 3.0 sends UNSUBSCRIBE and then calls redis-py 8.2's
    PubSubWorkerThread.stop(), which waits for the thread. When the thread
    has already read the reply and gone back into get_message(timeout=60),
    the worker hangs for a minute. Clearing the thread's flag first lets the
    reply end its loop. Remove this class once workers.py does the same.
    """

    def unsubscribe(self):
        if self.pubsub_thread is not None:
            self.pubsub_thread._running.clear()
        super().unsubscribe()


def remember_failure(job, exc_type, exc_value, traceback):
    handled_jobs.append((job.id, exc_type.__name__))


def make_burst_runner(django_db_blocker):
    """Return a function that runs the jobs of queues in this process.

    The worker closes stale database connections around each job, so it
    needs database access even when the test itself makes no query.
    """

    def run(*names, **kwargs):
        with django_db_blocker.unblock():
            worker = get_worker(*names, worker_class=BurstWorker)
            worker.work(burst=True, **kwargs)

    return run


@pytest.fixture
def run_burst(django_db_blocker):
    return make_burst_runner(django_db_blocker)


def test_get_queue_defaults_to_default():
    queue = get_queue()
    assert queue.name == "default"


def test_get_queue_uses_queue_settings():
    queue = get_queue("high")
    assert queue._default_timeout == 60


def test_get_queue_rq_default_timeout():
    assert get_queue("low")._default_timeout == RQ_DEFAULT_TIMEOUT


def test_get_queue_unknown_name_raises():
    with pytest.raises(QueueNotFound) as raised:
        get_queue("nope")
    assert "'default', 'high', 'low', 'sync'" in str(raised.value)


def test_invalid_default_timeout_names_setting(redis_url):
    queues = {"default": {"URL": redis_url, "DEFAULT_TIMEOUT": "five"}}

    with override_settings(RQ_QUEUES=queues):
        with pytest.raises(ImproperlyConfigured) as raised:
            get_queue()

    assert "DEFAULT_TIMEOUT 'five' of queue 'default'" in str(raised.value)
    assert 'a string such as "5m"' in str(raised.value)


def test_rq_queues_list_is_rejected(redis_url):
    with override_settings(RQ_QUEUES=[("default", {"URL": redis_url})]):
        with pytest.raises(ImproperlyConfigured) as raised:
            get_queue()

    assert "RQ_QUEUES must be a dict of queue names to options, not list" in str(
        raised.value
    )


def test_get_queue_unknown_name_is_key_error():
    with pytest.raises(KeyError):
        get_queue("nope")


def test_get_queue_keyword_overrides():
    queue = get_queue("high", default_timeout=5, is_async=False)
    assert queue._default_timeout == 5
    assert queue._is_async is False


def test_get_queue_class_by_path():
    queue = get_queue(queue_class="tests.test_queues.CustomQueue")
    assert isinstance(queue, CustomQueue)


def test_queue_class_of_wrong_kind_raises():
    with pytest.raises(ImproperlyConfigured) as caught:
        get_queue(job_class="builtins.int")
    assert str(caught.value) == (
        "The job class 'builtins.int' is not a subclass of rq.job.Job. Give a "
        "subclass of rq.job.Job, as a class or a dotted path."
    )


def test_global_worker_class_of_wrong_kind_raises():
    with override_settings(RQ={"WORKER_CLASS": "rq.Queue"}):
        with pytest.raises(ImproperlyConfigured) as caught:
            get_worker()
    assert str(caught.value).startswith(
        "RQ['WORKER_CLASS'] is 'rq.Queue', which is not a subclass of "
        "rq.worker.BaseWorker."
    )


def test_get_queue_uses_queue_connection():
    assert get_queue("low").connection is get_connection("low")


def test_get_queues_in_order():
    assert [queue.name for queue in get_queues("low", "high")] == ["low", "high"]


def test_get_queues_on_different_servers_raises(redis_url):
    queues = {
        "default": {"URL": redis_url},
        "other": {"URL": redis_url.rsplit("/", 1)[0] + "/1"},
    }
    with override_settings(RQ_QUEUES=queues):
        with pytest.raises(ValueError, match="different Redis servers"):
            get_queues("default", "other")


def test_global_classes(redis_url):
    rq = {
        "JOB_CLASS": "tests.test_queues.CustomJob",
        "QUEUE_CLASS": "tests.test_queues.CustomQueue",
        "WORKER_CLASS": "tests.test_queues.CustomWorker",
    }
    with override_settings(RQ=rq):
        queue = get_queue()
        enqueued = queue.enqueue(add, 1, 2)
        worker = get_worker()
    assert isinstance(queue, CustomQueue)
    assert isinstance(enqueued, CustomJob)
    assert isinstance(worker, CustomWorker)


def test_global_exception_handlers_run(run_burst):
    handled_jobs.clear()
    rq = {"EXCEPTION_HANDLERS": ["tests.test_queues.remember_failure"]}
    with override_settings(RQ=rq):
        failed = get_queue().enqueue(fail)
        run_burst("default")
    assert handled_jobs == [(failed.id, "ValueError")]


def test_enqueue_uses_default_queue():
    enqueued = enqueue(add, 2, 3)
    assert get_queue().job_ids == [enqueued.id]


def test_enqueue_passes_rq_options():
    enqueued = enqueue(add, 2, 3, job_timeout=7, job_id="fixed-id")
    assert enqueued.id == "fixed-id"
    assert enqueued.timeout == 7


def test_enqueue_runs_in_worker(run_burst):
    enqueued = enqueue(add, 2, 3)
    run_burst("default")
    assert enqueued.return_value() == 5


def test_enqueue_rejects_lambda():
    with pytest.raises(UnimportableFunctionError, match="it is a lambda"):
        enqueue(lambda: 1)


def test_queue_enqueue_rejects_nested_function():
    def nested():
        return 1

    with pytest.raises(UnimportableFunctionError, match="inside another function"):
        get_queue("low").enqueue(nested)


def test_enqueue_accepts_job_function(run_burst):
    enqueued = get_queue().enqueue(plain_job, 4)
    run_burst("default")
    assert enqueued.func_name == "tests.testapp.jobs.plain_job"
    assert enqueued.return_value() == 8


def test_enqueue_accepts_dotted_path(run_burst):
    enqueued = enqueue("tests.testapp.jobs.add", 1, 1)
    run_burst("default")
    assert enqueued.return_value() == 2


def test_sync_queue_runs_at_enqueue():
    enqueued = get_queue("sync").enqueue(add, 2, 3)
    assert enqueued.get_status() == JobStatus.FINISHED
    assert enqueued.return_value() == 5


def test_sync_queue_records_failure():
    enqueued = get_queue("sync").enqueue(fail, "sync boom")
    assert enqueued.get_status() == JobStatus.FAILED


def test_sync_queue_is_not_async():
    assert get_queue("sync")._is_async is False


def stored_data(connection, job_id):
    return zlib.decompress(connection.hget(f"rq:job:{job_id}", "data"))


def test_json_serializer_stores_json(redis_url, run_burst):
    queues = {"default": {"URL": redis_url, "SERIALIZER": "json"}}
    with override_settings(RQ_QUEUES=queues):
        queue = get_queue()
        enqueued = queue.enqueue(add, 2, 3)
        data = json.loads(stored_data(queue.connection, enqueued.id))
        run_burst("default")
    assert queue.serializer is JSONSerializer
    assert data[0] == "tests.testapp.jobs.add"
    assert data[2] == [2, 3]
    assert enqueued.return_value() == 5


def test_pickle_serializer_stores_pickle(redis_url):
    queues = {"default": {"URL": redis_url, "SERIALIZER": "pickle"}}
    with override_settings(RQ_QUEUES=queues):
        queue = get_queue()
        enqueued = queue.enqueue(add, 2, 3)
    assert queue.serializer is DefaultSerializer
    assert stored_data(queue.connection, enqueued.id)[:1] == b"\x80"


def test_serializer_by_dotted_path(redis_url):
    queues = {"default": {"URL": redis_url}}
    rq = {"SERIALIZER": "rq.serializers.JSONSerializer"}
    with override_settings(RQ_QUEUES=queues, RQ=rq):
        queue = get_queue()
        enqueued = queue.enqueue(add, 2, 3)
        data = json.loads(stored_data(queue.connection, enqueued.id))
    assert data[0] == "tests.testapp.jobs.add"


# Where a value comes from, most specific first. Each row sets the levels
# it names, and LEVEL_VALUES gives each level a distinct value per option.
LEVEL_VALUES = {
    "timeout": {"call": 11, "job": 22, "queue": 33, "global": 44},
    "result_ttl": {"call": 1100, "job": 2200, "queue": 3300, "global": 4400},
    "failure_ttl": {"call": 1100, "job": 2200, "queue": 3300, "global": 4400},
}
CALL_NAMES = {
    "timeout": "job_timeout",
    "result_ttl": "result_ttl",
    "failure_ttl": "failure_ttl",
}
SETTING_NAMES = {
    "timeout": "DEFAULT_TIMEOUT",
    "result_ttl": "DEFAULT_RESULT_TTL",
    "failure_ttl": "DEFAULT_FAILURE_TTL",
}
RQ_DEFAULTS = {
    "timeout": RQ_DEFAULT_TIMEOUT,
    "result_ttl": RQ_DEFAULT_RESULT_TTL,
    "failure_ttl": RQ_DEFAULT_FAILURE_TTL,
}
PRECEDENCE = [
    (("call", "job", "queue", "global"), "call"),
    (("job", "queue", "global"), "job"),
    (("queue", "global"), "queue"),
    (("global",), "global"),
    ((), "rq"),
]


def enqueue_with_levels(run_burst, option, levels, func, *args):
    """Enqueue ``func`` with ``option`` set at each of ``levels``."""
    values = LEVEL_VALUES[option]
    queue_options = {"URL": os.environ["REDIS_URL"]}
    global_options = {}
    if "queue" in levels:
        queue_options[SETTING_NAMES[option]] = values["queue"]
    if "global" in levels:
        global_options[SETTING_NAMES[option]] = values["global"]
    job_options = {option: values["job"]} if "job" in levels else {}
    call_options = {CALL_NAMES[option]: values["call"]} if "call" in levels else {}
    with override_settings(RQ_QUEUES={"default": queue_options}, RQ=global_options):
        job_function = job("default", **job_options)(func)
        enqueued = job_function.delay(*args, **call_options)
        run_burst("default")
    return enqueued


def expected_value(option, source):
    if source == "rq":
        return RQ_DEFAULTS[option]
    return LEVEL_VALUES[option][source]


def assert_ttl_near(connection, key, expected):
    remaining = connection.ttl(key)
    assert expected - 5 <= remaining <= expected, (key, remaining, expected)


@pytest.mark.parametrize(("levels", "source"), PRECEDENCE)
def test_precedence_timeout(levels, source, run_burst):
    enqueued = enqueue_with_levels(run_burst, "timeout", levels, add, 1, 2)
    assert Job.fetch(enqueued.id, connection=enqueued.connection).timeout == (
        expected_value("timeout", source)
    )


@pytest.mark.parametrize(("levels", "source"), PRECEDENCE)
def test_precedence_result_ttl(levels, source, run_burst):
    enqueued = enqueue_with_levels(run_burst, "result_ttl", levels, add, 1, 2)
    assert enqueued.get_status() == JobStatus.FINISHED
    assert_ttl_near(
        enqueued.connection, enqueued.key, expected_value("result_ttl", source)
    )


@pytest.mark.parametrize(("levels", "source"), PRECEDENCE)
def test_precedence_failure_ttl(levels, source, run_burst):
    enqueued = enqueue_with_levels(run_burst, "failure_ttl", levels, fail)
    assert enqueued.get_status() == JobStatus.FAILED
    assert_ttl_near(
        enqueued.connection, enqueued.key, expected_value("failure_ttl", source)
    )


@pytest.mark.parametrize("level", ["call", "job", "queue", "global"])
def test_result_ttl_zero_keeps_no_result(level, run_burst):
    enqueued = enqueue_special(run_burst, "result_ttl", level, 0, add, 1, 2)
    assert enqueued.connection.exists(enqueued.key) == 0


@pytest.mark.parametrize("level", ["call", "job", "queue", "global"])
def test_result_ttl_minus_one_keeps_forever(level, run_burst):
    enqueued = enqueue_special(run_burst, "result_ttl", level, -1, add, 1, 2)
    assert enqueued.get_status() == JobStatus.FINISHED
    assert enqueued.connection.ttl(enqueued.key) == -1


@pytest.mark.parametrize("level", ["call", "job", "queue", "global"])
def test_timeout_minus_one_means_no_timeout(level, run_burst):
    enqueued = enqueue_special(
        run_burst, "timeout", level, -1, sleep_then_return, 0.01, "ok"
    )
    assert enqueued.timeout == -1
    assert enqueued.return_value() == "ok"


def enqueue_special(run_burst, option, level, value, func, *args):
    """Enqueue ``func`` with ``option`` set to ``value`` at one level only."""
    queue_options = {"URL": os.environ["REDIS_URL"]}
    global_options = {}
    job_options = {}
    call_options = {}
    if level == "queue":
        queue_options[SETTING_NAMES[option]] = value
    elif level == "global":
        global_options[SETTING_NAMES[option]] = value
    elif level == "job":
        job_options[option] = value
    else:
        call_options[CALL_NAMES[option]] = value
    with override_settings(RQ_QUEUES={"default": queue_options}, RQ=global_options):
        enqueued = job("default", **job_options)(func).delay(*args, **call_options)
        run_burst("default")
    return enqueued


def test_public_api_exports():
    import django_rq_lite
    from django_rq_lite import (
        conf,
        connections,
        decorators,
        exceptions,
        on_commit,
        queues,
        workers,
    )

    assert django_rq_lite.get_queue is queues.get_queue
    assert django_rq_lite.enqueue is queues.enqueue
    assert django_rq_lite.get_connection is connections.get_connection
    assert django_rq_lite.get_worker is workers.get_worker
    assert django_rq_lite.job is decorators.job
    assert django_rq_lite.QueueNotFound is conf.QueueNotFound
    assert django_rq_lite.EnqueueError is exceptions.EnqueueError
    assert django_rq_lite.PendingJob is on_commit.PendingJob
    assert sorted(django_rq_lite.__all__) == sorted(django_rq_lite._EXPORTS)


def test_get_worker_listens_in_order():
    worker = get_worker("high", "low")
    assert worker.queue_names() == ["high", "low"]


def test_get_worker_defaults_to_default():
    assert get_worker().queue_names() == ["default"]


def test_enqueue_rejects_nested_function():
    def nested():
        return 1

    with pytest.raises(UnimportableFunctionError, match="inside another function"):
        enqueue(nested)
