"""Changes to jobs: requeue, delete, cancel, enqueue now, stop, empty a queue.

Each bulk action takes the jobs of one job list in batches. A batch is read
with one pipelined round trip (``fetch_jobs``) and changed with one or two
more, so memory use does not depend on the size of the list.

Every action that moves a job out of a registry onto a queue does both in
one step, a Lua script or a transaction that watches the registry. Two
requests that act on the same job at once therefore cannot both enqueue it,
and a process that dies midway cannot leave a job outside every list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.module_loading import import_string
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import DeserializationError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result

from .filters import IndexedJobIdList, JobFilter, iter_fetched_batches
from .index import forget_ids
from .jobs import FetchedJob, fetch_jobs, is_valid_job_id, summarize
from .queues import (
    DEFERRED,
    FAILED,
    QUEUED,
    SCHEDULED,
    STARTED,
    JobIdList,
    get_registry,
)
from .requeue import requeue_failed_ids

logger = logging.getLogger("django_rq_lite.dashboard")

# Jobs read and changed per batch by the bulk actions.
BATCH_SIZE = 500

# Deletes the jobs ARGV[4..] from the job list KEYS[1], which is a sorted set
# when ARGV[1] is "zset" and a list otherwise. ARGV[2] and ARGV[3] are the job
# and result key prefixes. Only the jobs that this call removed from the list
# lose their data, so a job that another request moved meanwhile is left
# alone. Returns {deleted, pruned}: pruned entries had no job hash.
DELETE_SCRIPT = """
local is_zset = ARGV[1] == "zset"
local job_prefix = ARGV[2]
local result_prefix = ARGV[3]
local deleted, pruned = 0, 0
for i = 4, #ARGV do
    local job_id = ARGV[i]
    local removed
    if is_zset then
        removed = redis.call("zrem", KEYS[1], job_id)
    else
        removed = redis.call("lrem", KEYS[1], 0, job_id)
    end
    if removed > 0 then
        local job_key = job_prefix .. job_id
        if redis.call("exists", job_key) == 1 then
            deleted = deleted + 1
        else
            pruned = pruned + 1
        end
        redis.call("del", job_key, job_key .. ":dependents",
            job_key .. ":dependencies", result_prefix .. job_id)
    end
end
return {deleted, pruned}
"""


# Attempts of move_to_queues() before it gives up on a registry that keeps
# changing, for example under a flood of new deferred jobs.
MOVE_ATTEMPTS = 20

# Returns 1 for each job id in ARGV that the sorted set KEYS[1] contains,
# else 0, in one round trip on any Redis version with Lua (ZMSCORE needs 6.2).
MEMBERS_SCRIPT = """
local flags = {}
for index, job_id in ipairs(ARGV) do
    flags[index] = redis.call("zscore", KEYS[1], job_id) and 1 or 0
end
return flags
"""


@dataclass
class ActionCounts:
    """Counts of what an action did to the jobs it was given.

    ``done`` jobs were changed. ``missing`` entries had no job hash (it
    expired or was deleted) and were removed from the job list.
    ``not_in_list`` jobs had already left the job list, for example because
    another request acted on them first. ``unreadable`` jobs stay where they
    are because their data or function cannot be loaded.
    """

    done: int = 0
    missing: int = 0
    not_in_list: int = 0
    unreadable: int = 0

    def __add__(self, other: ActionCounts) -> ActionCounts:
        return ActionCounts(
            self.done + other.done,
            self.missing + other.missing,
            self.not_in_list + other.not_in_list,
            self.unreadable + other.unreadable,
        )

    @property
    def left_list(self) -> int:
        """The number of given jobs that are no longer in the job list."""
        return self.done + self.missing + self.not_in_list


def get_list_key(queue: Queue, name: str) -> str:
    return queue.key if name == QUEUED else get_registry(queue, name).key


def prune_missing(queue: Queue, name: str, job_ids: list[str]) -> int:
    """Remove entries without a job hash from a job list; return how many."""
    if not job_ids:
        return 0
    key = get_list_key(queue, name)
    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            if name == QUEUED:
                pipeline.lrem(key, 0, job_id)
            else:
                pipeline.zrem(key, job_id)
        return sum(1 for removed in pipeline.execute() if removed)


def find_load_problem(fetched: FetchedJob, import_cache: dict[str, str]) -> str:
    """Return why a worker could not run the job, or ``""``."""
    if fetched.error:
        return fetched.error
    try:
        name = fetched.job.func_name
        if not name or fetched.job.instance is not None:
            return ""
    except DeserializationError as exc:
        return f"The job data cannot be deserialized: {exc}"
    if name not in import_cache:
        try:
            import_string(name)
            import_cache[name] = ""
        except Exception as exc:  # Importing runs module code, which may raise.
            import_cache[name] = f"{type(exc).__name__}: {exc}"
    return import_cache[name]


def readable_jobs(
    queue: Queue, name: str, fetched_jobs: list[FetchedJob], counts: ActionCounts
) -> list[Job]:
    """Return the jobs of ``fetched_jobs`` that a worker could load and run.

    Entries without a job hash are pruned from job list ``name``. Jobs whose
    data or function cannot be loaded stay in it and are counted as unreadable.
    """
    missing = [fetched.id for fetched in fetched_jobs if fetched.job is None]
    counts.missing += prune_missing(queue, name, missing)
    import_cache: dict[str, str] = {}
    jobs = []
    for fetched in fetched_jobs:
        if fetched.job is None:
            continue
        if find_load_problem(fetched, import_cache):
            counts.unreadable += 1
        else:
            jobs.append(fetched.job)
    return jobs


def origin_queue(queue: Queue, job: Job, queues: dict[str, Queue]) -> Queue:
    """Return the queue that ``job`` came from, built once per name in ``queues``."""
    origin = job.origin or queue.name
    if origin not in queues:
        queues[origin] = Queue(
            origin,
            connection=queue.connection,
            job_class=queue.job_class,
            serializer=queue.serializer,
        )
    return queues[origin]


def add_leaving_commands(
    pipeline: Pipeline, queue: Queue, name: str, key: str, job: Job
) -> None:
    """Add the commands that take ``job`` out of registry ``name`` (at ``key``).

    A deferred job also leaves the dependents sets of its dependencies, so RQ
    does not enqueue it a second time when they finish.
    """
    pipeline.zrem(key, job.id)
    if name == DEFERRED:
        for dependency_id in job._dependency_ids:
            pipeline.srem(queue.job_class.dependents_key_for(dependency_id), job.id)


def move_to_queues(queue: Queue, name: str, jobs: list[Job]) -> int:
    """Move ``jobs`` from registry ``name`` onto their queues in one transaction.

    The transaction watches the registry and takes only the jobs still in
    it, so two requests cannot both enqueue a job, and a process that dies
    midway leaves every job either in the registry or on its queue. Return
    how many jobs moved. Raise ``WatchError`` when the registry changed
    during each of ``MOVE_ATTEMPTS`` attempts.

    NOTE: this uses ``Queue._enqueue_job`` and, for rate-limited jobs,
    ``Queue._enqueue_rate_limited_job`` (RQ 3.0.0), as RQ's own scheduler
    and registries do.
    """
    if not jobs:
        return 0
    key = get_registry(queue, name).key
    queues: dict[str, Queue] = {}
    with queue.connection.pipeline() as pipeline:
        for _ in range(MOVE_ATTEMPTS):
            try:
                pipeline.watch(key)
                flags = pipeline.eval(MEMBERS_SCRIPT, 1, key, *[job.id for job in jobs])
                present = [job for job, flag in zip(jobs, flags, strict=True) if flag]
                pipeline.multi()
                for job in present:
                    add_leaving_commands(pipeline, queue, name, key, job)
                    origin = origin_queue(queue, job, queues)
                    # RQ 2 has no rate limits, so its jobs lack the attribute.
                    if getattr(job, "has_rate_limit", False):
                        # RQ queues the job's writes and its slot on the pipeline.
                        origin._enqueue_rate_limited_job(job, pipeline=pipeline)
                    else:
                        origin._enqueue_job(job, pipeline=pipeline)
                pipeline.execute()
                return len(present)
            except WatchError:
                # The registry changed after the read, so read it again.
                continue
    raise WatchError(
        f"The {name} registry of queue {queue.name!r} changed during each of "
        f"{MOVE_ATTEMPTS} attempts, so no job was moved. Try again."
    )


def requeue_ids(queue: Queue, name: str, job_ids: list[str]) -> ActionCounts:
    """Move failed jobs back onto their queue (see ``requeue``)."""
    counts = ActionCounts()
    requeue_failed_ids(queue, job_ids, counts)
    return counts


def enqueue_now_ids(queue: Queue, name: str, job_ids: list[str]) -> ActionCounts:
    """Enqueue scheduled or deferred jobs now, ignoring their time or dependencies."""
    counts = ActionCounts()
    fetched_jobs = fetch_jobs(queue, job_ids, with_results=False)
    jobs = readable_jobs(queue, name, fetched_jobs, counts)
    moved = move_to_queues(queue, name, jobs)
    counts.done += moved
    counts.not_in_list += len(jobs) - moved
    return counts


def delete_ids(queue: Queue, name: str, job_ids: list[str]) -> ActionCounts:
    """Remove jobs from job list ``name`` and delete their data and results."""
    if name == STARTED:
        raise InvalidJobOperation("Stop running jobs instead of deleting them.")
    if not job_ids:
        return ActionCounts()
    script = queue.connection.register_script(DELETE_SCRIPT)
    deleted, pruned = script(
        keys=[get_list_key(queue, name)],
        args=[
            "list" if name == QUEUED else "zset",
            queue.job_class.redis_job_namespace_prefix,
            Result.get_key(""),
            *job_ids,
        ],
    )
    not_in_list = len(job_ids) - deleted - pruned
    return ActionCounts(done=deleted, missing=pruned, not_in_list=not_in_list)


def cancel_ids(queue: Queue, name: str, job_ids: list[str]) -> ActionCounts:
    """Cancel queued or deferred jobs with RQ's ``Job.cancel``, one at a time.

    NOTE: ``Job.cancel`` runs its own WATCH/MULTI transaction per job, so a
    batch takes a few round trips per job instead of one per batch.
    """
    counts = ActionCounts()
    fetched_jobs = fetch_jobs(queue, job_ids, with_results=False)
    missing = [fetched.id for fetched in fetched_jobs if fetched.job is None]
    counts.missing += prune_missing(queue, name, missing)
    for fetched in fetched_jobs:
        if fetched.job is None:
            continue
        if fetched.error:
            counts.unreadable += 1
            continue
        status = fetched.job.get_status(refresh=True)
        if status not in (JobStatus.QUEUED, JobStatus.DEFERRED):
            counts.not_in_list += 1
            continue
        try:
            fetched.job.cancel()
        except InvalidJobOperation:
            counts.not_in_list += 1
            continue
        counts.done += 1
    return counts


BulkAction = Callable[[Queue, str, list[str]], ActionCounts]

# The actions each job list offers, by the name that forms and URLs use.
ACTIONS: dict[str, BulkAction] = {
    "requeue": requeue_ids,
    "delete": delete_ids,
    "cancel": cancel_ids,
    "enqueue": enqueue_now_ids,
}
LIST_ACTIONS: dict[str, tuple[str, ...]] = {
    QUEUED: ("cancel", "delete"),
    STARTED: (),
    DEFERRED: ("enqueue", "cancel", "delete"),
    SCHEDULED: ("enqueue", "delete"),
    "finished": ("delete",),
    FAILED: ("requeue", "delete"),
    "canceled": ("delete",),
}


def check_action(name: str, action: str) -> BulkAction:
    """Return the function of ``action``, or raise ``InvalidJobOperation``."""
    if action not in LIST_ACTIONS.get(name, ()):
        raise InvalidJobOperation(
            f"Action {action!r} does not apply to {name} jobs. Use one of: "
            + (", ".join(LIST_ACTIONS.get(name, ())) or "none")
            + "."
        )
    return ACTIONS[action]


def run_action(
    queue: Queue, name: str, action: str, job_ids: list[str]
) -> ActionCounts:
    """Apply ``action`` to the jobs ``job_ids`` of job list ``name``, in batches.

    Invalid ids are removed from the job list and counted as missing.
    """
    function = check_action(name, action)
    counts = ActionCounts()
    invalid = [job_id for job_id in job_ids if not is_valid_job_id(job_id)]
    counts.missing += prune_missing(queue, name, invalid)
    valid = [job_id for job_id in job_ids if is_valid_job_id(job_id)]
    for start in range(0, len(valid), BATCH_SIZE):
        batch = valid[start : start + BATCH_SIZE]
        counts += function(queue, name, batch)
        if name == FAILED:
            forget_ids(queue, batch)
    if name == FAILED:
        forget_ids(queue, invalid)
    return counts


def run_action_on_all(
    queue: Queue,
    name: str,
    action: str,
    job_filter: JobFilter | None = None,
    batch_size: int = BATCH_SIZE,
) -> ActionCounts:
    """Apply ``action`` to every job of job list ``name`` that matches the filter.

    Jobs are read oldest first, a batch at a time, and the call stops after as
    many entries as the list held when it started. A job that re-enters the
    list meanwhile (a requeued job that fails again) sorts after them, so it
    is not acted on twice, unless its new score sorts before the old ones.
    A filter reads the failed-job index, which is brought up to date first.
    """
    function = check_action(name, action)
    if job_filter and name == FAILED:
        job_list = IndexedJobIdList(queue, job_filter, descending=False, max_index=None)
    else:
        job_list = JobIdList(queue, name, descending=False)
    remaining = job_list.count()
    counts = ActionCounts()
    # Entries that stay in the list (filtered out or unreadable)
    # keep their positions, so the next batch starts after them.
    offset = 0
    while remaining > 0:
        job_ids = job_list.get_ids(offset, offset + min(batch_size, remaining))
        if not job_ids:
            break
        remaining -= len(job_ids)
        batch = job_ids
        if job_filter and name != FAILED:
            batch = [
                fetched.id
                for fetched in fetch_jobs(
                    queue, job_ids, with_results=job_filter.needs_results
                )
                if job_filter.matches(summarize(fetched))
            ]
        batch_counts = function(queue, name, batch)
        if name == FAILED:
            forget_ids(queue, batch)
        counts += batch_counts
        offset += len(job_ids) - batch_counts.left_list
    logger.info(
        "Ran bulk action action=%s queue=%s list=%s done=%d missing=%d not_in_list=%d "
        "unreadable=%d",
        action,
        queue.name,
        name,
        counts.done,
        counts.missing,
        counts.not_in_list,
        counts.unreadable,
    )
    return counts


def count_matching(queue: Queue, name: str, job_filter: JobFilter) -> int:
    """Return the number of jobs of job list ``name`` that match ``job_filter``.

    The failed list is counted from its index, other lists by reading them.
    """
    if name == FAILED:
        return IndexedJobIdList(queue, job_filter, max_index=None).count()
    job_list = JobIdList(queue, name, descending=False)
    return sum(
        1
        for batch in iter_fetched_batches(
            job_list, with_results=job_filter.needs_results
        )
        for fetched in batch
        if job_filter.matches(summarize(fetched))
    )


def stop_job(queue: Queue, job_id: str) -> None:
    """Ask the worker that runs job ``job_id`` to stop it.

    Raise ``InvalidJobOperation`` when the job is not running and
    ``NoSuchJobError`` when it does not exist.
    """
    if not is_valid_job_id(job_id):
        raise NoSuchJobError(f"Job {job_id!r} was not found.")
    job = queue.job_class.fetch(
        job_id, connection=queue.connection, serializer=queue.serializer
    )
    # RQ's command checks only that a worker took the job once, so it would
    # send a stop for a job that has already ended.
    status = job.get_status(refresh=False)
    if status != JobStatus.STARTED:
        raise InvalidJobOperation(
            f"it is {JobStatus(status).value}, not started, so no worker is running it."
        )
    send_stop_job_command(queue.connection, job_id, serializer=queue.serializer)


def empty_queue(queue: Queue) -> int:
    """Delete every queued job of ``queue``; return how many were deleted.

    NOTE: RQ's ``Queue.empty`` runs one Lua script over the whole list, which
    blocks the Redis server while it runs (about a second per 100,000 jobs on
    a laptop, an estimate).
    """
    return int(queue.empty() or 0)
