"""Redis clients built from each queue option, against real servers."""

import subprocess
import time

import pytest
import redis
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django_redis import get_redis_connection
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import SentinelConnectionPool

from django_rq_lite import get_connection, get_queue
from django_rq_lite.connections import (
    client_kwargs,
    connection_for_options,
    describe_connection,
)
from tests.redis_server import RedisServer, free_port
from tests.testapp.jobs import add, plain_job


def pool_kwargs(client):
    return client.connection_pool.connection_kwargs


@pytest.fixture
def queues(redis_url):
    """Override RQ_QUEUES for one test; the session's URL is in scope."""

    def apply(**queue_options):
        return override_settings(RQ_QUEUES=queue_options)

    return apply


@pytest.fixture(scope="module")
def acl_server():
    """A private server with a user, so a wrong password can be shown."""
    server = RedisServer()
    server.start()
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    admin.acl_setuser(
        "app", enabled=True, passwords=["+s3cret"], keys="*", commands=["+@all"]
    )
    admin.close()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    """A real sentinel on a free loopback port monitoring a private master."""
    master = RedisServer()
    master.start()
    directory = tmp_path_factory.mktemp("sentinel")
    port = free_port()
    config = directory / "sentinel.conf"
    config.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {directory}\n"
        f"sentinel monitor rqmain 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds rqmain 60000\n"
    )
    process = subprocess.Popen(
        [master.binary, str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.sentinel_get_master_addr_by_name("rqmain"):
                break
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            master.cleanup()
            pytest.fail(f"sentinel on port {port} did not start")
        time.sleep(0.05)
    client.close()
    yield port, master
    process.terminate()
    process.wait(timeout=10)
    master.cleanup()


def test_url_sets_host_port_and_db(redis_url, queues):
    url = redis_url.rsplit("/", 1)[0] + "/3"
    with queues(default={"URL": url}):
        client = get_connection()
        client.set("probe", "1")
        kwargs = pool_kwargs(client)
    assert kwargs["host"] == "127.0.0.1"
    assert kwargs["port"] == int(redis_url.split(":")[2].split("/")[0])
    assert kwargs["db"] == 3
    assert redis.Redis.from_url(url).get("probe") == b"1"
    redis.Redis.from_url(url).flushdb()


@pytest.mark.parametrize("options", [{}, {"DB": 2}], ids=["empty", "db-only"])
def test_queue_without_server_raises(queues, options):
    with queues(default=options), pytest.raises(ImproperlyConfigured) as caught:
        get_connection()
    message = str(caught.value)
    assert message.startswith("RQ_QUEUES['default'] names no Redis server.")
    assert '"URL": "redis://localhost:6379/0"' in message


def test_enqueue_without_server_raises(queues):
    with queues(default={}), pytest.raises(ImproperlyConfigured) as caught:
        plain_job.delay(1)
    assert "RQ_QUEUES['default'] names no Redis server" in str(caught.value)


def test_host_port_db(redis_url, queues):
    port = int(redis_url.split(":")[2].split("/")[0])
    with queues(default={"HOST": "127.0.0.1", "PORT": port, "DB": 2}):
        client = get_connection()
        client.set("probe", "2")
    other = redis.Redis(host="127.0.0.1", port=port, db=2)
    assert other.get("probe") == b"2"
    other.flushdb()


def test_username_and_password(acl_server, queues):
    options = {
        "HOST": "127.0.0.1",
        "PORT": acl_server.port,
        "USERNAME": "app",
        "PASSWORD": "s3cret",
    }
    with queues(default=options):
        client = get_connection()
        assert client.acl_whoami() == "app"


def test_wrong_password_fails_to_authenticate(acl_server, queues):
    options = {
        "HOST": "127.0.0.1",
        "PORT": acl_server.port,
        "USERNAME": "app",
        "PASSWORD": "wrong",
        # redis-py retries failed connections by default, for seconds.
        "CONNECTION_KWARGS": {"retry": Retry(NoBackoff(), 0)},
    }
    with queues(default=options):
        with pytest.raises(redis.AuthenticationError):
            get_connection().ping()


def test_password_in_url(acl_server, queues):
    url = f"redis://app:s3cret@127.0.0.1:{acl_server.port}/0"
    with queues(default={"URL": url}):
        assert get_connection().acl_whoami() == "app"


SSL_OPTIONS = {
    "SSL_KEYFILE": "/tmp/client.key",
    "SSL_CERTFILE": "/tmp/client.crt",
    "SSL_CERT_REQS": "none",
    "SSL_CA_CERTS": "/tmp/ca.crt",
    "SSL_CA_PATH": "/tmp/ca",
    "SSL_CA_DATA": "-----BEGIN CERTIFICATE-----",
    "SSL_CHECK_HOSTNAME": False,
    "SSL_PASSWORD": "key-pass",
    "SSL_CIPHERS": "ECDHE+AESGCM",
}


@pytest.mark.parametrize(
    "source",
    [
        {"HOST": "127.0.0.1", "PORT": 6390, "SSL": True},
        {"URL": "redis://127.0.0.1:6390/0", "SSL": True},
        {"URL": "rediss://127.0.0.1:6390/0"},
    ],
    ids=["host", "redis-url", "rediss-url"],
)
def test_ssl_options_reach_ssl_connection(source):
    client = connection_for_options({**source, **SSL_OPTIONS})
    pool = client.connection_pool
    # Building a connection object opens no socket, so no TLS server is needed.
    connection = pool.make_connection()
    assert pool.connection_class is redis.SSLConnection
    assert connection.cert_reqs.name == "CERT_NONE"
    assert connection.keyfile == "/tmp/client.key"
    assert connection.certfile == "/tmp/client.crt"
    assert connection.ca_certs == "/tmp/ca.crt"
    assert connection.ca_path == "/tmp/ca"
    assert connection.ca_data == "-----BEGIN CERTIFICATE-----"
    assert connection.check_hostname is False
    assert connection.certificate_password == "key-pass"
    assert connection.ssl_ciphers == "ECDHE+AESGCM"


def test_ssl_min_version_reaches_connection():
    import ssl

    options = {"URL": "rediss://127.0.0.1:6390/0"}
    options["SSL_MIN_VERSION"] = ssl.TLSVersion.TLSv1_3
    connection = connection_for_options(options).connection_pool.make_connection()
    assert connection.ssl_min_version is ssl.TLSVersion.TLSv1_3


def test_plain_connection_without_ssl():
    client = connection_for_options({"URL": "redis://127.0.0.1:6390/0"})
    assert client.connection_pool.connection_class is redis.Connection


def test_socket_timeout(redis_url, queues):
    with queues(default={"URL": redis_url, "SOCKET_TIMEOUT": 2.5}):
        client = get_connection()
        assert client.ping()
    assert pool_kwargs(client)["socket_timeout"] == 2.5


@pytest.mark.parametrize("source", ["URL", "HOST"])
def test_connection_kwargs_merged(redis_url, queues, source):
    if source == "URL":
        options = {"URL": redis_url}
    else:
        port = int(redis_url.split(":")[2].split("/")[0])
        options = {"HOST": "127.0.0.1", "PORT": port}
    options["CONNECTION_KWARGS"] = {
        "client_name": "rq-lite-test",
        "health_check_interval": 7,
    }
    with queues(default=options):
        client = get_connection()
        assert client.client_getname() == "rq-lite-test"
    assert pool_kwargs(client)["health_check_interval"] == 7


def test_connection_kwargs_override_options():
    options = {"HOST": "127.0.0.1", "DB": 1, "CONNECTION_KWARGS": {"db": 4}}
    assert client_kwargs(options)["db"] == 4


def test_sentinel_enqueue_reaches_master(sentinel, queues):
    port, master = sentinel
    options = {
        "SENTINELS": [("127.0.0.1", port)],
        "MASTER_NAME": "rqmain",
        "SENTINEL_KWARGS": {"socket_timeout": 3},
        "SOCKET_TIMEOUT": 4,
    }
    with queues(default=options):
        job = get_queue().enqueue(add, 1, 2)
        client = get_connection()
    master_client = redis.Redis(host="127.0.0.1", port=master.port)
    assert master_client.lrange("rq:queue:default", 0, -1) == [job.id.encode()]
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    sentinel_client = client.connection_pool.sentinel_manager.sentinels[0]
    assert pool_kwargs(sentinel_client)["socket_timeout"] == 3
    assert pool_kwargs(sentinel_client)["port"] == port
    assert pool_kwargs(client)["socket_timeout"] == 4
    master_client.flushdb()


def test_sentinel_unknown_master_fails(sentinel, queues):
    from redis.sentinel import MasterNotFoundError

    port, _ = sentinel
    options = {"SENTINELS": [("127.0.0.1", port)], "MASTER_NAME": "missing"}
    with queues(default=options):
        with pytest.raises(MasterNotFoundError):
            get_connection().ping()


def test_use_redis_cache_shares_client(redis_url, queues):
    cache_settings = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "jobs": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
    }
    with (
        override_settings(CACHES=cache_settings),
        queues(default={"USE_REDIS_CACHE": "jobs"}),
    ):
        queue = get_queue()
        job = queue.enqueue(add, 1, 2)
        cache_client = get_redis_connection("jobs")
        caches["jobs"].set("greeting", "hello")
        assert queue.connection is cache_client
        assert queue.connection.connection_pool is cache_client.connection_pool
        assert queue.job_ids == [job.id]
        assert caches["jobs"].get("greeting") == "hello"


def test_queues_on_same_server_share_client():
    default = get_queue("default")
    low = get_queue("low")
    assert default.connection is low.connection
    assert default.connection.connection_pool is low.connection.connection_pool


def test_lookup_reuses_client():
    assert get_connection("high") is get_connection("high")


def test_different_db_gets_own_pool(redis_url, queues):
    other_db = redis_url.rsplit("/", 1)[0] + "/5"
    with queues(default={"URL": redis_url}, other={"URL": other_db}):
        default = get_connection("default")
        other = get_connection("other")
    assert default.connection_pool is not other.connection_pool
    assert pool_kwargs(other)["db"] == 5


def test_override_settings_takes_effect_at_once(redis_url, queues):
    before = get_connection()
    other_db = redis_url.rsplit("/", 1)[0] + "/6"
    with queues(default={"URL": other_db}):
        inside = get_connection()
    after = get_connection()
    assert pool_kwargs(inside)["db"] == 6
    assert pool_kwargs(after)["db"] == 0
    assert before is not after


def test_describe_url_hides_password():
    described = describe_connection({"URL": "redis://app:s3cret@127.0.0.1:6390/2"})
    assert described == {"host": "127.0.0.1", "port": 6390, "db": 2}


def test_describe_host_options():
    options = {"HOST": "127.0.0.1", "PORT": 6390, "DB": 1, "PASSWORD": "s3cret"}
    assert describe_connection(options) == {"host": "127.0.0.1", "port": 6390, "db": 1}


def test_describe_sentinel():
    options = {"SENTINELS": [("127.0.0.1", 26390)], "MASTER_NAME": "rqmain"}
    assert describe_connection(options) == {"sentinel": "rqmain", "db": 0}


def test_describe_cache():
    assert describe_connection({"USE_REDIS_CACHE": "jobs"}) == {"cache": "jobs"}


def test_describe_unix_socket():
    described = describe_connection({"URL": "unix:///tmp/redis.sock"})
    assert described == {"socket": "/tmp/redis.sock", "db": 0}
