"""get_worker() and the Django mixin, with workers run in this process."""

import signal
import time

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import override_settings
from rq import SimpleWorker, Worker
from rq.job import JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from django_rq_lite import get_queue, get_worker
from django_rq_lite.workers import DjangoWorkerMixin
from tests.testapp import jobs


@pytest.fixture(autouse=True)
def restore_signal_handlers():
    """Undo the SIGINT and SIGTERM handlers that a worker installs."""
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture
def persistent_connection():
    """Make the default database connection persistent (CONN_MAX_AGE=None).

    Django then keeps a healthy connection across close_old_connections(),
    so only an explicit close by the worker can leave it closed.
    """
    connection.close()
    saved = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = None
    yield connection
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = saved


@pytest.fixture
def run_simple_worker(django_db_blocker):
    """Return a function that runs a burst SimpleWorker in this process.

    The worker checks database connections around each job, so it needs
    database access even in a test that makes no query itself.
    """

    def run(*queue_names):
        with django_db_blocker.unblock():
            worker = get_worker(*queue_names, worker_class=SimpleWorker)
            worker.work(burst=True)

    return run


def with_queue(name, **options):
    """Return RQ_QUEUES plus queue ``name`` on the session's Redis server."""
    url = settings.RQ_QUEUES["default"]["URL"]
    return {**settings.RQ_QUEUES, name: {"URL": url, **options}}


def test_get_worker_listens_on_default():
    worker = get_worker()

    assert worker.queue_names() == ["default"]
    assert isinstance(worker, Worker)
    assert isinstance(worker, DjangoWorkerMixin)


def test_get_worker_keeps_queue_order():
    worker = get_worker("low", "high", "default")

    assert worker.queue_names() == ["low", "high", "default"]


@override_settings(RQ={"WORKER_CLASS": "rq.worker.SimpleWorker"})
def test_get_worker_class_from_setting():
    worker = get_worker()

    assert isinstance(worker, SimpleWorker)
    assert isinstance(worker, DjangoWorkerMixin)


@override_settings(RQ={"WORKER_CLASS": "rq.worker.SimpleWorker"})
def test_get_worker_class_argument_wins():
    worker = get_worker(worker_class="rq.worker.Worker")

    assert not isinstance(worker, SimpleWorker)


def test_get_worker_logs_no_descriptions():
    assert get_worker().log_job_description is False


@override_settings(RQ={"EXCEPTION_HANDLERS": ["tests.testapp.jobs.record_exception"]})
def test_exception_handlers_from_setting(run_simple_worker):
    jobs.HANDLED_EXCEPTIONS.clear()
    job = get_queue().enqueue(jobs.fail, "handled")

    run_simple_worker()

    assert len(jobs.HANDLED_EXCEPTIONS) == 1
    job_id, exc_type, message = jobs.HANDLED_EXCEPTIONS[0]
    assert job_id == job.id
    assert exc_type is ValueError
    assert message == "handled"


def test_different_serializers_raise():
    with override_settings(RQ_QUEUES=with_queue("json", SERIALIZER="json")):
        with pytest.raises(ValueError) as raised:
            get_worker("default", "json")

    assert "'default', 'json' use different serializers" in str(raised.value)


def test_given_serializer_allows_mixed_queues():
    with override_settings(RQ_QUEUES=with_queue("json", SERIALIZER="json")):
        worker = get_worker("default", "json", serializer=JSONSerializer)

    assert worker.serializer is JSONSerializer


@pytest.mark.parametrize(
    "queue_options, enqueue_options",
    [({}, {"failure_ttl": 1000}), ({"DEFAULT_FAILURE_TTL": 1000}, {})],
    ids=["enqueue-argument", "queue-setting"],
)
def test_failed_job_keeps_details(
    flush_redis, run_simple_worker, queue_options, enqueue_options
):
    with override_settings(RQ_QUEUES=with_queue("failing", **queue_options)):
        queue = get_queue("failing")
        job = queue.enqueue(jobs.fail, "bad input", **enqueue_options)
        run_simple_worker("failing")
    registry = FailedJobRegistry(queue=queue)

    assert registry.get_job_ids() == [job.id]
    failed = queue.fetch_job(job.id)
    assert failed.get_status() == JobStatus.FAILED
    assert failed.func_name == "tests.testapp.jobs.fail"
    assert list(failed.args) == ["bad input"]
    assert failed.enqueued_at is not None
    assert failed.started_at is not None
    assert failed.ended_at is not None
    traceback = failed.latest_result().exc_string
    assert "Traceback (most recent call last)" in traceback
    assert "ValueError: bad input" in traceback
    expires_at = flush_redis.zscore(registry.key, job.id)
    assert abs(expires_at - (time.time() + 1000)) < 30


@pytest.mark.django_db(transaction=True)
def test_forking_worker_closes_connection_before_fork(persistent_connection):
    Group.objects.create(name="editors")
    assert connection.connection is not None
    job = get_queue().enqueue(jobs.database_connection_state)

    get_worker(worker_class=Worker).work(burst=True)

    state = job.latest_result().return_value
    assert state["started_closed"] is True
    assert state["group_names"] == ["editors"]
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_simple_worker_keeps_healthy_connection(
    persistent_connection, run_simple_worker
):
    Group.objects.create(name="editors")
    connection_id = id(connection.connection)
    queued = [get_queue().enqueue(jobs.database_connection_state) for _ in range(2)]

    run_simple_worker()

    for job in queued:
        state = job.latest_result().return_value
        assert state["started_closed"] is False
        assert state["connection_id"] == connection_id


@pytest.mark.django_db(transaction=True)
def test_simple_worker_closes_expired_connection(run_simple_worker):
    # With CONN_MAX_AGE=0, Django's default, a connection expires at once.
    Group.objects.create(name="editors")
    assert connection.connection is not None
    job = get_queue().enqueue(jobs.database_connection_state)

    run_simple_worker()

    state = job.latest_result().return_value
    assert state["started_closed"] is True
    assert state["group_names"] == ["editors"]
    assert connection.connection is None


@pytest.mark.django_db
def test_simple_worker_inside_test_transaction(run_simple_worker):
    # pytest-django wraps this test in a transaction, as Django's TestCase
    # does, so the job reads the group that the test has not committed.
    Group.objects.create(name="editors")
    job = get_queue().enqueue(jobs.database_connection_state)

    run_simple_worker()

    assert job.latest_result().return_value["group_names"] == ["editors"]
    assert Group.objects.filter(name="editors").exists()
