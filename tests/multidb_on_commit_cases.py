"""On-commit enqueue on a second alias and on PostgreSQL.

Not collected by the main run: ``tests/test_enqueue_on_commit.py`` runs this
file in a subprocess with ``--ds tests.settings_multidb``.
"""

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction

from django_rq_lite import get_queue
from tests.testapp.jobs import add


@pytest.fixture
def commit_queue(redis_url, settings):
    """Return a function that configures an on-commit queue and returns it."""

    def build(name, **options):
        settings.RQ_QUEUES = {
            **settings.RQ_QUEUES,
            name: {"URL": redis_url, "COMMIT_MODE": "on_commit", **options},
        }
        return get_queue(name)

    return build


def write_row(alias):
    """Make the transaction of ``alias`` hold a change."""
    with connections[alias].cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS marker (value integer)")
        cursor.execute("INSERT INTO marker (value) VALUES (1)")


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_other_alias_setting_waits_for_commit(commit_queue):
    queue = commit_queue("default", COMMIT_DATABASE="other")
    with transaction.atomic(using="other"):
        write_row("other")
        pending = queue.enqueue(add, 1, 2, on_commit=True)
        assert queue.count == 0
    assert pending.enqueued
    assert queue.count == 1


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_other_alias_argument_waits_for_commit(commit_queue):
    queue = commit_queue("default")
    with transaction.atomic(using="other"):
        pending = queue.enqueue(add, 1, 2, on_commit_using="other")
        assert queue.count == 0
    assert queue.job_ids == [pending.id]


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_other_alias_ignores_default_transaction(commit_queue):
    queue = commit_queue("default")
    with transaction.atomic(using="default"):
        pending = queue.enqueue(add, 1, 2, on_commit_using="other")
        assert pending.enqueued
    assert queue.count == 1


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_other_alias_rollback_skips_enqueue(commit_queue, flush_redis):
    queue = commit_queue("default")
    with pytest.raises(RuntimeError):
        with transaction.atomic(using="other"):
            queue.enqueue(add, 1, 2, on_commit_using="other")
            raise RuntimeError("roll back")
    assert flush_redis.keys("*") == []


postgresql = pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES,
    reason="RQ_LITE_TEST_POSTGRESQL=1 is not set",
)


@postgresql
@pytest.mark.django_db(transaction=True, databases=["default", "postgresql"])
def test_postgresql_rollback_leaves_redis_empty(commit_queue, flush_redis):
    queue = commit_queue("default")
    with pytest.raises(RuntimeError):
        with transaction.atomic(using="postgresql"):
            write_row("postgresql")
            queue.enqueue(add, 1, 2, on_commit_using="postgresql")
            raise RuntimeError("roll back")
    assert flush_redis.keys("*") == []


@postgresql
@pytest.mark.django_db(transaction=True, databases=["default", "postgresql"])
def test_postgresql_commit_enqueues_once(commit_queue):
    queue = commit_queue("default")
    with transaction.atomic(using="postgresql"):
        write_row("postgresql")
        pending = queue.enqueue(add, 1, 2, on_commit_using="postgresql")
        assert queue.count == 0
    assert queue.job_ids == [pending.id]


@postgresql
@pytest.mark.django_db(transaction=True, databases=["default", "postgresql"])
def test_postgresql_savepoint_rollback(commit_queue):
    queue = commit_queue("default")
    with transaction.atomic(using="postgresql"):
        kept = queue.enqueue(add, 1, 2, on_commit_using="postgresql")
        try:
            with transaction.atomic(using="postgresql"):
                queue.enqueue(add, 3, 4, on_commit_using="postgresql")
                raise RuntimeError("roll back the savepoint")
        except RuntimeError:
            pass
    assert queue.job_ids == [kept.id]
