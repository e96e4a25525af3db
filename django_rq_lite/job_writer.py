"""Write new RQ jobs to Redis in one transaction of hand-packed commands.

redis-py's pipeline encodes and packs every argument of every command in
Python, and a job hash has about fifteen fields. In a cProfile run of
10,000 ``.delay()`` calls (RQ 3.0, redis-py 8.2, Python 3.11) packing took
1.4 s and the socket calls 0.9 s. This module packs the same commands from
the values that RQ's ``Job.to_dict()`` returns and sends them as one
MULTI/EXEC request, so Redis ends with the keys and queue order that RQ
writes.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
from collections.abc import Iterable, Iterator
from typing import Any

from redis import ConnectionPool
from redis.exceptions import ResponseError
from rq.job import Job


def _connection_args() -> tuple:
    """Return the arguments that redis-py's ``get_connection()`` requires.

    redis-py before 5.3 requires a command name, and later versions warn
    when one is given.
    """
    parameter = inspect.signature(ConnectionPool.get_connection).parameters.get(
        "command_name"
    )
    if parameter is not None and parameter.default is inspect.Parameter.empty:
        return ("MULTI",)
    return ()


CONNECTION_ARGS = _connection_args()

# Packed field names of the job hash, which repeat in every job.
_field_names: dict[str, bytes] = {}

# (encoding, encoding errors) -> the HashPacker for clients that use them.
_hash_packers: dict[tuple[str, str], HashPacker] = {}


# Below this many jobs a write allocates too few objects for the collector to
# run often: an estimated seven survive per job, and Python's default
# threshold for a young-generation collection is 700 allocations.
GC_PAUSE_MIN_JOBS = 100


@contextlib.contextmanager
def gc_paused(job_count: int) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many jobs are built.

    Every job object, its dicts and lists survive until the write, so the
    collector scans them over and over without finding garbage. In the
    benchmark's Django site (``benchmarks/peers/lite_site``, 2 cores) that
    took about 13% of a 10,000-job ``delay_many()``. A collector that was
    off stays off.
    """
    if job_count < GC_PAUSE_MIN_JOBS or not gc.isenabled():
        yield
        return
    # NOTE: the pause is process-wide, so other threads run without the
    # collector until it ends, and a gc.enable() in another thread ends it.
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def pack_bulk(value: bytes) -> bytes:
    """Return ``value`` as a RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def pack_command(*args: bytes) -> bytes:
    """Return one Redis command in the RESP protocol, from encoded arguments."""
    return b"*%d\r\n" % len(args) + b"".join(map(pack_bulk, args))


MULTI = pack_command(b"MULTI")
EXEC = pack_command(b"EXEC")


def pack_field_name(name: str) -> bytes:
    packed = _field_names.get(name)
    if packed is None:
        packed = _field_names[name] = pack_bulk(name.encode())
    return packed


class HashPacker:
    """Packer of job hash fields for one client encoding.

    Most fields of a job hash (its callbacks, origin, timeout, TTLs and
    the empty timestamps) repeat from job to job, so each field's last
    packed value is kept and reused when the next job has the same value.
    Only ``str`` and ``int`` values are reused, whose packing depends on
    the value and the encoding alone.
    """

    def __init__(self, encode: Any) -> None:
        self.encode = encode
        # Field name -> (value, packed name and value) of its last packing.
        self.last_fields: dict[str, tuple[Any, bytes]] = {}

    def pack_job_hash(self, job: Job) -> bytes:
        """Return the HSET that saves ``job``, as ``Job.save()`` sends it."""
        mapping = job.to_dict()
        parts = [b"*%d\r\n$4\r\nHSET\r\n" % (2 + 2 * len(mapping))]
        parts.append(pack_bulk(job.key.encode()))
        last_fields = self.last_fields
        for name, value in mapping.items():
            kind = type(value)
            if kind is bytes:
                parts.append(pack_field_name(name))
                parts.append(pack_bulk(value))
                continue
            last = last_fields.get(name)
            if last is not None and type(last[0]) is kind and last[0] == value:
                parts.append(last[1])
                continue
            packed = pack_field_name(name) + pack_bulk(self.encode(value))
            if kind is str or kind is int:
                last_fields[name] = (value, packed)
            parts.append(packed)
        return b"".join(parts)


def get_hash_packer(client: Any) -> HashPacker:
    """Return the ``HashPacker`` for the encoding of a redis-py client."""
    encoder = client.connection_pool.get_encoder()
    key = (encoder.encoding, encoder.encoding_errors)
    packer = _hash_packers.get(key)
    if packer is None:
        packer = _hash_packers.setdefault(key, HashPacker(encoder.encode))
    return packer


def pack_job_expiry(job: Job) -> list[bytes]:
    """Return the EXPIREs that ``Job.cleanup(ttl=job.ttl)`` sends.

    That is three EXPIREs for a positive TTL and none otherwise. RQ's
    ``create_job()`` rejects a TTL of zero, which ``cleanup()`` would turn
    into a DEL.
    """
    if not job.ttl or job.ttl < 0:
        return []
    ttl = str(job.ttl).encode()
    keys = (job.key, job.dependents_key, job.dependencies_key)
    return [pack_command(b"EXPIRE", key.encode(), ttl) for key in keys]


def pack_push(command: bytes, queue_key: str, job_ids: list[str]) -> bytes:
    return pack_command(command, queue_key.encode(), *(id.encode() for id in job_ids))


def write_jobs(queue: Any, jobs: Iterable[tuple[Job, bool]]) -> None:
    """Save ``jobs`` and push their ids on ``queue`` in one transaction.

    ``jobs`` contains ``(job, at_front)`` pairs of jobs that
    ``Queue._prepare_for_queue()`` prepared. The transaction adds the queue
    to RQ's set of queues, saves each job's hash (and its TTL), then pushes
    the ids with one RPUSH, and one LPUSH for the ``at_front`` jobs.
    """
    client = queue.connection
    packer = get_hash_packer(client)
    parts = [MULTI]
    parts.append(
        pack_command(b"SADD", queue.redis_queues_keys.encode(), queue.key.encode())
    )
    queued = 1
    back_ids = []
    front_ids = []
    for job, at_front in jobs:
        parts.append(packer.pack_job_hash(job))
        queued += 1
        if job.ttl:
            expiry = pack_job_expiry(job)
            parts.extend(expiry)
            queued += len(expiry)
        (front_ids if at_front else back_ids).append(job.id)
    if back_ids:
        parts.append(pack_push(b"RPUSH", queue.key, back_ids))
        queued += 1
    if front_ids:
        parts.append(pack_push(b"LPUSH", queue.key, front_ids))
        queued += 1
    parts.append(EXEC)
    execute_transaction(client, b"".join(parts), queued)


def execute_transaction(client: Any, request: bytes, queued: int) -> list:
    """Send a packed MULTI ... EXEC request and return the EXEC results.

    ``queued`` is the number of commands between MULTI and EXEC. A
    connection error is retried under the client's retry policy, as in
    redis-py's own pipelines, and the first error reply is raised.
    """
    return run_on_connection(
        client.connection_pool,
        lambda connection: _send_and_read(connection, request, queued),
    )


def run_on_connection(pool: Any, function: Any) -> Any:
    """Call ``function`` with a connection of ``pool`` and return its result.

    A connection error is retried under the connection's retry policy, as
    redis-py retries its pipelines. After any error the connection is
    closed, because replies may remain unread on it.
    """
    connection = pool.get_connection(*CONNECTION_ARGS)
    try:
        return run_on_held_connection(connection, function)
    finally:
        pool.release(connection)


def run_on_held_connection(connection: Any, function: Any) -> Any:
    """Call ``function`` with ``connection`` and return its result.

    Unlike ``run_on_connection()``, this takes no connection from a pool,
    so the caller keeps ``connection`` between calls. Errors are handled
    the same way: retried under the connection's retry policy, and the
    connection is closed after any error.
    """
    try:
        return connection.retry.call_with_retry(
            lambda: function(connection),
            lambda error: connection.disconnect(),
        )
    except BaseException:
        connection.disconnect()
        raise


def _send_and_read(connection: Any, request: bytes, queued: int) -> list:
    connection.send_packed_command([request])
    return read_transaction(connection, queued)


def read_transaction(connection: Any, queued: int) -> list:
    """Read the replies to MULTI, ``queued`` commands and EXEC, and return EXEC's.

    The first error reply is raised once every reply is read, so the
    connection can be reused.
    """
    errors = []
    # The replies to MULTI and to each queued command, then EXEC's.
    for _ in range(queued + 1):
        try:
            connection.read_response()
        except ResponseError as error:
            errors.append(error)
    try:
        results = connection.read_response()
    except ResponseError as error:
        # EXECABORT: Redis rejected a queued command, whose error gives the
        # reason.
        raise (errors[0] if errors else error) from None
    if len(results) != queued:
        raise ResponseError(
            f"EXEC returned {len(results)} replies for {queued} commands"
        )
    for result in results:
        if isinstance(result, ResponseError):
            raise result
    return results
