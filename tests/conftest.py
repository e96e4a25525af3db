"""Start one private Redis server for the session and flush it per test."""

import os
import time

import pytest
import redis

from tests.redis_server import RedisServer

_server = None


def pytest_configure(config):
    """Point the suite, and the workers it spawns, at a private server.

    ``REDIS_URL`` selects an existing server, which must hold no keys,
    because every test flushes it.
    """
    global _server
    from django.conf import settings

    url = os.environ.get("REDIS_URL")
    if url:
        if redis.Redis.from_url(url).dbsize():
            raise pytest.UsageError(
                f"REDIS_URL {url} points at a database that holds keys, and "
                "the tests flush it. Point REDIS_URL at an empty database."
            )
    else:
        _server = RedisServer()
        _server.start()
        url = _server.url
        os.environ["REDIS_URL"] = url
    from tests.settings import queues_for

    settings.RQ_QUEUES = queues_for(url)


def pytest_unconfigure(config):
    if _server is not None:
        _server.cleanup()


@pytest.fixture
def redis_url():
    return os.environ["REDIS_URL"]


@pytest.fixture(autouse=True)
def flush_redis(redis_url):
    client = redis.Redis.from_url(redis_url)
    wait_for_blocked_clients_to_close(client)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def wait_for_blocked_clients_to_close(client, timeout=5.0):
    """Wait until Redis has closed the blocking reads of killed workers.

    An earlier test may SIGKILL a worker that waits in BLMOVE. Until Redis
    reads the closed socket, it may serve that read with this test's first
    job, which then sits in the intermediate queue, unseen by this test's
    worker, until RQ's cleanup fails it a minute or more later.
    """
    deadline = time.monotonic() + timeout
    while client.info("clients")["blocked_clients"] and time.monotonic() < deadline:
        time.sleep(0.01)
