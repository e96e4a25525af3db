"""Failed-job lists narrowed by exception class or function.

``IndexedJobIdList`` reads a filtered page from the failed-job index
(``index``), so its time does not grow with the registry once the index is
built. ``iter_fetched_batches`` still serves actions that read whole lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from rq import Queue

from .index import IndexKeys, IndexState, forget_ids, sync_index
from .jobs import FetchedJob, JobSummary, fetch_jobs
from .queues import JobIdList

# The module of Python's built-in exception classes.
BUILTINS_PREFIX = "builtins."

# Jobs read from Redis per round trip while scanning a job list.
SCAN_BATCH_SIZE = 500


@dataclass(frozen=True)
class JobFilter:
    """Exact exception class and function name that listed jobs must have.

    An empty field matches every job. ``exc_class`` also matches the class
    name without its module ("ValueError" matches "builtins.ValueError").
    Python's tracebacks name built-in classes without their module, so a
    "builtins." prefix is dropped: "builtins.ValueError" matches "ValueError".
    """

    exc_class: str = ""
    func_name: str = ""

    def __post_init__(self) -> None:
        if self.exc_class.startswith(BUILTINS_PREFIX):
            # The dataclass is frozen, so the field is set the way its
            # __init__ sets it.
            object.__setattr__(
                self, "exc_class", self.exc_class[len(BUILTINS_PREFIX) :]
            )

    def __bool__(self) -> bool:
        return bool(self.exc_class or self.func_name)

    @property
    def needs_results(self) -> bool:
        """Whether matching needs each job's latest result (for the exception)."""
        return bool(self.exc_class)

    def matches(self, summary: JobSummary) -> bool:
        if summary.missing:
            return False
        if self.func_name and summary.func_name != self.func_name:
            return False
        if self.exc_class:
            name = summary.exc_class
            if name != self.exc_class and not name.endswith("." + self.exc_class):
                return False
        return True


def iter_fetched_batches(
    job_list: JobIdList,
    batch_size: int = SCAN_BATCH_SIZE,
    with_results: bool = True,
) -> Iterator[list[FetchedJob]]:
    """Yield the jobs of ``job_list`` in order, ``batch_size`` at a time."""
    offset = 0
    while True:
        job_ids = job_list.get_ids(offset, offset + batch_size)
        if not job_ids:
            return
        yield fetch_jobs(job_list.queue, job_ids, with_results=with_results)
        offset += len(job_ids)


# Missing jobs indexed per filtered page request at most. The rest are
# indexed by later requests, and the page notes that the list is incomplete.
MAX_INDEX_PER_REQUEST = 5000

# Seconds that a combined filter's temporary sorted set is kept in Redis.
QUERY_KEY_TTL = 60


def find_class_names(queue: Queue, keys: IndexKeys, exc_class: str) -> list[str]:
    """Return the known exception classes that ``exc_class`` matches.

    A name matches itself and any known class that ends with ``"." + name``.
    """
    known = [name.decode() for name in queue.connection.smembers(keys.key("classes"))]
    return [
        name for name in known if name == exc_class or name.endswith("." + exc_class)
    ]


def resolve_source_key(queue: Queue, job_filter: JobFilter) -> str | None:
    """Return the sorted set that contains the filter's job ids, or None for none.

    One class, one function, or one class with a function is read straight
    from its index key. A short class name that matches several classes is
    combined into a temporary key that expires after ``QUERY_KEY_TTL``.
    """
    keys = IndexKeys(queue.name)
    if not job_filter.exc_class:
        return keys.func_key(job_filter.func_name)
    class_names = find_class_names(queue, keys, job_filter.exc_class)
    if not class_names:
        return None
    if job_filter.func_name:
        sources = [keys.pair_key(name, job_filter.func_name) for name in class_names]
    else:
        sources = [keys.exc_class_key(name) for name in class_names]
    if len(sources) == 1:
        return sources[0]
    query_key = keys.key(f"query:{uuid.uuid4().hex}")
    with queue.connection.pipeline(transaction=False) as pipeline:
        pipeline.zunionstore(query_key, sources)
        pipeline.expire(query_key, QUERY_KEY_TTL)
        pipeline.execute()
    return query_key


class IndexedJobIdList:
    """The ids of failed jobs that match a ``JobFilter``, read from the index.

    It has the ``count()`` and slicing that ``Paginator`` uses, in the failed
    registry's order. The index is synced first, with at most ``max_index``
    missing jobs indexed (all when None); ``state`` shows whether some remain.
    """

    def __init__(
        self,
        queue: Queue,
        job_filter: JobFilter,
        descending: bool = True,
        max_index: int | None = MAX_INDEX_PER_REQUEST,
    ) -> None:
        self.queue = queue
        self.descending = descending
        self.state: IndexState = sync_index(queue, max_jobs=max_index)
        self.source_key = resolve_source_key(queue, job_filter)

    def count(self) -> int:
        if self.source_key is None:
            return 0
        return self.queue.connection.zcard(self.source_key)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[str]:
        start = index.start or 0
        if index.stop is not None and index.stop <= start:
            return []
        return self.get_ids(start, index.stop)

    def get_ids(self, start: int, stop: int | None) -> list[str]:
        """Return the ids from position ``start`` up to, not including, ``stop``.

        Ids that left the registry without passing through the dashboard are
        dropped from the index and the slice is read again, up to 3 times.
        """
        if self.source_key is None:
            return []
        end = -1 if stop is None else stop - 1
        connection = self.queue.connection
        registry_key = IndexKeys(self.queue.name).registry
        for _attempt in range(3):
            raw_ids = connection.zrange(
                self.source_key, start, end, desc=self.descending
            )
            job_ids = [job_id.decode() for job_id in raw_ids]
            if not job_ids:
                return []
            scores = connection.zmscore(registry_key, job_ids)
            stale = [
                job_id
                for job_id, score in zip(job_ids, scores, strict=True)
                if score is None
            ]
            if not stale:
                return job_ids
            forget_ids(self.queue, stale)
        return [job_id for job_id in job_ids if job_id not in stale]
