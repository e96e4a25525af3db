"""Queue factories: RQ queues built from the ``RQ_QUEUES`` setting."""

from __future__ import annotations

import functools
from typing import Any

from django.utils.module_loading import import_string
from redis import Redis
from rq import Queue
from rq.job import Job

from . import conf
from .connections import get_connection
from .exceptions import enqueue_errors
from .on_commit import CommitModeMixin


class SettingsDefaultsMixin(CommitModeMixin):
    """Fill a new job's TTLs from the queue's settings when the caller did not.

    RQ's ``Queue`` takes a default timeout but no default result or failure
    TTL, so they are looked up by queue name whenever a job is created. That
    also covers queues that RQ builds itself, such as the worker's.

    The enqueue methods honour ``COMMIT_MODE`` (see ``on_commit.py``).

    A function that a worker could not import is rejected here, and a
    ``@job`` function is replaced by the function it wraps, because RQ
    stores a function by its import path.
    """

    def create_job(self, func: Any, *args: Any, **kwargs: Any) -> Job:
        from .decorators import JobFunction, check_importable

        if isinstance(func, JobFunction):
            func = func.func
        check_importable(func)
        for option, key in (
            ("result_ttl", "DEFAULT_RESULT_TTL"),
            ("failure_ttl", "DEFAULT_FAILURE_TTL"),
        ):
            if kwargs.get(option) is None:
                kwargs[option] = conf.get_job_default(self.name, key)
        return super().create_job(func, *args, **kwargs)

    # A Redis connection failure while enqueueing becomes EnqueueError, which
    # names the queue and the server's address.

    def enqueue_call(self, *args: Any, **kwargs: Any) -> Job:
        with enqueue_errors(self):
            return super().enqueue_call(*args, **kwargs)

    def enqueue_many(self, *args: Any, **kwargs: Any) -> list[Job]:
        with enqueue_errors(self):
            return super().enqueue_many(*args, **kwargs)

    def schedule_job(self, *args: Any, **kwargs: Any) -> Job:
        with enqueue_errors(self):
            return super().schedule_job(*args, **kwargs)


@functools.cache
def with_settings_defaults(queue_class: type[Queue]) -> type[Queue]:
    """Return a subclass of ``queue_class`` that applies settings defaults."""
    if issubclass(queue_class, SettingsDefaultsMixin):
        return queue_class
    return type(queue_class.__name__, (SettingsDefaultsMixin, queue_class), {})


def resolve_class(value: type | str | None, setting_key: str, default: type) -> type:
    """Return a class given as a class, a dotted path, the setting or RQ's."""
    if isinstance(value, str):
        return import_string(value)
    if value is not None:
        return value
    return conf.get_class(setting_key) or default


def get_queue(
    name: str = "default",
    *,
    default_timeout: int | str | None = None,
    is_async: bool | None = None,
    connection: Redis | None = None,
    queue_class: type[Queue] | str | None = None,
    job_class: type[Job] | str | None = None,
    serializer: Any = None,
    **kwargs: Any,
) -> Queue:
    """Return the RQ queue ``name`` as ``RQ_QUEUES`` configures it.

    Keyword arguments override the settings; ``QueueNotFound`` is raised for
    a name that is not configured.
    """
    options = conf.get_queue_options(name)
    if default_timeout is None:
        default_timeout = conf.get_job_default(name, "DEFAULT_TIMEOUT")
    if is_async is None:
        is_async = options.get("ASYNC", True)
    if serializer is None:
        serializer = conf.get_serializer(name)
    klass = with_settings_defaults(resolve_class(queue_class, "QUEUE_CLASS", Queue))
    return klass(
        name,
        connection=connection or get_connection(name),
        default_timeout=default_timeout,
        is_async=is_async,
        job_class=resolve_class(job_class, "JOB_CLASS", Job),
        serializer=serializer,
        **kwargs,
    )


def get_queues(*names: str, **kwargs: Any) -> list[Queue]:
    """Return the queues ``names`` (default: ``default``), on one Redis server.

    Raise ``ValueError`` when they are configured on different servers,
    because one RQ worker listens on one connection.
    """
    names = names or ("default",)
    queues = [get_queue(name, **kwargs) for name in names]
    first = queues[0]
    for queue in queues[1:]:
        if not same_server(first.connection, queue.connection):
            raise ValueError(
                f"Queues {first.name!r} and {queue.name!r} are on different "
                "Redis servers, but one worker can only listen on one. Start "
                "a separate worker for each server."
            )
    return queues


def same_server(first: Redis, second: Redis) -> bool:
    """Tell whether two clients talk to the same server and database."""
    if first is second:
        return True
    keys = ("host", "port", "db", "path", "username")
    first_kwargs = first.connection_pool.connection_kwargs
    second_kwargs = second.connection_pool.connection_kwargs
    return all(first_kwargs.get(key) == second_kwargs.get(key) for key in keys)


def enqueue(func: Any, *args: Any, **kwargs: Any) -> Job:
    """Enqueue ``func(*args, **kwargs)`` on the ``default`` queue.

    Options take RQ's names (``job_timeout``, ``result_ttl``, ``job_id``...),
    plus ``on_commit`` and ``on_commit_using`` (see ``on_commit.py``).
    """
    from .decorators import check_importable

    check_importable(func)
    return get_queue("default").enqueue(func, *args, **kwargs)
