"""Fixtures of the reliability suite: private servers, worker processes, counters.

Every test here starts its own Redis server with append-only persistence, so
it may stop, restart or fill that server without touching the session's.
Tests add to the suite's counters through ``reliability_stats``, and the
totals are printed at the end of the run.
"""

from __future__ import annotations

from collections import Counter

import pytest
import redis

from tests.redis_server import RedisServer
from tests.settings import queues_for

from .helpers import WorkerProcesses

# Totals over the run, printed by pytest_terminal_summary. Tests add to them
# through the reliability_stats fixture.
MAIN_COUNTERS = ("faults injected", "jobs run", "jobs lost", "jobs run twice")
TOTALS: Counter = Counter()


class ReliabilityStats:
    """Counters that one test adds to the suite's totals."""

    def record(self, **counts: int) -> None:
        """Add ``counts`` (faults_injected, jobs_run, jobs_lost, ...) to the totals."""
        for name, value in counts.items():
            TOTALS[name.replace("_", " ")] += value


@pytest.fixture
def reliability_stats():
    return ReliabilityStats()


def pytest_terminal_summary(terminalreporter):
    if not TOTALS:
        return
    terminalreporter.section("reliability summary")
    names = list(MAIN_COUNTERS) + sorted(set(TOTALS) - set(MAIN_COUNTERS))
    for name in names:
        terminalreporter.write_line(f"{name}: {TOTALS[name]}")


@pytest.fixture
def redis_server(request):
    """A private Redis server on a free port, with append-only persistence.

    A test module sets ``REDIS_APPENDONLY = False`` to turn persistence off
    when it restarts no server. The test helper syncs the file after every
    write, which made a worker run about 6 times fewer jobs per second.
    """
    server = RedisServer(appendonly=getattr(request.module, "REDIS_APPENDONLY", True))
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def private_queues(settings, redis_server):
    """Point ``RQ_QUEUES`` of this process at the private server."""
    settings.RQ_QUEUES = queues_for(redis_server.url)
    return settings.RQ_QUEUES


@pytest.fixture
def workers(redis_server, tmp_path):
    processes = WorkerProcesses(redis_server.url, tmp_path)
    yield processes
    processes.cleanup()
