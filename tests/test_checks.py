"""System checks over RQ_QUEUES and RQ, one test per check id."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

URL = "redis://127.0.0.1:6390/0"


def run(queues=None, rq=None, caches=None):
    """Return the messages of this app's checks under the given settings."""
    overrides = {}
    if queues is not None:
        overrides["RQ_QUEUES"] = queues
    if rq is not None:
        overrides["RQ"] = rq
    if caches is not None:
        overrides["CACHES"] = caches
    with override_settings(**overrides):
        return checks.run_checks(tags=["django_rq_lite"])


def only(messages, check_id):
    """Return the one message with ``check_id``, failing on none or several."""
    found = [message for message in messages if message.id == check_id]
    assert len(found) == 1, messages
    return found[0]


def test_valid_configuration_has_no_messages(redis_url):
    messages = run(
        queues={
            "default": {"URL": redis_url, "DEFAULT_TIMEOUT": "5m"},
            "high": {
                "HOST": "127.0.0.1",
                "PORT": 6390,
                "DB": 1,
                "PASSWORD": "secret",
                "SSL": True,
                "SSL_CERT_REQS": "none",
                "DEFAULT_RESULT_TTL": -1,
                "DEFAULT_FAILURE_TTL": 0,
                "SERIALIZER": "json",
            },
            "ha": {
                "SENTINELS": [("127.0.0.1", 26390)],
                "MASTER_NAME": "main",
                "SENTINEL_KWARGS": {"socket_timeout": 1},
            },
        },
        rq={
            "WORKER_CLASS": "rq.SimpleWorker",
            "JOB_CLASS": "rq.job.Job",
            "QUEUE_CLASS": "rq.Queue",
            "SERIALIZER": "pickle",
            "EXCEPTION_HANDLERS": ["tests.testapp.jobs.add"],
            "DEFAULT_TIMEOUT": 60,
            "SHOW_ADMIN": False,
        },
    )
    assert messages == []


def test_check_command_passes_with_test_settings():
    # The session's settings point every queue at the test server.
    call_command("check", verbosity=0)


def test_ids_are_namespaced_strings(redis_url):
    messages = run(queues={"default": {"URL": "http://x", "HOST": 1}})
    assert {message.id for message in messages} == {
        "django_rq_lite.E004",
        "django_rq_lite.E005",
        "django_rq_lite.E006",
    }


def test_e001_queues_not_a_dict():
    error = only(run(queues=[("default", {})]), "django_rq_lite.E001")
    assert "RQ_QUEUES must be a dict" in error.msg
    assert "list" in error.msg
    assert 'RQ_QUEUES = {"default"' in error.hint


def test_e001_queue_options_not_a_dict():
    error = only(run(queues={"default": URL}), "django_rq_lite.E001")
    assert "RQ_QUEUES['default'] must be a dict" in error.msg
    assert '{"URL":' in error.hint


def test_e001_rq_setting_not_a_dict():
    error = only(run(queues={"default": {"URL": URL}}, rq=["x"]), "django_rq_lite.E001")
    assert "RQ must be a dict" in error.msg
    assert "WORKER_CLASS" in error.hint


def test_e002_invalid_queue_name():
    error = only(run(queues={"": {"URL": URL}}), "django_rq_lite.E002")
    assert "invalid queue name ''" in error.msg
    assert "non-empty strings" in error.hint


def test_e003_unknown_queue_key_suggests_match():
    error = only(
        run(queues={"low": {"URL": URL, "DEFAULT_TIMOUT": 5}}), "django_rq_lite.E003"
    )
    assert "RQ_QUEUES['low'] has an unknown key 'DEFAULT_TIMOUT'" in error.msg
    assert "Did you mean 'DEFAULT_TIMEOUT'?" in error.hint


def test_e003_unknown_global_key_suggests_match():
    error = only(
        run(queues={"default": {"URL": URL}}, rq={"WORKER_CLAS": "rq.Worker"}),
        "django_rq_lite.E003",
    )
    assert "RQ has an unknown key 'WORKER_CLAS'" in error.msg
    assert "Did you mean 'WORKER_CLASS'?" in error.hint


def test_e003_unknown_key_without_match_lists_keys():
    error = only(run(queues={"low": {"URL": URL, "ZZZ": 1}}), "django_rq_lite.E003")
    assert "Did you mean" not in error.hint
    assert "Valid keys: ASYNC" in error.hint


def test_e004_port_as_string():
    queues = {"low": {"HOST": "127.0.0.1", "PORT": "6379"}}
    error = only(run(queues=queues), "django_rq_lite.E004")
    assert "RQ_QUEUES['low']['PORT'] must be int, not '6379'" in error.msg
    assert "Change PORT to a value of type int" in error.hint


def test_e004_bool_for_int():
    queues = {"low": {"URL": URL, "DEFAULT_RESULT_TTL": True}}
    error = only(run(queues=queues), "django_rq_lite.E004")
    assert "RQ_QUEUES['low']['DEFAULT_RESULT_TTL'] must be int" in error.msg
    assert "not True" in error.msg


def test_e004_hides_password_value():
    queues = {"low": {"URL": URL, "PASSWORD": b"hunter2"}}
    error = only(run(queues=queues), "django_rq_lite.E004")
    assert "RQ_QUEUES['low']['PASSWORD'] must be str, not bytes" in error.msg
    assert "hunter2" not in error.msg


def test_e005_two_connection_sources():
    queues = {"low": {"URL": URL, "HOST": "127.0.0.1"}}
    error = only(run(queues=queues), "django_rq_lite.E005")
    assert "RQ_QUEUES['low'] names its Redis server in more than one way" in error.msg
    assert "URL, HOST" in error.msg
    assert "Keep one of URL, HOST" in error.hint


@pytest.mark.parametrize(
    "options",
    [{}, {"URL": None}, {"PORT": 6390, "DB": 1}],
    ids=["empty", "url-none", "port-only"],
)
def test_e025_queue_names_no_server(options):
    error = only(run(queues={"low": options}), "django_rq_lite.E025")
    assert error.msg == "RQ_QUEUES['low'] names no Redis server."
    assert "Add one of URL, HOST (with PORT and DB)" in error.hint
    assert '"URL": "embedded://"' in error.hint


def test_e025_not_raised_for_empty_url():
    # E006 reports the empty URL, so E025 stays quiet about it.
    messages = run(queues={"default": {"URL": ""}})
    assert {message.id for message in messages} == {"django_rq_lite.E006"}


@pytest.mark.parametrize(
    "source", [{"URL": URL}, {"HOST": "127.0.0.1"}, {"URL": "unix:///tmp/x.sock"}]
)
def test_e026_unknown_connection_kwarg(source):
    queues = {"low": {**source, "CONNECTION_KWARGS": {"bogus_kw": "hunter2"}}}
    error = only(run(queues=queues), "django_rq_lite.E026")
    assert error.msg.startswith(
        "RQ_QUEUES['low']['CONNECTION_KWARGS'] is rejected by redis-py: "
    )
    assert "'bogus_kw'" in error.msg
    assert "hunter2" not in error.msg


def test_e026_not_raised_for_valid_connection_kwargs():
    kwargs = {"health_check_interval": 30, "client_name": "web"}
    assert run(queues={"default": {"URL": URL, "CONNECTION_KWARGS": kwargs}}) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379/0", "the scheme 'http' is not one of"),
        ("localhost:6379", "the scheme 'localhost' is not one of"),
        ("redis:///0", "it has no host"),
        ("redis://127.0.0.1:port/0", "Port could not be cast"),
        ("redis://127.0.0.1:6379/zero", "the database 'zero' is not a number"),
        ("unix://", "it has no socket path"),
        ("embedded://127.0.0.1", "the embedded server takes no address"),
    ],
)
def test_e006_malformed_url(url, problem):
    error = only(run(queues={"low": {"URL": url}}), "django_rq_lite.E006")
    assert "RQ_QUEUES['low']['URL'] is not a valid Redis URL" in error.msg
    assert problem in error.msg
    assert "redis://[[user]:password@]host[:port][/db]" in error.hint


def test_e006_accepts_valid_urls():
    queues = {
        "default": {"URL": "redis://user:pw@127.0.0.1:6390/3"},
        "b": {"URL": "rediss://127.0.0.1"},
        "c": {"URL": "unix:///tmp/redis.sock"},
    }
    assert run(queues=queues) == []


def test_e007_missing_cache_alias():
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    error = only(
        run(queues={"low": {"USE_REDIS_CACHE": "redis"}}, caches=caches),
        "django_rq_lite.E007",
    )
    assert "RQ_QUEUES['low']['USE_REDIS_CACHE'] names the cache 'redis'" in error.msg
    assert "not in CACHES" in error.msg
    assert "Add 'redis' to CACHES or use one of: default" in error.hint


def test_e008_cache_not_django_redis():
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    error = only(
        run(queues={"low": {"USE_REDIS_CACHE": "default"}}, caches=caches),
        "django_rq_lite.E008",
    )
    assert "RQ_QUEUES['low']['USE_REDIS_CACHE'] names the cache 'default'" in error.msg
    assert "LocMemCache' is not django-redis" in error.msg
    assert "django_redis.cache.RedisCache" in error.hint


def test_e009_queue_serializer_not_importable():
    queues = {"low": {"URL": URL, "SERIALIZER": "myapp.serializers.Missing"}}
    error = only(run(queues=queues), "django_rq_lite.E009")
    assert "RQ_QUEUES['low']['SERIALIZER'] is 'myapp.serializers.Missing'" in error.msg
    assert "cannot be imported" in error.msg
    assert 'or "pickle" or "json"' in error.hint


def test_e009_global_class_not_importable():
    error = only(
        run(queues={"low": {"URL": URL}}, rq={"WORKER_CLASS": "rq.NoSuchWorker"}),
        "django_rq_lite.E009",
    )
    assert "RQ['WORKER_CLASS'] is 'rq.NoSuchWorker'" in error.msg
    assert "dotted path of an importable object" in error.hint


def test_e009_global_class_of_wrong_kind():
    error = only(
        run(queues={"low": {"URL": URL}}, rq={"JOB_CLASS": "builtins.int"}),
        "django_rq_lite.E009",
    )
    assert error.msg == (
        "RQ['JOB_CLASS'] is 'builtins.int', which is not a subclass of rq.job.Job."
    )
    assert "subclass of rq.job.Job" in error.hint


def test_e009_exception_handler_not_importable():
    rq = {"EXCEPTION_HANDLERS": ["tests.testapp.jobs.missing_handler"]}
    error = only(run(queues={"low": {"URL": URL}}, rq=rq), "django_rq_lite.E009")
    assert "RQ['EXCEPTION_HANDLERS'] is 'tests.testapp.jobs.missing_handler'" in (
        error.msg
    )


def test_e010_sentinels_without_master_name():
    queues = {"ha": {"SENTINELS": [("127.0.0.1", 26390)]}}
    error = only(run(queues=queues), "django_rq_lite.E010")
    assert "RQ_QUEUES['ha'] sets SENTINELS without MASTER_NAME" in error.msg
    assert "Set MASTER_NAME" in error.hint


def test_e010_master_name_without_sentinels():
    queues = {"ha": {"URL": URL, "MASTER_NAME": "main"}}
    error = only(run(queues=queues), "django_rq_lite.E010")
    assert "RQ_QUEUES['ha'] sets MASTER_NAME or SENTINEL_KWARGS" in error.msg
    assert "Add SENTINELS" in error.hint


@pytest.mark.parametrize(
    "address", [("127.0.0.1", "26390"), ("127.0.0.1",), "127.0.0.1:26390"]
)
def test_e010_invalid_sentinel_address(address):
    queues = {"ha": {"SENTINELS": [address], "MASTER_NAME": "main"}}
    error = only(run(queues=queues), "django_rq_lite.E010")
    assert "RQ_QUEUES['ha']['SENTINELS'] has an invalid address" in error.msg
    assert "(host, port) pair" in error.hint


@pytest.mark.parametrize("key", ["DEFAULT_RESULT_TTL", "DEFAULT_FAILURE_TTL"])
def test_e011_negative_ttl(key):
    error = only(run(queues={"low": {"URL": URL, key: -5}}), "django_rq_lite.E011")
    assert f"RQ_QUEUES['low']['{key}'] is -5" in error.msg
    assert "-1 to keep forever" in error.hint


@pytest.mark.parametrize("timeout", [0, -2, "5x", "soon"])
def test_e011_invalid_timeout(timeout):
    queues = {"low": {"URL": URL, "DEFAULT_TIMEOUT": timeout}}
    error = only(run(queues=queues), "django_rq_lite.E011")
    assert f"RQ_QUEUES['low']['DEFAULT_TIMEOUT'] is {timeout!r}" in error.msg
    assert "-1 for no timeout" in error.hint


def test_e011_global_ttl():
    rq = {"DEFAULT_RESULT_TTL": -3}
    error = only(run(queues={"low": {"URL": URL}}, rq=rq), "django_rq_lite.E011")
    assert "RQ['DEFAULT_RESULT_TTL'] is -3" in error.msg


def test_e012_ssl_options_without_tls():
    queues = {"low": {"URL": URL, "SSL_CERT_REQS": "none"}}
    error = only(run(queues=queues), "django_rq_lite.E012")
    assert "RQ_QUEUES['low'] sets SSL_CERT_REQS but does not use TLS" in error.msg
    assert '"SSL": True' in error.hint


def test_e012_not_raised_for_rediss_url():
    queues = {"default": {"URL": "rediss://127.0.0.1", "SSL_CERT_REQS": "none"}}
    assert run(queues=queues) == []


def test_w001_embedded_server():
    warning = only(run(queues={"dev": {"URL": "embedded://"}}), "django_rq_lite.W001")
    assert warning.level == checks.WARNING
    assert "RQ_QUEUES['dev'] uses the embedded Redis server" in warning.msg
    assert "URL (or HOST and PORT)" in warning.hint


def test_w001_without_rq_queues(settings):
    del settings.RQ_QUEUES
    warning = only(checks.run_checks(tags=["django_rq_lite"]), "django_rq_lite.W001")
    assert "RQ_QUEUES['default']" in warning.msg


def test_w002_no_default_queue(redis_url):
    warning = only(run(queues={"high": {"URL": redis_url}}), "django_rq_lite.W002")

    assert warning.level == checks.WARNING
    assert "'default'" in warning.msg
    assert "RQ_QUEUES" in warning.hint


def test_w002_empty_queues():
    only(run(queues={}), "django_rq_lite.W002")


def test_w002_silent_with_default_queue(redis_url):
    messages = run(queues={"default": {"URL": redis_url}})

    assert [m for m in messages if m.id == "django_rq_lite.W002"] == []
