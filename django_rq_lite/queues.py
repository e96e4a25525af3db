"""Queue factories: RQ queues built from the ``RQ_QUEUES`` setting."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from redis import Redis
from rq import Queue
from rq.exceptions import TimeoutFormatError
from rq.job import Job, JobStatus
from rq.utils import parse_timeout

from . import conf
from .connections import get_connection
from .exceptions import enqueue_errors
from .job_writer import gc_paused, write_jobs
from .on_commit import (
    ON_COMMIT_KEY,
    USING_KEY,
    CommitModeMixin,
    clear_commit_mode_cache,
    is_mode_decided,
)

# Per-process caches of what settings decide, emptied by clear_queue_cache()
# whenever RQ_QUEUES, RQ, CACHES or BASE_DIR change (see reset_connections).
# Plain dicts are enough across threads: a race builds the same value twice.
_queues: dict[str, Queue] = {}
_job_defaults: dict[str | None, dict[str, Any]] = {}

# Incremented by clear_queue_cache(), so caches kept elsewhere (such as each
# @job function's) can tell that they were built from older settings.
cache_generation = 0

# RQ enqueue() option -> settings key of its default.
JOB_DEFAULT_SETTINGS = {
    "result_ttl": "DEFAULT_RESULT_TTL",
    "failure_ttl": "DEFAULT_FAILURE_TTL",
}


def clear_queue_cache() -> None:
    """Forget cached queues, job defaults and commit modes."""
    global cache_generation
    cache_generation += 1
    _queues.clear()
    _job_defaults.clear()
    clear_commit_mode_cache()


def get_job_defaults(queue_name: str | None) -> dict[str, Any]:
    """Return the result and failure TTLs that settings give a queue's jobs.

    A value of ``None`` leaves RQ's own default in place.
    """
    defaults = _job_defaults.get(queue_name)
    if defaults is None:
        defaults = {
            option: conf.get_job_default(queue_name, key)
            for option, key in JOB_DEFAULT_SETTINGS.items()
        }
        _job_defaults[queue_name] = defaults
    return defaults


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
        for option, value in get_job_defaults(self.name).items():
            if kwargs.get(option) is None:
                kwargs[option] = value
        return super().create_job(func, *args, **kwargs)

    # A Redis connection failure while enqueueing becomes EnqueueError, which
    # names the queue and the server's address.

    def enqueue_call(self, *args: Any, **kwargs: Any) -> Job:
        with enqueue_errors(self):
            if self._fits_one_pipeline(args, kwargs):
                return self._enqueue_in_one_pipeline(args, kwargs)
            return super().enqueue_call(*args, **kwargs)

    def _fits_one_pipeline(self, args: tuple, kwargs: dict[str, Any]) -> bool:
        # Without a pipeline, RQ 3.0's enqueue_call() executes two: one adds
        # the queue to the set of queues, the next writes and pushes the job.
        # _enqueue_many_in_one_write() sends both in one transaction.
        # Dependencies (WATCH), rate limits, unique ids and inline queues
        # read from Redis or reject a pipeline, so they keep RQ's path.
        # So do calls whose commit mode is not decided yet, and calls that
        # pass options after func, args and kwargs by position.
        return (
            len(args) <= 3
            and self._is_async
            and is_mode_decided()
            and kwargs.get("pipeline") is None
            and not kwargs.get("depends_on")
            and not kwargs.get("rate_limit")
            and not kwargs.get("unique")
        )

    def _enqueue_in_one_pipeline(self, args: tuple, kwargs: dict[str, Any]) -> Job:
        # In RQ 3.0 every enqueue_call() option but these three is also a
        # prepare_data() argument, and _fits_one_pipeline() found them unset.
        options = {
            key: value
            for key, value in kwargs.items()
            if key not in ("pipeline", "rate_limit", "unique")
        }
        data = Queue.prepare_data(*args, **options)
        return self._enqueue_many_in_one_write([data])[0]

    def enqueue_many(self, job_datas: Any, *args: Any, **kwargs: Any) -> list[Job]:
        with enqueue_errors(self):
            job_datas = list(job_datas)
            if self._fits_one_write(args, kwargs):
                if not any(data.depends_on for data in job_datas):
                    return self._enqueue_many_in_one_write(job_datas)
            # Ids known in advance let the result follow the call's order.
            job_datas = [
                data if data.job_id else data._replace(job_id=str(uuid.uuid4()))
                for data in job_datas
            ]
            jobs = super().enqueue_many(job_datas, *args, **kwargs)
            return in_call_order(job_datas, jobs)

    def _fits_one_write(self, args: tuple, kwargs: dict[str, Any]) -> bool:
        # Only a call without a pipeline or a group, on an async queue whose
        # commit mode is decided. Any on_commit options left in kwargs were
        # already applied, so they are ignored here.
        extra = [
            value
            for key, value in kwargs.items()
            if key not in (ON_COMMIT_KEY, USING_KEY) and value is not None
        ]
        return not args and not extra and self._is_async and is_mode_decided()

    def enqueue_many_now(self, job_datas: list) -> list[Job]:
        """Enqueue ``EnqueueData`` entries now, in one transaction.

        ``COMMIT_MODE`` is not applied. The caller ensures that the queue is
        async and that no entry has ``depends_on``.
        """
        with enqueue_errors(self):
            return self._enqueue_many_in_one_write(job_datas)

    def _enqueue_many_in_one_write(self, job_datas: list) -> list[Job]:
        """Write jobs without dependencies as RQ's ``enqueue_many`` does, leaner.

        RQ 3.0 writes each job with a status HSET, a job HSET, an EXPIRE when
        it has a TTL and an RPUSH, and logs twice per job. The job HSET
        contains the status too. So this sends that HSET and the EXPIRE per
        job, then one RPUSH (and one LPUSH for ``at_front``) for all ids, in
        one transaction that ``job_writer`` packs. Redis ends with the same
        keys and queue order.
        """
        seen_ids = set()
        for data in job_datas:
            if data.job_id is None:
                continue
            if data.job_id in seen_ids:
                raise ValueError(
                    f"Job id {data.job_id!r} appears more than once in one "
                    "enqueue_many() call. Give each job its own id."
                )
            seen_ids.add(data.job_id)
        with gc_paused(len(job_datas)):
            jobs = self._create_jobs(job_datas)
            for job in jobs:
                # NOTE: _prepare_for_queue() is private to RQ 3.0, which calls
                # it on its own enqueue path. An RQ upgrade must keep it.
                self._prepare_for_queue(job)
            at_front = [data.at_front for data in job_datas]
            write_jobs(self, zip(jobs, at_front, strict=True))
        return jobs

    def _create_jobs(self, job_datas: list) -> list[Job]:
        """Create the jobs of ``EnqueueData`` entries as ``create_job()`` would."""
        if not creates_plain_jobs(type(self), self.job_class):
            return [self.create_job(**job_data_options(data)) for data in job_datas]

        from .decorators import JobFunction, check_importable

        jobs = []
        for data in job_datas:
            # As in create_job(), the function that a @job wraps is stored,
            # once a worker is known to be able to import it.
            func = data.func
            if isinstance(func, JobFunction):
                func = func.func
            check_importable(func)
            jobs.append(self._create_plain_job(data, func))
        return jobs

    def _create_plain_job(self, data: Any, func: Any) -> Job:
        """Create one job as ``create_job()`` would, storing ``func``.

        RQ's ``Job()`` checks its serializer against the ``Serializer``
        protocol, which takes longer on Python 3.11 than the rest of the
        job's creation. The queue's serializer passed that check when the
        queue was built, so the job gets it after a ``Job.create()`` with
        the default serializer, which skips the check. Only used when
        neither the queue class nor the job class overrides the steps.
        """
        timeout = parse_timeout(data.timeout)
        ttl = parse_timeout(data.ttl)
        if timeout == 0 or (ttl is not None and ttl <= 0):
            # RQ's create_job() raises the error for these values.
            return self.create_job(**job_data_options(data))
        defaults = get_job_defaults(self.name)
        result_ttl = data.result_ttl
        if result_ttl is None:
            result_ttl = defaults["result_ttl"]
        failure_ttl = data.failure_ttl
        if failure_ttl is None:
            failure_ttl = defaults["failure_ttl"]
        # NOTE: the steps below follow Queue.create_job() of RQ 2.12 and 3.0.
        # tests/test_job_writer.py compares the hashes that both ways save.
        # Job.create() parses the result and failure TTLs itself. The queue's
        # default timeout is RQ's private _default_timeout, which RQ's own
        # create_job() reads too, because no public attribute exposes it.
        job = self.job_class.create(
            func,
            args=data.args,
            kwargs=data.kwargs,
            connection=self.connection,
            result_ttl=result_ttl,
            ttl=ttl,
            failure_ttl=failure_ttl,
            status=JobStatus.QUEUED,
            description=data.description,
            timeout=self._default_timeout if timeout is None else timeout,
            id=data.job_id,
            origin=self.name,
            meta=data.meta,
            retry=data.retry,
            on_success=data.on_success,
            on_failure=data.on_failure,
            on_stopped=data.on_stopped,
            webhooks=data.webhooks,
        )
        job.serializer = self.serializer
        if data.repeat:
            job.repeats_left = data.repeat.times
            job.repeat_intervals = data.repeat.intervals
        return job

    def schedule_job(self, *args: Any, **kwargs: Any) -> Job:
        with enqueue_errors(self):
            return super().schedule_job(*args, **kwargs)


def job_data_options(data: Any) -> dict[str, Any]:
    """Return ``create_job()`` arguments for one RQ ``EnqueueData`` entry."""
    return {
        "func": data.func,
        "args": data.args,
        "kwargs": data.kwargs,
        "timeout": data.timeout,
        "result_ttl": data.result_ttl,
        "ttl": data.ttl,
        "failure_ttl": data.failure_ttl,
        "description": data.description,
        "job_id": data.job_id,
        "meta": data.meta,
        "retry": data.retry,
        "repeat": data.repeat,
        "on_success": data.on_success,
        "on_failure": data.on_failure,
        "on_stopped": data.on_stopped,
        "webhooks": data.webhooks,
    }


@functools.cache
def creates_plain_jobs(queue_class: type[Queue], job_class: type[Job]) -> bool:
    """Tell whether a queue creates its jobs with RQ's own steps.

    That holds when no class overrides ``create_job()`` but this module's
    mixin, and the job class keeps ``Job.create()`` and ``Job()``.
    """
    for klass in queue_class.__mro__:
        if klass is Queue:
            break
        if klass is not SettingsDefaultsMixin and "create_job" in vars(klass):
            return False
    for klass in job_class.__mro__:
        if klass is Job:
            break
        if "create" in vars(klass) or "__init__" in vars(klass):
            return False
    return True


def in_call_order(job_datas: list, jobs: list[Job]) -> list[Job]:
    """Return one of ``jobs`` per entry of ``job_datas``, in that order.

    RQ 3.0's ``enqueue_many()`` returns the jobs without dependencies first,
    then those that wait, then those whose dependencies have finished, and
    can list a job twice when a dependency finishes during the call.
    """
    by_id = {job.id: job for job in jobs}
    return [by_id[data.job_id] for data in job_datas]


@functools.cache
def with_settings_defaults(queue_class: type[Queue]) -> type[Queue]:
    """Return a subclass of ``queue_class`` that applies settings defaults."""
    if issubclass(queue_class, SettingsDefaultsMixin):
        return queue_class
    return type(queue_class.__name__, (SettingsDefaultsMixin, queue_class), {})


def resolve_class(value: type | str | None, setting_key: str, default: type) -> type:
    """Return a class given as a class, a dotted path, the setting or RQ's.

    Raise ``ImproperlyConfigured`` when the class given or set is not a
    subclass of the RQ class that ``setting_key`` needs.
    """
    if value is None:
        path = conf.get_global_setting().get(setting_key)
        if not path:
            return default
        described = f"RQ[{setting_key!r}] is {path!r}, which"
        klass = import_string(path)
    else:
        kind = setting_key.lower().replace("_", " ")
        described = f"The {kind} {value!r}"
        klass = import_string(value) if isinstance(value, str) else value
    if not conf.is_class_for(klass, setting_key):
        base = conf.CLASS_BASES[setting_key]
        raise ImproperlyConfigured(
            f"{described} is not a subclass of {base}. Give a subclass of "
            f"{base}, as a class or a dotted path."
        )
    return klass


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
    a name that is not configured. Without keyword arguments the queue is
    built once per process and shared, threads included, until a setting
    that configures it changes, so do not change its attributes.
    """
    overrides = (default_timeout, is_async, connection, queue_class, job_class)
    if kwargs or serializer is not None or any(v is not None for v in overrides):
        return build_queue(
            name,
            default_timeout=default_timeout,
            is_async=is_async,
            connection=connection,
            queue_class=queue_class,
            job_class=job_class,
            serializer=serializer,
            **kwargs,
        )
    queue = _queues.get(name)
    if queue is None:
        queue = _queues.setdefault(name, build_queue(name))
    return queue


def build_queue(
    name: str,
    *,
    default_timeout: int | str | None = None,
    is_async: bool | None = None,
    connection: Redis | None = None,
    queue_class: type[Queue] | str | None = None,
    job_class: type[Job] | str | None = None,
    serializer: Any = None,
    **kwargs: Any,
) -> Queue:
    """Build a new RQ queue ``name`` from settings and the overrides given."""
    options = conf.get_queue_options(name)
    if default_timeout is None:
        default_timeout = conf.get_job_default(name, "DEFAULT_TIMEOUT")
        check_timeout_setting(name, default_timeout)
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


def check_timeout_setting(name: str, value: Any) -> None:
    """Raise ``ImproperlyConfigured`` if the ``DEFAULT_TIMEOUT`` setting is invalid.

    The system check E011 reports it too, but ``--skip-checks`` and code that
    runs before the checks would otherwise get RQ's bare TimeoutFormatError.
    """
    try:
        parse_timeout(value)
    except (TimeoutFormatError, TypeError, ValueError) as error:
        raise ImproperlyConfigured(
            f"DEFAULT_TIMEOUT {value!r} of queue {name!r} (from RQ_QUEUES or RQ) "
            f"is invalid: {error} Use a number of seconds, a string such as "
            '"5m", or -1 for no timeout.'
        ) from error


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
