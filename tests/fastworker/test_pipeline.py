"""FastWorker's packed pipelines return and write what redis-py's pipelines do."""

import enum

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import DataError, ResponseError
from redis.retry import Retry

from django_rq_lite.fastworker import pipeline as packed_pipeline
from django_rq_lite.job_writer import CONNECTION_ARGS
from tests.commands.worker_process import wait_for


class Status(str, enum.Enum):
    STARTED = "started"


def queue_commands(pipe, prefix):
    """Queue commands of the kinds RQ's bookkeeping sends, on keys under ``prefix``."""
    pipe.hset(f"{prefix}:job", mapping={"status": Status.STARTED, "n": 3, "f": 0.1})
    pipe.hset(f"{prefix}:job", "raw", b"\x00\xff")
    pipe.hincrby(f"{prefix}:job", "n", 2)
    pipe.hincrbyfloat(f"{prefix}:job", "f", 0.2)
    pipe.zadd(f"{prefix}:registry", {"a": 1.5, "b": 2})
    pipe.zrem(f"{prefix}:registry", "a")
    pipe.sadd(f"{prefix}:set", "x", "y")
    pipe.scard(f"{prefix}:set")
    pipe.expire(f"{prefix}:job", 100)
    pipe.rpush(f"{prefix}:list", "é", "b")
    pipe.lrem(f"{prefix}:list", 1, "b")
    pipe.xadd(f"{prefix}:stream", {"k": "v"}, id="1-1")
    pipe.hgetall(f"{prefix}:job")
    pipe.object("encoding", f"{prefix}:set")
    pipe.exists(f"{prefix}:job", f"{prefix}:missing")
    pipe.delete(f"{prefix}:missing")


def stored(client, prefix):
    keys = sorted(client.keys(f"{prefix}:*"))
    return {key[len(prefix) :]: (client.type(key), client.dump(key)) for key in keys}


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.mark.parametrize("transaction", [True, False])
def test_results_and_writes_same_as_redis_py(client, transaction):
    theirs = client.pipeline(transaction=transaction)
    queue_commands(theirs, "theirs")
    their_results = theirs.execute()

    ours = client.pipeline(transaction=transaction)
    queue_commands(ours, "ours")
    our_results = packed_pipeline.execute(ours)

    assert our_results == their_results
    assert our_results[7] == 2
    assert our_results[12][b"status"] == b"started"
    assert stored(client, "ours") == stored(client, "theirs")
    # The pipeline is empty again and can be reused.
    assert ours.command_stack == []
    ours.set("ours:again", 1)
    assert packed_pipeline.execute(ours) == [True]


@pytest.mark.parametrize("transaction", [True, False])
def test_error_reply_raised_after_all_commands(client, transaction):
    client.set("text", "not a number")
    pipe = client.pipeline(transaction=transaction)
    pipe.set("before", 1)
    pipe.incr("text")
    pipe.set("after", 1)
    with pytest.raises(ResponseError, match="not an integer"):
        packed_pipeline.execute(pipe)
    # As in a redis-py pipeline, Redis ran the commands around the error.
    assert client.get("before") == b"1"
    assert client.get("after") == b"1"
    # The connection went back to the pool in a clean state.
    assert client.ping() is True


def test_rejected_command_aborts_the_transaction(client):
    pipe = client.pipeline()
    pipe.set("before", 1)
    pipe.execute_command("NO-SUCH-COMMAND", "x")
    with pytest.raises(ResponseError, match="unknown command"):
        packed_pipeline.execute(pipe)
    assert client.get("before") is None


def test_unencodable_value_raises_redis_py_error(client):
    pipe = client.pipeline()
    pipe.hset("job", "flag", True)
    with pytest.raises(DataError, match="bool"):
        packed_pipeline.execute(pipe)
    assert client.exists("job") == 0


def test_client_encoding_is_used_for_text(redis_url):
    latin = redis.Redis.from_url(redis_url, encoding="latin-1")
    try:
        pipe = latin.pipeline()
        pipe.set("name", "café")
        packed_pipeline.execute(pipe)
        assert latin.get("name") == "café".encode("latin-1")
    finally:
        latin.close()


class KillingPool(redis.ConnectionPool):
    """A pool whose next connection is closed by the server once handed out."""

    kill_next = False
    url = ""

    def get_connection(self, *args, **kwargs):
        connection = super().get_connection(*args, **kwargs)
        if self.kill_next:
            self.kill_next = False
            connection.send_command("CLIENT", "ID")
            client_id = connection.read_response()
            with redis.Redis.from_url(self.url) as killer:
                assert killer.client_kill_filter(_id=client_id) == 1
        return connection


def test_lost_connection_is_retried(redis_url):
    pool = KillingPool.from_url(redis_url, retry=Retry(NoBackoff(), 2))
    pool.url = redis_url
    client = redis.Redis(connection_pool=pool)
    try:
        pipe = client.pipeline()
        pipe.set("warm", 1)
        packed_pipeline.execute(pipe)
        pool.kill_next = True
        pipe.incr("counter")
        assert packed_pipeline.execute(pipe) == [1]
        assert pool.kill_next is False
        assert client.get("counter") == b"1"
    finally:
        client.close()
        pool.disconnect()


def test_kept_connection_is_reused_and_retried(redis_url):
    client = redis.Redis.from_url(redis_url, retry=Retry(NoBackoff(), 2))
    pool = client.connection_pool
    held_connection = pool.get_connection(*CONNECTION_ARGS)
    try:
        pipe = client.pipeline()
        pipe.client_id()
        (first_id,) = packed_pipeline.execute(pipe, held_connection)
        pipe.client_id()
        assert packed_pipeline.execute(pipe, held_connection) == [first_id]

        assert client.client_kill_filter(_id=first_id) == 1
        pipe.incr("counter")
        assert packed_pipeline.execute(pipe, held_connection) == [1]
        assert client.get("counter") == b"1"
    finally:
        pool.release(held_connection)
        client.close()


def test_watched_pipeline_runs_through_redis_py(client):
    client.set("watched", 1)
    pipe = client.pipeline()
    pipe.watch("watched")
    pipe.multi()
    pipe.set("watched", 2)
    # Another client changes the key, so the transaction must not run.
    client.set("watched", 3)
    with pytest.raises(redis.WatchError):
        packed_pipeline.execute(pipe)
    assert client.get("watched") == b"3"


def test_resp3_pipeline_runs_through_redis_py(redis_url):
    resp3 = redis.Redis.from_url(redis_url, protocol=3)
    try:
        pipe = resp3.pipeline()
        pipe.hset("job", "status", "queued")
        pipe.hgetall("job")
        assert packed_pipeline.execute(pipe) == [1, {b"status": b"queued"}]
    finally:
        resp3.close()


def test_empty_pipeline_returns_nothing(client):
    assert packed_pipeline.execute(client.pipeline()) == []


@pytest.fixture
def held_connection(client):
    """Return a connection kept out of ``client``'s pool, as a horse keeps one."""
    connection = client.connection_pool.get_connection(*CONNECTION_ARGS)
    yield connection
    client.connection_pool.release(connection)


@pytest.mark.parametrize("transaction", [True, False])
def test_sent_request_reads_execute_results(client, held_connection, transaction):
    theirs = client.pipeline(transaction=transaction)
    queue_commands(theirs, "theirs")
    their_results = theirs.execute()

    ours = client.pipeline(transaction=transaction)
    queue_commands(ours, "ours")
    sent = packed_pipeline.send(ours, held_connection)
    assert ours.command_stack == []
    results = sent.read()

    assert results == their_results
    # A second read returns the same results without reading again.
    assert sent.read() is results
    assert stored(client, "ours") == stored(client, "theirs")


def test_sent_request_runs_before_read(client, held_connection):
    pipe = client.pipeline(transaction=False)
    pipe.set("sent", 1)
    pipe.blpop(["never-pushed"], timeout=0.2)
    sent = packed_pipeline.send(pipe, held_connection)

    # Redis runs the request while the sender goes on.
    wait_for(lambda: client.get("sent") == b"1", 1, "the sent request did not run")
    assert sent.read() == [True, None]


def test_sent_request_lost_connection_raises(client, held_connection):
    pipe = client.pipeline(transaction=False)
    pipe.client_id()
    (client_id,) = packed_pipeline.execute(pipe, held_connection)
    pipe.blpop(["never-pushed"], timeout=5)
    sent = packed_pipeline.send(pipe, held_connection)
    assert client.client_kill_filter(_id=client_id) == 1

    # Redis may or may not have run the request, so it is not sent again.
    with pytest.raises(redis.ConnectionError):
        sent.read()
    assert held_connection._sock is None
    pipe.incr("counter")
    assert packed_pipeline.execute(pipe, held_connection) == [1]


def test_sent_request_error_reply_raised(client, held_connection):
    pipe = client.pipeline(transaction=False)
    pipe.set("text", "a")
    pipe.incr("text")
    pipe.set("after", 1)
    sent = packed_pipeline.send(pipe, held_connection)

    with pytest.raises(ResponseError):
        sent.read()
    assert client.get("after") == b"1"
    # Every reply was read, so the connection still serves the next request.
    pipe.get("after")
    assert packed_pipeline.execute(pipe, held_connection) == [b"1"]


def test_watched_pipeline_sent_by_redis_py(client, held_connection):
    client.set("watched", 1)
    pipe = client.pipeline()
    pipe.watch("watched")
    pipe.multi()
    pipe.set("watched", 2)
    sent = packed_pipeline.send(pipe, held_connection)

    # redis-py ran it at once, on a connection of its own.
    assert client.get("watched") == b"2"
    assert sent.read() == [True]
