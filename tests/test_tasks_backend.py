"""The Django Tasks backend on real Redis, with in-process and real workers."""

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.db import transaction
from django.urls import reverse
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from django_rq_lite.queues import get_queue
from tests.dashboard.helpers import run_burst_worker

try:
    from django_rq_lite import tasks
except ImportError:
    pytest.skip(
        "neither django.tasks (Django 6) nor the django-tasks backport is installed",
        allow_module_level=True,
    )
from tests.testapp import task_functions  # noqa: E402

REPO_DIR = Path(__file__).resolve().parent.parent
Status = tasks.TaskResultStatus


def backend_settings(**options):
    return {
        "default": {
            "BACKEND": "django_rq_lite.tasks.RQBackend",
            "QUEUES": ["default", "high"],
            "OPTIONS": options,
        }
    }


@pytest.fixture(autouse=True)
def rq_backend(settings):
    settings.TASKS = backend_settings()


@pytest.fixture
def signals():
    """Record the task signals sent during the test, by signal name."""
    received = []

    def receiver(name):
        def record(sender, task_result, **kwargs):
            received.append((name, task_result.id, task_result.status))

        return record

    receivers = {
        tasks.task_enqueued: receiver("enqueued"),
        tasks.task_started: receiver("started"),
        tasks.task_finished: receiver("finished"),
    }
    for signal, handler in receivers.items():
        signal.connect(handler)
    yield received
    for signal, handler in receivers.items():
        signal.disconnect(handler)


def get_result(result_id):
    return task_functions.add_task.get_backend().get_result(result_id)


def test_enqueue_returns_ready_result():
    result = task_functions.add_task.enqueue(1, 2)
    assert result.status == Status.READY
    assert result.backend == "default"
    assert result.args == [1, 2]


def test_enqueue_creates_rq_job():
    result = task_functions.add_task.enqueue(1, 2)
    queue = get_queue("default")
    assert queue.job_ids == [result.id]
    assert queue.fetch_job(result.id).func_name == tasks.RUN_TASK_PATH


def test_queue_name_maps_to_rq_queue():
    result = task_functions.add_task.using(queue_name="high").enqueue(1, 2)
    assert get_queue("high").job_ids == [result.id]
    assert get_queue("default").count == 0


def test_queue_outside_backend_rejected():
    with pytest.raises(tasks.InvalidTask):
        task_functions.add_task.using(queue_name="low")


def test_priority_above_zero_goes_first():
    first = task_functions.add_task.enqueue(1, 1)
    urgent = task_functions.add_task.using(priority=10).enqueue(2, 2)
    assert get_queue("default").job_ids == [urgent.id, first.id]


def test_priority_below_zero_goes_last():
    first = task_functions.add_task.enqueue(1, 1)
    low = task_functions.add_task.using(priority=-10).enqueue(2, 2)
    assert get_queue("default").job_ids == [first.id, low.id]


def test_run_after_schedules_job():
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    result = task_functions.add_task.using(run_after=when).enqueue(1, 2)
    registry = ScheduledJobRegistry(queue=get_queue("default"))
    assert registry.get_job_ids() == [result.id]
    assert get_result(result.id).status == Status.READY
    assert get_result(result.id).task.run_after == when


def test_backend_declares_features():
    backend = task_functions.add_task.get_backend()
    assert backend.supports_defer
    assert backend.supports_priority
    assert backend.supports_get_result
    assert backend.supports_async_task


@pytest.mark.django_db
def test_get_result_after_success():
    result = task_functions.add_task.enqueue(1, 2)
    run_burst_worker()
    fetched = task_functions.add_task.get_result(result.id)
    assert fetched.status == Status.SUCCESSFUL
    assert fetched.return_value == 3
    assert fetched.attempts == 1
    assert len(fetched.worker_ids) == 1
    assert fetched.errors == []
    assert fetched.enqueued_at <= fetched.started_at <= fetched.finished_at
    assert fetched.last_attempted_at == fetched.started_at


@pytest.mark.django_db
def test_refresh_updates_result():
    result = task_functions.add_task.enqueue(4, 5)
    run_burst_worker()
    result.refresh()
    assert result.status == Status.SUCCESSFUL
    assert result.return_value == 9


@pytest.mark.django_db
def test_get_result_after_failure():
    result = task_functions.fail_task.enqueue("broken")
    run_burst_worker()
    fetched = get_result(result.id)
    assert fetched.status == Status.FAILED
    assert len(fetched.errors) == 1
    assert fetched.errors[0].exception_class_path == "builtins.ValueError"
    assert fetched.errors[0].exception_class is ValueError
    assert "ValueError: broken" in fetched.errors[0].traceback


def test_get_result_unknown_id():
    with pytest.raises(tasks.TaskResultDoesNotExist):
        get_result("no-such-job")


def test_get_result_plain_job_rejected():
    job = get_queue("default").enqueue("tests.testapp.jobs.add", 1, 2)
    with pytest.raises(tasks.TaskResultDoesNotExist):
        get_result(job.id)


@pytest.mark.django_db
def test_takes_context_gets_result():
    result = task_functions.context_task.enqueue("x")
    run_burst_worker()
    value = get_result(result.id).return_value
    assert value == {"attempt": 1, "result_id": result.id, "value": "x"}


@pytest.mark.django_db
def test_async_task_runs():
    result = task_functions.async_add_task.enqueue(2, 3)
    run_burst_worker()
    assert get_result(result.id).return_value == 5


@pytest.mark.django_db
def test_signals_sent_on_success(signals):
    result = task_functions.add_task.enqueue(1, 2)
    run_burst_worker()
    assert signals == [
        ("enqueued", result.id, Status.READY),
        ("started", result.id, Status.RUNNING),
        ("finished", result.id, Status.SUCCESSFUL),
    ]


@pytest.mark.django_db
def test_signals_sent_on_failure(signals):
    result = task_functions.fail_task.enqueue()
    run_burst_worker()
    assert signals[-1] == ("finished", result.id, Status.FAILED)


def test_check_reports_unknown_queue(settings):
    settings.TASKS = {
        "default": {
            "BACKEND": "django_rq_lite.tasks.RQBackend",
            "QUEUES": ["default", "missing"],
        }
    }
    backend = task_functions.add_task.get_backend()
    ids = [message.id for message in backend.check()]
    assert ids == ["django_rq_lite.E015"]


def test_system_checks_report_unknown_queue(settings):
    settings.TASKS = {
        "default": {
            "BACKEND": "django_rq_lite.tasks.RQBackend",
            "QUEUES": ["missing"],
        }
    }
    ids = [message.id for message in run_checks()]
    assert ids.count("django_rq_lite.E015") == 1


def test_check_reports_invalid_mode(settings):
    settings.TASKS = backend_settings(COMMIT_MODE="later")
    backend = task_functions.add_task.get_backend()
    ids = [message.id for message in backend.check()]
    assert ids == ["django_rq_lite.E016"]


def test_check_reports_unknown_database(settings):
    settings.TASKS = backend_settings(COMMIT_DATABASE="missing")
    backend = task_functions.add_task.get_backend()
    ids = [message.id for message in backend.check()]
    assert ids == ["django_rq_lite.E014"]


def test_check_reports_queues_string(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_rq_lite.tasks.RQBackend", "QUEUES": "default"}
    }
    backend = task_functions.add_task.get_backend()
    [message] = backend.check()
    assert message.id == "django_rq_lite.E004"
    assert message.msg == (
        "TASKS['default']['QUEUES'] must be a list of queue names, not the "
        "string 'default'."
    )


def test_check_reports_options_not_dict(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_rq_lite.tasks.RQBackend", "OPTIONS": "on_commit"}
    }
    backend = task_functions.add_task.get_backend()
    [message] = backend.check()
    assert message.id == "django_rq_lite.E004"
    assert message.msg == "TASKS['default']['OPTIONS'] must be a dict, not str."


def test_check_reports_unknown_option(settings):
    settings.TASKS = backend_settings(COMIT_MODE="on_commit")
    backend = task_functions.add_task.get_backend()
    [message] = backend.check()
    assert message.id == "django_rq_lite.E003"
    assert message.msg == "TASKS['default']['OPTIONS'] has an unknown key 'COMIT_MODE'."
    assert message.hint.startswith("Did you mean 'COMMIT_MODE'?")


def test_check_valid_configuration():
    backend = task_functions.add_task.get_backend()
    assert list(backend.check()) == []


@pytest.mark.django_db(transaction=True)
def test_on_commit_rollback_enqueues_nothing(settings, flush_redis, signals):
    settings.TASKS = backend_settings(COMMIT_MODE="on_commit")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            task_functions.add_task.enqueue(1, 2)
            raise RuntimeError("roll back")
    assert flush_redis.keys("*") == []
    assert signals == []


@pytest.mark.django_db(transaction=True)
def test_on_commit_enqueues_after_commit(settings, signals):
    settings.TASKS = backend_settings(COMMIT_MODE="on_commit")
    queue = get_queue("default")
    with transaction.atomic():
        result = task_functions.add_task.enqueue(1, 2)
        assert queue.count == 0
        assert signals == []
    assert queue.job_ids == [result.id]
    assert signals == [("enqueued", result.id, Status.READY)]


@pytest.mark.django_db(transaction=True)
def test_queue_commit_mode_applies(settings, redis_url, flush_redis):
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "default": {"URL": redis_url, "COMMIT_MODE": "on_commit"},
    }
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            task_functions.add_task.enqueue(1, 2)
            raise RuntimeError("roll back")
    assert flush_redis.keys("*") == []


@pytest.mark.django_db
def test_capture_callbacks_enqueue(settings, django_capture_on_commit_callbacks):
    settings.TASKS = backend_settings(COMMIT_MODE="on_commit")
    with django_capture_on_commit_callbacks() as callbacks:
        result = task_functions.add_task.enqueue(1, 2)
    assert get_queue("default").count == 0
    callbacks[0]()
    assert get_queue("default").job_ids == [result.id]


@pytest.mark.django_db
def test_requeue_failed_task(tmp_path):
    flag = tmp_path / "flag"
    result = task_functions.fail_unless_file_task.enqueue(str(flag))
    run_burst_worker()
    assert get_result(result.id).status == Status.FAILED
    flag.write_text("fixed")
    FailedJobRegistry(queue=get_queue("default")).requeue(result.id)
    run_burst_worker()
    fetched = get_result(result.id)
    assert fetched.status == Status.SUCCESSFUL
    assert fetched.return_value == "fixed"
    assert fetched.attempts == 2
    assert len(fetched.errors) == 1


@pytest.mark.django_db
def test_dashboard_shows_task_job(admin_client):
    result = task_functions.fail_task.enqueue()
    run_burst_worker()
    url = reverse("admin:django_rq_lite_queue_job", args=("default", result.id))
    response = admin_client.get(url)
    assert response.status_code == 200
    assert result.id in response.content.decode()


def test_real_worker_runs_task():
    """A worker process without TASKS still runs the job and records it."""
    result = task_functions.context_task.using(priority=5).enqueue("y")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    completed = subprocess.run(
        [sys.executable, "-m", "django", "rqworker", "default", "--burst"],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    job = Job.fetch(result.id, connection=get_queue("default").connection)
    assert job.get_status() == "finished"
    fetched = get_result(result.id)
    assert fetched.return_value["value"] == "y"
    assert fetched.task.priority == 5
