"""Periodic jobs declared in settings, run by RQ's cron scheduler.

``RQ["CRON"]`` is a list of entries, and the module that
``RQ["CRON_MODULE"]`` names may define a ``CRON`` list of more. Each entry
is a dict with ``func`` (a dotted path) and either ``cron`` (a cron
expression, which RQ 3 matches in local time and RQ 2 in UTC) or
``interval`` (seconds), plus
optional ``queue``, ``args``, ``kwargs``, ``name``, ``job_timeout``,
``result_ttl``, ``ttl``, ``failure_ttl`` and ``meta``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import TimeoutFormatError
from rq.utils import parse_timeout

from . import conf
from .decorators import JobFunction
from .queues import get_queue, same_server

logger = logging.getLogger("django_rq_lite.cron")

ENTRY_KEYS = (
    "func",
    "cron",
    "interval",
    "queue",
    "args",
    "kwargs",
    "name",
    "job_timeout",
    "result_ttl",
    "ttl",
    "failure_ttl",
    "meta",
)
JOB_OPTION_KEYS = ("job_timeout", "result_ttl", "ttl", "failure_ttl", "meta")
PICKLE_SERIALIZERS = (None, "rq.serializers.DefaultSerializer")

# Seconds before the scheduler loop tries again after a Redis error, doubled
# after each failure up to the maximum.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0

# RQ 3.0 keeps the ids of a periodic job's jobs for 365 days
# (DEFAULT_CRON_JOB_HISTORY_TTL), so with a longer interval the last run
# would vanish between two runs.
MAX_INTERVAL = 365 * 24 * 60 * 60
# Job timeouts and TTLs of at most 50 years stay below the largest delay that
# Python's signal.alarm() takes (2**31 - 1 seconds, about 68 years), which
# RQ's worker uses for job timeouts, and below Redis's largest expire time.
MAX_DURATION = 50 * 365 * 24 * 60 * 60


class CronUnavailable(ImproperlyConfigured):
    """The installed RQ lacks the cron scheduler API that periodic jobs use.

    ``CronScheduler.register`` takes ``job_timeout`` and ``name`` since
    RQ 2.11. RQ 2.4 to 2.10 have an ``rq.cron`` module without them.
    """


@dataclass(frozen=True)
class PeriodicJob:
    """One validated periodic job declaration."""

    func: str
    queue: str
    name: str
    cron: str | None = None
    interval: int | None = None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    @property
    def schedule(self) -> str:
        """Return the schedule as text: the cron expression or the interval."""
        return self.cron if self.cron else f"every {self.interval} s"


def get_cron_module() -> Any:
    """Return the ``rq.cron`` module, or raise ``CronUnavailable``."""
    import rq

    try:
        cron_module = importlib.import_module("rq.cron")
    except ImportError:
        cron_module = None
    parameters = ()
    if cron_module is not None:
        parameters = inspect.signature(cron_module.CronScheduler.register).parameters
    if "name" not in parameters or "job_timeout" not in parameters:
        raise CronUnavailable(
            f"Periodic jobs need the cron scheduler of RQ 2.11 or later, but "
            f"RQ {rq.__version__} is installed. Upgrade RQ (pip install "
            "'rq>=2.11')."
        )
    return cron_module


def get_entries(options: dict | None = None) -> list[tuple[str, Any]]:
    """Return each declared entry with where it was declared, in order.

    ``options`` is the ``RQ`` setting, read when not given.
    """
    if options is None:
        options = conf.get_global_setting()
    declared = options.get("CRON") or ()
    if not isinstance(declared, list | tuple):
        raise ImproperlyConfigured(
            f"RQ['CRON'] must be a list of dicts, not {type(declared).__name__}."
        )
    entries = [(f"RQ['CRON'][{index}]", entry) for index, entry in enumerate(declared)]
    module_path = options.get("CRON_MODULE")
    if module_path:
        entries += _module_entries(module_path)
    return entries


def _module_entries(module_path: Any) -> list[tuple[str, Any]]:
    if not isinstance(module_path, str):
        raise ImproperlyConfigured(
            f"RQ['CRON_MODULE'] must be the dotted path of a module, not "
            f"{module_path!r}."
        )
    try:
        module = importlib.import_module(module_path)
    except (ImportError, TypeError) as error:
        # import_module() raises TypeError for a relative path (".jobs").
        raise ImproperlyConfigured(
            f"RQ['CRON_MODULE'] {module_path!r} cannot be imported: {error}. "
            "Give the dotted path of an importable module."
        ) from error
    declared = getattr(module, "CRON", None)
    if not isinstance(declared, list | tuple):
        raise ImproperlyConfigured(
            f"Module {module_path!r} (RQ['CRON_MODULE']) has no CRON list. "
            "Define CRON = [...] with one dict per periodic job."
        )
    return [
        (f"{module_path}.CRON[{index}]", entry) for index, entry in enumerate(declared)
    ]


def find_problems(entry: Any) -> list[str]:
    """Return what is wrong with one periodic job entry, as sentences."""
    if not isinstance(entry, dict):
        return [f"it must be a dict, not {type(entry).__name__}"]
    problems = [
        f"unknown key {key!r} (valid keys: {', '.join(ENTRY_KEYS)})"
        for key in entry
        if key not in ENTRY_KEYS
    ]
    problems += _schedule_problems(entry)
    problems += _option_problems(entry)
    func = entry.get("func")
    if not isinstance(func, str):
        problems.append("'func' must be the dotted path of a function")
    else:
        try:
            if not callable(import_string(func)):
                problems.append(f"'func' {func!r} is not callable")
        except (ImportError, TypeError, ValueError) as error:
            # import_module() raises TypeError or ValueError for a relative
            # path such as ".jobs.f".
            problems.append(f"'func' {func!r} cannot be imported: {error}")
    queue = entry.get("queue", "default")
    if queue not in conf.get_queue_names():
        problems.append(f"'queue' {queue!r} is not in RQ_QUEUES")
    elif conf.get_serializer_path(queue) not in PICKLE_SERIALIZERS:
        problems.append(
            f"queue {queue!r} uses a serializer other than pickle, but RQ's "
            "cron scheduler enqueues with pickle"
        )
    if not isinstance(entry.get("args", ()), list | tuple):
        problems.append("'args' must be a list")
    if not isinstance(entry.get("kwargs", {}), dict):
        problems.append("'kwargs' must be a dict")
    return problems


def _schedule_problems(entry: dict) -> list[str]:
    expression = entry.get("cron")
    interval = entry.get("interval")
    if (expression is None) == (interval is None):
        return ["give exactly one of 'cron' and 'interval'"]
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            return [f"'interval' {interval!r} must be a whole number of seconds >= 1"]
        if interval > MAX_INTERVAL:
            return [
                f"'interval' {interval} is more than the maximum of "
                f"{MAX_INTERVAL} seconds (365 days), so use a 'cron' "
                "expression for rarer runs"
            ]
        return []
    return _cron_problems(expression)


def _cron_problems(expression: Any) -> list[str]:
    """Check a cron expression, also for what croniter's validation misses.

    croniter accepts expressions that match no date, such as 31 February,
    and a year field (the seventh) that stops matching after its last year.
    RQ's scheduler raises ``CroniterBadDateError`` on those and stops.
    """
    from croniter import CroniterBadDateError, croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression):
        return [f"'cron' {expression!r} is not a valid cron expression"]
    fields = expression.split()
    if len(fields) == 7 and fields[6] != "*":
        return [
            f"'cron' {expression!r} has a year field, but it would stop "
            "matching after its last year, which stops RQ's scheduler, so "
            "remove the seventh field"
        ]
    try:
        croniter(expression, datetime.now()).get_next(datetime)
    except CroniterBadDateError:
        return [
            f"'cron' {expression!r} matches no date, so RQ's scheduler "
            "cannot compute its next run. Use a day of the month that the "
            "month has (31 February and 31 April never occur)"
        ]
    return []


def _option_problems(entry: dict) -> list[str]:
    """Check the job options as RQ's ``Queue.enqueue()`` reads them.

    RQ parses timeouts and TTLs as seconds or strings such as "5m". It
    raises for a timeout of 0 and a ``ttl`` below 1, so either would stop
    the scheduler at the job's first run.
    """
    limit = f"{MAX_DURATION} (50 years)"
    rules = (
        # key, smallest number of seconds, whether -1 is valid, valid values
        (
            "job_timeout",
            1,
            True,
            f"a number of seconds from 1 to {limit}, a string such as '5m', "
            "or -1 (no timeout)",
        ),
        (
            "result_ttl",
            0,
            True,
            f"0 (keep nothing), -1 (keep forever) or seconds up to {limit}",
        ),
        (
            "failure_ttl",
            0,
            True,
            f"0 (keep nothing), -1 (keep forever) or seconds up to {limit}",
        ),
        ("ttl", 1, False, f"a number of seconds from 1 to {limit}"),
    )
    problems = []
    for key, minimum, allows_minus_one, valid in rules:
        value = entry.get(key)
        if value is None:
            continue
        seconds = _parse_seconds(value)
        if seconds == -1 and allows_minus_one:
            continue
        if seconds is None or not minimum <= seconds <= MAX_DURATION:
            problems.append(f"'{key}' {value!r} is not {valid}")
    meta = entry.get("meta")
    if meta is not None and not isinstance(meta, dict):
        problems.append(f"'meta' must be a dict, not {type(meta).__name__}")
    return problems


def _parse_seconds(value: Any) -> int | None:
    """Return ``value`` in seconds as RQ reads it, or None if RQ rejects it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return parse_timeout(value)
    except TimeoutFormatError:
        return None


def get_periodic_jobs() -> list[PeriodicJob]:
    """Return the declared periodic jobs, or raise ``ImproperlyConfigured``.

    Job options that an entry leaves out take the queue's defaults from
    ``RQ_QUEUES`` and ``RQ``, as other jobs do.
    """
    jobs = []
    for where, entry in get_entries():
        problems = find_problems(entry)
        if problems:
            raise ImproperlyConfigured(
                f"Periodic job {where} is invalid: {'; '.join(problems)}."
            )
        jobs.append(build_periodic_job(entry))
    duplicates = find_duplicate_names(job.name for job in jobs)
    if duplicates:
        raise ImproperlyConfigured(
            f"Periodic job names must be unique, but {', '.join(duplicates)} "
            "appear more than once. Give each entry a distinct 'name'."
        )
    return jobs


def find_duplicate_names(names: Any) -> list[str]:
    names = list(names)
    return sorted({name for name in names if names.count(name) > 1})


def build_periodic_job(entry: dict) -> PeriodicJob:
    queue = entry.get("queue", "default")
    options = {key: entry[key] for key in JOB_OPTION_KEYS if key in entry}
    for option, key in (
        ("job_timeout", "DEFAULT_TIMEOUT"),
        ("result_ttl", "DEFAULT_RESULT_TTL"),
        ("failure_ttl", "DEFAULT_FAILURE_TTL"),
    ):
        default = conf.get_job_default(queue, key)
        if option not in options and default is not None:
            options[option] = default
    return PeriodicJob(
        func=entry["func"],
        queue=queue,
        name=entry.get("name") or entry["func"],
        cron=entry.get("cron"),
        interval=entry.get("interval"),
        args=tuple(entry.get("args", ())),
        kwargs=dict(entry.get("kwargs", {})),
        options=options,
    )


def get_scheduler_connection(jobs: list[PeriodicJob]) -> Redis:
    """Return the one Redis connection of the periodic jobs' queues.

    Raise ``ImproperlyConfigured`` when they are on different servers,
    because one RQ cron scheduler enqueues on one connection.
    """
    names = list(dict.fromkeys(job.queue for job in jobs)) or ["default"]
    queues = [get_queue(name) for name in names]
    for queue in queues[1:]:
        if not same_server(queues[0].connection, queue.connection):
            raise ImproperlyConfigured(
                f"Periodic jobs use queues {queues[0].name!r} and "
                f"{queue.name!r}, which are on different Redis servers, but "
                "one cron scheduler enqueues on one server. Move the periodic "
                "jobs to queues on one server."
            )
    return queues[0].connection


def _import_job_function(path: str) -> Any:
    """Import the function that a periodic job enqueues.

    For a ``@job`` function this is the undecorated function, which
    ``.delay()`` enqueues too. RQ stores a plain function by its dotted path,
    but it pickles a callable object such as the ``JobFunction`` wrapper,
    and pickle cannot find the wrapped function under its own name.
    """
    func = import_string(path)
    return func.func if isinstance(func, JobFunction) else func


def build_scheduler(name: str = "", logging_level: str | int = "INFO") -> Any:
    """Return an RQ ``CronScheduler`` with every declared periodic job."""
    cron_module = get_cron_module()
    jobs = get_periodic_jobs()
    scheduler = cron_module.CronScheduler(
        connection=get_scheduler_connection(jobs),
        logging_level=logging_level,
        name=name,
    )
    for job in jobs:
        scheduler.register(
            _import_job_function(job.func),
            job.queue,
            args=job.args,
            kwargs=job.kwargs,
            interval=job.interval,
            cron=job.cron,
            name=job.name,
            **job.options,
        )
    return scheduler


def run_scheduler(scheduler: Any, stop: threading.Event) -> None:
    """Run ``scheduler`` until ``stop`` is set, without signal handlers.

    RQ's ``CronScheduler.start`` installs signal handlers, which only the
    main thread may do, so a worker runs this loop in a thread instead. It
    takes the same steps: enqueue due jobs, save, send a heartbeat, sleep.
    A Redis error does not end the loop, because the worker around it would
    run on without a scheduler: the loop logs it and tries again after a
    pause that doubles up to ``MAX_RETRY_SECONDS``.
    """
    scheduler.register_birth()
    logger.info("Cron scheduler started name=%s", scheduler.name)
    pause = FIRST_RETRY_SECONDS
    try:
        while not stop.is_set():
            try:
                if scheduler.enqueue_jobs():
                    scheduler.save()
                scheduler.heartbeat()
            except RedisError as error:
                logger.warning(
                    "Cron scheduler name=%s: Redis failed (%s: %s), retrying in %s s",
                    scheduler.name,
                    type(error).__name__,
                    error,
                    pause,
                )
                stop.wait(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            pause = FIRST_RETRY_SECONDS
            stop.wait(scheduler.calculate_sleep_interval())
    except Exception:
        logger.exception("Cron scheduler failed name=%s", scheduler.name)
        raise
    finally:
        try:
            scheduler.register_death()
        except RedisError as error:
            logger.warning(
                "Cron scheduler name=%s: could not unregister: %s",
                scheduler.name,
                error,
            )
        logger.info("Cron scheduler stopped name=%s", scheduler.name)


def start_scheduler_thread(scheduler: Any) -> tuple[threading.Thread, threading.Event]:
    """Start ``run_scheduler`` in a daemon thread and return it with its stop event.

    NOTE: a worker forks its work-horse while this thread may be using the
    shared Redis connection pool. redis-py resets the pool in the child,
    but it can raise ``ChildDeadlockedError`` if the thread holds the
    pool's lock at that moment. Run ``rqcron`` as its own process to rule
    this out.
    """
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler, args=(scheduler, stop), name="rq-cron", daemon=True
    )
    thread.start()
    return thread, stop


@dataclass(frozen=True)
class PeriodicJobStatus:
    """A periodic job with its latest run and its next enqueue time.

    ``next_enqueue_at`` is None while no cron scheduler that runs the job
    is alive, and for an interval job that has not run yet (a scheduler
    enqueues it as soon as it starts).
    """

    job: PeriodicJob
    last_job_id: str | None = None
    last_enqueued_at: datetime | None = None
    last_status: str | None = None
    next_enqueue_at: datetime | None = None
    scheduled: bool = False


def list_periodic_jobs() -> list[PeriodicJobStatus]:
    """Return every declared periodic job with its last and next run times.

    The last run is the newest job in the job's history, which RQ keeps in
    Redis. The next run comes from the cron schedulers that are alive on
    the server. Raise ``ImproperlyConfigured`` for invalid declarations.
    """
    cron_module = get_cron_module()
    jobs = get_periodic_jobs()
    connection = get_scheduler_connection(jobs)
    live_jobs = {}
    for scheduler in cron_module.CronScheduler.all(connection):
        for cron_job in scheduler.get_jobs():
            live_jobs[cron_job.name] = cron_job
    return [_status_of(job, live_jobs.get(job.name), connection) for job in jobs]


def _status_of(job: PeriodicJob, live_job: Any, connection: Redis) -> PeriodicJobStatus:
    cron_job = get_cron_module().CronJob(
        queue_name=job.queue,
        func_name=job.func,
        interval=job.interval,
        cron=job.cron,
        name=job.name,
    )
    job_ids = cron_job.get_job_ids(connection, 0, 0)
    last_job = None
    if job_ids:
        queue = get_queue(job.queue)
        last_job = queue.fetch_job(job_ids[0])
    return PeriodicJobStatus(
        job=job,
        last_job_id=job_ids[0] if job_ids else None,
        last_enqueued_at=last_job.enqueued_at if last_job else None,
        last_status=last_job.get_status().value if last_job else None,
        next_enqueue_at=live_job.next_enqueue_time if live_job else None,
        scheduled=live_job is not None,
    )


def check_settings(options: dict) -> list:
    """Return system check errors for the periodic jobs in ``options`` (``RQ``).

    Queues on different servers are reported when the scheduler starts,
    not here, because that needs connections. A ``CRON`` or ``CRON_MODULE``
    of the wrong type is skipped here, because the type check (E004)
    reports it.
    """
    from django.core.checks import Error

    options = {
        key: options.get(key)
        for key in ("CRON", "CRON_MODULE")
        if isinstance(options.get(key), conf.GLOBAL_KEYS[key])
    }
    if not options.get("CRON") and not options.get("CRON_MODULE"):
        return []
    try:
        get_cron_module()
        entries = get_entries(options)
    except CronUnavailable as error:
        return [Error(str(error), id="django_rq_lite.E024")]
    except ImproperlyConfigured as error:
        return [Error(str(error), id="django_rq_lite.E022")]
    messages = []
    for where, entry in entries:
        problems = find_problems(entry)
        if problems:
            messages.append(
                Error(
                    f"Periodic job {where} is invalid: {'; '.join(problems)}.",
                    hint='For example: {"func": "myapp.jobs.cleanup", "cron": '
                    '"0 * * * *", "queue": "default"}.',
                    id="django_rq_lite.E021",
                )
            )
    names = [
        entry.get("name") or entry.get("func")
        for _, entry in entries
        if isinstance(entry, dict)
    ]
    duplicates = find_duplicate_names(names)
    if duplicates:
        messages.append(
            Error(
                f"Periodic job names appear more than once: "
                f"{', '.join(map(str, duplicates))}.",
                hint="Give each entry a distinct 'name'.",
                id="django_rq_lite.E023",
            )
        )
    return messages
