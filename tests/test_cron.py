"""Periodic jobs: declarations, RQ's cron scheduler, rqcron and --with-cron."""

import re
import signal
import subprocess
import sys
from datetime import timedelta, timezone
from io import StringIO

import pytest
import rq
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from django_rq_lite import cron, get_queue
from tests.commands.worker_process import REPO_DIR, run_worker, wait_for, worker_env
from tests.redis_server import RedisServer

try:
    cron.get_cron_module()
except cron.CronUnavailable as error:
    pytest.skip(str(error), allow_module_level=True)

ADD = "tests.testapp.jobs.add"
JOB_FUNCTION = "tests.testapp.jobs.plain_job"


def marker_entry(path, text="tick", interval=1):
    return {
        "func": "tests.testapp.jobs.write_marker",
        "args": [str(path), text],
        "interval": interval,
        "name": f"marker-{text}",
    }


def write_settings(directory, entries):
    """Write a settings module for subprocesses: tests.settings plus RQ["CRON"]."""
    (directory / "cron_settings.py").write_text(
        f"from tests.settings import *  # noqa: F403\nRQ = {{'CRON': {entries!r}}}\n"
    )
    return worker_env("cron_settings", PYTHONPATH=f"{directory}:{REPO_DIR}")


def start_command(args, env, log_path):
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "django", *args],
            env=env,
            cwd=REPO_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_process(process, timeout=20):
    """Send SIGTERM and return the exit code, killing the process on timeout."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"Process {process.args} ignored SIGTERM for {timeout} s")


def read_lines(path):
    return path.read_text().split() if path.exists() else []


# Declarations


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("not a dict", "must be a dict, not str"),
        ({"func": ADD}, "exactly one of 'cron' and 'interval'"),
        ({"func": ADD, "interval": 5, "cron": "* * * * *"}, "exactly one of"),
        ({"func": ADD, "interval": 0}, "'interval' 0 must be a whole number"),
        ({"func": ADD, "interval": True}, "'interval' True must be a whole"),
        ({"func": ADD, "cron": "61 * * * *"}, "'cron' '61 * * * *' is not a valid"),
        ({"func": "tests.testapp.jobs.nope", "interval": 5}, "cannot be imported"),
        ({"func": 3, "interval": 5}, "'func' must be the dotted path"),
        ({"func": ADD, "interval": 5, "queue": "nope"}, "'queue' 'nope' is not in"),
        ({"func": ADD, "interval": 5, "every": 5}, "unknown key 'every'"),
        ({"func": ADD, "interval": 5, "args": "1"}, "'args' must be a list"),
        ({"func": ADD, "interval": 5, "kwargs": [1]}, "'kwargs' must be a dict"),
        ({"func": ".jobs.add", "interval": 5}, "'func' '.jobs.add' cannot be"),
        ({"func": ADD, "cron": "0 0 31 2 *"}, "'0 0 31 2 *' matches no date"),
        ({"func": ADD, "cron": "0 0 31 4 *"}, "(31 February and 31 April never"),
        ({"func": ADD, "cron": "0 0 1 1 * 0 2030"}, "has a year field"),
        ({"func": ADD, "interval": 10**12}, "maximum of 31536000 seconds"),
        ({"func": ADD, "interval": 5, "job_timeout": "abc"}, "'job_timeout' 'abc' is"),
        ({"func": ADD, "interval": 5, "job_timeout": 0}, "'job_timeout' 0 is not"),
        ({"func": ADD, "interval": 5, "job_timeout": 2.5}, "'job_timeout' 2.5 is"),
        (
            {"func": ADD, "interval": 5, "job_timeout": 2**31},
            "'job_timeout' 2147483648",
        ),
        ({"func": ADD, "interval": 5, "result_ttl": -5}, "'result_ttl' -5 is not"),
        ({"func": ADD, "interval": 5, "result_ttl": "x"}, "'result_ttl' 'x' is not"),
        ({"func": ADD, "interval": 5, "failure_ttl": -5}, "'failure_ttl' -5 is"),
        ({"func": ADD, "interval": 5, "ttl": 0}, "'ttl' 0 is not"),
        ({"func": ADD, "interval": 5, "ttl": -1}, "'ttl' -1 is not"),
        ({"func": ADD, "interval": 5, "ttl": 10**18}, "'ttl' 1000000000000000000"),
        ({"func": ADD, "interval": 5, "meta": "x"}, "'meta' must be a dict"),
    ],
)
def test_find_problems_reports_entry(entry, problem):
    problems = cron.find_problems(entry)

    assert any(problem in text for text in problems), problems


def test_find_problems_accepts_valid_entry():
    entry = {"func": ADD, "cron": "*/5 * * * *", "queue": "high", "args": [1, 2]}

    assert cron.find_problems(entry) == []


@pytest.mark.parametrize(
    "options",
    [
        {"cron": "0 0 29 2 *"},
        {"cron": "0 0 1 1 * 0 *"},
        {"interval": 365 * 24 * 60 * 60},
        {"job_timeout": "5m", "result_ttl": -1, "failure_ttl": 0, "ttl": "1h"},
        {"job_timeout": -1, "result_ttl": "1d", "failure_ttl": -1, "ttl": 1},
        {"job_timeout": 50 * 365 * 24 * 60 * 60, "meta": {"source": "cron"}},
    ],
)
def test_find_problems_accepts_limits(options):
    entry = {"func": ADD, "interval": 5, **options}
    if "cron" in options:
        del entry["interval"]

    assert cron.find_problems(entry) == []


def test_find_problems_rejects_json_queue(settings, redis_url):
    settings.RQ_QUEUES = {"json": {"URL": redis_url, "SERIALIZER": "json"}}

    problems = cron.find_problems({"func": ADD, "interval": 5, "queue": "json"})

    assert problems == [
        "queue 'json' uses a serializer other than pickle, but RQ's cron "
        "scheduler enqueues with pickle"
    ]


def test_periodic_jobs_take_queue_defaults(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 60, "queue": "high"}]}

    (job,) = cron.get_periodic_jobs()

    assert job.name == ADD
    assert job.schedule == "every 60 s"
    assert job.options == {"job_timeout": 60, "result_ttl": 900}


def test_periodic_jobs_keep_entry_options(settings):
    entry = {"func": ADD, "cron": "0 * * * *", "queue": "high", "result_ttl": 5}
    settings.RQ = {"CRON": [entry]}

    (job,) = cron.get_periodic_jobs()

    assert job.options["result_ttl"] == 5
    assert job.schedule == "0 * * * *"


def test_periodic_jobs_read_cron_module(settings):
    settings.RQ = {"CRON_MODULE": "tests.testapp.jobs"}

    jobs = cron.get_periodic_jobs()

    assert [job.name for job in jobs] == [ADD, "nightly-add"]
    assert jobs[0].args == (1, 2)


def test_cron_module_without_list_is_error(settings):
    settings.RQ = {"CRON_MODULE": "tests.testapp"}

    with pytest.raises(ImproperlyConfigured, match="has no CRON list"):
        cron.get_periodic_jobs()


def test_invalid_entry_names_its_place(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 5}, {"func": ADD}]}

    with pytest.raises(ImproperlyConfigured, match=r"RQ\['CRON'\]\[1\] is invalid"):
        cron.get_periodic_jobs()


def test_duplicate_names_are_error(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 5}, {"func": ADD, "interval": 9}]}

    with pytest.raises(ImproperlyConfigured, match="appear more than once"):
        cron.get_periodic_jobs()


def test_queues_on_two_servers_are_error(settings, redis_url):
    from tests.redis_server import free_port

    settings.RQ_QUEUES = {
        "default": {"URL": redis_url},
        "other": {"URL": f"redis://127.0.0.1:{free_port()}/0"},
    }
    settings.RQ = {
        "CRON": [
            {"func": ADD, "interval": 5},
            {"func": ADD, "interval": 5, "queue": "other", "name": "other"},
        ]
    }

    with pytest.raises(ImproperlyConfigured, match="different Redis servers"):
        cron.build_scheduler()


def test_build_scheduler_registers_undecorated_function(settings):
    from tests.testapp.jobs import plain_job

    settings.RQ = {"CRON": [{"func": JOB_FUNCTION, "interval": 60}]}

    (cron_job,) = cron.build_scheduler().get_jobs()

    assert cron_job.func is plain_job.func
    assert cron_job.func_name == JOB_FUNCTION


# The scheduler loop and the listing


def test_scheduler_thread_enqueues_interval_job(settings, tmp_path):
    settings.RQ = {"CRON": [marker_entry(tmp_path / "m.txt", interval=1)]}
    scheduler = cron.build_scheduler()
    queue = get_queue()

    thread, stop = cron.start_scheduler_thread(scheduler)
    try:
        wait_for(lambda: queue.count >= 2, 10, "the job was not enqueued twice")
    finally:
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert queue.get_jobs()[0].func_name == "tests.testapp.jobs.write_marker"


def test_scheduler_thread_survives_redis_restart(settings, tmp_path, caplog):
    server = RedisServer(appendonly=True)
    server.start()
    try:
        settings.RQ_QUEUES = {"default": {"URL": server.url}}
        settings.RQ = {"CRON": [marker_entry(tmp_path / "m.txt", interval=1)]}
        queue = get_queue()
        thread, stop = cron.start_scheduler_thread(cron.build_scheduler())
        try:
            wait_for(lambda: queue.count >= 1, 10, "the job was not enqueued")
            server.stop()
            wait_for(
                lambda: "Redis failed" in caplog.text, 10, "no Redis error was logged"
            )
            server.start()
            before = queue.count
            wait_for(lambda: queue.count > before, 30, "no job after the restart")
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=10)
    finally:
        server.cleanup()

    assert not thread.is_alive()


def test_list_shows_last_and_next_run(settings, tmp_path):
    entries = [
        marker_entry(tmp_path / "m.txt", interval=60),
        {"func": ADD, "args": [1, 2], "cron": "0 3 * * *", "name": "nightly"},
    ]
    settings.RQ = {"CRON": entries}
    scheduler = cron.build_scheduler()

    thread, stop = cron.start_scheduler_thread(scheduler)
    try:
        wait_for(lambda: get_queue().count == 1, 10, "the job was not enqueued")
        interval_status, cron_status = wait_for(
            lambda: (
                all(s.scheduled for s in cron.list_periodic_jobs())
                and cron.list_periodic_jobs()
            ),
            10,
            "the scheduler did not save its jobs",
        )
    finally:
        stop.set()
        thread.join(timeout=10)

    queued = get_queue().get_jobs()[0]
    assert interval_status.last_job_id == queued.id
    assert interval_status.last_status == "queued"
    assert interval_status.next_enqueue_at - interval_status.last_enqueued_at < (
        timedelta(seconds=61)
    )
    assert interval_status.next_enqueue_at > interval_status.last_enqueued_at
    assert cron_status.last_job_id is None
    # RQ 3 matches cron fields in local time, which Django sets from
    # TIME_ZONE, and RQ 2 in UTC.
    zone = None if rq.VERSION.startswith("3.") else timezone.utc
    assert cron_status.next_enqueue_at.astimezone(zone).hour == 3


def test_scheduler_thread_enqueues_job_function(settings):
    from tests.testapp.jobs import plain_job

    settings.RQ = {"CRON": [{"func": JOB_FUNCTION, "args": [21], "interval": 60}]}
    queue = get_queue()
    thread, stop = cron.start_scheduler_thread(cron.build_scheduler())
    try:
        wait_for(lambda: queue.count == 1, 10, "the job was not enqueued")
    finally:
        stop.set()
        thread.join(timeout=10)
    delayed = plain_job.delay(21)

    periodic = queue.fetch_job(queue.get_job_ids()[0])
    assert periodic.func_name == delayed.func_name == JOB_FUNCTION
    assert periodic.instance is None
    assert periodic.args == (21,)


def test_list_after_stop_is_unscheduled(settings, tmp_path):
    settings.RQ = {"CRON": [marker_entry(tmp_path / "m.txt", interval=60)]}
    thread, stop = cron.start_scheduler_thread(cron.build_scheduler())
    wait_for(lambda: get_queue().count == 1, 10, "the job was not enqueued")
    stop.set()
    thread.join(timeout=10)

    (status,) = cron.list_periodic_jobs()

    assert status.scheduled is False
    assert status.next_enqueue_at is None
    assert status.last_job_id == get_queue().get_job_ids()[0]


# Commands


def test_rqcron_enqueues_job_that_worker_runs(tmp_path):
    marker = tmp_path / "marker.txt"
    env = write_settings(tmp_path, [marker_entry(marker, "cron")])
    process = start_command(["rqcron"], env, tmp_path / "rqcron.log")
    try:
        wait_for(lambda: get_queue().count >= 1, 15, "rqcron enqueued nothing")
    finally:
        exit_code = stop_process(process)

    assert exit_code == 0, (tmp_path / "rqcron.log").read_text()
    result = run_worker("--burst")
    assert result.returncode == 0, result.stderr
    assert "cron" in read_lines(marker)


def test_rqcron_enqueues_job_function(tmp_path):
    env = write_settings(
        tmp_path, [{"func": JOB_FUNCTION, "args": [21], "interval": 60}]
    )
    log = tmp_path / "rqcron.log"
    process = start_command(["rqcron"], env, log)
    try:
        wait_for(
            lambda: get_queue().count >= 1 or process.poll() is not None,
            15,
            "rqcron enqueued nothing",
        )
    finally:
        exit_code = stop_process(process) if process.poll() is None else None

    assert exit_code == 0, log.read_text()
    (job_id,) = get_queue().get_job_ids()
    result = run_worker("--burst")
    assert result.returncode == 0, result.stderr
    assert get_queue().fetch_job(job_id).return_value() == 42


def test_rqworker_with_cron_runs_job_repeatedly(tmp_path):
    marker = tmp_path / "marker.txt"
    env = write_settings(tmp_path, [marker_entry(marker, "tick", interval=1)])
    log = tmp_path / "worker.log"
    process = start_command(["rqworker", "--with-cron"], env, log)
    try:
        wait_for(lambda: len(read_lines(marker)) >= 2, 20, "fewer than 2 runs")
    finally:
        exit_code = stop_process(process)

    assert exit_code == 0, log.read_text()
    assert set(read_lines(marker)) == {"tick"}


@pytest.mark.parametrize(
    ("extra_args", "message"),
    [
        ((), "(django_rq_lite.E021) Periodic job RQ['CRON'][0] is invalid"),
        (("--skip-checks",), "--with-cron: Periodic job RQ['CRON'][0] is invalid"),
    ],
)
def test_rqworker_with_cron_invalid_entry_fails(tmp_path, extra_args, message):
    env = write_settings(tmp_path, [{"func": ADD}])
    command = ["rqworker", "--with-cron", "--burst", *extra_args]

    result = subprocess.run(
        [sys.executable, "-m", "django", *command],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert message in result.stderr


def test_rqcron_without_jobs_is_command_error(settings):
    settings.RQ = {}

    with pytest.raises(CommandError, match="No periodic jobs are declared"):
        call_command("rqcron", stdout=StringIO())


def test_rqcron_invalid_entry_is_command_error(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": -1}]}

    with pytest.raises(CommandError, match="'interval' -1 must be"):
        call_command("rqcron", stdout=StringIO())


def test_rqcron_list_never_matching_cron_fails(tmp_path):
    env = write_settings(tmp_path, [{"func": ADD, "cron": "0 0 31 2 *"}])

    result = subprocess.run(
        [sys.executable, "-m", "django", "rqcron", "--list"],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "(django_rq_lite.E021) Periodic job RQ['CRON'][0]" in result.stderr
    assert "'0 0 31 2 *' matches no date" in result.stderr


def test_rqcron_list_never_matching_cron_is_command_error(settings):
    settings.RQ = {"CRON": [{"func": ADD, "cron": "0 0 31 2 *"}]}

    with pytest.raises(CommandError, match=re.escape("'0 0 31 2 *' matches no date")):
        call_command("rqcron", "--list", stdout=StringIO())


def test_rqcron_list_prints_jobs(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 30, "queue": "low"}]}
    stdout = StringIO()

    call_command("rqcron", "--list", stdout=stdout)

    line = stdout.getvalue().strip()
    assert line.startswith(f"{ADD}  queue=low  schedule=every 30 s  last=never")
    assert line.endswith("next=no scheduler running")


# System checks


def run_checks():
    from django_rq_lite.checks import check_settings

    return check_settings()


def check_ids(messages):
    return [message.id for message in messages]


def test_check_invalid_entry_is_e021(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 5}, {"func": ADD, "name": "b"}]}

    messages = run_checks()

    assert check_ids(messages) == ["django_rq_lite.E021"]
    assert "RQ['CRON'][1] is invalid" in messages[0].msg


def test_check_missing_module_is_e022(settings):
    settings.RQ = {"CRON_MODULE": "tests.no_such_module"}

    assert check_ids(run_checks()) == ["django_rq_lite.E022"]


def test_check_duplicate_names_is_e023(settings):
    settings.RQ = {
        "CRON": [{"func": ADD, "interval": 5}, {"func": ADD, "cron": "0 * * * *"}]
    }

    assert check_ids(run_checks()) == ["django_rq_lite.E023"]


def test_check_duplicate_across_module_is_e023(settings):
    settings.RQ = {
        "CRON": [{"func": ADD, "interval": 5}],
        "CRON_MODULE": "tests.testapp.jobs",
    }

    assert check_ids(run_checks()) == ["django_rq_lite.E023"]


def test_check_never_matching_cron_is_e021(settings):
    settings.RQ = {"CRON": [{"func": ADD, "cron": "0 0 31 2 *"}]}

    messages = run_checks()

    assert check_ids(messages) == ["django_rq_lite.E021"]
    assert messages[0].msg.startswith("Periodic job RQ['CRON'][0] is invalid")
    assert "'0 0 31 2 *' matches no date" in messages[0].msg
    assert "Use a day of the month that the month has" in messages[0].msg


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ({"job_timeout": "abc"}, "'job_timeout' 'abc' is not a number of seconds"),
        ({"interval": 10**12}, "'interval' 1000000000000 is more than the maximum"),
        ({"result_ttl": -5}, "'result_ttl' -5 is not 0 (keep nothing), -1"),
        ({"failure_ttl": -5}, "'failure_ttl' -5 is not 0 (keep nothing), -1"),
        ({"ttl": -5}, "'ttl' -5 is not a number of seconds from 1 to 1576800000"),
    ],
)
def test_check_invalid_job_option_is_e021(settings, option, expected):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 5, **option}]}

    messages = run_checks()

    assert check_ids(messages) == ["django_rq_lite.E021"]
    assert expected in messages[0].msg


def test_check_cron_module_not_str_is_e004(settings):
    settings.RQ = {"CRON_MODULE": 5}

    messages = run_checks()

    assert check_ids(messages) == ["django_rq_lite.E004"]
    assert "RQ['CRON_MODULE'] must be str, not 5" in messages[0].msg


def test_check_cron_string_is_only_e004(settings):
    settings.RQ = {"CRON": "shop.jobs.ptick"}

    assert check_ids(run_checks()) == ["django_rq_lite.E004"]


def test_check_relative_cron_module_is_e022(settings):
    settings.RQ = {"CRON_MODULE": ".jobs"}

    messages = run_checks()

    assert check_ids(messages) == ["django_rq_lite.E022"]
    assert "RQ['CRON_MODULE'] '.jobs' cannot be imported" in messages[0].msg


def test_module_entries_not_str_is_error(settings):
    settings.RQ = {"CRON_MODULE": 5}

    with pytest.raises(ImproperlyConfigured, match="must be the dotted path"):
        cron.get_periodic_jobs()


def test_check_module_only_passes(settings):
    settings.RQ = {"CRON_MODULE": "tests.testapp.jobs"}

    assert run_checks() == []


def test_check_cron_not_a_list_is_e004(settings):
    settings.RQ = {"CRON": {"func": ADD}}

    assert "django_rq_lite.E004" in check_ids(run_checks())


def test_rqworker_with_cron_and_processes_is_error(settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 60}]}

    with pytest.raises(CommandError, match="--with-cron works only with --processes 1"):
        call_command("rqworker", "--with-cron", "--processes", "2", stdout=StringIO())
