"""The rqworker command run as a real process: queue selection and options."""

import gc
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from django_rq_lite import get_queue
from django_rq_lite.dashboard.actions import stop_job
from tests.commands.worker_process import (
    run_worker,
    wait_for,
    wait_for_worker_state,
)
from tests.redis_server import RedisServer
from tests.testapp import jobs


def enqueue_markers(marker_path, *queue_and_text):
    """Enqueue one ``write_marker`` job per (queue name, text) pair."""
    return [
        get_queue(name).enqueue(jobs.write_marker, str(marker_path), text)
        for name, text in queue_and_text
    ]


def read_markers(marker_path):
    if not marker_path.exists():
        return []
    return marker_path.read_text().split()


def test_named_queues_run_in_given_order(tmp_path):
    marker = tmp_path / "order.txt"
    enqueue_markers(
        marker,
        ("low", "low-1"),
        ("high", "high-1"),
        ("default", "default-1"),
        ("low", "low-2"),
        ("high", "high-2"),
    )

    result = run_worker("high", "low", "--burst")

    assert result.returncode == 0, result.stderr
    assert read_markers(marker) == ["high-1", "high-2", "low-1", "low-2"]


def test_unnamed_queue_stays_queued(tmp_path):
    marker = tmp_path / "order.txt"
    (skipped,) = enqueue_markers(marker, ("default", "default-1"))
    enqueue_markers(marker, ("high", "high-1"))

    result = run_worker("high", "--burst")

    assert result.returncode == 0, result.stderr
    assert read_markers(marker) == ["high-1"]
    assert skipped.get_status() == JobStatus.QUEUED
    assert get_queue("default").count == 1


def test_no_queue_named_runs_default(tmp_path):
    marker = tmp_path / "order.txt"
    enqueue_markers(marker, ("high", "high-1"), ("default", "default-1"))

    result = run_worker("--burst")

    assert result.returncode == 0, result.stderr
    assert read_markers(marker) == ["default-1"]
    assert get_queue("high").count == 1


def test_unknown_queue_is_command_error():
    result = run_worker("default", "nope", "--burst")

    assert result.returncode != 0
    assert "Unknown queue(s): 'nope'." in result.stderr
    assert "RQ_QUEUES: 'default', 'high', 'low', 'sync'." in result.stderr


def test_empty_queue_name_is_quoted():
    result = run_worker("", "--burst")

    assert result.returncode != 0
    assert "Unknown queue(s): ''." in result.stderr


def test_invalid_logging_level_is_rejected():
    result = run_worker("--burst", "--logging-level", "LOUD")

    assert result.returncode != 0
    assert "invalid choice: 'LOUD'" in result.stderr
    assert "could not start" not in result.stderr


def test_lowercase_logging_level_accepted():
    result = run_worker("--burst", "--logging-level", "debug")

    assert result.returncode == 0, result.stderr


def test_queues_on_two_servers_is_command_error():
    second = RedisServer()
    second.start()
    try:
        result = run_worker(
            "default",
            "remote",
            "--burst",
            settings="tests.worker_settings",
            RQ_LITE_SECOND_REDIS_URL=second.url,
        )
    finally:
        second.cleanup()

    assert result.returncode != 0
    assert "CommandError" in result.stderr
    assert "are on different Redis servers" in result.stderr


def test_bad_worker_class_is_command_error():
    result = run_worker("--burst", "--worker-class", "tests.testapp.jobs.MissingWorker")

    assert result.returncode != 0
    assert (
        "--worker-class 'tests.testapp.jobs.MissingWorker' cannot be imported"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("option", "path", "base"),
    [
        ("--job-class", "builtins.int", "rq.job.Job"),
        ("--queue-class", "rq.job.Job", "rq.queue.Queue"),
        ("--worker-class", "os.path", "rq.worker.BaseWorker"),
    ],
)
def test_class_of_wrong_kind_is_command_error(option, path, base):
    result = run_worker("--burst", option, path)

    assert result.returncode != 0
    assert "CommandError" in result.stderr
    assert f"{option} {path!r} is not a subclass of {base}" in result.stderr
    assert "Traceback" not in result.stderr


def test_stop_action_stops_running_job(start_worker):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    start_worker()
    wait_for(
        lambda: job.get_status() == JobStatus.STARTED, 15, f"job {job.id} did not start"
    )

    stop_job(queue, job.id)

    wait_for(
        lambda: job.get_status() == JobStatus.STOPPED,
        15,
        f"job {job.id} was not stopped",
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("--max-jobs", "-1"), ("--worker-ttl", "0"), ("--job-monitoring-interval", "-1")],
)
def test_option_below_one_is_command_error(option, value):
    with pytest.raises(CommandError) as caught:
        call_command("rqworker", "--burst", option, value)
    assert str(caught.value) == f"{option} is {value}, but it must be at least 1."


def test_burst_exits_when_queues_empty():
    started = time.monotonic()
    result = run_worker("--burst", timeout=30)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10


@pytest.mark.slow
def test_without_scheduler_job_stays_scheduled():
    job = get_queue().enqueue_in(timedelta(seconds=1), jobs.add, 1, 2)

    result = run_worker("--max-idle-time", "3", timeout=30)

    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.id in ScheduledJobRegistry(queue=get_queue()).get_job_ids()


@pytest.mark.slow
def test_with_scheduler_runs_due_job():
    job = get_queue().enqueue_in(timedelta(seconds=1), jobs.add, 1, 2)

    # The scheduler moves the job to the queue about a second after the
    # worker starts. The worker runs it, then exits after 3 idle seconds.
    result = run_worker("--with-scheduler", "--max-idle-time", "3", timeout=30)

    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FINISHED
    assert job.latest_result().return_value == 3


def test_name_option_names_worker():
    job = get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker("--burst", "--name", "reports-worker-1")

    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.worker_name == "reports-worker-1"


def test_duplicate_name_is_command_error(start_worker, flush_redis):
    first = start_worker("--name", "twin", "--max-idle-time", "20")
    wait_for_worker_state(flush_redis, "twin", "idle")

    result = run_worker("--burst", "--name", "twin")
    first.kill()

    assert result.returncode != 0
    assert "CommandError" in result.stderr
    assert "'twin'" in result.stderr


def test_simple_worker_class_runs_job_in_process(start_worker):
    job = get_queue().enqueue(jobs.worker_pid)

    worker = start_worker("--burst", "--worker-class", "rq.SimpleWorker")

    assert worker.wait(timeout=60) == 0, worker.output()
    assert job.latest_result().return_value == worker.pid


def test_default_worker_class_forks_work_horse(start_worker):
    job = get_queue().enqueue(jobs.worker_pid)

    worker = start_worker("--burst")

    assert worker.wait(timeout=60) == 0, worker.output()
    horse_pid = job.latest_result().return_value
    assert isinstance(horse_pid, int)
    assert horse_pid != worker.pid


# A Django process tracks tens of thousands of objects once it has started.
# A worker that freezes nothing has none frozen.
STARTED_PROCESS_OBJECTS = 10_000


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--worker-class", "rq.Worker"],
        ["--worker-class", "rq.SimpleWorker"],
        ["--processes", "2"],
    ],
    ids=["fast-worker", "rq-worker", "simple-worker", "two-processes"],
)
def test_worker_freezes_start_up_objects(start_worker, options):
    job = get_queue().enqueue(jobs.worker_start_state)

    worker = start_worker("--burst", *options)

    assert worker.wait(timeout=60) == 0, worker.output()
    state = job.latest_result().return_value
    assert state["frozen_objects"] > STARTED_PROCESS_OBJECTS


def test_worker_pool_freezes_start_up_objects(flush_redis):
    job = get_queue().enqueue(jobs.worker_start_state)

    result = run_worker("-n", "1", "--burst", command="rqworker-pool")

    assert result.returncode == 0, result.stderr
    state = job.latest_result().return_value
    assert state["frozen_objects"] > STARTED_PROCESS_OBJECTS
    assert state["urlconf_loaded"] is True


@pytest.mark.parametrize(
    "options",
    [[], ["--worker-class", "rq.Worker"]],
    ids=["fast-worker", "rq-worker"],
)
def test_worker_preloads_urlconf_for_horses(start_worker, options):
    job = get_queue().enqueue(jobs.worker_start_state)

    worker = start_worker("--burst", *options)

    assert worker.wait(timeout=60) == 0, worker.output()
    assert job.latest_result().return_value["urlconf_loaded"] is True


def test_broken_urlconf_logs_and_worker_runs(flush_redis):
    job = get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker(
        "--burst", settings="tests.worker_settings", RQ_LITE_BROKEN_URLCONF="1"
    )

    assert result.returncode == 0, result.stderr
    assert "Could not import the URLconf tests.broken_urls" in result.stderr
    assert "this URLconf fails on purpose" in result.stderr
    assert job.latest_result().return_value == 3


def test_worker_in_process_freezes_nothing(flush_redis):
    job = get_queue().enqueue(jobs.add, 1, 2)
    frozen_before = gc.get_freeze_count()

    call_command("rqworker", "--burst", "--worker-class", "rq.SimpleWorker")

    assert job.latest_result().return_value == 3
    assert gc.get_freeze_count() == frozen_before


@pytest.mark.parametrize("command", ["rqworker", "rqworker-pool"])
def test_worker_skips_project_checks(command, tmp_path, flush_redis):
    marker = tmp_path / "check-ran"
    settings = {"settings": "tests.worker_settings"}

    run = run_worker(
        "--burst", command=command, RQ_LITE_CHECK_MARKER=str(marker), **settings
    )
    assert run.returncode == 0, run.stderr
    assert not marker.exists()

    # The same check runs in "manage.py check", so the marker can appear.
    check = run_worker(command="check", RQ_LITE_CHECK_MARKER=str(marker), **settings)
    assert check.returncode == 0, check.stderr
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("command", ["rqworker", "rqworker-pool"])
def test_invalid_rq_setting_stops_worker_start(command, flush_redis):
    get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker(
        "--burst",
        command=command,
        settings="tests.worker_settings",
        RQ_LITE_UNKNOWN_QUEUE_KEY="TIMEOUT_SECONDS",
    )

    assert result.returncode != 0
    assert "django_rq_lite.E003" in result.stderr
    assert "TIMEOUT_SECONDS" in result.stderr
    assert get_queue().count == 1


def test_queue_class_option(flush_redis):
    get_queue().enqueue(jobs.add, 1, 2)
    get_queue().enqueue(jobs.add, 3, 4)

    result = run_worker("--burst", "--queue-class", "tests.testapp.jobs.CountingQueue")

    assert result.returncode == 0, result.stderr
    assert flush_redis.get(jobs.CountingQueue.counter_key) == b"2"


def test_job_class_option():
    job = get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker("--burst", "--job-class", "tests.testapp.jobs.MarkingJob")

    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.meta.get("performed_by") == "MarkingJob"
    assert job.latest_result().return_value == 3


def test_serializer_option_reads_json_jobs():
    queue = get_queue(serializer=JSONSerializer)
    job = queue.enqueue(jobs.add, 2, 5)

    result = run_worker("--burst", "--serializer", "json")

    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FINISHED
    assert job.latest_result().return_value == 7


def test_max_jobs_stops_after_count():
    queued = [get_queue().enqueue(jobs.add, i, i) for i in range(5)]

    result = run_worker("--burst", "--max-jobs", "2")

    assert result.returncode == 0, result.stderr
    statuses = [job.get_status() for job in queued]
    assert statuses.count(JobStatus.FINISHED) == 2
    assert get_queue().count == 3


def test_max_idle_time_exits_without_burst():
    started = time.monotonic()
    result = run_worker("--max-idle-time", "1", timeout=30)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10


def test_worker_ttl_sets_key_expiry(start_worker, flush_redis):
    worker = start_worker("--name", "ttl-worker", "--worker-ttl", "30")
    registered = wait_for_worker_state(flush_redis, "ttl-worker", "idle")
    ttl = flush_redis.ttl(registered.key)
    worker.kill()

    # RQ expires the worker key worker_ttl + 60 seconds after each
    # heartbeat. With RQ's default worker_ttl of 420, the TTL would be 480.
    assert 0 < ttl <= 90


def test_job_monitoring_interval_sets_heartbeat(start_worker, flush_redis):
    job = get_queue().enqueue(jobs.sleep_then_return, 2)
    worker = start_worker(
        "--burst", "--name", "monitor-worker", "--job-monitoring-interval", "1"
    )

    wait_for(lambda: job.get_status() == JobStatus.STARTED, 15, "the job did not start")
    ttl = flush_redis.ttl("rq:worker:monitor-worker")
    assert worker.wait(timeout=30) == 0, worker.output()

    # While a job runs, RQ expires the worker key the monitoring interval
    # + 60 seconds after each heartbeat. With RQ's default of 30, it is 90.
    assert 0 < ttl <= 61


def test_round_robin_dequeue_strategy(tmp_path):
    marker = tmp_path / "order.txt"
    enqueue_markers(
        marker,
        ("high", "high-1"),
        ("high", "high-2"),
        ("low", "low-1"),
        ("low", "low-2"),
    )

    result = run_worker("high", "low", "--burst", "--dequeue-strategy", "round_robin")

    assert result.returncode == 0, result.stderr
    assert read_markers(marker) == ["high-1", "low-1", "high-2", "low-2"]


def test_logging_level_debug_shows_debug_lines():
    get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker("--burst", "--logging-level", "DEBUG")

    assert result.returncode == 0, result.stderr
    assert "registering birth" in result.stderr


def test_default_logging_level_hides_debug_lines():
    get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker("--burst")

    assert result.returncode == 0, result.stderr
    assert "Job OK" in result.stderr
    assert "registering birth" not in result.stderr


def test_logs_go_through_django_logging():
    get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker(
        "--burst", settings="tests.worker_settings", RQ_LITE_LOG_LEVEL="INFO"
    )

    assert result.returncode == 0, result.stderr
    job_ok_lines = [line for line in result.stderr.splitlines() if "Job OK" in line]
    assert len(job_ok_lines) == 1
    assert job_ok_lines[0].startswith("django-logging rq.worker: ")


def test_logging_level_from_django_logging_kept():
    get_queue().enqueue(jobs.add, 1, 2)

    result = run_worker(
        "--burst", settings="tests.worker_settings", RQ_LITE_LOG_LEVEL="WARNING"
    )

    assert result.returncode == 0, result.stderr
    assert "Job OK" not in result.stderr


def test_log_lines_omit_job_arguments():
    get_queue().enqueue(jobs.add, "private-", "argument")

    result = run_worker("--burst")

    assert result.returncode == 0, result.stderr
    assert "Job OK" in result.stderr
    assert "private-" not in result.stderr


def test_pid_file_exists_while_running(start_worker, flush_redis, tmp_path):
    pid_file = tmp_path / "worker.pid"
    worker = start_worker(
        "--name", "pid-worker", "--pid", str(pid_file), "--max-idle-time", "2"
    )

    wait_for_worker_state(flush_redis, "pid-worker", "idle")
    pid_text = pid_file.read_text()
    assert worker.wait(timeout=30) == 0, worker.output()

    assert pid_text == f"{worker.pid}\n"
    assert not pid_file.exists()


@pytest.mark.parametrize("path", ["/nonexistent-dir/worker.pid"])
def test_unwritable_pid_file_is_command_error(path):
    result = run_worker("--burst", "--pid", path)

    assert result.returncode != 0
    assert f"Cannot write the pid file {path!r}" in result.stderr
