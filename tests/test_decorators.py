"""The @job decorator: its forms, options, scheduling and import checks."""

import time
from datetime import datetime, timedelta, timezone

import pytest
from rq import Callback, Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from django_rq_lite import get_connection, get_queue, job
from django_rq_lite.decorators import JobFunction, UnimportableFunctionError
from tests.test_queues import make_burst_runner
from tests.testapp.jobs import high_job, plain_job


@pytest.fixture
def run_burst(django_db_blocker):
    return make_burst_runner(django_db_blocker)


def triple(x):
    return x * 3


@job
def bare_job(x):
    return x - 1


@job("high")
def high_named_job(x):
    return x


@job("low", timeout=45, result_ttl=600, ttl=300, failure_ttl=700)
def low_ttl_job(x):
    return x


@job(
    "default",
    retry=Retry(max=2),
    on_success=Callback("tests.testapp.jobs.record_success"),
    on_failure=Callback("tests.testapp.jobs.record_failure"),
    meta={"owner": "billing"},
    description="count the failures",
)
def flaky_job(path, failures):
    from tests.testapp.jobs import fail_times

    return fail_times(path, failures)


def test_bare_form_uses_default_queue():
    enqueued = bare_job.delay(5)
    assert enqueued.origin == "default"


def test_bare_form_runs_inline():
    assert bare_job(5) == 4


def test_decorated_keeps_function_metadata():
    assert bare_job.__name__ == "bare_job"
    assert bare_job.__module__ == "tests.test_decorators"


def test_named_queue_form():
    enqueued = high_named_job.delay(1)
    assert get_queue("high").job_ids == [enqueued.id]


def test_named_queue_defaults_from_settings():
    enqueued = high_named_job.delay(1)
    assert enqueued.timeout == 60
    assert enqueued.result_ttl == 900


def test_queue_object_form_defaults_from_settings():
    queue = Queue("high", connection=get_connection("high"))
    enqueued = job(queue)(triple).delay(2)
    assert enqueued.origin == "high"
    assert enqueued.timeout == 60
    assert enqueued.result_ttl == 900


def test_queue_object_form_runs(run_burst):
    queue = Queue("high", connection=get_connection("high"))
    enqueued = job(queue)(triple).delay(2)
    run_burst("high")
    assert enqueued.return_value() == 6


def test_options_stored_on_job():
    enqueued = low_ttl_job.delay(1)
    assert enqueued.timeout == 45
    assert enqueued.result_ttl == 600
    assert enqueued.ttl == 300
    assert enqueued.failure_ttl == 700


def test_job_ttl_expires_queued_job():
    enqueued = low_ttl_job.delay(1)
    assert 295 <= enqueued.connection.ttl(enqueued.key) <= 300


def test_call_options_override_decorator():
    enqueued = low_ttl_job.delay(1, job_timeout=5, result_ttl=6)
    assert enqueued.timeout == 5
    assert enqueued.result_ttl == 6


def test_meta_description_and_retry_stored():
    enqueued = flaky_job.delay("/dev/null", 0)
    assert enqueued.meta == {"owner": "billing"}
    assert enqueued.description == "count the failures"
    assert enqueued.retries_left == 2


def test_module_level_job_options():
    enqueued = high_job.delay(1)
    assert enqueued.origin == "high"
    assert enqueued.timeout == 30
    assert enqueued.result_ttl == 100


def test_module_level_job_runs_in_worker(run_burst):
    enqueued = high_job.delay(41)
    run_burst("high")
    assert enqueued.return_value() == 42


def test_retry_reruns_failed_job(tmp_path, run_burst):
    counter = tmp_path / "calls"
    enqueued = flaky_job.delay(str(counter), 2)
    run_burst("default")
    assert enqueued.get_status() == JobStatus.FINISHED
    assert enqueued.return_value() == 2
    assert counter.read_text().count("call") == 3


def test_retry_gives_up_after_max(tmp_path, run_burst):
    counter = tmp_path / "calls"
    enqueued = flaky_job.delay(str(counter), 5)
    run_burst("default")
    assert enqueued.get_status() == JobStatus.FAILED
    assert counter.read_text().count("call") == 3


def test_success_callback_runs(tmp_path, flush_redis, run_burst):
    enqueued = flaky_job.delay(str(tmp_path / "calls"), 0)
    run_burst("default")
    assert flush_redis.lrange("test:callbacks", 0, -1) == [
        f"success:{enqueued.id}:0".encode()
    ]


def test_failure_callback_runs(tmp_path, flush_redis, run_burst):
    enqueued = flaky_job.delay(str(tmp_path / "calls"), 5)
    run_burst("default")
    # RQ 3.0 calls on_failure after every failed attempt, retries included.
    assert (
        flush_redis.lrange("test:callbacks", 0, -1)
        == [f"failure:{enqueued.id}:ValueError".encode()] * 3
    )


def test_unknown_option_raises():
    with pytest.raises(TypeError, match="unknown option.*timout.*Valid options"):
        job("default", timout=5)


def test_invalid_queue_argument_raises():
    with pytest.raises(TypeError, match="expects a queue name or an RQ Queue"):
        job(5)


def test_delay_returns_job():
    enqueued = plain_job.delay(3)
    assert isinstance(enqueued, Job)
    assert enqueued.get_status() == JobStatus.QUEUED


def test_enqueue_in_schedules_job():
    enqueued = plain_job.enqueue_in(timedelta(minutes=5), 3)
    registry = ScheduledJobRegistry(queue=get_queue())
    assert enqueued.id in registry.get_job_ids()
    assert get_queue().job_ids == []


def test_enqueue_at_schedules_job():
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    enqueued = plain_job.enqueue_at(when, 3)
    registry = ScheduledJobRegistry(queue=get_queue())
    scheduled_for = registry.get_scheduled_time(enqueued.id)
    assert abs((scheduled_for - when).total_seconds()) < 1


def test_enqueue_in_runs_when_due(run_burst):
    # Long enough that the first burst worker starts before the job is due,
    # even on a slow machine.
    due = time.monotonic() + 5
    enqueued = plain_job.enqueue_in(timedelta(seconds=5), 3)
    run_burst("default", with_scheduler=True)
    assert enqueued.get_status() == JobStatus.SCHEDULED
    time.sleep(max(0.0, due - time.monotonic()) + 0.1)
    run_burst("default", with_scheduler=True)
    assert enqueued.return_value() == 6


def test_rejects_lambda_at_decoration():
    with pytest.raises(UnimportableFunctionError, match="it is a lambda"):
        job(lambda: 1)


def test_rejects_nested_function_at_decoration():
    def nested():
        return 1

    with pytest.raises(UnimportableFunctionError) as raised:
        job("default")(nested)
    assert "test_rejects_nested_function_at_decoration.<locals>.nested" in str(
        raised.value
    )
    assert "it is defined inside another function" in str(raised.value)
    assert "Move it to the top level of an importable module" in str(raised.value)


def test_rejects_main_module_function():
    def script_function():
        return 1

    script_function.__qualname__ = "script_function"
    script_function.__module__ = "__main__"
    with pytest.raises(UnimportableFunctionError, match="the __main__ script"):
        job(script_function)


def test_rejects_main_module_function_at_enqueue():
    from django_rq_lite import enqueue

    def script_function():
        return 1

    script_function.__qualname__ = "script_function"
    script_function.__module__ = "__main__"
    with pytest.raises(UnimportableFunctionError, match="the __main__ script"):
        enqueue(script_function)


def test_decorated_function_is_job_function():
    assert isinstance(plain_job, JobFunction)
