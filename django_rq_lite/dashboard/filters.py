"""Job lists narrowed by exception class or function, read in bounded batches.

NOTE: a filtered list scans the whole job list on each request, in batches of
``SCAN_BATCH_SIZE`` jobs, so memory stays bounded but the time grows with the
list: 9 to 24 s for 100,000 failed jobs (docs/dashboard.md gives the setup).
An index of failed jobs by exception class and function would make it fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rq import Queue

from .jobs import FetchedJob, JobSummary, fetch_jobs, summarize
from .queues import JobIdList

# Jobs read from Redis per round trip while scanning a job list.
SCAN_BATCH_SIZE = 500


@dataclass(frozen=True)
class JobFilter:
    """Exact exception class and function name that listed jobs must have.

    An empty field matches every job. ``exc_class`` also matches the class
    name without its module ("ValueError" matches "builtins.ValueError").
    """

    exc_class: str = ""
    func_name: str = ""

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


class FilteredJobIdList:
    """The ids of a job list's jobs that match a ``JobFilter``, for a paginator.

    One scan counts the matches and keeps the ids at positions
    ``window_start`` up to ``window_stop``, the page the view will show.
    Slices outside that window scan again.
    """

    def __init__(
        self,
        queue: Queue,
        name: str,
        job_filter: JobFilter,
        descending: bool = True,
        window: tuple[int, int] = (0, 0),
    ) -> None:
        self.job_list = JobIdList(queue, name, descending=descending)
        self.job_filter = job_filter
        self.window = window
        self.total: int | None = None
        self.window_ids: list[str] = []

    def scan(self, start: int, stop: int) -> tuple[int, list[str]]:
        total = 0
        ids = []
        batches = iter_fetched_batches(
            self.job_list, with_results=self.job_filter.needs_results
        )
        for batch in batches:
            for fetched in batch:
                if not self.job_filter.matches(summarize(fetched)):
                    continue
                if start <= total < stop:
                    ids.append(fetched.id)
                total += 1
        return total, ids

    def count(self) -> int:
        if self.total is None:
            self.total, self.window_ids = self.scan(*self.window)
        return self.total

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[str]:
        start, stop = index.start or 0, index.stop
        window_start, window_stop = self.window
        # Paginator cuts the last page's slice at the count, inside the window.
        if start == window_start and stop is not None and stop <= window_stop:
            self.count()
            return self.window_ids[: stop - start]
        return self.scan(start, stop if stop is not None else float("inf"))[1]
