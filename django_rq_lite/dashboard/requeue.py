"""Requeue failed jobs in batches: one pipelined read and one Lua script a batch.

RQ's ``FailedJobRegistry.requeue`` restores and saves the whole job hash, with
several round trips per job, which took 98 s for 100,000 jobs on a 2-core VM.
This module reads only the fields it needs and moves a batch back onto the
queues in one script, which took 3 to 9 s on the same VM (docs/dashboard.md
gives the setup), so "requeue all" fits in a request.

The script writes the same fields that ``FailedJobRegistry.requeue`` changes
in RQ 3.0.0: status, enqueued_at, started_at, ended_at, exc_info and (when it
is unset) timeout. A test compares its result with RQ's own requeue, to catch
a change in a later RQ version. Rate-limited jobs take RQ's enqueue code, in
a transaction, because they must acquire a slot first.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.utils import now, utcformat

from ..conf import QueueNotFound
from ..queues import get_queue
from .queues import FAILED

if TYPE_CHECKING:
    from .actions import ActionCounts

# Moves failed jobs from the registry KEYS[1] onto their origin queues.
# ARGV[1..4] are the job and queue key prefixes, the new enqueued_at and the
# empty exc_info value, then ARGV[5..] pairs each job id with the default
# timeout of its origin queue. A job is moved only when this call's ZREM
# removed it, so concurrent requeues of the same job enqueue it once.
# Returns {requeued, not_in_list}.
REQUEUE_SCRIPT = """
local job_prefix = ARGV[1]
local queue_prefix = ARGV[2]
local enqueued_at = ARGV[3]
local empty_exc_info = ARGV[4]
local requeued, not_in_list = 0, 0
for i = 5, #ARGV, 2 do
    local job_id = ARGV[i]
    local default_timeout = ARGV[i + 1]
    if redis.call("zrem", KEYS[1], job_id) == 1 then
        local job_key = job_prefix .. job_id
        local origin = redis.call("hget", job_key, "origin")
        if origin then
            redis.call("hset", job_key, "status", "queued",
                "enqueued_at", enqueued_at, "started_at", "", "ended_at", "",
                "exc_info", empty_exc_info)
            if redis.call("hexists", job_key, "timeout") == 0 then
                redis.call("hset", job_key, "timeout", default_timeout)
            end
            redis.call("rpush", queue_prefix .. origin, job_id)
            requeued = requeued + 1
        else
            not_in_list = not_in_list + 1
        end
    else
        not_in_list = not_in_list + 1
    end
end
return {requeued, not_in_list}
"""

# The job hash fields that the requeue needs to read.
FIELDS = ("data", "origin", "rate_limit_key")


def read_func_name(queue: Queue, raw_data: bytes) -> str:
    """Return the function name stored in a job's ``data`` field.

    Raise ``ValueError`` when the data cannot be decompressed or deserialized.
    """
    try:
        data = zlib.decompress(raw_data)
    except zlib.error:
        data = raw_data
    try:
        func_name, instance, _args, _kwargs = queue.serializer.loads(data)
    except Exception as exc:  # Any serializer error: the data is unreadable.
        raise ValueError(f"The job data cannot be deserialized: {exc}") from exc
    return "" if instance is not None else func_name or ""


def check_importable(name: str, import_cache: dict[str, bool]) -> bool:
    if name not in import_cache:
        try:
            import_string(name)
            import_cache[name] = True
        except Exception:  # Importing runs module code, which may raise anything.
            import_cache[name] = False
    return import_cache[name]


def requeue_failed_ids(queue: Queue, job_ids: list[str], counts: ActionCounts) -> None:
    """Requeue the failed jobs ``job_ids`` of ``queue`` and add to ``counts``.

    Ids without a job hash are removed from the registry (``missing``). Jobs
    whose data cannot be read, or whose function does not import, stay in the
    registry (``unreadable``).
    """
    from .actions import prune_missing

    connection = queue.connection
    job_class = queue.job_class
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hmget(job_class.key_for(job_id), FIELDS)
        rows = pipeline.execute()

    missing, ready, rate_limited = [], [], []
    import_cache: dict[str, bool] = {}
    for job_id, (raw_data, origin, rate_limit_key) in zip(job_ids, rows, strict=True):
        if raw_data is None and origin is None:
            missing.append(job_id)
            continue
        try:
            func_name = read_func_name(queue, raw_data or b"")
        except ValueError:
            counts.unreadable += 1
            continue
        if func_name and not check_importable(func_name, import_cache):
            counts.unreadable += 1
        elif rate_limit_key:
            rate_limited.append(job_id)
        else:
            ready.append((job_id, (origin or b"").decode()))
    counts.missing += prune_missing(queue, "failed", missing)
    run_requeue_script(queue, ready, counts)
    requeue_rate_limited(queue, rate_limited, counts)


def run_requeue_script(
    queue: Queue, jobs: list[tuple[str, str]], counts: ActionCounts
) -> None:
    if not jobs:
        return
    registry = FailedJobRegistry(queue=queue, job_class=queue.job_class)
    args = [
        queue.job_class.redis_job_namespace_prefix,
        queue.redis_queue_namespace_prefix,
        utcformat(now()),
        zlib.compress(b""),
    ]
    default_timeouts: dict[str, int] = {}
    for job_id, origin in jobs:
        if origin not in default_timeouts:
            default_timeouts[origin] = get_default_timeout(queue, origin)
        args += [job_id, default_timeouts[origin]]
    script = queue.connection.register_script(REQUEUE_SCRIPT)
    requeued, not_in_list = script(keys=[registry.key], args=args)
    counts.done += requeued
    counts.not_in_list += not_in_list


def get_default_timeout(queue: Queue, origin: str) -> int:
    """Return the default timeout of the origin queue, as ``Queue`` sets it."""
    if origin != queue.name:
        try:
            queue = get_queue(origin)
        except QueueNotFound:
            pass
    return queue._default_timeout


def requeue_rate_limited(
    queue: Queue, job_ids: list[str], counts: ActionCounts
) -> None:
    """Requeue rate-limited failed jobs ``job_ids`` with RQ's enqueue code.

    As RQ's ``FailedJobRegistry.requeue`` does, each job loses its start,
    end and exception info and takes a rate limit slot again. Here the jobs
    also leave the registry in the transaction that enqueues them.
    """
    from .actions import move_to_queues

    if not job_ids:
        return
    fetched = queue.job_class.fetch_many(
        job_ids, connection=queue.connection, serializer=queue.serializer
    )
    jobs = [job for job in fetched if job is not None]
    for job in jobs:
        job.started_at = None
        job.ended_at = None
        job._exc_info = ""
        # RQ 2 has no rate limits, so its jobs lack the attribute.
        if getattr(job, "has_rate_limit", False):
            job.enqueue_at_front = False
    moved = move_to_queues(queue, FAILED, jobs)
    counts.done += moved
    counts.not_in_list += len(job_ids) - moved
