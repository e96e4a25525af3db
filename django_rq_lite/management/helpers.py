"""Queue lookups shared by the management commands, with CommandError messages."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from redis.exceptions import RedisError
from rq import Queue

from django_rq_lite import conf
from django_rq_lite.exceptions import error_detail
from django_rq_lite.queues import get_queue, same_server


def check_queue_names(names: list[str]) -> None:
    """Raise ``CommandError`` for names that ``RQ_QUEUES`` does not define."""
    configured = conf.get_queue_names()
    unknown = [name for name in names if name not in configured]
    if unknown:
        raise CommandError(
            f"Unknown queue(s): {', '.join(repr(name) for name in unknown)}. "
            "Configured queues in RQ_QUEUES: "
            f"{', '.join(repr(name) for name in configured) or 'none'}."
        )


def get_queue_or_error(name: str) -> Queue:
    """Return queue ``name``, or raise ``CommandError`` with the fix."""
    check_queue_names([name])
    try:
        return get_queue(name)
    except ImproperlyConfigured as error:
        raise CommandError(
            f"Queue {name!r} cannot be used: {error}. Fix its entry in RQ_QUEUES."
        ) from error


def get_queues_or_error(names: list[str]) -> list[Queue]:
    check_queue_names(names)
    return [get_queue_or_error(name) for name in names]


def distinct_servers(queues: list[Queue]) -> list[Queue]:
    """Return one queue per Redis server and database among ``queues``."""
    distinct: list[Queue] = []
    for queue in queues:
        if not any(same_server(queue.connection, seen.connection) for seen in distinct):
            distinct.append(queue)
    return distinct


def redis_error(error: RedisError, action: str) -> CommandError:
    """Return the ``CommandError`` for a Redis failure during ``action``."""
    detail = error_detail(error)
    return CommandError(
        f"Failed to {action}: {type(error).__name__}: {detail}. Check that the "
        "Redis server in RQ_QUEUES is running and reachable."
    )


def shorten_id(job_id: str, limit: int = 80) -> str:
    """Return ``job_id`` cut to ``limit`` characters, for a message that echoes it."""
    if len(job_id) <= limit:
        return job_id
    return f"{job_id[:limit]}... ({len(job_id)} characters)"
