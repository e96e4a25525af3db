"""The enqueue fast path: cached queues, round trips and delay_many()."""

import copy
import multiprocessing
import threading

import pytest
import redis
from django.db import connections, transaction
from django.test import override_settings
from rq import Queue

try:
    from rq import RateLimit
except ImportError:  # RQ 2 has no rate limits.
    RateLimit = None
from rq.job import JobStatus

from django_rq_lite import get_queue
from django_rq_lite.connections import reset_connections
from django_rq_lite.decorators import (
    UnimportableFunctionError,
    _importable,
    check_importable,
    job,
)
from django_rq_lite.on_commit import PendingJob
from tests.dashboard.helpers import run_burst_worker
from tests.testapp.jobs import add, noop

CALLS = 5


class CountingConnection(redis.Connection):
    """A redis-py connection that counts the requests it writes.

    redis-py writes a single command, or a whole pipeline, with one
    ``send_packed_command`` call and then reads the replies, so the count
    is the number of round trips.
    """

    sent = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def count_round_trips(action, calls=CALLS):
    """Return the round trips that ``calls`` runs of ``action`` take."""
    action()  # The first call also reads the server version.
    CountingConnection.sent = 0
    for _ in range(calls):
        action()
    return CountingConnection.sent


@pytest.fixture
def counted_queue(redis_url, settings):
    """Configure the queue ``counted``, whose client counts round trips."""
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "counted": {
            "URL": redis_url,
            "CONNECTION_KWARGS": {"connection_class": CountingConnection},
        },
    }
    return get_queue("counted")


@pytest.fixture
def plain_rq_queue(redis_url):
    """An RQ queue with no django-rq-lite class, counting round trips."""
    client = redis.Redis.from_url(redis_url, connection_class=CountingConnection)
    yield Queue("plain", connection=client)
    client.close()


def test_delay_round_trips_not_above_rq(counted_queue, plain_rq_queue):
    counted_add = job("counted")(add)
    ours = count_round_trips(lambda: counted_add.delay(1, 2))
    rq = count_round_trips(lambda: plain_rq_queue.enqueue(add, 1, 2))
    assert ours <= rq


def test_delay_round_trips_below_rq(counted_queue, plain_rq_queue):
    counted_add = job("counted")(add)
    ours = count_round_trips(lambda: counted_add.delay(1, 2))
    rq = count_round_trips(lambda: plain_rq_queue.enqueue(add, 1, 2))
    assert ours < rq


def test_delay_one_pipeline_writes_job(counted_queue):
    enqueued = job("counted")(add).delay(2, 3)
    assert counted_queue.job_ids == [enqueued.id]
    fetched = counted_queue.fetch_job(enqueued.id)
    assert fetched.args == (2, 3)
    assert fetched.get_status() == JobStatus.QUEUED


def test_delay_one_pipeline_registers_queue(counted_queue):
    job("counted")(add).delay(2, 3)
    names = [queue.name for queue in Queue.all(connection=counted_queue.connection)]
    assert "counted" in names


def test_delay_many_round_trips_not_above_rq(counted_queue, plain_rq_queue):
    counted_add = job("counted")(add)
    calls = [((i, i), {}) for i in range(20)]
    ours = count_round_trips(lambda: counted_add.delay_many(calls))
    datas = [Queue.prepare_data(add, args=(i, i)) for i in range(20)]
    rq = count_round_trips(lambda: plain_rq_queue.enqueue_many(datas))
    assert ours <= rq


def test_depends_on_unfinished_deferred():
    queue = get_queue()
    first = queue.enqueue(add, 1, 2)
    second = queue.enqueue(add, 3, 4, depends_on=first)
    assert second.get_status() == JobStatus.DEFERRED
    assert queue.job_ids == [first.id]


def test_enqueue_many_keeps_call_order_with_dependencies():
    queue = get_queue()
    finished = queue.enqueue(add, 0, 0)
    run_burst_worker()
    waiting_on = queue.enqueue(add, 0, 1, depends_on="no-such-job")
    datas = [
        Queue.prepare_data(add, args=(1, 1), depends_on=finished.id),
        Queue.prepare_data(add, args=(2, 2)),
        Queue.prepare_data(add, args=(3, 3), depends_on=waiting_on.id),
    ]

    jobs = queue.enqueue_many(datas)

    # RQ 3.0 returns these as (2, 2), (3, 3), (1, 1).
    assert [tuple(queued.args) for queued in jobs] == [(1, 1), (2, 2), (3, 3)]
    assert [queued.get_status() for queued in jobs] == [
        JobStatus.QUEUED,
        JobStatus.QUEUED,
        JobStatus.DEFERRED,
    ]


def test_get_queue_cached():
    assert get_queue("default") is get_queue("default")


def test_get_queue_overrides_build_new():
    assert get_queue("default", default_timeout=5) is not get_queue("default")


def test_get_queue_override_settings_at_once(redis_url):
    before = get_queue("low")
    with override_settings(RQ_QUEUES={"low": {"URL": redis_url, "ASYNC": False}}):
        assert get_queue("low") is not before
        assert get_queue("low")._is_async is False
    assert get_queue("low")._is_async is True


def test_reset_connections_drops_queues():
    before = get_queue("default")
    reset_connections()
    assert get_queue("default") is not before


def test_result_ttl_default_follows_settings(redis_url):
    assert get_queue("low").enqueue(add, 1, 1).result_ttl is None
    low = {"URL": redis_url, "DEFAULT_RESULT_TTL": 77}
    with override_settings(RQ_QUEUES={"low": low}):
        assert get_queue("low").enqueue(add, 1, 1).result_ttl == 77
    assert get_queue("low").enqueue(add, 1, 1).result_ttl is None


@pytest.mark.django_db
def test_commit_mode_follows_settings():
    with override_settings(RQ={"COMMIT_MODE": "on_commit"}):
        with transaction.atomic():
            pending = job(add).delay(1, 2)
        assert isinstance(pending, PendingJob)
    assert not isinstance(job(add).delay(1, 2), PendingJob)


def test_invalid_commit_mode_raises_each_call():
    with override_settings(RQ={"COMMIT_MODE": "later"}):
        for _ in range(2):
            with pytest.raises(ValueError, match="COMMIT_MODE 'later'"):
                job(add).delay(1, 2)


@pytest.mark.django_db(transaction=True)
def test_immediate_delay_opens_no_database():
    connections["default"].close()
    job(add).delay(1, 2)
    assert connections["default"].connection is None


def test_check_importable_remembers_function():
    check_importable(add)
    assert add in _importable


def test_check_importable_lambda_raises_twice():
    for _ in range(2):
        with pytest.raises(UnimportableFunctionError):
            check_importable(lambda: None)


class SlotsCallable:
    """A callable that cannot be weakly referenced."""

    __slots__ = ()

    def __call__(self):
        return None


def test_check_importable_no_weakref_passes():
    callable_object = SlotsCallable()
    check_importable(callable_object)
    assert callable_object not in _importable


def child_enqueue(result):
    result.put(get_queue("default").enqueue(add, 5, 6).id)


def test_cached_queue_after_fork():
    queue = get_queue("default")
    queue.enqueue(add, 1, 2)  # The parent's pool now contains a connection.
    context = multiprocessing.get_context("fork")
    result = context.Queue()
    child = context.Process(target=child_enqueue, args=(result,))
    child.start()
    child_job_id = result.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert child_job_id in queue.job_ids
    assert queue.count == 2


def test_cached_queue_across_threads():
    delayed_add = job(add)

    def enqueue_some():
        for i in range(25):
            delayed_add.delay(i, i)

    threads = [threading.Thread(target=enqueue_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert get_queue().count == 100


def test_delay_many_enqueues_each_call():
    jobs = job(add).delay_many([((1, 2), {}), ((), {"x": 3, "y": 4})])
    assert get_queue().job_ids == [jobs[0].id, jobs[1].id]
    assert jobs[1].kwargs == {"x": 3, "y": 4}


def test_delay_many_results():
    jobs = job(add).delay_many([((i, 1), {}) for i in range(3)])
    run_burst_worker()
    assert [queued.return_value(refresh=True) for queued in jobs] == [1, 2, 3]


def test_delay_many_settings_default():
    jobs = job("high")(add).delay_many([((1, 2), {})])
    assert jobs[0].result_ttl == 900
    assert jobs[0].timeout == 60


def test_delay_many_options_override():
    jobs = job("high", result_ttl=5)(add).delay_many(
        [((1, 2), {})], job_timeout=30, description="bulk add"
    )
    assert jobs[0].result_ttl == 5
    assert jobs[0].timeout == 30
    assert jobs[0].description == "bulk add"


def test_delay_many_meta_per_job():
    jobs = job(add).delay_many([((1, 2), {}), ((3, 4), {})], meta={"source": "x"})
    jobs[0].meta["source"] = "changed"
    assert jobs[1].meta == {"source": "x"}


def test_delay_many_unknown_option_raises():
    with pytest.raises(TypeError, match="unknown option\\(s\\) unique"):
        job(add).delay_many([((1, 2), {})], unique=True)


def test_delay_many_plain_queue(redis_url):
    client = redis.Redis.from_url(redis_url)
    plain = Queue("plain", connection=client)
    jobs = job(plain)(noop).delay_many([((), {})] * 3)
    assert plain.count == 3
    assert len(jobs) == 3
    client.close()


@pytest.mark.django_db(transaction=True)
def test_delay_many_on_commit_waits(redis_url):
    delayed_add = job(add, on_commit=True)
    with transaction.atomic():
        pending = delayed_add.delay_many([((1, 2), {}), ((3, 4), {})])
        assert get_queue().count == 0
    assert [handle.enqueued for handle in pending] == [True, True]
    assert get_queue().job_ids == [handle.id for handle in pending]


@pytest.mark.django_db(transaction=True)
def test_delay_many_on_commit_rollback():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with transaction.atomic():
            pending = job(add).delay_many([((1, 2), {})], on_commit=True)
            raise Rollback
    assert pending[0].enqueued is False
    assert get_queue().count == 0


def test_enqueue_many_order_with_at_front():
    queue = get_queue()
    datas = [
        Queue.prepare_data(add, args=(1, 1), job_id="back-1"),
        Queue.prepare_data(add, args=(2, 2), job_id="front-1", at_front=True),
        Queue.prepare_data(add, args=(3, 3), job_id="back-2"),
        Queue.prepare_data(add, args=(4, 4), job_id="front-2", at_front=True),
    ]
    queue.enqueue_many(datas)
    assert queue.job_ids == ["front-2", "front-1", "back-1", "back-2"]


def test_enqueue_many_same_hash_as_rq(redis_url):
    client = redis.Redis.from_url(redis_url)
    queue = get_queue()
    queue.enqueue_many([Queue.prepare_data(add, args=(1, 2), job_id="ours")])
    Queue("default", connection=client).enqueue_many(
        [Queue.prepare_data(add, args=(1, 2), job_id="rq")]
    )
    ours = client.hgetall("rq:job:ours")
    theirs = client.hgetall("rq:job:rq")
    client.close()
    assert sorted(ours) == sorted(theirs)
    assert ours[b"status"] == theirs[b"status"]


def test_enqueue_many_ttl_expires_job(redis_url):
    queue = get_queue()
    jobs = queue.enqueue_many([Queue.prepare_data(add, args=(1, 2), ttl=300)])
    ttl = queue.connection.ttl(jobs[0].key)
    assert 0 < ttl <= 300


def test_enqueue_many_registers_queue():
    queue = get_queue("low")
    queue.enqueue_many([Queue.prepare_data(add, args=(1, 2))])
    assert "low" in [known.name for known in Queue.all(connection=queue.connection)]


def test_enqueue_many_duplicate_id_raises():
    datas = [Queue.prepare_data(add, job_id="same") for _ in range(2)]
    with pytest.raises(ValueError, match="'same' appears more than once"):
        get_queue().enqueue_many(datas)
    assert get_queue().count == 0


def test_enqueue_many_depends_on_deferred():
    queue = get_queue()
    first = queue.enqueue(add, 1, 2)
    jobs = queue.enqueue_many([Queue.prepare_data(add, args=(3, 4), depends_on=first)])
    assert jobs[0].get_status() == JobStatus.DEFERRED
    assert queue.job_ids == [first.id]


def test_enqueue_many_group_id_kept():
    jobs = get_queue().enqueue_many([Queue.prepare_data(add)], group_id="batch")
    assert jobs[0].group_id == "batch"


def test_enqueue_many_one_shot_iterable():
    datas = (Queue.prepare_data(add, args=(i, i)) for i in range(3))
    assert len(get_queue().enqueue_many(datas)) == 3
    assert get_queue().count == 3


def test_enqueue_options_one_pipeline():
    queue = get_queue()
    queue.enqueue(add, 1, 1, job_id="back")
    enqueued = queue.enqueue(
        add, 2, 2, job_id="front", at_front=True, ttl=300, meta={"k": 1}
    )
    fetched = queue.fetch_job("front")
    assert queue.job_ids == ["front", "back"]
    assert 0 < queue.connection.ttl(enqueued.key) <= 300
    assert fetched.meta == {"k": 1}
    assert fetched.origin == "default"


@pytest.mark.skipif(RateLimit is None, reason="RQ 2 has no rate limits.")
def test_enqueue_rate_limit_second_waits():
    queue = get_queue()
    limit = RateLimit(key="mail", concurrency=1)
    first = queue.enqueue(add, 1, 1, rate_limit=limit)
    second = queue.enqueue(add, 2, 2, rate_limit=limit)
    assert first.get_status() == JobStatus.QUEUED
    assert second.get_status() == JobStatus.RATE_LIMITED
    assert queue.job_ids == [first.id]


def test_delay_plan_follows_settings(redis_url):
    delayed_add = job("low")(add)
    assert delayed_add.delay(1, 1).result_ttl is None
    low = {"URL": redis_url, "DEFAULT_RESULT_TTL": 77}
    with override_settings(RQ_QUEUES={"low": low}):
        assert delayed_add.delay(1, 1).result_ttl == 77
    assert delayed_add.delay(1, 1).result_ttl is None


@pytest.mark.django_db
def test_delay_plan_follows_commit_mode():
    delayed_add = job(add)
    assert not isinstance(delayed_add.delay(1, 2), PendingJob)
    with override_settings(RQ={"COMMIT_MODE": "on_commit"}):
        with transaction.atomic():
            pending = delayed_add.delay(1, 2)
        assert isinstance(pending, PendingJob)
    assert not isinstance(delayed_add.delay(1, 2), PendingJob)


def test_delay_plan_invalid_mode_raises():
    delayed_add = job(add)
    delayed_add.delay(1, 2)
    with override_settings(RQ={"COMMIT_MODE": "later"}):
        for _ in range(2):
            with pytest.raises(ValueError, match="COMMIT_MODE 'later'"):
                delayed_add.delay(1, 2)


def test_delay_function_kwargs_kept():
    enqueued = job(add).delay(x=1, y=2)
    fetched = get_queue().fetch_job(enqueued.id)
    assert fetched.kwargs == {"x": 1, "y": 2}
    assert fetched.args == ()


def test_delay_option_keywords_applied():
    enqueued = job(add).delay(1, 2, job_id="chosen", job_timeout=33)
    fetched = get_queue().fetch_job("chosen")
    assert enqueued.id == "chosen"
    assert fetched.timeout == 33
    assert fetched.args == (1, 2)


def test_delay_meta_per_job():
    options_meta = {"source": "x"}
    delayed_add = job(add, meta=options_meta)
    first = delayed_add.delay(1, 2)
    second = delayed_add.delay(3, 4)
    first.meta["source"] = "changed"
    assert second.meta == {"source": "x"}
    assert options_meta == {"source": "x"}


def test_delay_at_front_option():
    queue = get_queue()
    back = job(add).delay(1, 1)
    front = job(add, at_front=True).delay(2, 2)
    assert queue.job_ids == [front.id, back.id]


def test_delay_sync_queue_runs_inline():
    enqueued = job("sync")(add).delay(2, 3)
    assert enqueued.get_status() == JobStatus.FINISHED
    assert enqueued.return_value() == 5


def test_job_function_deepcopy_after_delay():
    delayed_add = job(add)
    delayed_add.delay(1, 2)
    copied = copy.deepcopy(delayed_add)
    enqueued = copied.delay(3, 4)
    assert enqueued.args == (3, 4)
    assert delayed_add._direct_plan is not None
