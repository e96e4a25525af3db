"""Queue summaries and pageable job id lists over RQ's registries."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured
from rq import Queue
from rq.registry import (
    BaseRegistry,
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.worker import Worker

from .. import conf
from ..connections import describe_connection
from ..queues import get_queue
from .jobs import JOB_ID_PATTERN

logger = logging.getLogger("django_rq_lite.dashboard")

QUEUED = "queued"
STARTED = "started"
DEFERRED = "deferred"
SCHEDULED = "scheduled"
FINISHED = "finished"
FAILED = "failed"
CANCELED = "canceled"

# Registry classes by the name that URLs and counts use. "queued" is the
# queue's own list, which is not a registry.
REGISTRY_CLASSES: dict[str, type[BaseRegistry]] = {
    STARTED: StartedJobRegistry,
    DEFERRED: DeferredJobRegistry,
    SCHEDULED: ScheduledJobRegistry,
    FINISHED: FinishedJobRegistry,
    FAILED: FailedJobRegistry,
    CANCELED: CanceledJobRegistry,
}
JOB_LIST_NAMES = (QUEUED, STARTED, DEFERRED, SCHEDULED, FINISHED, FAILED, CANCELED)


class JobListNotFound(LookupError):
    """A job list name that the dashboard does not know."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Job list {name!r} does not exist. Use one of: "
            + ", ".join(JOB_LIST_NAMES)
            + "."
        )


@dataclass(frozen=True)
class QueueSummary:
    """A queue's name, where its Redis is, its job counts and its worker count.

    ``error`` is set, ``counts`` is empty and ``workers`` is ``None`` when the
    counts could not be read.
    """

    name: str
    connection: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""
    workers: int | None = None


def format_connection(description: dict[str, Any]) -> str:
    """Return a one-line label for ``connections.describe_connection`` output."""
    db = description.get("db", 0)
    if "cache" in description:
        return f"django-redis cache {description['cache']!r}"
    if "sentinel" in description:
        return f"Sentinel master {description['sentinel']!r}, db {db}"
    if "socket" in description:
        prefix = "embedded server, " if description.get("embedded") else ""
        return f"{prefix}unix socket {description['socket']}, db {db}"
    return f"{description.get('host')}:{description.get('port')}, db {db}"


def get_registry(queue: Queue, name: str) -> BaseRegistry:
    """Return the registry ``name`` of ``queue`` with its job class and serializer."""
    try:
        registry_class = REGISTRY_CLASSES[name]
    except KeyError:
        raise JobListNotFound(name) from None
    return registry_class(
        queue=queue, job_class=queue.job_class, serializer=queue.serializer
    )


def count_jobs(queue: Queue, name: str) -> int:
    """Return the number of jobs in the job list ``name`` of ``queue``.

    Registry counts run RQ's registry cleanup first, as ``registry.count``
    does, so expired entries are not counted.
    """
    if name == QUEUED:
        return queue.count
    return get_registry(queue, name).count


def summarize_queue(name: str) -> QueueSummary:
    """Count the jobs of queue ``name`` in each job list.

    A Redis error, or a queue whose connection settings cannot be used, is
    stored in ``error`` instead of raised, so one bad queue does not hide the
    others. ``QueueNotFound`` is raised for a name that is not configured.
    """
    options = conf.get_queue_options(name)
    connection = format_connection(describe_connection(options))
    try:
        queue = get_queue(name)
        counts = {
            list_name: count_jobs(queue, list_name) for list_name in JOB_LIST_NAMES
        }
        workers = Worker.count(queue=queue)
    except (redis.RedisError, ImproperlyConfigured) as exc:
        logger.warning("Could not count jobs queue=%s error=%s", name, exc)
        return QueueSummary(name, connection, error=f"{type(exc).__name__}: {exc}")
    return QueueSummary(name, connection, counts, workers=workers)


def summarize_queues() -> list[QueueSummary]:
    """Summarize every configured queue, in settings order."""
    return [summarize_queue(name) for name in conf.get_queue_names()]


class JobIdList:
    """The job ids of one job list, read a slice at a time.

    It has the ``count()`` and slicing that ``django.core.paginator.Paginator``
    uses, so a page reads only its own ids from Redis. With ``descending``
    (the default) registries are listed highest score first, which is the
    latest expiry or scheduled time, and the queue last enqueued first.
    Otherwise registries are listed lowest score first and the queue in the
    order workers take its jobs.
    """

    def __init__(self, queue: Queue, name: str, descending: bool = True) -> None:
        if name not in JOB_LIST_NAMES:
            raise JobListNotFound(name)
        self.queue = queue
        self.name = name
        self.descending = descending

    def count(self) -> int:
        return count_jobs(self.queue, self.name)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[str]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("JobIdList supports only slices with step 1.")
        start = index.start or 0
        if index.stop is not None and index.stop <= start:
            return []
        return self.get_ids(start, index.stop)

    def get_ids(self, start: int, stop: int | None) -> list[str]:
        """Return the ids from position ``start`` up to, not including, ``stop``."""
        end = -1 if stop is None else stop - 1
        if self.name == QUEUED:
            return self.get_queued_ids(start, end)
        registry = get_registry(self.queue, self.name)
        return registry.get_job_ids(start, end, desc=self.descending, cleanup=False)

    def get_queued_ids(self, start: int, end: int) -> list[str]:
        connection = self.queue.connection
        if not self.descending:
            ids = connection.lrange(self.queue.key, start, end)
            return [job_id.decode() for job_id in ids]
        # Position n from the newest is index -(n + 1) of the Redis list.
        first = -(end + 1) if end >= 0 else 0
        ids = connection.lrange(self.queue.key, first, -(start + 1))
        return [job_id.decode() for job_id in reversed(ids)]

    def __contains__(self, job_id: str) -> bool:
        return contains_job(self.queue, self.name, job_id)


def contains_job(queue: Queue, name: str, job_id: str) -> bool:
    """Return whether the job list ``name`` of ``queue`` contains ``job_id``."""
    connection = queue.connection
    if name == QUEUED:
        return connection.lpos(queue.key, job_id) is not None
    registry = get_registry(queue, name)
    if name == STARTED:
        # RQ 3 stores "job_id:execution_id" members in the started registry.
        # Valid job ids contain no glob characters, so the pattern is literal.
        members = connection.zscan_iter(registry.key, match=f"{job_id}:*")
        if any(True for _member in members):
            return True
    return connection.zscore(registry.key, job_id) is not None


class SearchResult:
    """A job list of at most one id: the searched id, when the list contains it."""

    def __init__(self, job_list: JobIdList, job_id: str) -> None:
        # Only ids that RQ 3 accepts can be in a list, and they contain no glob
        # characters, which the started list's ZSCAN pattern relies on.
        found = JOB_ID_PATTERN.fullmatch(job_id) and job_id in job_list
        self.ids = [job_id] if found else []

    def count(self) -> int:
        return len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: slice) -> list[str]:
        return self.ids[index]
