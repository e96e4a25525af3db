"""Enqueue at once or on commit, on every enqueue path, against real Redis."""

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.db import transaction
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from django_rq_lite import enqueue, get_queue
from django_rq_lite.connections import get_connection
from django_rq_lite.decorators import job
from django_rq_lite.on_commit import PendingJob
from tests.dashboard.helpers import run_burst_worker
from tests.postgresql import postgresql_unavailable_reason
from tests.testapp.jobs import add

REPO_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def commit_queue(redis_url, settings):
    """Configure the queue ``after``, whose jobs wait for the commit."""
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "after": {"URL": redis_url, "COMMIT_MODE": "on_commit"},
    }
    return get_queue("after")


class Rollback(Exception):
    pass


def roll_back(function):
    """Return what ``function`` returns inside an atomic block that rolls back."""
    results = []
    with pytest.raises(Rollback):
        with transaction.atomic():
            results.append(function())
            raise Rollback
    return results[0]


@pytest.mark.django_db(transaction=True)
def test_default_mode_is_immediate(flush_redis):
    queue = get_queue("default")
    result = roll_back(lambda: queue.enqueue(add, 1, 2))
    assert isinstance(result, Job)
    assert queue.job_ids == [result.id]


@pytest.mark.django_db(transaction=True)
def test_rollback_leaves_redis_untouched(commit_queue, flush_redis):
    pending = roll_back(lambda: commit_queue.enqueue(add, 1, 2))
    assert not pending.enqueued
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_commit_enqueues_once(commit_queue):
    with transaction.atomic():
        pending = commit_queue.enqueue(add, 1, 2)
        assert commit_queue.count == 0
    assert commit_queue.job_ids == [pending.id]


@pytest.mark.django_db(transaction=True)
def test_commit_with_redis_down_logs_lost_jobs(settings, caplog):
    from tests.redis_server import free_port

    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "down": {
            "URL": f"redis://127.0.0.1:{free_port()}/0",
            "COMMIT_MODE": "on_commit",
        },
    }
    queue = get_queue("down")
    with caplog.at_level("ERROR", logger="django_rq_lite"):
        with transaction.atomic():
            single = queue.enqueue(add, 1, 2)
            batch = queue.enqueue_many([Queue.prepare_data(add, args=(3, 4))])

    [first, second] = [r for r in caplog.records if r.name == "django_rq_lite"]
    assert first.getMessage().startswith(
        "Failed to enqueue at commit on queue 'down': EnqueueError: "
    )
    assert f"Lost jobs: {single.id} (tests.testapp.jobs.add)" in first.getMessage()
    assert f"Lost jobs: {batch[0].id} (tests.testapp.jobs.add)" in second.getMessage()
    assert not single.enqueued


@pytest.mark.django_db(transaction=True)
def test_pending_id_known_before_commit(commit_queue):
    with transaction.atomic():
        pending = commit_queue.enqueue(add, 1, 2)
        assert isinstance(pending, PendingJob)
        assert pending.id
        assert pending.fetch() is None
    assert pending.fetch().id == pending.id
    assert pending.job.id == pending.id


@pytest.mark.django_db(transaction=True)
def test_caller_job_id_kept(commit_queue):
    with transaction.atomic():
        pending = commit_queue.enqueue(add, 1, 2, job_id="order-42")
    assert pending.id == "order-42"
    assert commit_queue.job_ids == ["order-42"]


@pytest.mark.django_db(transaction=True)
def test_autocommit_enqueues_at_once(commit_queue):
    pending = commit_queue.enqueue(add, 1, 2)
    assert pending.enqueued
    assert commit_queue.job_ids == [pending.id]


def test_no_database_connection_enqueues_at_once(commit_queue):
    pending = commit_queue.enqueue(add, 1, 2)
    assert pending.enqueued


@pytest.mark.django_db(transaction=True)
def test_savepoint_rollback_discards_inner_job(commit_queue):
    with transaction.atomic():
        outer = commit_queue.enqueue(add, 1, 2)
        roll_back(lambda: commit_queue.enqueue(add, 3, 4))
        assert commit_queue.count == 0
    assert commit_queue.job_ids == [outer.id]


@pytest.mark.django_db(transaction=True)
def test_savepoint_commit_waits_for_outer(commit_queue):
    with transaction.atomic():
        with transaction.atomic():
            inner = commit_queue.enqueue(add, 3, 4)
        assert not inner.enqueued
    assert commit_queue.job_ids == [inner.id]


@pytest.mark.django_db(transaction=True)
def test_outer_rollback_discards_committed_savepoint(commit_queue, flush_redis):
    def enqueue_in_savepoint():
        with transaction.atomic():
            return commit_queue.enqueue(add, 3, 4)

    pending = roll_back(enqueue_in_savepoint)
    assert not pending.enqueued
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_call_option_defers_immediate_queue(flush_redis):
    queue = get_queue("default")
    pending = roll_back(lambda: queue.enqueue(add, 1, 2, on_commit=True))
    assert isinstance(pending, PendingJob)
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_call_option_overrides_queue_mode(commit_queue):
    result = roll_back(lambda: commit_queue.enqueue(add, 1, 2, on_commit=False))
    assert commit_queue.job_ids == [result.id]


@pytest.mark.django_db(transaction=True)
def test_global_setting_applies(settings, flush_redis):
    settings.RQ = {"COMMIT_MODE": "on_commit"}
    queue = get_queue("default")
    roll_back(lambda: queue.enqueue(add, 1, 2))
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_queue_setting_beats_global(settings, redis_url):
    settings.RQ = {"COMMIT_MODE": "on_commit"}
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "now": {"URL": redis_url, "COMMIT_MODE": "immediate"},
    }
    queue = get_queue("now")
    roll_back(lambda: queue.enqueue(add, 1, 2))
    assert queue.count == 1


@pytest.mark.django_db(transaction=True)
def test_options_not_passed_to_function(commit_queue):
    with transaction.atomic():
        pending = commit_queue.enqueue(add, x=1, y=2, on_commit=True)
    assert pending.fetch().kwargs == {"x": 1, "y": 2}


@pytest.mark.django_db(transaction=True)
def test_enqueue_function_honours_option(flush_redis):
    pending = roll_back(lambda: enqueue(add, 1, 2, on_commit=True))
    assert not pending.enqueued
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_delay_waits_for_commit(commit_queue):
    deferred = job("after")(add)
    with transaction.atomic():
        pending = deferred.delay(1, 2)
        assert commit_queue.count == 0
    assert commit_queue.job_ids == [pending.id]


@pytest.mark.django_db(transaction=True)
def test_job_option_defers_delay(flush_redis):
    deferred = job("default", on_commit=True)(add)
    pending = roll_back(lambda: deferred.delay(1, 2))
    assert not pending.enqueued
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_delay_option_beats_job_option():
    deferred = job("default", on_commit=True)(add)
    result = roll_back(lambda: deferred.delay(1, 2, on_commit=False))
    assert get_queue("default").job_ids == [result.id]


@pytest.mark.django_db(transaction=True)
def test_delay_on_plain_rq_queue(redis_url):
    plain = Queue("plain", connection=get_connection("default"))
    deferred = job(plain, on_commit=True)(add)
    with transaction.atomic():
        pending = deferred.delay(1, 2)
        assert plain.count == 0
    assert plain.job_ids == [pending.id]
    assert pending.fetch().args == (1, 2)


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_waits_for_commit(commit_queue):
    registry = ScheduledJobRegistry(queue=commit_queue)
    with transaction.atomic():
        pending = commit_queue.enqueue_in(timedelta(minutes=5), add, 1, 2)
        assert registry.get_job_ids() == []
    assert registry.get_job_ids() == [pending.id]


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_rollback(commit_queue, flush_redis):
    roll_back(lambda: commit_queue.enqueue_in(timedelta(minutes=5), add, 1, 2))
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_enqueue_at_waits_for_commit(commit_queue):
    registry = ScheduledJobRegistry(queue=commit_queue)
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    with transaction.atomic():
        pending = commit_queue.enqueue_at(when, add, 1, 2)
        assert registry.get_job_ids() == []
    assert registry.get_job_ids() == [pending.id]


@pytest.mark.django_db(transaction=True)
def test_job_enqueue_at_rollback(commit_queue, flush_redis):
    deferred = job("after")(add)
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    roll_back(lambda: deferred.enqueue_at(when, 1, 2))
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_job_enqueue_in_waits_for_commit(commit_queue):
    deferred = job("after")(add)
    registry = ScheduledJobRegistry(queue=commit_queue)
    with transaction.atomic():
        pending = deferred.enqueue_in(timedelta(minutes=5), 1, 2)
    assert registry.get_job_ids() == [pending.id]


def prepared(count):
    return [Queue.prepare_data(add, (i, i)) for i in range(count)]


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_waits_for_commit(commit_queue):
    with transaction.atomic():
        pending = commit_queue.enqueue_many(prepared(3))
        assert commit_queue.count == 0
    assert commit_queue.job_ids == [handle.id for handle in pending]


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_rollback(commit_queue, flush_redis):
    pending = roll_back(lambda: commit_queue.enqueue_many(prepared(2)))
    assert [handle.enqueued for handle in pending] == [False, False]
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_keeps_given_ids(commit_queue):
    data = [Queue.prepare_data(add, (1, 1), job_id="given")]
    with transaction.atomic():
        pending = commit_queue.enqueue_many(data)
    assert [handle.id for handle in pending] == ["given"]


@pytest.mark.django_db
def test_capture_callbacks_then_run(commit_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        pending = commit_queue.enqueue(add, 1, 2)
    assert len(callbacks) == 1
    assert commit_queue.count == 0
    callbacks[0]()
    assert commit_queue.job_ids == [pending.id]


@pytest.mark.django_db
def test_capture_callbacks_execute(commit_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pending = commit_queue.enqueue(add, 1, 2)
    assert pending.enqueued
    assert commit_queue.job_ids == [pending.id]


@pytest.mark.django_db(transaction=True)
def test_invalid_mode_raises(settings, redis_url):
    settings.RQ_QUEUES = {"bad": {"URL": redis_url, "COMMIT_MODE": "later"}}
    with pytest.raises(ValueError, match="'later'"):
        get_queue("bad").enqueue(add, 1, 2)


def test_check_invalid_mode(settings, redis_url):
    settings.RQ_QUEUES = {"bad": {"URL": redis_url, "COMMIT_MODE": "later"}}
    ids = [message.id for message in run_checks()]
    assert "django_rq_lite.E013" in ids


def test_check_unknown_database(settings, redis_url):
    settings.RQ = {"COMMIT_DATABASE": "missing"}
    ids = [message.id for message in run_checks()]
    assert "django_rq_lite.E014" in ids


def test_check_valid_options(settings, redis_url):
    settings.RQ = {"COMMIT_MODE": "on_commit", "COMMIT_DATABASE": "default"}
    ids = [message.id for message in run_checks()]
    assert not {"django_rq_lite.E013", "django_rq_lite.E014"} & set(ids)


def run_cases(tmp_path, selection, extra_env=None):
    """Run ``tests/multidb_on_commit_cases.py`` with the two-database settings.

    The subprocess gets its own SQLite files, so it does not drop the test
    database of this session.
    """
    env = {
        **os.environ,
        "RQ_LITE_TEST_DB": str(tmp_path / "cases.sqlite3"),
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/multidb_on_commit_cases.py",
        "--ds",
        "tests.settings_multidb",
        "-p",
        "no:cacheprovider",
        "-q",
        "-k",
        selection,
    ]
    return subprocess.run(
        command, cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_second_alias_cases(tmp_path):
    result = run_cases(tmp_path, "other_alias")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_postgresql_cases(tmp_path):
    reason = postgresql_unavailable_reason()
    if reason:
        pytest.skip(reason)
    result = run_cases(tmp_path, "postgresql", {"RQ_LITE_TEST_POSTGRESQL": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_enqueue_call_waits_for_commit(commit_queue):
    with transaction.atomic():
        pending = commit_queue.enqueue_call(add, args=(1, 2))
        assert commit_queue.count == 0
    assert commit_queue.job_ids == [pending.id]


@pytest.mark.django_db(transaction=True)
def test_pipeline_rejected_on_commit(commit_queue, flush_redis):
    with pytest.raises(ValueError, match="pipeline"):
        with commit_queue.connection.pipeline() as pipe:
            commit_queue.enqueue(add, 1, 2, pipeline=pipe)
    assert flush_redis.keys("*") == []


@pytest.mark.django_db(transaction=True)
def test_pipeline_allowed_immediate(commit_queue):
    with commit_queue.connection.pipeline() as pipe:
        job = commit_queue.enqueue(add, 1, 2, pipeline=pipe, on_commit=False)
        pipe.execute()
    assert commit_queue.job_ids == [job.id]


@pytest.mark.django_db(transaction=True)
def test_depends_on_pending_job(commit_queue):
    with transaction.atomic():
        parent = commit_queue.enqueue(add, 1, 2)
        child = commit_queue.enqueue(add, 3, 4, depends_on=parent)
    assert commit_queue.job_ids == [parent.id]
    assert child.fetch().dependency_ids == [parent.id]
    run_burst_worker("after")
    assert child.fetch().return_value() == 7


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_depends_on_pending(commit_queue):
    with transaction.atomic():
        parent = commit_queue.enqueue(add, 1, 2)
        data = [Queue.prepare_data(add, (3, 4), depends_on=[parent])]
        (child,) = commit_queue.enqueue_many(data)
    assert child.fetch().dependency_ids == [parent.id]


def test_explicit_kwargs_keep_option_names(commit_queue):
    job = commit_queue.enqueue(add, kwargs={"x": 1, "on_commit": True}, on_commit=False)
    assert job.kwargs == {"x": 1, "on_commit": True}
