"""The ``@job`` decorator."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from rq import Queue
from rq.job import Job

from . import conf, queues
from .on_commit import (
    ON_COMMIT_KEY,
    USING_KEY,
    CommitModeMixin,
    dispatch,
    wants_on_commit,
)
from .queues import SettingsDefaultsMixin, get_queue

P = ParamSpec("P")
R = TypeVar("R")

# @job argument name -> RQ's enqueue() keyword.
OPTION_NAMES = {
    "timeout": "job_timeout",
    "result_ttl": "result_ttl",
    "ttl": "ttl",
    "failure_ttl": "failure_ttl",
    "retry": "retry",
    "on_success": "on_success",
    "on_failure": "on_failure",
    "on_stopped": "on_stopped",
    "meta": "meta",
    "description": "description",
    "at_front": "at_front",
    "on_commit": "on_commit",
    "on_commit_using": "on_commit_using",
}

SETTINGS_DEFAULTS = {
    "job_timeout": "DEFAULT_TIMEOUT",
    "result_ttl": "DEFAULT_RESULT_TTL",
    "failure_ttl": "DEFAULT_FAILURE_TTL",
}


# delay_many() option -> the name of RQ's Queue.prepare_data() argument.
MANY_OPTION_NAMES = {
    "job_timeout": "timeout",
    "result_ttl": "result_ttl",
    "ttl": "ttl",
    "failure_ttl": "failure_ttl",
    "description": "description",
    "depends_on": "depends_on",
    "at_front": "at_front",
    "meta": "meta",
    "retry": "retry",
    "on_success": "on_success",
    "on_failure": "on_failure",
    "on_stopped": "on_stopped",
    "repeat": "repeat",
}

# Keyword arguments that RQ's Queue.enqueue() takes as options (RQ 2.12 and
# 3.0), and the commit options. A delay() call that passes one of them goes
# through the queue's enqueue(), which separates them from the job's kwargs.
ENQUEUE_KEYWORDS = frozenset(
    {
        "job_timeout",
        "description",
        "result_ttl",
        "ttl",
        "failure_ttl",
        "depends_on",
        "job_id",
        "at_front",
        "meta",
        "retry",
        "repeat",
        "on_success",
        "on_failure",
        "on_stopped",
        "rate_limit",
        "webhooks",
        "pipeline",
        "unique",
        "args",
        "kwargs",
        ON_COMMIT_KEY,
        USING_KEY,
    }
)

# Functions that passed check_importable(), so each is checked once.
_importable: weakref.WeakSet = weakref.WeakSet()


class UnimportableFunctionError(ValueError):
    """A function that a worker process could not import by its path."""


def check_importable(func: Any) -> None:
    """Raise ``UnimportableFunctionError`` unless a worker can import ``func``.

    RQ stores a function as ``module.qualname``, so lambdas, functions nested
    in other functions and functions of the ``__main__`` script cannot run
    in a worker. Strings (dotted paths) and bound methods are left to RQ.
    A function that passes is remembered (weakly) and not checked again.
    """
    if isinstance(func, str) or not callable(func):
        return
    try:
        if func in _importable:
            return
        _check_import_path(func)
        _importable.add(func)
    except TypeError:
        # Not weak-referenceable or not hashable: checked on each call.
        _check_import_path(func)


def _check_import_path(func: Any) -> None:
    target = getattr(func, "__wrapped__", func)
    name = getattr(target, "__qualname__", None)
    module = getattr(target, "__module__", None)
    if name is None or hasattr(target, "__self__"):
        return
    reason = None
    if target.__name__ == "<lambda>":
        reason = "it is a lambda"
    elif "<locals>" in name:
        reason = "it is defined inside another function"
    elif module == "__main__":
        reason = "it is defined in the __main__ script"
    if reason:
        raise UnimportableFunctionError(
            f"Cannot enqueue {module}.{name}: {reason}, so a worker could not "
            "import it. Move it to the top level of an importable module."
        )


class JobFunction(Generic[P, R]):
    """A function that runs inline when called and in a worker when delayed."""

    def __init__(
        self, func: Callable[P, R], queue: str | Queue, options: dict[str, Any]
    ) -> None:
        check_importable(func)
        functools.update_wrapper(self, func)
        self.func = func
        self.queue = queue
        self.options = options
        # (queues.cache_generation, queue, prepare_data() options) once a
        # delay() may write to the queue at once, else None.
        self._direct_plan: tuple[int, Any, dict[str, Any]] | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # The cached plan contains a queue, whose Redis client cannot be
        # copied, so copies start without one.
        return {**self.__dict__, "_direct_plan": None}

    def __repr__(self) -> str:
        return f"<JobFunction {self.func.__module__}.{self.func.__qualname__}>"

    def get_queue(self) -> Queue:
        """Return the queue, built from settings at call time, not import."""
        if isinstance(self.queue, Queue):
            return self.queue
        return get_queue(self.queue)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Enqueue a call; RQ's options (``job_timeout``...) override @job's."""
        if not kwargs or ENQUEUE_KEYWORDS.isdisjoint(kwargs):
            plan = self._get_direct_plan()
            if plan is not None:
                queue, options = plan
                return queue.enqueue_many_now(
                    [self._prepare_data(args, kwargs, options)]
                )[0]
        return self._enqueue("enqueue", (self.func, *args), kwargs)

    def enqueue_in(self, delta: timedelta, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Schedule a call ``delta`` from now; a worker needs the scheduler."""
        return self._enqueue("enqueue_in", (delta, self.func, *args), kwargs)

    def enqueue_at(self, when: datetime, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Schedule a call at ``when`` (an aware datetime, or naive in UTC)."""
        return self._enqueue("enqueue_at", (when, self.func, *args), kwargs)

    def delay_many(
        self, calls: Iterable[tuple[tuple, dict[str, Any]]], **options: Any
    ) -> list:
        """Enqueue one job per ``(args, kwargs)`` pair of ``calls`` at once.

        The queue's ``enqueue_many()`` writes the jobs in one Redis pipeline
        (jobs that depend on unfinished jobs take more). ``options`` apply
        to every job and take RQ's names (``job_timeout``, ``result_ttl``,
        ``ttl``, ``meta``, ``at_front``...), plus ``on_commit`` and
        ``on_commit_using``. Return the RQ jobs, or a ``PendingJob`` per job
        when the queue's mode is ``on_commit``.
        """
        merged = self._merge(options)
        dispatch_options = {
            key: merged.pop(key) for key in (ON_COMMIT_KEY, USING_KEY) if key in merged
        }
        data_options = many_options(merged)
        job_datas = [
            self._prepare_data(tuple(args), dict(kwargs), data_options)
            for args, kwargs in calls
        ]
        queue = self.get_queue()
        on_commit = dispatch_options.get(ON_COMMIT_KEY)
        if not data_options.get("depends_on") and writes_at_once(queue, on_commit):
            return queue.enqueue_many_now(job_datas)
        return call_queue(queue, "enqueue_many", (job_datas,), dispatch_options)

    def _prepare_data(
        self, args: tuple, kwargs: dict[str, Any], options: dict[str, Any]
    ) -> Any:
        """Return RQ's ``EnqueueData`` for one call of the function."""
        meta = options.get("meta")
        if meta is not None:
            # Each job gets its own meta, which a worker may change.
            options = {**options, "meta": dict(meta)}
        return Queue.prepare_data(self.func, args=args, kwargs=kwargs, **options)

    def _get_direct_plan(self) -> tuple[Any, dict[str, Any]] | None:
        """Return the queue and options of a delay() that writes at once.

        Return ``None`` when the queue is not a django-rq-lite async queue
        or enqueues on commit. The result is cached until a setting that
        configures queues changes.
        """
        plan = self._direct_plan
        if plan is not None and plan[0] == queues.cache_generation:
            return plan[1:]
        # Read first, so a cache cleared while this runs is seen next call.
        generation = queues.cache_generation
        merged = self._merge({})
        on_commit = merged.pop(ON_COMMIT_KEY, None)
        merged.pop(USING_KEY, None)
        queue = self.get_queue()
        if not writes_at_once(queue, on_commit):
            # Not cached, so an invalid COMMIT_MODE raises on every call.
            return None
        plan = (generation, queue, many_options(merged))
        self._direct_plan = plan
        return plan[1:]

    def _enqueue(self, method: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        return call_queue(self.get_queue(), method, args, self._merge(kwargs))

    def _merge(self, call_kwargs: dict[str, Any]) -> dict[str, Any]:
        merged = dict(call_kwargs)
        for name, value in self.options.items():
            merged.setdefault(OPTION_NAMES[name], value)
        queue = self.queue
        if isinstance(queue, Queue) and not isinstance(queue, SettingsDefaultsMixin):
            # A plain RQ queue does not read RQ_QUEUES, so its settings
            # defaults are applied here, by its name.
            for option, key in SETTINGS_DEFAULTS.items():
                if merged.get(option) is None:
                    merged[option] = conf.get_job_default(queue.name, key)
        return merged


def writes_at_once(queue: Queue, on_commit: bool | None) -> bool:
    """Tell whether jobs for ``queue`` may go to Redis now, in one transaction.

    That is the case for a django-rq-lite queue that is async and whose
    commit mode (or ``on_commit``) does not wait for a commit.
    """
    return (
        isinstance(queue, SettingsDefaultsMixin)
        and queue.is_async
        and not wants_on_commit(queue.name, on_commit)
    )


def call_queue(queue: Queue, method: str, args: tuple, kwargs: dict) -> Any:
    """Call ``queue.<method>``, honouring the on_commit options on any queue."""
    if isinstance(queue, CommitModeMixin):
        return getattr(queue, method)(*args, **kwargs)
    # A plain RQ queue does not know the on_commit options.
    return dispatch(queue, method, args, kwargs)


def many_options(options: dict[str, Any]) -> dict[str, Any]:
    """Rename enqueue() options to ``prepare_data()`` names, rejecting others."""
    unknown = sorted(set(options) - set(MANY_OPTION_NAMES))
    if unknown:
        valid = [*MANY_OPTION_NAMES, ON_COMMIT_KEY, USING_KEY]
        raise TypeError(
            f"delay_many() got unknown option(s) {', '.join(unknown)}. "
            f"Valid options: {', '.join(valid)}."
        )
    return {MANY_OPTION_NAMES[name]: value for name, value in options.items()}


@overload
def job(func_or_queue: Callable[P, R]) -> JobFunction[P, R]: ...


@overload
def job(
    func_or_queue: str | Queue | None = None, **options: Any
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...


def job(func_or_queue=None, **options):
    """Turn a function into a job: ``f(...)`` runs inline, ``f.delay(...)``
    enqueues it.

    Forms: ``@job``, ``@job("high")``, ``@job(queue)``, and with options
    ``@job("high", timeout=60, result_ttl=..., ttl=..., failure_ttl=...,
    retry=Retry(max=3), on_success=..., on_failure=..., on_stopped=...,
    meta={...}, description=..., at_front=True, on_commit=True,
    on_commit_using="default")``. An option that is not
    given comes from the queue's settings, then from RQ's defaults.
    """
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"@job got unknown option(s) {', '.join(unknown)}. "
            f"Valid options: {', '.join(OPTION_NAMES)}."
        )
    if callable(func_or_queue) and not isinstance(func_or_queue, Queue):
        return JobFunction(func_or_queue, "default", options)

    queue = func_or_queue if func_or_queue is not None else "default"
    if not isinstance(queue, str | Queue):
        raise TypeError(f"@job expects a queue name or an RQ Queue, got {queue!r}.")

    def decorator(func: Callable[P, R]) -> JobFunction[P, R]:
        return JobFunction(func, queue, options)

    return decorator
