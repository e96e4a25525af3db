"""Measure no-op job throughput and Redis round trips per job for three workers.

Usage: ``.venv/bin/python benchmarks/fastworker_probe.py [--jobs N]
[--forking-jobs N] [--repeat N]``.

The probe starts a private redis-server on a free loopback port, enqueues
no-op jobs in bulk, and drains them with one burst worker in this process.
The workers are RQ's forking ``Worker``, RQ's ``SimpleWorker`` and
``FastWorker``, each built by ``django_rq_lite.get_worker`` (so with the
Django mixin). For each
run it prints jobs per second, Redis commands per job (the sum of
``calls`` in ``INFO commandstats`` before and after the run, less the
probe's own ``INFO``) and round trips per job (calls of redis-py's
``send_packed_command``, counted in shared memory so that forked horses
count too; a pipeline is one round trip). The load average is printed,
because other processes on the machine slow every figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))

WORKER_CLASSES = {
    "RQ Worker (fork per job)": "rq.Worker",
    "RQ SimpleWorker (no fork)": "rq.SimpleWorker",
    "FastWorker (reused horse)": "django_rq_lite.fastworker.FastWorker",
}

ROUND_TRIPS = multiprocessing.Value("q", 0)

# Jobs name the function by this module's import path, because a worker
# cannot import functions of the __main__ script.
NOOP = "benchmarks.fastworker_probe.noop"


def noop():
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(directory: str) -> tuple[subprocess.Popen, int]:
    from django_rq_lite.embedded import find_server_binary

    port = free_port()
    command = [
        find_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", directory,
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"redis-server on port {port} did not start in 10 s"
                ) from None
            time.sleep(0.05)


def configure_django(url: str, directory: str, apps: tuple[str, ...] = ()) -> None:
    """Configure Django with ``apps`` and django_rq_lite on a SQLite file."""
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=[*apps, "django_rq_lite"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(directory, "probe.sqlite3"),
            }
        },
        RQ_QUEUES={"default": {"URL": url}},
        USE_TZ=True,
    )
    import django

    django.setup()


def count_round_trips() -> None:
    """Count every send of redis-py's connections, in this process and forks."""
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command

    def send_packed_command(self, command, check_health=True):
        with ROUND_TRIPS.get_lock():
            ROUND_TRIPS.value += 1
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = send_packed_command


def command_calls(client) -> int:
    stats = client.info("commandstats")
    return sum(entry["calls"] for entry in stats.values())


def measure(label: str, worker_class: str, jobs: int, client) -> dict:
    from django_rq_lite import get_queue, get_worker

    client.flushdb()
    queue = get_queue("default")
    queue.enqueue_many([queue.prepare_data(NOOP) for _ in range(jobs)])
    worker = get_worker("default", worker_class=worker_class)

    calls_before = command_calls(client)
    with ROUND_TRIPS.get_lock():
        ROUND_TRIPS.value = 0
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    round_trips = ROUND_TRIPS.value
    # Less one: the INFO that reads the counters after the run.
    calls = command_calls(client) - calls_before - 1
    left = queue.count
    if left:
        raise RuntimeError(f"{label}: {left} jobs still queued after the run")
    return {
        "label": label,
        "jobs": jobs,
        "seconds": elapsed,
        "jobs_per_second": jobs / elapsed,
        "commands_per_job": calls / jobs,
        "round_trips_per_job": round_trips / jobs,
    }


def print_table(rows: list[dict], loads: list[tuple]) -> None:
    import redis
    import rq

    print(
        f"Python {platform.python_version()}, RQ {rq.__version__}, "
        f"redis-py {redis.__version__}, {os.cpu_count()} CPUs"
    )
    print("Load average (1, 5, 15 min) before each run: " + "; ".join(
        ", ".join(f"{value:.2f}" for value in load) for load in loads
    ))  # fmt: skip
    print()
    print("| worker | jobs | jobs/s | commands/job | round trips/job |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['label']} | {row['jobs']} | {row['jobs_per_second']:.0f} | "
            f"{row['commands_per_job']:.1f} | {row['round_trips_per_job']:.1f} |"
        )


def positive_count(text: str) -> int:
    """Parse a command-line count that must be at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}: give a whole number of at least 1"
        )
    return count


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs",
        type=positive_count,
        default=2000,
        help="No-op jobs per run (default: 2000).",
    )
    parser.add_argument(
        "--forking-jobs",
        type=positive_count,
        default=300,
        help="No-op jobs per run of RQ's forking Worker, which is slow (default: 300).",
    )
    parser.add_argument(
        "--repeat",
        type=positive_count,
        default=1,
        help="Runs per worker (default: 1).",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    directory = tempfile.mkdtemp(prefix="fastworker-probe-")
    server, port = start_redis(directory)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        configure_django(url, directory)
        count_round_trips()
        # Import the job's module once here, so forked horses inherit it.
        import_module("benchmarks.fastworker_probe")
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        rows, loads = [], []
        for _ in range(args.repeat):
            for label, worker_class in WORKER_CLASSES.items():
                jobs = args.forking_jobs if worker_class == "rq.Worker" else args.jobs
                loads.append(os.getloadavg())
                rows.append(measure(label, worker_class, jobs, client))
        print_table(rows, loads)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
