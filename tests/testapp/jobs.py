"""Job functions that the tests enqueue and worker processes import."""

import gc
import os
import sys
import time

from rq import Queue
from rq.job import Job

from django_rq_lite import job


def add(x, y):
    return x + y


def fail(message="boom"):
    raise ValueError(message)


def sleep_then_return(seconds, value="done"):
    time.sleep(seconds)
    return value


def write_marker(path, text="ran"):
    with open(path, "a") as marker:
        marker.write(f"{text}\n")
    return text


def worker_pid():
    return os.getpid()


@job
def plain_job(x):
    return x * 2


@job("high", timeout=30, result_ttl=100)
def high_job(x):
    return x + 1


# Helpers for the worker and rqworker tests.

HANDLED_EXCEPTIONS = []


def record_exception(job, exc_type, exc_value, traceback):
    """Exception handler that stores the job id and exception in this process."""
    HANDLED_EXCEPTIONS.append((job.id, exc_type, str(exc_value)))
    return True


class CountingQueue(Queue):
    """Queue class that counts in Redis the jobs a worker dequeues through it."""

    counter_key = "rq-lite-test:counting-queue:dequeued"

    @classmethod
    def dequeue_any(cls, *args, **kwargs):
        result = super().dequeue_any(*args, **kwargs)
        if result is not None:
            kwargs["connection"].incr(cls.counter_key)
        return result


class MarkingJob(Job):
    """Job class that stores its class name in the job's meta when performed."""

    def perform(self):
        self.meta["performed_by"] = type(self).__name__
        self.save_meta()
        return super().perform()


def database_connection_state():
    """Return whether the default database connection was closed at job start.

    Also returns the group names read through the ORM and the id of the
    DB-API connection object that served the query.
    """
    from django.contrib.auth.models import Group
    from django.db import connection

    started_closed = connection.connection is None
    names = sorted(Group.objects.values_list("name", flat=True))
    return {
        "started_closed": started_closed,
        "group_names": names,
        "connection_id": id(connection.connection),
    }


def database_backend_pid():
    """Return the PostgreSQL backend pid of the default database connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate_database_backend(timeout=5.0):
    """Terminate this job's own PostgreSQL backend and return its pid.

    A second connection sends ``pg_terminate_backend`` and waits until the
    backend is gone, so the next job that reuses a persistent connection
    finds it closed by the server.
    """
    import psycopg
    from django.db import connection

    pid = database_backend_pid()
    params = connection.settings_dict
    with psycopg.connect(
        host=params["HOST"],
        port=params["PORT"],
        dbname=params["NAME"],
        user=params["USER"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + timeout
        query = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
        while admin.execute(query, [pid]).fetchone() is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Backend {pid} still runs after {timeout} s.")
            time.sleep(0.05)
    return pid


def fail_unless_file_exists(path):
    """Raise until the file ``path`` exists, then return its text.

    The test controls when the job starts to succeed, so it can fail a job,
    fix the cause and requeue it.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Flag file {path} does not exist yet.")
    with open(path) as flag:
        return flag.read()


def fail_times(path, failures):
    """Raise on the first ``failures`` calls, counted in the file at ``path``."""
    with open(path, "a+") as counter:
        counter.seek(0)
        calls = len(counter.read().splitlines())
        counter.write("call\n")
    if calls < failures:
        raise ValueError(f"failure {calls + 1} of {failures}")
    return calls


def record_success(job, connection, result, *args, **kwargs):
    """Success callback: push ``success:<job id>:<result>`` to a Redis list."""
    connection.rpush("test:callbacks", f"success:{job.id}:{result}")


def record_failure(job, connection, exc_type, exc_value, traceback):
    """Failure callback: push ``failure:<job id>:<exception>`` to a Redis list."""
    connection.rpush("test:callbacks", f"failure:{job.id}:{exc_type.__name__}")


# Helpers for the reliability suite.

RUN_COUNTS_KEY = "rq-lite-test:reliability:runs"


def count_run(fail_first=False):
    """Add one to this job's run count in Redis and return the new count.

    With ``fail_first`` the first run raises, so the job lands in the failed
    registry until it is requeued. The run is counted before it raises.
    """
    from rq import get_current_job

    current = get_current_job()
    runs = current.connection.hincrby(RUN_COUNTS_KEY, current.id, 1)
    if fail_first and runs == 1:
        raise ValueError(f"First run of job {current.id} fails on purpose.")
    return runs


RUN_PIDS_KEY = "rq-lite-test:reliability:pids"


def wait_for_file_then_count(path, timeout=30.0):
    """Count a run, then wait until ``path`` exists and return its run count.

    The test learns that the job has started, and the id of the process that
    runs it, from Redis, then kills that process or restarts the server
    while the job waits.
    """
    from rq import get_current_job

    current = get_current_job()
    current.connection.hset(RUN_PIDS_KEY, current.id, os.getpid())
    runs = count_run()
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"File {path} did not appear within {timeout} s.")
        time.sleep(0.05)
    return runs


class RaisingOnDelete:
    """A value whose ``__del__`` raises, as a buggy resource wrapper might."""

    def __reduce__(self):
        return (str, ("pickled in place of RaisingOnDelete",))

    def __del__(self):
        raise RuntimeError("RaisingOnDelete.__del__ failed on purpose.")


def return_raising_on_delete():
    return RaisingOnDelete()


def return_unpicklable():
    """Return a value that pickle rejects: a lock."""
    import threading

    return threading.Lock()


def measure_argument(data):
    """Return the length of ``data``, a large argument."""
    return len(data)


# Helpers for the fast worker tests and probe.


def noop():
    return None


def exit_horse(code=1):
    """End the process that runs the job at once, as a crash would."""
    os._exit(code)


def count_run_and_pid():
    """Count this job's run in Redis and return the pid of its process."""
    count_run()
    return os.getpid()


# Helpers for the dashboard tests.


def fail_with_key_error(key="missing"):
    """Raise ``KeyError``, so failed jobs differ in their exception class."""
    raise KeyError(key)


# Periodic jobs that the RQ["CRON_MODULE"] tests read from this module.
CRON = [
    {"func": "tests.testapp.jobs.add", "args": [1, 2], "interval": 3600},
    {"func": "tests.testapp.jobs.add", "cron": "0 3 * * *", "name": "nightly-add"},
]


# Helpers for the failed-job index tests.


class PaymentDeclined(Exception):
    """An exception class outside builtins, so tracebacks name its module."""


def fail_with_payment_declined(reason="card expired"):
    raise PaymentDeclined(reason)


def worker_environment():
    """Return the RQ_WORKER_ID and RQ_JOB_ID variables of the job's process."""
    return [os.environ.get("RQ_WORKER_ID"), os.environ.get("RQ_JOB_ID")]


def worker_start_state():
    """Return what the worker process did before its work loop.

    A work-horse is a fork of its worker, so it shows the worker's state.
    ``frozen_objects`` counts the objects frozen out of the garbage
    collector. ``urlconf_loaded`` is whether the project's URLconf was
    imported, which this job does not do itself.
    """
    return {
        "frozen_objects": gc.get_freeze_count(),
        "urlconf_loaded": "tests.urls" in sys.modules,
    }
