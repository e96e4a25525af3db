"""Fixtures for the fast worker tests."""

import pytest
import rq

from django_rq_lite.fastworker.worker import supports_installed_rq
from tests.commands.worker_process import WorkerProcess, run_worker

FAST_WORKER = ("--worker-class", "django_rq_lite.fastworker.FastWorker")


@pytest.fixture(autouse=True)
def require_rq_3():
    if not supports_installed_rq():
        pytest.skip(
            f"FastWorker needs RQ 3 or newer; RQ {rq.__version__} is installed."
        )


@pytest.fixture
def start_fast_worker(tmp_path):
    """Return a function that starts a fast rqworker, killed at teardown."""
    started = []

    def start(*args: str) -> WorkerProcess:
        output_path = tmp_path / f"fast-worker-{len(started)}.log"
        worker = WorkerProcess(*FAST_WORKER, *args, output_path=output_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def run_fast_worker():
    """Return a function that runs a burst fast rqworker to its end."""

    def run(*args: str, timeout: float = 60):
        return run_worker(*FAST_WORKER, "--burst", *args, timeout=timeout)

    return run
