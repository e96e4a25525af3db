"""Enqueue jobs at once or when the current database transaction commits.

A queue's ``COMMIT_MODE`` (in ``RQ_QUEUES``, else in ``RQ``) is
``"immediate"`` (the default) or ``"on_commit"``. In ``"on_commit"`` mode a
job enqueued inside ``transaction.atomic()`` reaches Redis only when the
outermost block commits, and never when it rolls back. Outside a
transaction the job is enqueued at once in both modes.

Two keyword arguments of every enqueue call choose per call, and are
removed before the call reaches RQ: ``on_commit`` (``True``, ``False`` or
``None`` for the queue's setting) and ``on_commit_using`` (the database
alias whose transaction counts, else ``COMMIT_DATABASE``, else
``"default"``).
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable
from typing import Any

import django
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from rq.exceptions import NoSuchJobError
from rq.job import Job

from . import conf

IMMEDIATE = "immediate"
ON_COMMIT = "on_commit"
COMMIT_MODES = (IMMEDIATE, ON_COMMIT)

# Keyword arguments that enqueue calls take for themselves, so a job function
# cannot receive arguments of these names through them. Pass such arguments
# in RQ's explicit form instead: queue.enqueue(func, kwargs={...}).
ON_COMMIT_KEY = "on_commit"
USING_KEY = "on_commit_using"

# True while this context runs an enqueue whose mode is decided, so RQ's
# own nested calls (enqueue_in calls enqueue_at) do not defer it again.
_mode_decided = contextvars.ContextVar("rq_lite_enqueue_decided", default=False)

logger = logging.getLogger("django_rq_lite")

# Django 5.0 added on_commit(robust=True): an exception in the callback is
# logged and the remaining callbacks still run.
ROBUST_SUPPORTED = django.VERSION >= (5, 0)

# Queue name -> COMMIT_MODE from settings, so an enqueue reads no settings.
# queues.clear_queue_cache() empties it when the settings change.
_commit_modes: dict[str | None, str] = {}


def clear_commit_mode_cache() -> None:
    _commit_modes.clear()


def is_mode_decided() -> bool:
    """Tell whether the enqueue running in this context has its mode decided."""
    return _mode_decided.get()


def get_commit_mode(queue_name: str | None) -> str:
    """Return the ``COMMIT_MODE`` of a queue, else of ``RQ``, else immediate."""
    mode = _commit_modes.get(queue_name)
    if mode is None:
        mode = _queue_or_global(queue_name, "COMMIT_MODE") or IMMEDIATE
        _commit_modes[queue_name] = mode
    return mode


def get_commit_database(queue_name: str | None) -> str:
    """Return the database alias whose transactions delay a queue's jobs."""
    return _queue_or_global(queue_name, "COMMIT_DATABASE") or DEFAULT_DB_ALIAS


def _queue_or_global(queue_name: str | None, key: str) -> Any:
    if queue_name is not None and queue_name in conf.get_queues_setting():
        value = conf.get_queue_options(queue_name).get(key)
        if value is not None:
            return value
    return conf.get_global_setting().get(key)


def wants_on_commit(queue_name: str | None, on_commit: bool | None) -> bool:
    """Return the per-call choice, else whether the queue's mode is on_commit."""
    if on_commit is not None:
        return bool(on_commit)
    mode = get_commit_mode(queue_name)
    if mode not in COMMIT_MODES:
        raise ValueError(
            f"COMMIT_MODE {mode!r} of queue {queue_name!r} is invalid. "
            f"Use one of: {', '.join(COMMIT_MODES)}."
        )
    return mode == ON_COMMIT


def in_transaction(using: str) -> bool:
    """Tell whether the connection ``using`` has a transaction open.

    A connection that was never opened has none, so checking does not open
    a database connection for code that only enqueues jobs.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        return True
    if connection.connection is None:
        return False
    return not connection.get_autocommit()


def call_on_commit(
    callback: Callable[[], Any],
    *,
    queue_name: str | None,
    on_commit: bool | None = None,
    using: str | None = None,
) -> bool:
    """Run ``callback`` now, or when the transaction of ``using`` commits.

    Return ``True`` when the call was deferred to the commit. The commit mode
    and alias come from the arguments, else from the queue's settings.
    """
    on_commit = wants_on_commit(queue_name, on_commit)
    using = using or get_commit_database(queue_name)
    if not on_commit or not in_transaction(using):
        callback()
        return False
    if ROBUST_SUPPORTED:
        transaction.on_commit(callback, using=using, robust=True)
    else:
        transaction.on_commit(callback, using=using)
    return True


class PendingJob:
    """A job that is enqueued when the current transaction commits.

    ``id`` is the RQ job id, fixed before the commit. ``job`` is the RQ job
    once it is in Redis, and stays ``None`` when the transaction rolls back.
    """

    def __init__(self, job_id: str, queue: Any) -> None:
        self.id = job_id
        self.queue = queue
        self.job: Job | None = None

    def __repr__(self) -> str:
        state = "enqueued" if self.enqueued else "pending"
        return f"<PendingJob {self.id} on {self.queue.name!r}, {state}>"

    @property
    def enqueued(self) -> bool:
        return self.job is not None

    def fetch(self) -> Job | None:
        """Load the job from Redis (``None`` before the commit or after expiry)."""
        try:
            return self.queue.job_class.fetch(
                self.id,
                connection=self.queue.connection,
                serializer=self.queue.serializer,
            )
        except NoSuchJobError:
            return None


def dispatch(queue: Any, method: str, args: tuple, kwargs: dict) -> Any:
    """Call ``queue.<method>(*args, **kwargs)`` now or on commit.

    Return what RQ returns when the call runs now, else a ``PendingJob``
    (a list of them for ``enqueue_many``). ``on_commit`` mode returns a
    ``PendingJob`` outside a transaction as well, already enqueued, so the
    caller gets one type per mode.
    """
    on_commit = kwargs.pop(ON_COMMIT_KEY, None)
    using = kwargs.pop(USING_KEY, None)
    if "depends_on" in kwargs:
        kwargs["depends_on"] = resolve_pending(kwargs["depends_on"])
    if _mode_decided.get():
        return getattr(queue, method)(*args, **kwargs)
    if not wants_on_commit(queue.name, on_commit):
        return run_decided(queue, method, args, kwargs)

    pipeline = kwargs.get("pipeline")
    if method == "enqueue_many" and len(args) > 1:
        pipeline = args[1]
    if pipeline is not None:
        raise ValueError(
            f"This call to queue {queue.name!r} enqueues on commit, so it "
            "cannot add the job to a Redis pipeline that runs before the "
            "commit. Pass on_commit=False, or leave out pipeline=."
        )
    if method == "enqueue_many":
        pending, args = _prepare_many(queue, args)
    else:
        kwargs.setdefault("job_id", None)
        kwargs["job_id"] = kwargs["job_id"] or str(uuid.uuid4())
        pending = PendingJob(kwargs["job_id"], queue)

    def enqueue_now() -> None:
        try:
            result = run_decided(queue, method, args, kwargs)
        except Exception as error:
            handles = pending if isinstance(pending, list) else [pending]
            # The transaction has committed, so nothing rolls the data back:
            # the log must name what to enqueue again.
            logger.error(
                "Failed to enqueue at commit on queue %r: %s: %s. Lost jobs: %s",
                queue.name,
                type(error).__name__,
                error,
                ", ".join(
                    f"{h.id} ({describe_call(method, args, h.id)})" for h in handles
                ),
            )
            if ROBUST_SUPPORTED:
                # Django's robust on_commit would log the same error again.
                return
            raise
        if isinstance(pending, list):
            # By id rather than position, which stays right whatever order
            # the queue's enqueue_many() returns the jobs in.
            jobs = {job.id: job for job in result}
            for handle in pending:
                handle.job = jobs.get(handle.id)
        else:
            pending.job = result

    call_on_commit(enqueue_now, queue_name=queue.name, on_commit=True, using=using)
    return pending


def describe_call(method: str, args: tuple, job_id: str) -> str:
    """Return the function that a queue method's ``args`` enqueue as ``job_id``."""
    if method == "enqueue_many":
        funcs = [data.func for data in args[0] if data.job_id == job_id]
        func = funcs[0] if funcs else None
    elif method in ("enqueue_in", "enqueue_at"):
        func = args[1] if len(args) > 1 else None
    else:
        func = args[0] if args else None
    if isinstance(func, str) or func is None:
        return str(func)
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"


def resolve_pending(depends_on: Any) -> Any:
    """Replace ``PendingJob`` handles in ``depends_on`` by their job ids."""
    if isinstance(depends_on, PendingJob):
        return depends_on.id
    if isinstance(depends_on, list | tuple):
        return [resolve_pending(item) for item in depends_on]
    return depends_on


def run_decided(queue: Any, method: str, args: tuple, kwargs: dict) -> Any:
    """Call the queue method with the commit mode already decided."""
    token = _mode_decided.set(True)
    try:
        return getattr(queue, method)(*args, **kwargs)
    finally:
        _mode_decided.reset(token)


def _prepare_many(queue: Any, args: tuple) -> tuple[list[PendingJob], tuple]:
    """Give every ``enqueue_many`` entry a job id and a ``PendingJob``."""
    job_datas = []
    for data in args[0]:
        if not data.job_id:
            data = data._replace(job_id=str(uuid.uuid4()))
        if data.depends_on:
            data = data._replace(depends_on=resolve_pending(data.depends_on))
        job_datas.append(data)
    pending = [PendingJob(data.job_id, queue) for data in job_datas]
    return pending, (job_datas, *args[1:])


class CommitModeMixin:
    """Queue methods that honour ``COMMIT_MODE`` and the per-call options."""

    def enqueue(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        if _mode_decided.get():
            return super().enqueue(f, *args, **_without_options(kwargs))
        return dispatch(self, "enqueue", (f, *args), kwargs)

    def enqueue_call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if _mode_decided.get():
            return super().enqueue_call(func, *args, **_without_options(kwargs))
        return dispatch(self, "enqueue_call", (func, *args), kwargs)

    def enqueue_at(self, datetime: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
        if _mode_decided.get():
            return super().enqueue_at(datetime, f, *args, **_without_options(kwargs))
        return dispatch(self, "enqueue_at", (datetime, f, *args), kwargs)

    def enqueue_in(self, time_delta: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if _mode_decided.get():
            return super().enqueue_in(
                time_delta, func, *args, **_without_options(kwargs)
            )
        return dispatch(self, "enqueue_in", (time_delta, func, *args), kwargs)

    def enqueue_many(self, job_datas: Any, *args: Any, **kwargs: Any) -> Any:
        if _mode_decided.get():
            return super().enqueue_many(job_datas, *args, **_without_options(kwargs))
        return dispatch(self, "enqueue_many", (job_datas, *args), kwargs)

    def run_sync(self, job: Job) -> Job:
        # A job that an ASYNC=False queue runs inline may enqueue jobs of its
        # own, which take the commit mode of their own queues.
        token = _mode_decided.set(False)
        try:
            return super().run_sync(job)
        finally:
            _mode_decided.reset(token)


def _without_options(kwargs: dict) -> dict:
    kwargs.pop(ON_COMMIT_KEY, None)
    kwargs.pop(USING_KEY, None)
    return kwargs
