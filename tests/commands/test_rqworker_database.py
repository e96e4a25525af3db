"""Database connections of real rqworker processes across jobs.

The PostgreSQL tests need the psycopg package and a server at
127.0.0.1:5432 that trusts the user ``postgres`` on the database ``test``.
Without them, those tests are skipped.
"""

import pytest
from django.contrib.auth.models import Group
from rq.job import JobStatus

from django_rq_lite import get_queue
from tests.commands.worker_process import run_worker
from tests.postgresql import postgresql_unavailable_reason
from tests.reliability.helpers import FAST_WORKER_MARKS
from tests.testapp import jobs

# Workers that run many jobs in one process, so one database connection.
NO_FORK_PER_JOB = [
    "rq.SimpleWorker",
    pytest.param("django_rq_lite.fastworker.FastWorker", marks=FAST_WORKER_MARKS),
]

POSTGRESQL_ENV = {
    "settings": "tests.worker_settings",
    "RQ_LITE_WORKER_DB": "postgresql",
}


@pytest.fixture
def postgresql():
    reason = postgresql_unavailable_reason()
    if reason:
        pytest.skip(reason)


def enqueue_each(*functions):
    return [get_queue().enqueue(function) for function in functions]


@pytest.mark.django_db(transaction=True)
def test_forking_worker_runs_orm_jobs_in_a_row():
    Group.objects.create(name="editors")
    queued = enqueue_each(*[jobs.database_connection_state] * 3)

    result = run_worker("--burst", "--worker-class", "rq.Worker")

    assert result.returncode == 0, result.stderr
    for job in queued:
        assert job.get_status() == JobStatus.FINISHED
        state = job.latest_result().return_value
        assert state["started_closed"] is True
        assert state["group_names"] == ["editors"]


@pytest.mark.parametrize("worker_class", NO_FORK_PER_JOB)
def test_postgresql_simple_worker_reuses_connection(postgresql, worker_class):
    queued = enqueue_each(jobs.database_backend_pid, jobs.database_backend_pid)

    result = run_worker("--burst", "--worker-class", worker_class, **POSTGRESQL_ENV)

    assert result.returncode == 0, result.stderr
    pids = [job.latest_result().return_value for job in queued]
    assert pids[0] == pids[1]


def test_postgresql_forking_worker_survives_terminated_backend(postgresql):
    queued = enqueue_each(
        jobs.terminate_database_backend,
        jobs.database_backend_pid,
        jobs.database_backend_pid,
    )

    result = run_worker("--burst", "--worker-class", "rq.Worker", **POSTGRESQL_ENV)

    assert result.returncode == 0, result.stderr
    statuses = [job.get_status() for job in queued]
    assert statuses == [JobStatus.FINISHED] * 3
    pids = {job.latest_result().return_value for job in queued}
    assert len(pids) == 3


@pytest.mark.parametrize("worker_class", NO_FORK_PER_JOB)
def test_postgresql_simple_worker_fails_at_most_one_job(postgresql, worker_class):
    killed, *after = enqueue_each(
        jobs.terminate_database_backend,
        jobs.database_backend_pid,
        jobs.database_backend_pid,
    )

    result = run_worker("--burst", "--worker-class", worker_class, **POSTGRESQL_ENV)

    assert result.returncode == 0, result.stderr
    assert killed.get_status() == JobStatus.FINISHED
    statuses = [job.get_status() for job in after]
    assert statuses.count(JobStatus.FAILED) <= 1
    assert statuses[-1] == JobStatus.FINISHED
    new_pid = after[-1].latest_result().return_value
    assert new_pid != killed.latest_result().return_value
