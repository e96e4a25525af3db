"""Worker processes and waits shared by the reliability tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rq

from django_rq_lite.fastworker.worker import supports_installed_rq

REPO_DIR = Path(__file__).resolve().parents[2]
FORKING_WORKER = "rq.worker.Worker"
SIMPLE_WORKER = "rq.worker.SimpleWorker"
FAST_WORKER = "django_rq_lite.fastworker.FastWorker"

FAST_WORKER_MARKS = pytest.mark.skipif(
    not supports_installed_rq(),
    reason=f"FastWorker needs RQ 3 or newer; RQ {rq.__version__} is installed.",
)
# The worker classes that each parametrized test runs against, by test id.
WORKER_CLASSES = [
    pytest.param(FORKING_WORKER, id="forking"),
    pytest.param(SIMPLE_WORKER, id="simple"),
    pytest.param(FAST_WORKER, id="fast", marks=FAST_WORKER_MARKS),
]


class WorkerProcesses:
    """``rqworker`` processes of one test, each in its own process group.

    A process group lets a test kill a forking worker together with its
    work-horse, as the kernel's out-of-memory killer or a container stop does.
    """

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str, worker_class: str = FORKING_WORKER) -> subprocess.Popen:
        """Start ``rqworker`` with ``args`` and the dotted path ``worker_class``."""
        command = [sys.executable, "-m", "django", "rqworker", *args]
        command += ["--worker-class", worker_class]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "REDIS_URL": self.url,
        }
        log_path = self.log_dir / f"worker-{len(self.processes)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log_path = log_path
        self.processes.append(process)
        return process

    def run_burst(
        self, *args: str, worker_class: str = FORKING_WORKER, timeout: float = 60
    ):
        """Run a burst worker until the queues are empty; return its exit code."""
        process = self.start("--burst", *args, worker_class=worker_class)
        return process.wait(timeout=timeout)

    def stop(self, process: subprocess.Popen, timeout: float = 15) -> int:
        """Send SIGTERM (a warm shutdown) and wait for the worker to exit."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def kill_group(self, process: subprocess.Popen) -> None:
        """Send SIGKILL to the worker and its work-horse."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_for(predicate, timeout: float, message: str, interval: float = 0.05):
    """Call ``predicate`` until it returns a true value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s: {message}")
        time.sleep(interval)


def worker_log(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text(errors="replace")
