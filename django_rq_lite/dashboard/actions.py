"""Changes to jobs: requeue failed jobs, one, some or all of a queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rq import Queue
from rq.exceptions import InvalidJobOperation
from rq.registry import FailedJobRegistry

from .jobs import fetch_jobs, is_valid_job_id

logger = logging.getLogger("django_rq_lite.dashboard")

# Failed job ids read, fetched and requeued per batch by ``requeue_all_failed``.
REQUEUE_BATCH_SIZE = 500


@dataclass
class RequeueCounts:
    """How many jobs a requeue moved back to their queue, and how many it left.

    ``missing`` jobs have a failed registry entry but no job hash (it expired
    or was deleted), so there is nothing to requeue. ``not_failed`` jobs were
    no longer in the failed registry when their turn came, for example because
    another request requeued them first.
    """

    requeued: int = 0
    missing: int = 0
    not_failed: int = 0

    def __add__(self, other: RequeueCounts) -> RequeueCounts:
        return RequeueCounts(
            self.requeued + other.requeued,
            self.missing + other.missing,
            self.not_failed + other.not_failed,
        )


def get_failed_registry(queue: Queue) -> FailedJobRegistry:
    return FailedJobRegistry(
        queue=queue, job_class=queue.job_class, serializer=queue.serializer
    )


def requeue_jobs(queue: Queue, job_ids: list[str]) -> RequeueCounts:
    """Move the failed jobs ``job_ids`` of ``queue`` back onto their queue.

    The jobs are fetched in one pipelined round trip, then each goes through
    RQ's ``FailedJobRegistry.requeue``, which removes it from the registry,
    then enqueues it. Ids without a job hash are left in the registry,
    where RQ's cleanup removes them when their failure TTL ends.
    """
    registry = get_failed_registry(queue)
    counts = RequeueCounts()
    valid_ids = [job_id for job_id in job_ids if is_valid_job_id(job_id)]
    counts.missing += len(job_ids) - len(valid_ids)
    for fetched in fetch_jobs(queue, valid_ids):
        if fetched.job is None:
            counts.missing += 1
            continue
        try:
            registry.requeue(fetched.job)
        except InvalidJobOperation:
            counts.not_failed += 1
            continue
        counts.requeued += 1
    return counts


def requeue_all_failed(
    queue: Queue, batch_size: int = REQUEUE_BATCH_SIZE
) -> RequeueCounts:
    """Requeue every job in the failed registry of ``queue``, in batches.

    Ids are read a batch at a time, earliest expiry first, so memory use does
    not grow with the registry. The call stops after as many ids as the
    registry held when it started. A job that fails again meanwhile gets a
    later expiry and sorts after them, so it is not requeued twice, unless its
    failure TTL is shorter than the others'.
    """
    registry = get_failed_registry(queue)
    remaining = registry.count
    counts = RequeueCounts()
    # Requeued jobs leave the registry, but ids without a job hash stay at
    # its front, so the next batch starts after them.
    offset = 0
    while remaining > 0:
        size = min(batch_size, remaining)
        job_ids = registry.get_job_ids(offset, offset + size - 1, cleanup=False)
        if not job_ids:
            break
        batch = requeue_jobs(queue, job_ids)
        counts += batch
        offset += batch.missing
        remaining -= len(job_ids)
    logger.info(
        "Requeued failed jobs queue=%s requeued=%d missing=%d not_failed=%d",
        queue.name,
        counts.requeued,
        counts.missing,
        counts.not_failed,
    )
    return counts
