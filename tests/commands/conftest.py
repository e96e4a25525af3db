"""Fixtures for the rqworker command tests."""

import pytest

from tests.commands.worker_process import WorkerProcess


@pytest.fixture
def start_worker(tmp_path):
    """Return a function that starts a worker subprocess, killed at teardown."""
    started = []

    def start(*args: str, **kwargs) -> WorkerProcess:
        output_path = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(*args, output_path=output_path, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
