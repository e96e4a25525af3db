"""Enqueueing while Redis is down raises ``EnqueueError`` in bounded time."""

import datetime
import os
import signal
import time

import pytest

from django_rq_lite import get_queue
from django_rq_lite.exceptions import EnqueueError
from django_rq_lite.job_writer import CONNECTION_ARGS
from tests.settings import queues_for
from tests.testapp import jobs

# Seconds that an enqueue may take against a server that refuses connections.
# On loopback it fails in well under 0.2 s, so this only allows for a slow
# machine.
REFUSED_BOUND = 5.0


def assert_names_queue_and_address(error, queue_name, port):
    message = str(error)
    assert f"queue {queue_name!r}" in message
    assert f"127.0.0.1:{port}/0" in message
    assert "RQ_QUEUES" in message
    assert ".." not in message


@pytest.fixture
def stopped_server(private_queues, redis_server, reliability_stats):
    redis_server.stop()
    reliability_stats.record(faults_injected=1)
    return redis_server


def test_delay_server_stopped(stopped_server):
    started = time.monotonic()
    with pytest.raises(EnqueueError) as caught:
        jobs.plain_job.delay(1)
    elapsed = time.monotonic() - started

    assert_names_queue_and_address(caught.value, "default", stopped_server.port)
    assert elapsed < REFUSED_BOUND


@pytest.mark.parametrize("queue_name", ["default", "high"])
def test_enqueue_server_stopped(stopped_server, queue_name):
    with pytest.raises(EnqueueError) as caught:
        get_queue(queue_name).enqueue(jobs.add, 1, 2)

    assert_names_queue_and_address(caught.value, queue_name, stopped_server.port)


def test_enqueue_in_server_stopped(stopped_server):
    with pytest.raises(EnqueueError) as caught:
        get_queue("low").enqueue_in(datetime.timedelta(seconds=5), jobs.add, 1, 2)

    assert_names_queue_and_address(caught.value, "low", stopped_server.port)


def test_enqueue_error_is_connection_error(stopped_server):
    import redis

    with pytest.raises(redis.ConnectionError) as caught:
        get_queue("default").enqueue(jobs.add, 1, 2)

    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_view_enqueue_server_stopped(stopped_server, client, settings):
    settings.ROOT_URLCONF = "tests.reliability.urls"

    with pytest.raises(EnqueueError) as caught:
        client.post("/enqueue/")

    assert_names_queue_and_address(caught.value, "default", stopped_server.port)


# None keeps redis-py's default socket timeout, 5 s in redis-py 8.2.
@pytest.mark.parametrize("socket_timeout", [1, None], ids=["1s", "default"])
def test_enqueue_server_frozen(
    settings, redis_server, reliability_stats, socket_timeout
):
    """A server that accepts connections but never responds (SIGSTOP)."""
    queues = queues_for(redis_server.url)
    if socket_timeout is not None:
        queues["default"]["SOCKET_TIMEOUT"] = socket_timeout
    settings.RQ_QUEUES = queues
    queue = get_queue("default")
    queue.connection.ping()
    pool = queue.connection.connection_pool
    connection = pool.get_connection(*CONNECTION_ARGS)
    effective_timeout = connection.socket_timeout
    pool.release(connection)
    if effective_timeout is None:
        # redis-py 5 to 7 have no default socket timeout, so the enqueue
        # would wait for the frozen server forever (a limit in the README).
        pytest.skip("this redis-py has no default socket timeout")
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    reliability_stats.record(faults_injected=1)
    try:
        started = time.monotonic()
        with pytest.raises(EnqueueError) as caught:
            queue.enqueue(jobs.add, 1, 2)
        elapsed = time.monotonic() - started
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)

    assert_names_queue_and_address(caught.value, "default", redis_server.port)
    assert "TimeoutError" in str(caught.value)
    assert elapsed < effective_timeout + 2
