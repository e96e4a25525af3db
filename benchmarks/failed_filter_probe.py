"""Time the failed-jobs page, unfiltered and filtered, at many failed jobs.

Usage: ``.venv/bin/python benchmarks/failed_filter_probe.py [--jobs N]
[--repeat N]``.

The probe starts a private redis-server on a free loopback port and writes
``--jobs`` failed jobs (default 100,000) straight into the failed registry
of queue "default", each with a failure result, spread over four functions
and four exception classes. It then times a full build of the failed-job
index from the registry, which is what the dashboard does for failures from
before the index existed. Last it times the failed-jobs page through
Django's test client as a superuser: unfiltered, by exception class, by
function, and by both. Each
page is requested ``--repeat`` times (default 5), in rounds, after one
warm-up request,
and the median and maximum are printed with the load average, because other
processes on the machine slow every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))
sys.path.insert(0, str(REPO_DIR / "benchmarks"))

# (function, exception line) pairs, cycled over the jobs.
FAILURES = [
    ("tests.testapp.jobs.fail", "ValueError: boom"),
    ("tests.testapp.jobs.fail_with_key_error", "KeyError: 'missing'"),
    ("tests.testapp.jobs.add", "TypeError: unsupported operand"),
    (
        "tests.testapp.jobs.fail_with_payment_declined",
        "tests.testapp.jobs.PaymentDeclined: card expired",
    ),
]
FILL_BATCH_SIZE = 1000
PAGE_URL = "/admin/django_rq_lite/queue/default/failed/"
QUERIES = {
    "unfiltered": "",
    "by exception class": "?exc_class=KeyError",
    "by class, short name": "?exc_class=PaymentDeclined",
    "by function": "?func=tests.testapp.jobs.fail",
    "by class and function": "?exc_class=ValueError&func=tests.testapp.jobs.fail",
}


def configure_django(url: str, directory: str) -> None:
    os.environ["REDIS_URL"] = url
    os.environ["RQ_LITE_TEST_DB"] = os.path.join(directory, "probe.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    # The test client records template contexts only in a test environment.
    setup_test_environment()

    call_command("migrate", verbosity=0)


def fill(count: int) -> None:
    """Write ``count`` failed jobs, as a worker would leave them."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry
    from rq.results import Result

    from django_rq_lite.queues import get_queue

    queue = get_queue("default")
    registry = FailedJobRegistry(queue=queue)
    for start in range(0, count, FILL_BATCH_SIZE):
        with queue.connection.pipeline(transaction=False) as pipeline:
            for number in range(start, min(start + FILL_BATCH_SIZE, count)):
                func, exception = FAILURES[number % len(FAILURES)]
                job = Job.create(
                    func, args=(number,), connection=queue.connection, origin="default"
                )
                job._status = "failed"
                trace = f"Traceback (most recent call last):\n  ...\n{exception}\n"
                registry.add(job, ttl=86400, exc_string=trace, pipeline=pipeline)
                Result.create_failure(job, 86400, exc_string=trace, pipeline=pipeline)
            pipeline.execute()


def time_pages(repeat: int) -> dict[str, list[float]]:
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("probe", "probe@example.com", "probe")
    client = Client()
    client.force_login(user)
    timings = {label: [] for label in QUERIES}
    for label, query in QUERIES.items():
        count = client.get(PAGE_URL + query).context["page"].paginator.count
        print(f"{label}: {count:,} jobs listed")
    # Rounds take each page in turn, so a burst of load on the machine
    # slows every page alike.
    for _ in range(repeat):
        for label, query in QUERIES.items():
            started = time.perf_counter()
            response = client.get(PAGE_URL + query)
            timings[label].append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{label}: HTTP {response.status_code}")
    return timings


def time_full_comparison() -> None:
    """Time the ZDIFF comparison that a sync runs once a minute when in line."""
    from django_rq_lite.dashboard.index import IndexKeys, sync_index
    from django_rq_lite.queues import get_queue

    queue = get_queue("default")
    queue.connection.delete(IndexKeys("default").key("synced-at"))
    started = time.perf_counter()
    sync_index(queue)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"compared the registry with the index in {elapsed:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="failed jobs")
    parser.add_argument("--repeat", type=int, default=5, help="requests per page")
    options = parser.parse_args()

    from fastworker_probe import start_redis

    with tempfile.TemporaryDirectory() as directory:
        process, port = start_redis(directory)
        try:
            configure_django(f"redis://127.0.0.1:{port}/0", directory)
            run(options)
        finally:
            process.terminate()
            process.wait(timeout=10)


def run(options: argparse.Namespace) -> None:
    from django_rq_lite.dashboard.index import sync_index
    from django_rq_lite.queues import get_queue

    started = time.perf_counter()
    fill(options.jobs)
    print(
        f"filled {options.jobs:,} failed jobs in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    state = sync_index(get_queue("default"))
    print(
        f"built the index of {state.indexed:,} jobs in "
        f"{time.perf_counter() - started:.1f} s"
    )

    time_full_comparison()
    timings = time_pages(options.repeat)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"{'page':24} {'median ms':>10} {'max ms':>8}")
    for label, seconds in timings.items():
        median = statistics.median(seconds) * 1000
        print(f"{label:24} {median:10.1f} {max(seconds) * 1000:8.1f}")


if __name__ == "__main__":
    main()
