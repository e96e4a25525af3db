"""Reading RQ_QUEUES and RQ when asked, with the defaults that apply."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rq.serializers import DefaultSerializer, JSONSerializer

from django_rq_lite import QueueNotFound, conf
from tests.testapp import jobs

URL = "redis://127.0.0.1:6390/0"


def test_queue_names_in_settings_order():
    with override_settings(RQ_QUEUES={"b": {"URL": URL}, "a": {"URL": URL}}):
        assert conf.get_queue_names() == ["b", "a"]


def test_queue_options_returned():
    with override_settings(RQ_QUEUES={"low": {"URL": URL, "ASYNC": False}}):
        assert conf.get_queue_options("low") == {"URL": URL, "ASYNC": False}


def test_queue_not_found_is_both_error_types():
    assert issubclass(QueueNotFound, ImproperlyConfigured)
    assert issubclass(QueueNotFound, KeyError)


def test_queue_not_found_lists_configured_names():
    with override_settings(RQ_QUEUES={"a": {"URL": URL}, "b": {"URL": URL}}):
        with pytest.raises(QueueNotFound) as raised:
            conf.get_queue_options("c")
    assert str(raised.value) == (
        "Queue 'c' is not configured. Configured queues: 'a', 'b'. "
        "Add 'c' to the RQ_QUEUES setting or use one of those names."
    )
    assert raised.value.configured == ["a", "b"]


def test_queue_not_found_with_no_queues():
    with override_settings(RQ_QUEUES={}):
        with pytest.raises(QueueNotFound, match="Configured queues: none"):
            conf.get_queue_options("default")


def test_missing_rq_queues_gives_embedded_default(settings):
    del settings.RQ_QUEUES
    assert conf.get_queues_setting() == {"default": {"URL": "embedded://"}}


def test_settings_read_when_used():
    with override_settings(RQ_QUEUES={"first": {"URL": URL}}):
        assert conf.get_queue_names() == ["first"]
    with override_settings(RQ_QUEUES={"second": {"URL": URL}}):
        assert conf.get_queue_names() == ["second"]


@pytest.mark.parametrize(
    ("queue", "global_", "expected"),
    [
        ({"DEFAULT_RESULT_TTL": 10}, {"DEFAULT_RESULT_TTL": 20}, 10),
        ({"DEFAULT_RESULT_TTL": 0}, {"DEFAULT_RESULT_TTL": 20}, 0),
        ({}, {"DEFAULT_RESULT_TTL": 20}, 20),
        ({"DEFAULT_RESULT_TTL": None}, {"DEFAULT_RESULT_TTL": 20}, 20),
        ({}, {}, None),
    ],
    ids=["queue", "queue-zero", "global", "queue-none", "unset"],
)
def test_job_default_precedence(queue, global_, expected):
    with override_settings(RQ_QUEUES={"low": {"URL": URL, **queue}}, RQ=global_):
        assert conf.get_job_default("low", "DEFAULT_RESULT_TTL") == expected


def test_job_default_unknown_queue_uses_global():
    with override_settings(RQ={"DEFAULT_TIMEOUT": 99}):
        assert conf.get_job_default("elsewhere", "DEFAULT_TIMEOUT") == 99


@pytest.mark.parametrize("async_", [True, False])
def test_is_async(async_):
    with override_settings(RQ_QUEUES={"low": {"URL": URL, "ASYNC": async_}}):
        assert conf.is_async("low") is async_


def test_is_async_by_default():
    with override_settings(RQ_QUEUES={"low": {"URL": URL}}):
        assert conf.is_async("low") is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pickle", DefaultSerializer),
        ("json", JSONSerializer),
        ("JSON", JSONSerializer),
        ("rq.serializers.JSONSerializer", JSONSerializer),
    ],
)
def test_serializer_names(value, expected):
    with override_settings(RQ_QUEUES={"low": {"URL": URL, "SERIALIZER": value}}):
        assert conf.get_serializer("low") is expected


def test_queue_serializer_overrides_global():
    queues = {"low": {"URL": URL, "SERIALIZER": "pickle"}}
    with override_settings(RQ_QUEUES=queues, RQ={"SERIALIZER": "json"}):
        assert conf.get_serializer("low") is DefaultSerializer


def test_global_serializer_applies():
    with override_settings(RQ_QUEUES={"low": {"URL": URL}}, RQ={"SERIALIZER": "json"}):
        assert conf.get_serializer("low") is JSONSerializer


def test_no_serializer_by_default():
    with override_settings(RQ_QUEUES={"low": {"URL": URL}}, RQ={}):
        assert conf.get_serializer("low") is None


@pytest.mark.parametrize("key", ["JOB_CLASS", "QUEUE_CLASS", "WORKER_CLASS"])
def test_class_setting_imported(key):
    with override_settings(RQ={key: "rq.worker.SimpleWorker"}):
        from rq.worker import SimpleWorker

        assert conf.get_class(key) is SimpleWorker


def test_class_setting_unset():
    with override_settings(RQ={}):
        assert conf.get_class("WORKER_CLASS") is None


def test_exception_handlers_imported():
    handlers = ["tests.testapp.jobs.add", "tests.testapp.jobs.fail"]
    with override_settings(RQ={"EXCEPTION_HANDLERS": handlers}):
        assert conf.get_exception_handlers() == [jobs.add, jobs.fail]


def test_embedded_dir_setting():
    with override_settings(RQ={"EMBEDDED_DIR": "/tmp/rq-lite-x"}):
        assert conf.get_embedded_dir() == Path("/tmp/rq-lite-x")


def test_embedded_dir_under_base_dir():
    with override_settings(RQ={}, BASE_DIR="/srv/site"):
        assert conf.get_embedded_dir() == Path("/srv/site/.rq-embedded")


def test_embedded_dir_without_base_dir(settings, tmp_path, monkeypatch):
    del settings.BASE_DIR
    settings.RQ = {}
    monkeypatch.chdir(tmp_path)
    assert conf.get_embedded_dir() == tmp_path / ".rq-embedded"


@pytest.mark.parametrize(
    ("rq", "expected"),
    [({}, True), ({"SHOW_ADMIN": True}, True), ({"SHOW_ADMIN": False}, False)],
)
def test_show_admin(rq, expected):
    with override_settings(RQ=rq):
        assert conf.show_admin() is expected


def test_uses_embedded():
    assert conf.uses_embedded({"URL": "embedded://"}) is True
    assert conf.uses_embedded({"URL": URL}) is False
