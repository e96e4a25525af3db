"""Start ``rqworker`` subprocesses and wait for them with deadlines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Worker
from rq.job import JobStatus

REPO_DIR = Path(__file__).resolve().parent.parent.parent


def worker_env(settings: str = "tests.settings", **extra: str) -> dict[str, str]:
    """Return the environment of a worker subprocess.

    ``REDIS_URL`` and ``RQ_LITE_TEST_DB`` come from this process, so the
    worker uses the session's Redis server and test database.
    """
    return {**os.environ, "DJANGO_SETTINGS_MODULE": settings, **extra}


def worker_command(*args: str, command: str = "rqworker") -> list[str]:
    return [sys.executable, "-m", "django", command, *args]


def run_worker(
    *args: str,
    timeout: float = 60,
    settings: str = "tests.settings",
    command: str = "rqworker",
    **env: str,
) -> subprocess.CompletedProcess:
    """Run ``command`` (``rqworker`` by default) to its end and return its output."""
    return subprocess.run(
        worker_command(*args, command=command),
        env=worker_env(settings, **env),
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(condition, timeout: float, message: str, interval: float = 0.05):
    """Poll ``condition()`` until it returns a true value, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout} s: {message}")


def find_worker(connection: redis.Redis, name: str) -> Worker | None:
    for worker in Worker.all(connection=connection):
        if worker.name == name:
            return worker
    return None


def wait_for_worker_state(
    connection: redis.Redis, name: str, state: str, timeout: float = 10
) -> Worker:
    """Wait until worker ``name`` is registered in Redis with ``state``.

    A worker installs its signal handlers before it first reports
    ``idle``, so from then on SIGTERM and SIGINT reach them.
    """

    def registered_in_state():
        worker = find_worker(connection, name)
        return worker if worker and worker.get_state() == state else None

    return wait_for(registered_in_state, timeout, f"worker {name} is not {state}")


class WorkerProcess:
    """An ``rqworker`` subprocess whose output goes to a file."""

    def __init__(
        self,
        *args: str,
        output_path: Path,
        settings: str = "tests.settings",
        **env: str,
    ) -> None:
        self.output_path = output_path
        with open(output_path, "w") as output:
            self.process = subprocess.Popen(
                worker_command(*args),
                env=worker_env(settings, **env),
                cwd=REPO_DIR,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Return the exit code, or fail the test if it runs past ``timeout``."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Worker still running after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.output_path.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def wait_until_started(job, timeout: float = 15) -> None:
    """Wait until ``job`` is started, or fail the test."""
    wait_for(
        lambda: job.get_status() == JobStatus.STARTED,
        timeout,
        f"job {job.id} did not start",
    )


def wait_until_finished(job, timeout: float = 15) -> None:
    """Wait until ``job`` is finished, or fail the test."""
    wait_for(
        lambda: job.get_status() == JobStatus.FINISHED,
        timeout,
        f"job {job.id} did not finish",
    )


def process_exists(pid: int) -> bool:
    """Return whether ``pid`` runs. A zombie waiting to be reaped has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
