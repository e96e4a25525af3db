"""SIGHUP and parent death with real rqworker processes.

SIGHUP, which a closed terminal sends, stops a worker as SIGTERM does,
unless the worker started under ``nohup``. With ``--processes N``, the
worker processes stop when their parent dies, even by SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rq
from rq import Worker
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from django_rq_lite.fastworker.worker import supports_installed_rq
from tests.commands.worker_process import (
    REPO_DIR,
    WorkerProcess,
    find_worker,
    process_exists,
    wait_for,
    wait_for_worker_state,
    wait_until_finished,
    wait_until_started,
    worker_command,
    worker_env,
)
from tests.testapp import jobs

pytestmark = pytest.mark.slow

FAST_WORKER_MARKS = pytest.mark.skipif(
    not supports_installed_rq(),
    reason=f"FastWorker needs RQ 3 or newer; RQ {rq.__version__} is installed.",
)
WORKER_CLASSES = [
    pytest.param(
        "django_rq_lite.fastworker.FastWorker", id="fast", marks=FAST_WORKER_MARKS
    ),
    pytest.param("rq.Worker", id="forking"),
    pytest.param("rq.SimpleWorker", id="simple"),
]
# The worker classes that run jobs in a work-horse process.
HORSE_WORKER_CLASSES = WORKER_CLASSES[:2]


def sighup_disposition():
    """Return the SIGHUP disposition of the process that runs this job."""
    disposition = signal.getsignal(signal.SIGHUP)
    if disposition in (signal.SIG_DFL, signal.SIG_IGN):
        return disposition.name
    return f"handler {disposition!r}"


class NohupWorkerProcess(WorkerProcess):
    """An ``rqworker`` subprocess started under ``nohup``, so SIGHUP is ignored."""

    def __init__(self, *args: str, output_path: Path) -> None:
        self.output_path = output_path
        with open(output_path, "w") as output:
            self.process = subprocess.Popen(
                ["nohup", *worker_command(*args)],
                env=worker_env(),
                cwd=REPO_DIR,
                stdout=output,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture
def start_worker(tmp_path):
    """Return a function that starts a worker, under nohup with ``nohup=True``."""
    started = []

    def start(*args: str, nohup: bool = False) -> WorkerProcess:
        output_path = tmp_path / f"worker-{len(started)}.log"
        process_class = NohupWorkerProcess if nohup else WorkerProcess
        worker = process_class(*args, output_path=output_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def kill_leftover_workers(flush_redis):
    """Kill, at teardown, every worker process still registered in Redis."""
    yield
    for worker in Worker.all(connection=flush_redis):
        kill_if_running(worker.pid)


def kill_if_running(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# One worker process.


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_sighup_stops_idle_worker(start_worker, flush_redis, worker_class):
    worker = start_worker("--name", "hup-idle", "--worker-class", worker_class)
    wait_for_worker_state(flush_redis, "hup-idle", "idle")

    worker.send_signal(signal.SIGHUP)
    returncode = worker.wait(timeout=10)

    assert returncode == 0, worker.output()
    assert find_worker(flush_redis, "hup-idle") is None
    assert "warm shut down requested" in worker.output()


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_sighup_during_job_finishes_it(start_worker, flush_redis, worker_class):
    queue = get_queue()
    running = queue.enqueue(jobs.sleep_then_return, 2, "slept")
    waiting = queue.enqueue(jobs.add, 1, 2)
    worker = start_worker("--name", "hup-busy", "--worker-class", worker_class)
    wait_until_started(running)

    worker.send_signal(signal.SIGHUP)
    returncode = worker.wait(timeout=15)

    assert returncode == 0, worker.output()
    assert running.get_status() == JobStatus.FINISHED
    assert running.return_value() == "slept"
    assert waiting.get_status() == JobStatus.QUEUED
    assert find_worker(flush_redis, "hup-busy") is None


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_second_sighup_kills_job(start_worker, worker_class):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_worker("--worker-class", worker_class)
    wait_until_started(job)

    worker.send_signal(signal.SIGHUP)
    # RQ ignores a second signal that comes within a second of the first.
    time.sleep(1.5)
    worker.send_signal(signal.SIGHUP)
    worker.wait(timeout=10)

    assert job.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert "received SIGHUP twice" in job.latest_result().exc_string


def test_sighup_then_sigterm_names_both(start_worker):
    queue = get_queue()
    job = queue.enqueue(jobs.sleep_then_return, 30)
    worker = start_worker("--worker-class", "rq.Worker")
    wait_until_started(job)

    worker.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert job.get_status() == JobStatus.FAILED
    assert "received SIGHUP, then SIGTERM" in job.latest_result().exc_string


@pytest.mark.parametrize("worker_class", HORSE_WORKER_CLASSES)
def test_work_horse_has_default_sighup(start_worker, worker_class):
    job = get_queue().enqueue(sighup_disposition)
    worker = start_worker("--worker-class", worker_class)
    wait_until_finished(job)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)

    assert job.return_value() == "SIG_DFL"


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_nohup_worker_ignores_sighup(start_worker, flush_redis, worker_class):
    queue = get_queue()
    running = queue.enqueue(jobs.sleep_then_return, 2, "slept")
    worker = start_worker(
        "--name", "hup-ignored", "--worker-class", worker_class, nohup=True
    )
    wait_until_started(running)

    worker.send_signal(signal.SIGHUP)
    wait_until_finished(running)
    after = queue.enqueue(sighup_disposition)
    wait_until_finished(after)

    assert worker.process.poll() is None, worker.output()
    assert after.return_value() == "SIG_IGN"
    assert find_worker(flush_redis, "hup-ignored") is not None
    assert "warm shut down requested" not in worker.output()


# Several worker processes: rqworker --processes N.


def test_processes_stop_on_sighup(start_worker, flush_redis, kill_leftover_workers):
    worker = start_worker("--processes", "2", "--name", "hup-pool")
    wait_for_worker_state(flush_redis, "hup-pool-1", "idle")
    wait_for_worker_state(flush_redis, "hup-pool-2", "idle")
    running = get_queue().enqueue(jobs.sleep_then_return, 2, "slept")
    wait_until_started(running)

    worker.send_signal(signal.SIGHUP)
    returncode = worker.wait(timeout=15)

    assert returncode == 0, worker.output()
    assert running.get_status() == JobStatus.FINISHED
    assert Worker.all(connection=flush_redis) == []


def test_nohup_processes_ignore_sighup(
    start_worker, flush_redis, kill_leftover_workers
):
    worker = start_worker("--processes", "2", "--name", "hup-nohup", nohup=True)
    wait_for_worker_state(flush_redis, "hup-nohup-1", "idle")
    wait_for_worker_state(flush_redis, "hup-nohup-2", "idle")

    worker.send_signal(signal.SIGHUP)
    for pid in [process.pid for process in Worker.all(connection=flush_redis)]:
        os.kill(pid, signal.SIGHUP)
    job = get_queue().enqueue(jobs.add, 2, 3)
    wait_until_finished(job)

    assert worker.process.poll() is None, worker.output()
    assert find_worker(flush_redis, "hup-nohup-1") is not None
    assert find_worker(flush_redis, "hup-nohup-2") is not None


def test_processes_stop_when_parent_killed(
    start_worker, flush_redis, kill_leftover_workers
):
    queue = get_queue()
    worker = start_worker("--processes", "2", "--name", "orphan")
    first = wait_for_worker_state(flush_redis, "orphan-1", "idle")
    second = wait_for_worker_state(flush_redis, "orphan-2", "idle")
    running = queue.enqueue(jobs.sleep_then_return, 2, "slept")
    wait_until_started(running)

    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    for pid in (first.pid, second.pid):
        wait_for(lambda: not process_exists(pid), 15, f"worker {pid} still runs")
    after = queue.enqueue(jobs.add, 1, 1)
    time.sleep(1)

    assert running.get_status() == JobStatus.FINISHED, worker.output()
    assert Worker.all(connection=flush_redis) == []
    assert after.get_status() == JobStatus.QUEUED


# The parent watch, which replaces PR_SET_PDEATHSIG where Linux is missing.

PARENT_WATCH_SCRIPT = """
import os, signal, sys, time
from django_rq_lite.fastworker.pool import {function}

marker = sys.argv[1]
parent_pid = os.getpid()
child_pid = os.fork()
if child_pid == 0:
    def record(signum, frame):
        with open(marker, "w") as output:
            output.write(signal.Signals(signum).name)
        os._exit(0)

    signal.signal(signal.SIGTERM, record)
    {call}
    with open(marker + ".ready", "w") as output:
        output.write(str(os.getpid()))
    time.sleep(30)
    os._exit(1)
time.sleep(30)
"""


@pytest.mark.parametrize(
    ("function", "call"),
    [
        ("watch_parent", "watch_parent(parent_pid)"),
        ("stop_with_parent", "stop_with_parent(parent_pid)"),
    ],
    ids=["watch_parent", "stop_with_parent"],
)
def test_parent_exit_sends_sigterm(tmp_path, function, call):
    marker = tmp_path / "signal"
    ready = tmp_path / "signal.ready"
    script = PARENT_WATCH_SCRIPT.format(function=function, call=call)
    parent = subprocess.Popen([sys.executable, "-c", script, str(marker)], cwd=REPO_DIR)
    try:
        wait_for(ready.exists, 15, "the child did not start its watch")
        child_pid = int(ready.read_text())
        parent.kill()
        parent.wait(timeout=10)
        wait_for(marker.exists, 5, "the child received no signal")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if ready.exists():
            kill_if_running(int(ready.read_text()))

    assert marker.read_text() == "SIGTERM"
    wait_for(lambda: not process_exists(child_pid), 5, "the child still runs")


def test_stop_with_parent_detects_exited_parent(tmp_path):
    result_path = tmp_path / "result"
    script = f"""
import os, time
from django_rq_lite.fastworker.pool import stop_with_parent

parent_pid = os.getpid()
if os.fork() == 0:
    while os.getppid() == parent_pid:
        time.sleep(0.01)
    parent_alive = stop_with_parent(parent_pid)
    with open({str(result_path)!r}, "w") as output:
        output.write(repr(parent_alive))
    os._exit(0)
"""
    subprocess.run([sys.executable, "-c", script], cwd=REPO_DIR, timeout=30, check=True)

    wait_for(result_path.exists, 10, "the child wrote no result")
    assert result_path.read_text() == "False"
