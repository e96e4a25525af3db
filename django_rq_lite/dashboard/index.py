"""An index of failed jobs by exception class and by function, kept in Redis.

For each queue the index contains one sorted set per exception class, one per
function and one per pair of the two. Their members are job ids scored with
the job's score in the failed registry (its expiry time), so a filtered page
reads one slice of one set in the registry's order. Beside them are a sorted
set of every indexed id, a hash from id to its class and function, and sets
of the known classes and functions, which the filter choices list.

Writers: the worker hook (``record_failure``) indexes a job when it fails.
The dashboard's requeue and delete actions drop ids that left the registry
(``forget_ids``). The filtered pages and actions call ``sync_index``, which
catches every other change. It drops entries whose registry score has
passed, as RQ's registry cleanup does. When the registry and index counts
differ, and at least every ``FULL_SYNC_INTERVAL`` seconds, it compares the
two sets with ZDIFF, drops stale ids and indexes the missing ones in
batches. Missing ones are failures from before the index existed, from
workers without the hook, and from RQ's abandoned-job cleanup.

NOTE: the Lua scripts build key names from their arguments, so they do not
declare every key they touch and do not run on Redis Cluster.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from .jobs import fetch_jobs, parse_exception_line, summarize

logger = logging.getLogger("django_rq_lite.dashboard")

KEY_PREFIX = "rq-lite:failed-index:"

# Jobs read from Redis per round trip while indexing missing entries.
INDEX_BATCH_SIZE = 500

# Seconds between full comparisons of the registry with the index when their
# counts agree. Equal counts can hide one stale and one missing entry.
FULL_SYNC_INTERVAL = 60

# Lua helpers shared by the scripts. KEYS[1] is the failed registry, KEYS[2]
# the set of indexed ids, KEYS[3] the id-to-entry hash, KEYS[4] and KEYS[5]
# the sets of known classes and functions. ARGV[1], ARGV[2] and ARGV[3] are
# the key prefixes of the per-class, per-function and per-pair sorted sets.
# A pair key ends with the class, a newline and the function.
LUA_HELPERS = """
local function split(entry)
    local cut = string.find(entry, "\\n", 1, true)
    return string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
end
local function forget(job_id)
    local entry = redis.call("hget", KEYS[3], job_id)
    if entry then
        local exc_class, func_name = split(entry)
        if exc_class ~= "" then redis.call("zrem", ARGV[1] .. exc_class, job_id) end
        if func_name ~= "" then redis.call("zrem", ARGV[2] .. func_name, job_id) end
        if exc_class ~= "" and func_name ~= "" then
            redis.call("zrem", ARGV[3] .. exc_class .. "\\n" .. func_name, job_id)
        end
        redis.call("hdel", KEYS[3], job_id)
    end
    redis.call("zrem", KEYS[2], job_id)
end
"""

# Indexes the jobs ARGV[4..] given as (id, class, function) triples, each
# with its current registry score. A job no longer in the registry (requeued
# or retried meanwhile) is dropped from the index instead.
RECORD_SCRIPT = (
    LUA_HELPERS
    + """
local recorded = 0
for i = 4, #ARGV, 3 do
    local job_id, exc_class, func_name = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    forget(job_id)
    local score = redis.call("zscore", KEYS[1], job_id)
    if score then
        redis.call("zadd", KEYS[2], score, job_id)
        redis.call("hset", KEYS[3], job_id, exc_class .. "\\n" .. func_name)
        if exc_class ~= "" then
            redis.call("zadd", ARGV[1] .. exc_class, score, job_id)
            redis.call("sadd", KEYS[4], exc_class)
        end
        if func_name ~= "" then
            redis.call("zadd", ARGV[2] .. func_name, score, job_id)
            redis.call("sadd", KEYS[5], func_name)
        end
        if exc_class ~= "" and func_name ~= "" then
            local pair_key = ARGV[3] .. exc_class .. "\\n" .. func_name
            redis.call("zadd", pair_key, score, job_id)
        end
        recorded = recorded + 1
    end
end
return recorded
"""
)

# Drops the ids ARGV[4..] from the index, except those still in the registry.
FORGET_SCRIPT = (
    LUA_HELPERS
    + """
local forgotten = 0
for i = 4, #ARGV do
    if not redis.call("zscore", KEYS[1], ARGV[i]) then
        forget(ARGV[i])
        forgotten = forgotten + 1
    end
end
return forgotten
"""
)

# Removes registry and index entries whose score is at most ARGV[4] (now),
# as RQ's FailedJobRegistry.cleanup does, then returns the registry count,
# the index count and the time of the last full comparison.
EXPIRE_SCRIPT = (
    LUA_HELPERS
    + """
redis.call("zremrangebyscore", KEYS[1], 0, ARGV[4])
local expired = redis.call("zrangebyscore", KEYS[2], 0, ARGV[4])
for _, job_id in ipairs(expired) do forget(job_id) end
return {redis.call("zcard", KEYS[1]), redis.call("zcard", KEYS[2]),
    redis.call("get", KEYS[6])}
"""
)


@dataclass(frozen=True)
class IndexKeys:
    """Redis key names of one queue's failed-job index."""

    queue_name: str

    def key(self, suffix: str) -> str:
        return f"{KEY_PREFIX}{self.queue_name}:{suffix}"

    @property
    def registry(self) -> str:
        return FailedJobRegistry.key_template.format(self.queue_name)

    @property
    def script_keys(self) -> list[str]:
        return [
            self.registry,
            self.key("ids"),
            self.key("entries"),
            self.key("classes"),
            self.key("functions"),
            self.key("synced-at"),
        ]

    @property
    def prefixes(self) -> list[str]:
        return [self.key("exc:"), self.key("func:"), self.key("pair:")]

    def exc_class_key(self, exc_class: str) -> str:
        return self.key("exc:") + exc_class

    def func_key(self, func_name: str) -> str:
        return self.key("func:") + func_name

    def pair_key(self, exc_class: str, func_name: str) -> str:
        return f"{self.key('pair:')}{exc_class}\n{func_name}"


@dataclass(frozen=True)
class IndexState:
    """How much of the failed registry the index covers after a sync."""

    indexed: int
    total: int

    @property
    def complete(self) -> bool:
        return self.indexed >= self.total


def run_script(connection, source: str, keys: IndexKeys, args: list) -> object:
    script = connection.register_script(source)
    return script(keys=keys.script_keys, args=[*keys.prefixes, *args])


def record_entries(queue: Queue, entries: list[tuple[str, str, str]]) -> int:
    """Index ``(job id, exception class, function)`` entries; return how many."""
    if not entries:
        return 0
    args = [value for entry in entries for value in entry]
    return int(run_script(queue.connection, RECORD_SCRIPT, IndexKeys(queue.name), args))


def record_failure(connection, job: Job, exc_string: str) -> None:
    """Index one job that a worker has just moved to the failed registry."""
    exc_class, _message = parse_exception_line(exc_string or "")
    try:
        func_name = job.func_name or ""
    except Exception:  # Unreadable job data: index the job without a function.
        func_name = ""
    args = [job.id, exc_class, func_name]
    run_script(connection, RECORD_SCRIPT, IndexKeys(job.origin), args)


def forget_ids(queue: Queue, job_ids: list[str]) -> int:
    """Drop ``job_ids`` that are no longer failed from the index; return how many."""
    if not job_ids:
        return 0
    keys = IndexKeys(queue.name)
    return int(run_script(queue.connection, FORGET_SCRIPT, keys, list(job_ids)))


def index_missing(queue: Queue, job_ids: list[str]) -> int:
    """Read the jobs ``job_ids`` in one round trip and index them."""
    entries = []
    for fetched in fetch_jobs(queue, job_ids):
        summary = summarize(fetched)
        entries.append((fetched.id, summary.exc_class, summary.func_name))
    return record_entries(queue, entries)


def sync_index(queue: Queue, max_jobs: int | None = None) -> IndexState:
    """Bring the index of ``queue`` in line with its failed registry.

    At most ``max_jobs`` missing jobs are indexed (all of them when it is
    None), so a page request stays bounded. The returned state shows whether
    ids remain to be indexed.
    """
    connection = queue.connection
    keys = IndexKeys(queue.name)
    total, indexed, synced_at = run_script(
        connection, EXPIRE_SCRIPT, keys, [time.time()]
    )
    age = None if synced_at is None else time.time() - float(synced_at)
    if total == indexed and age is not None and age < FULL_SYNC_INTERVAL:
        return IndexState(indexed, total)

    stale = [
        job_id.decode() for job_id in connection.zdiff([keys.key("ids"), keys.registry])
    ]
    for start in range(0, len(stale), INDEX_BATCH_SIZE):
        forget_ids(queue, stale[start : start + INDEX_BATCH_SIZE])
    missing = [
        job_id.decode() for job_id in connection.zdiff([keys.registry, keys.key("ids")])
    ]
    limit = len(missing) if max_jobs is None else min(max_jobs, len(missing))
    for start in range(0, limit, INDEX_BATCH_SIZE):
        index_missing(queue, missing[start : min(start + INDEX_BATCH_SIZE, limit)])
    if limit == len(missing):
        connection.set(keys.key("synced-at"), time.time())
    if stale or missing:
        logger.info(
            "Synced failed-job index queue=%s stale=%d missing=%d indexed_now=%d",
            queue.name,
            len(stale),
            len(missing),
            limit,
        )
    return IndexState(total - len(missing) + limit, total)


def get_filter_choices(queue: Queue) -> tuple[list[str], list[str]]:
    """Return the exception classes and functions that have failed jobs, sorted.

    Known names whose sorted set is empty are left out but stay in the known
    sets, so a concurrent first failure of that name is never lost.
    """
    connection = queue.connection
    keys = IndexKeys(queue.name)
    choices = []
    for set_key, key_of in (
        (keys.key("classes"), keys.exc_class_key),
        (keys.key("functions"), keys.func_key),
    ):
        names = sorted(name.decode() for name in connection.smembers(set_key))
        with connection.pipeline(transaction=False) as pipeline:
            for name in names:
                pipeline.zcard(key_of(name))
            sizes = pipeline.execute()
        choices.append([name for name, size in zip(names, sizes, strict=True) if size])
    return choices[0], choices[1]
