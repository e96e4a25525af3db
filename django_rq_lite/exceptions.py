"""Exceptions raised to code that enqueues jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis


class EnqueueError(redis.exceptions.ConnectionError):
    """A job could not be enqueued because its queue's Redis server failed.

    Raised in place of redis-py's ``ConnectionError`` or ``TimeoutError``,
    which is kept as ``__cause__``. It subclasses ``ConnectionError``, so
    code that catches that, or ``RedisError``, catches it too.
    """

    def __init__(self, queue_name: str, address: str, error: Exception) -> None:
        self.queue_name = queue_name
        self.address = address
        detail = error_detail(error)
        super().__init__(
            f"Could not enqueue a job on queue {queue_name!r}: Redis at {address} "
            f"failed with {type(error).__name__}: {detail}. Check that the server "
            "is running and that RQ_QUEUES points at it."
        )


def error_detail(error: Exception) -> str:
    """Return ``error``'s message without a final period, for a longer message.

    redis-py's messages often end with a period already.
    """
    return str(error).rstrip(".")


def describe_address(client: redis.Redis) -> str:
    """Return where ``client`` connects, as ``host:port/db`` or ``socket/db``.

    Passwords and user names are left out.
    """
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={db}"
    host = kwargs.get("host", "localhost")
    port = kwargs.get("port", 6379)
    return f"{host}:{port}/{db}"


@contextmanager
def enqueue_errors(queue: Any) -> Iterator[None]:
    """Turn a Redis connection failure while enqueueing into ``EnqueueError``."""
    try:
        yield
    except EnqueueError:
        raise
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise EnqueueError(queue.name, describe_address(queue.connection), exc) from exc
