"""The operations commands against the session's real Redis server."""

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rq.job import Job, JobStatus
from rq.suspension import is_suspended

from django_rq_lite import get_queue
from tests.commands.worker_process import (
    REPO_DIR,
    run_worker,
    wait_for,
    wait_for_worker_state,
    worker_env,
)
from tests.testapp import jobs


def run_command(name, *args, **options):
    """Run a command and return its standard output."""
    stdout = StringIO()
    call_command(name, *args, stdout=stdout, stderr=StringIO(), **options)
    return stdout.getvalue()


def make_failed_job(queue_name="default", message="boom"):
    """Enqueue a failing job and run it in a burst worker, so it fails."""
    job = get_queue(queue_name).enqueue(jobs.fail, message)
    result = run_worker(queue_name, "--burst")
    assert result.returncode == 0, result.stderr
    assert job.get_status(refresh=True) == JobStatus.FAILED
    return job


# rqstats


def test_rqstats_json_counts_queued_and_failed():
    make_failed_job()
    get_queue("default").enqueue(jobs.add, 1, 2)

    report = json.loads(run_command("rqstats", "default", "--json"))

    counts = report["queues"]["default"]["counts"]
    assert counts["queued"] == 1
    assert counts["failed"] == 1
    assert counts["finished"] == 0
    assert report["queues"]["default"]["workers"] == 0


def test_rqstats_json_lists_every_queue():
    report = json.loads(run_command("rqstats", "--json"))

    assert sorted(report["queues"]) == ["default", "high", "low", "sync"]


def test_rqstats_table_has_header_and_rows():
    get_queue("high").enqueue(jobs.add, 1, 2)

    lines = run_command("rqstats", "high", "low").splitlines()

    assert lines[0].split() == [
        "queue",
        "queued",
        "started",
        "deferred",
        "scheduled",
        "finished",
        "failed",
        "canceled",
        "workers",
    ]
    assert lines[1].split() == ["high", "1", "0", "0", "0", "0", "0", "0", "0"]
    assert lines[2].split()[:2] == ["low", "0"]


def test_rqstats_interval_repeats_count_times():
    output = run_command(
        "rqstats", "default", "--json", "--interval", "0.05", "--count", "3"
    )

    reports = [json.loads(line) for line in output.splitlines()]
    assert len(reports) == 3


def test_rqstats_unknown_queue_is_command_error():
    with pytest.raises(CommandError, match="Unknown queue"):
        run_command("rqstats", "nope")


def test_rqstats_zero_interval_is_command_error():
    with pytest.raises(CommandError, match="--interval 0.0 is not positive"):
        run_command("rqstats", "--interval", "0")


def test_rqstats_unreachable_queue_shows_dashes(settings, redis_url):
    from tests.redis_server import free_port

    settings.RQ_QUEUES = {
        "default": {"URL": redis_url},
        "down": {"URL": f"redis://127.0.0.1:{free_port()}/0"},
    }
    stdout = StringIO()
    stderr = StringIO()

    call_command("rqstats", stdout=stdout, stderr=stderr)

    rows = stdout.getvalue().splitlines()
    assert rows[2].split() == ["down"] + ["-"] * 8
    assert stderr.getvalue().startswith("Queue 'down': ConnectionError")


# rqenqueue


def test_rqenqueue_json_args_reach_job():
    job_id = run_command(
        "rqenqueue", "tests.testapp.jobs.add", "2", "3", "--json", "--queue", "high"
    ).strip()

    job = Job.fetch(job_id, connection=get_queue("high").connection)
    assert job.args == (2, 3)
    assert job.origin == "high"


def test_rqenqueue_plain_args_are_strings():
    job_id = run_command("rqenqueue", "tests.testapp.jobs.add", "2", "3").strip()

    job = Job.fetch(job_id, connection=get_queue().connection)
    assert job.args == ("2", "3")


def test_rqenqueue_kwargs_and_job_id():
    run_command(
        "rqenqueue",
        "tests.testapp.jobs.sleep_then_return",
        "--kwargs",
        '{"seconds": 0, "value": "ok"}',
        "--job-id",
        "cli-job",
        "--job-timeout",
        "45",
    )

    job = Job.fetch("cli-job", connection=get_queue().connection)
    assert job.kwargs == {"seconds": 0, "value": "ok"}
    assert job.timeout == 45


def test_rqenqueue_job_runs_in_worker():
    job_id = run_command("rqenqueue", "tests.testapp.jobs.add", "4", "5", "--json")
    result = run_worker("--burst")

    assert result.returncode == 0, result.stderr
    job = Job.fetch(job_id.strip(), connection=get_queue().connection)
    assert job.return_value() == 9


def test_rqenqueue_unimportable_path_is_command_error():
    with pytest.raises(CommandError, match="'tests.testapp.jobs.nope' cannot be"):
        run_command("rqenqueue", "tests.testapp.jobs.nope")


def test_rqenqueue_non_callable_is_command_error():
    with pytest.raises(CommandError, match="is a list, not a function"):
        run_command("rqenqueue", "tests.testapp.jobs.HANDLED_EXCEPTIONS")


def test_rqenqueue_class_is_command_error():
    with pytest.raises(CommandError, match="is a class, not a function"):
        run_command("rqenqueue", "tests.testapp.jobs.PaymentDeclined", "x")


@pytest.mark.parametrize("job_id", ["bad id/with:chars", ""])
def test_rqenqueue_invalid_job_id_is_command_error(job_id):
    with pytest.raises(CommandError) as caught:
        run_command("rqenqueue", "tests.testapp.jobs.add", "--job-id", job_id)
    assert str(caught.value).startswith(f"--job-id {job_id!r} is invalid.")
    assert get_queue().count == 0


def test_rqenqueue_taken_job_id_is_command_error():
    run_command("rqenqueue", "tests.testapp.jobs.add", "1", "2", "--job-id", "dup1")
    with pytest.raises(CommandError) as caught:
        run_command("rqenqueue", "tests.testapp.jobs.add", "5", "5", "--job-id", "dup1")
    assert str(caught.value).startswith("--job-id 'dup1' is taken by a queued job.")
    assert tuple(get_queue().fetch_job("dup1").args) == ("1", "2")


@pytest.mark.parametrize("timeout", ["0", "-5"])
def test_rqenqueue_invalid_timeout_is_command_error(timeout):
    with pytest.raises(CommandError) as caught:
        run_command("rqenqueue", "tests.testapp.jobs.add", "--job-timeout", timeout)
    assert str(caught.value) == (
        f"--job-timeout is {timeout}, but it must be at least 1, or -1 for no timeout."
    )


def test_rqenqueue_bad_json_arg_is_command_error():
    with pytest.raises(CommandError, match="Argument 'abc' is not valid JSON"):
        run_command("rqenqueue", "tests.testapp.jobs.add", "abc", "--json")


def test_rqenqueue_kwargs_list_is_command_error():
    with pytest.raises(CommandError, match="--kwargs must be a JSON object"):
        run_command("rqenqueue", "tests.testapp.jobs.add", "--kwargs", "[1]")


def test_rqenqueue_unknown_queue_is_command_error():
    with pytest.raises(CommandError, match="Unknown queue"):
        run_command("rqenqueue", "tests.testapp.jobs.add", "--queue", "nope")


# rqsuspend and rqresume


def test_rqsuspend_sets_suspension(flush_redis):
    run_command("rqsuspend")

    assert is_suspended(flush_redis)


def test_rqsuspend_duration_sets_expiry(flush_redis):
    run_command("rqsuspend", "--duration", "30")

    assert 0 < flush_redis.ttl("rq:suspended") <= 30


def test_rqsuspend_zero_duration_is_command_error():
    with pytest.raises(CommandError, match="--duration 0 is less than 1"):
        run_command("rqsuspend", "--duration", "0")


def test_rqresume_clears_suspension(flush_redis):
    run_command("rqsuspend")
    run_command("rqresume")

    assert not is_suspended(flush_redis)


def test_suspended_burst_worker_leaves_job(flush_redis):
    job = get_queue().enqueue(jobs.add, 1, 1)
    run_command("rqsuspend", "--queue", "default")

    suspended = run_worker("--burst")
    assert suspended.returncode == 0, suspended.stderr
    assert job.get_status(refresh=True) == JobStatus.QUEUED

    run_command("rqresume", "--queue", "default")
    resumed = run_worker("--burst")
    assert resumed.returncode == 0, resumed.stderr
    assert job.get_status(refresh=True) == JobStatus.FINISHED


# rqrequeue


def test_rqrequeue_by_id_moves_job_back():
    job = make_failed_job()

    output = run_command("rqrequeue", job.id)

    assert "Requeued 1 job(s)" in output
    assert job.get_status(refresh=True) == JobStatus.QUEUED
    assert get_queue().failed_job_registry.count == 0


def test_rqrequeue_all_moves_every_failed_job():
    make_failed_job("low", "first")
    make_failed_job("low", "second")

    output = run_command("rqrequeue", "--queue", "low", "--all")

    assert "Requeued 2 job(s) on queue 'low'" in output
    assert get_queue("low").count == 2


def test_rqrequeue_unknown_id_is_command_error():
    job = make_failed_job()

    with pytest.raises(CommandError, match="Not in the failed registry.*missing-id"):
        run_command("rqrequeue", job.id, "missing-id")
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_rqrequeue_all_by_exception_class():
    make_failed_job()
    queue = get_queue()
    key_error = queue.enqueue("tests.testapp.jobs.fail_with_key_error")
    assert run_worker("default", "--burst").returncode == 0

    output = run_command("rqrequeue", "--all", "--exc-class", "KeyError")

    assert "Requeued 1 job(s) on queue 'default'" in output
    assert queue.job_ids == [key_error.id]
    assert queue.failed_job_registry.count == 1


def test_rqrequeue_leaves_unimportable_job_failed():
    queue = get_queue()
    job = queue.enqueue("tests.testapp.removed_module.vanished")
    assert run_worker("default", "--burst").returncode == 0

    with pytest.raises(CommandError) as caught:
        run_command("rqrequeue", job.id)
    assert str(caught.value).startswith(
        "1 job(s) stay in the failed registry because their function cannot be imported"
    )
    assert queue.count == 0
    assert job.id in queue.failed_job_registry.get_job_ids()


def test_rqrequeue_filter_with_ids_is_command_error():
    with pytest.raises(CommandError, match="need --all instead of job ids"):
        run_command("rqrequeue", "some-id", "--func", "tests.testapp.jobs.fail")


def test_rqrequeue_ids_and_all_is_command_error():
    with pytest.raises(CommandError, match="either job ids or --all"):
        run_command("rqrequeue", "some-id", "--all")


def test_rqrequeue_nothing_is_command_error():
    with pytest.raises(CommandError, match="either job ids or --all"):
        run_command("rqrequeue")


# rqempty


def test_rqempty_noinput_deletes_queued_jobs():
    job = get_queue("low").enqueue(jobs.add, 1, 2)
    kept = get_queue("high").enqueue(jobs.add, 1, 2)

    output = run_command("rqempty", "low", "--noinput")

    assert "Deleted 1 job(s) from queue 'low'" in output
    assert get_queue("low").count == 0
    assert Job.exists(job.id, connection=get_queue().connection) is False
    assert kept.get_status(refresh=True) == JobStatus.QUEUED


def test_rqempty_all_empties_every_queue():
    get_queue("low").enqueue(jobs.add, 1, 2)
    get_queue("high").enqueue(jobs.add, 1, 2)

    run_command("rqempty", "--all", "--noinput")

    assert get_queue("low").count == 0
    assert get_queue("high").count == 0


def test_rqempty_no_answer_cancels(monkeypatch):
    get_queue("low").enqueue(jobs.add, 1, 2)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    output = run_command("rqempty", "low")

    assert "Cancelled" in output
    assert get_queue("low").count == 1


def test_rqempty_yes_answer_empties(monkeypatch):
    get_queue("low").enqueue(jobs.add, 1, 2)
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")

    run_command("rqempty", "low")

    assert get_queue("low").count == 0


def test_rqempty_without_queue_is_command_error():
    with pytest.raises(CommandError, match="either queue names or --all"):
        run_command("rqempty", "--noinput")


# rqdelete


def test_rqdelete_removes_failed_job():
    job = make_failed_job()

    output = run_command("rqdelete", job.id)

    assert "Deleted 1 job(s)" in output
    assert Job.exists(job.id, connection=get_queue().connection) is False
    assert get_queue().failed_job_registry.count == 0


def test_rqdelete_removes_queued_job_of_other_queue():
    job = get_queue("high").enqueue(jobs.add, 1, 2)

    run_command("rqdelete", job.id)

    assert get_queue("high").count == 0


def test_rqdelete_missing_id_is_command_error():
    job = get_queue().enqueue(jobs.add, 1, 2)

    with pytest.raises(CommandError, match="Jobs not found: missing-id"):
        run_command("rqdelete", job.id, "missing-id")
    assert Job.exists(job.id, connection=get_queue().connection) is False


# rqworker-pool


def test_rqworker_pool_burst_runs_jobs(tmp_path):
    marker = tmp_path / "pool.txt"
    for text in ("one", "two", "three"):
        get_queue("low").enqueue(jobs.write_marker, str(marker), text)

    result = subprocess.run(
        [*pool_command(), "low", "-n", "2", "--burst"],
        env=worker_env(),
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert sorted(marker.read_text().split()) == ["one", "three", "two"]


def test_rqworker_pool_replaces_stopped_worker(tmp_path, flush_redis):
    from rq import Worker

    log = tmp_path / "pool.log"
    with open(log, "w") as output:
        # In a session of its own, so the cleanup below can kill the pool's
        # forked workers too, which would otherwise outlive a killed pool and
        # take the jobs of later tests.
        pool = subprocess.Popen(
            [*pool_command(), "-n", "2"],
            env=worker_env(),
            cwd=REPO_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        queue = get_queue()
        first = wait_for(
            lambda: len(Worker.all(queue=queue)) == 2 and Worker.all(queue=queue),
            60,
            "the pool did not start 2 workers",
        )
        # SIGTERM, not SIGKILL: every pool worker forks a scheduler process,
        # which a killed worker would leave running.
        os.kill(first[0].pid, signal.SIGTERM)
        names = {worker.name for worker in first}
        wait_for(
            lambda: {worker.name for worker in Worker.all(queue=queue)} - names,
            60,
            "the pool did not replace the stopped worker",
        )
    finally:
        pool.send_signal(signal.SIGTERM)
        try:
            pool.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pool.kill()
            pool.wait(timeout=10)
        # Whatever the pool's own exit did, no worker of its session stays.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGKILL)


def test_rqworker_pool_zero_workers_is_command_error():
    with pytest.raises(CommandError, match="--num-workers 0 is less than 1"):
        run_command("rqworker-pool", "-n", "0")


def test_rqworker_pool_bad_class_is_command_error():
    with pytest.raises(CommandError, match="--worker-class 'nope.Worker' cannot"):
        run_command("rqworker-pool", "--worker-class", "nope.Worker")


def pool_command():
    return [sys.executable, "-m", "django", "rqworker-pool"]


# rqhealth


def test_rqhealth_no_worker_is_command_error():
    with pytest.raises(CommandError, match="Too few live workers on: default"):
        run_command("rqhealth", "default")


def test_rqhealth_no_worker_exits_non_zero():
    result = subprocess.run(
        [sys.executable, "-m", "django", "rqhealth", "default"],
        env=worker_env(),
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Start rqworker for these queues" in result.stderr


def test_rqhealth_live_then_gone_worker(start_worker, flush_redis):
    worker = start_worker("default", "high", "low", "--name", "health-worker")
    wait_for_worker_state(flush_redis, "health-worker", "idle")

    output = run_command("rqhealth")
    assert "default: 1 live worker(s)" in output
    assert "sync" not in output
    assert "high: 1 live worker(s)" in run_command(
        "rqhealth", "high", "--max-heartbeat-age", "60"
    )

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    with pytest.raises(CommandError, match="Too few live workers on: default"):
        run_command("rqhealth")


def test_rqhealth_min_workers_counts(start_worker, flush_redis):
    start_worker("low", "--name", "only-worker")
    wait_for_worker_state(flush_redis, "only-worker", "idle")

    with pytest.raises(CommandError, match=r"on: low \(required: 2\)"):
        run_command("rqhealth", "low", "--min-workers", "2")


def test_rqhealth_unknown_queue_is_command_error():
    with pytest.raises(CommandError, match="Unknown queue"):
        run_command("rqhealth", "nope")


# rqworker --reload


def worker_pids(connection):
    from rq import Worker

    return {worker.pid for worker in Worker.all(connection=connection)}


def test_rqworker_reload_restarts_on_change(tmp_path, flush_redis):
    module = tmp_path / "reload_target.py"
    module.write_text("VALUE = 1\n")
    (tmp_path / "reload_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\nimport reload_target  # noqa\n"
    )
    env = worker_env("reload_settings", PYTHONPATH=f"{tmp_path}:{REPO_DIR}")
    log = tmp_path / "reload.log"
    with open(log, "w") as output:
        parent = subprocess.Popen(
            [sys.executable, "-m", "django", "rqworker", "--reload"],
            env=env,
            cwd=REPO_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        (first_pid,) = wait_for(
            lambda: worker_pids(flush_redis), 20, "no worker started"
        )
        assert first_pid != parent.pid

        def touch_and_find_new_pid():
            # The watcher records modification times on its first pass, so
            # the file is touched again on every poll until a restart shows.
            stamp = module.stat().st_mtime + 1
            os.utime(module, (stamp, stamp))
            return worker_pids(flush_redis) - {first_pid}

        # Only a deadline. On a loaded 2-core machine, 30 s once ran out.
        wait_for(touch_and_find_new_pid, 60, "the worker did not restart", 0.5)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0, log.read_text()
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait(timeout=10)

    assert "Restarting the worker after a source change" in log.read_text()
    assert worker_pids(flush_redis) == set()


def child_pids(pid: int) -> list[str]:
    """Return the pids of the children of process ``pid`` (Linux only)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return children.read().split()


def test_rqworker_reload_stops_cleanly_during_start(tmp_path, flush_redis):
    env = worker_env()
    parent = subprocess.Popen(
        [sys.executable, "-m", "django", "rqworker", "--reload"],
        env=env,
        cwd=REPO_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # As soon as the child exists, the reloader forwards SIGTERM. The
        # child is still importing Django, before its worker handles
        # SIGTERM, so the forwarded signal ends it at once.
        wait_for(
            lambda: child_pids(parent.pid), 20, "the reloader started no child", 0.01
        )
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait(timeout=10)
    assert worker_pids(flush_redis) == set()


def session_pids(session_id: int) -> list[int]:
    """Return the pids of the live processes in session ``session_id`` (Linux only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, parent pid, process group, session.
        if int(fields[3]) == session_id and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.2, 0.4, 0.6])
def test_rqworker_reload_leaves_no_child_after_early_stop(delay):
    """A SIGTERM at any moment of the reloader's start leaves no process behind."""
    parent = subprocess.Popen(
        [sys.executable, "-m", "django", "rqworker", "--reload"],
        env=worker_env(),
        cwd=REPO_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(delay)
        parent.send_signal(signal.SIGTERM)
        exit_code = parent.wait(timeout=30)
        # Before the reloader handles SIGTERM, the signal ends it at once.
        assert exit_code in (0, -signal.SIGTERM)
        wait_for(lambda: not session_pids(parent.pid), 30, "a reloader child lives on")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.wait(timeout=10)


# rqworker --sentry-dsn


class EnvelopeCollector(BaseHTTPRequestHandler):
    """Store each POST body, decompressed, with its path in ``server.received``."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "br":
            import brotli

            body = brotli.decompress(body)
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format, *args):
        pass


@pytest.fixture
def sentry_server():
    pytest.importorskip("sentry_sdk")
    server = ThreadingHTTPServer(("127.0.0.1", 0), EnvelopeCollector)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sentry_dsn(server, project):
    return f"http://publickey@127.0.0.1:{server.server_address[1]}/{project}"


def received_with(server, text):
    return [path for path, body in server.received if text.encode() in body]


def test_rqworker_sentry_dsn_reports_failure(sentry_server):
    get_queue().enqueue(jobs.fail, "sentry-check")

    result = run_worker("--burst", "--sentry-dsn", sentry_dsn(sentry_server, 1))

    assert result.returncode == 0, result.stderr
    paths = wait_for(
        lambda: received_with(sentry_server, "sentry-check"),
        10,
        "Sentry received no event",
    )
    assert paths[0] == "/api/1/envelope/"


def test_rqworker_sentry_dsn_keeps_existing_setup(sentry_server, tmp_path):
    (tmp_path / "sentry_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "import sentry_sdk\n"
        "from sentry_sdk.integrations.rq import RqIntegration\n"
        f"sentry_sdk.init(dsn={sentry_dsn(sentry_server, 1)!r}, "
        "integrations=[RqIntegration()])\n"
    )
    get_queue().enqueue(jobs.fail, "sentry-existing")

    result = run_worker(
        "--burst",
        "--sentry-dsn",
        sentry_dsn(sentry_server, 2),
        settings="sentry_settings",
        PYTHONPATH=f"{tmp_path}:{REPO_DIR}",
    )

    assert result.returncode == 0, result.stderr
    assert "Sentry is already initialised" in result.stderr
    paths = wait_for(
        lambda: received_with(sentry_server, "sentry-existing"),
        10,
        "Sentry received no event",
    )
    assert set(paths) == {"/api/1/envelope/"}


def test_rqworker_sentry_dsn_invalid_is_command_error():
    pytest.importorskip("sentry_sdk")

    result = run_worker("--burst", "--sentry-dsn", "not-a-dsn")

    assert result.returncode == 1
    assert "--sentry-dsn is invalid" in result.stderr


def test_rqworker_pool_sentry_dsn_reports_failure(sentry_server):
    get_queue().enqueue(jobs.fail, "sentry-pool")

    result = subprocess.run(
        [*pool_command(), "-n", "1", "--burst"]
        + ["--sentry-dsn", sentry_dsn(sentry_server, 3)],
        env=worker_env(),
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    paths = wait_for(
        lambda: received_with(sentry_server, "sentry-pool"),
        10,
        "Sentry received no event",
    )
    assert paths[0] == "/api/3/envelope/"


def test_rqhealth_unreachable_redis_is_command_error(settings):
    from tests.redis_server import free_port

    settings.RQ_QUEUES = {"down": {"URL": f"redis://127.0.0.1:{free_port()}/0"}}

    with pytest.raises(CommandError, match="Failed to read the workers of 'down'") as (
        caught
    ):
        run_command("rqhealth")
    assert ".." not in str(caught.value)


@pytest.mark.parametrize("age", ["0", "-5"])
def test_rqhealth_heartbeat_age_below_one_is_command_error(age):
    with pytest.raises(CommandError) as caught:
        run_command("rqhealth", "--max-heartbeat-age", age)
    assert str(caught.value).startswith(f"--max-heartbeat-age {age} is less than 1.")
