"""Compare the CPU per ORM job of FastWorker's processes and Celery's prefork pool.

Usage: ``.venv/bin/python benchmarks/orm_cpu_probe.py [--jobs N] [--repeat N]``.

``benchmarks/run.py`` measures how many ORM insert jobs each product runs
per second. This probe measures where the time goes, process by process. It
uses run.py's environments under ``benchmarks/.envs`` (built on first use),
one private Redis server, the same job, database set-up and worker
commands as run.py's "orm" step: ``rqworker`` with ``FastWorker``, and
Celery's prefork pool with concurrency 1.

For each repetition, each product in turn drains ``--jobs`` queued jobs.
Once 50 of them are done, the probe reads each worker process's time on a
CPU and its time ready to run while waiting for a CPU. Both come from
Linux's ``/proc/PID/task/TID/schedstat``, summed over the process's
threads. The probe reads them again when every job is done. It prints,
per job, the medians over the repetitions for the process that runs the
jobs (FastWorker's horse, Celery's pool process), its parent (FastWorker's
worker process, Celery's main process), and the Redis server's CPU from
``INFO cpu``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
from contextlib import closing
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR / "peers"))

from counter import DONE_KEY  # noqa: E402
from harness.drain import ORM_TABLE, database_environ  # noqa: E402
from harness.envs import build_products  # noqa: E402
from harness.processes import (  # noqa: E402
    BenchmarkError,
    run_probe,
    start_worker,
    terminate,
    wait_for_count,
)
from harness.server import RedisServer  # noqa: E402

PRODUCT_KEYS = ("lite", "celery")
# Jobs done before the first reading, so that start-up is not counted.
WARM_UP_JOBS = 50
ROWS = [
    ("jobs/s", "jobs_per_second", 1),
    ("CPU of the process that runs the jobs", "runner_cpu", 1000),
    ("its wait for a CPU while ready to run", "runner_wait", 1000),
    ("CPU of its parent process", "parent_cpu", 1000),
    ("the parent's wait for a CPU", "parent_wait", 1000),
    ("CPU of the Redis server", "redis_cpu", 1000),
]


def scheduler_seconds(pid: int) -> tuple[float, float]:
    """Return a process's seconds on a CPU and waiting for one, all threads summed."""
    on_cpu = waiting = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            # The thread exited after the directory was listed.
            continue
        on_cpu += int(fields[0])
        waiting += int(fields[1])
    return on_cpu / 1e9, waiting / 1e9


def children(pid: int) -> list[int]:
    """Return the ids of a process's children, from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.extend(
                int(child) for child in (task / "children").read_text().split()
            )
        except OSError:
            continue
    return found


def redis_cpu_seconds(client) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def drain(server, product, jobs: int, database: Path) -> dict[str, float]:
    """Drain ``jobs`` ORM jobs with the product's worker and return figures per job."""
    environ = database_environ(database)
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(f"DELETE FROM {ORM_TABLE}")
    server.flush()
    run_probe(product, server.url, "bulk_orm", jobs, environ=environ)
    process = start_worker(product, server.url, "orm", environ)
    client = server.client
    try:
        timeout = 60 + jobs / 10
        wait_for_count(client, DONE_KEY, WARM_UP_JOBS, process, timeout)
        runners = children(process.pid)
        if len(runners) != 1:
            raise BenchmarkError(
                f"{product.label}: expected one process that runs jobs under "
                f"worker {process.pid}, found {runners}."
            )
        (runner,) = runners
        parent_before = scheduler_seconds(process.pid)
        runner_before = scheduler_seconds(runner)
        redis_before = redis_cpu_seconds(client)
        done_before = int(client.get(DONE_KEY))
        first = wait_for_count(client, DONE_KEY, done_before + 1, process, timeout)
        last = wait_for_count(client, DONE_KEY, jobs, process, timeout)
        parent_after = scheduler_seconds(process.pid)
        runner_after = scheduler_seconds(runner)
        redis_after = redis_cpu_seconds(client)
        if children(process.pid) != [runner]:
            raise BenchmarkError(
                f"{product.label}: the process that runs jobs changed during "
                "the measurement; run the probe again."
            )
    finally:
        terminate(process)
    count = jobs - done_before
    return {
        "jobs_per_second": (count - 1) / (last - first),
        "runner_cpu": (runner_after[0] - runner_before[0]) / count,
        "runner_wait": (runner_after[1] - runner_before[1]) / count,
        "parent_cpu": (parent_after[0] - parent_before[0]) / count,
        "parent_wait": (parent_after[1] - parent_before[1]) / count,
        "redis_cpu": (redis_after - redis_before) / count,
    }


def print_table(products, samples: dict[str, list[dict]]) -> None:
    print(
        f"{len(samples[PRODUCT_KEYS[0]])} repetitions, load average "
        + ", ".join(f"{value:.2f}" for value in os.getloadavg())
    )
    print()
    labels = " | ".join(products[key].label for key in PRODUCT_KEYS)
    print(f"| per job (medians; ms, apart from jobs/s) | {labels} |")
    print("|---|" + "---:|" * len(PRODUCT_KEYS))
    for label, name, scale in ROWS:
        values = []
        for key in PRODUCT_KEYS:
            median = statistics.median(sample[name] for sample in samples[key])
            values.append(
                f"{median * scale:.0f}" if scale == 1 else f"{median * scale:.3f}"
            )
        print(f"| {label} | " + " | ".join(values) + " |")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", type=int, default=4000, help="Jobs per drain (default: 4000)."
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="Drains per product (default: 5)."
    )
    args = parser.parse_args(argv)
    if args.jobs < WARM_UP_JOBS + 100:
        parser.error(
            f"--jobs {args.jobs} is too small: give at least {WARM_UP_JOBS + 100}."
        )
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat} is invalid: give at least 1.")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if (
        not Path("/proc/self/task").is_dir()
        or not Path("/proc/self/schedstat").exists()
    ):
        sys.exit("This probe reads /proc/PID/task/TID/schedstat, which needs Linux.")
    products = build_products(print)
    server = RedisServer()
    server.start()
    try:
        directory = Path(server.directory.name)
        databases = {key: directory / f"orm-{key}.sqlite3" for key in PRODUCT_KEYS}
        for key in PRODUCT_KEYS:
            run_probe(
                products[key],
                server.url,
                "migrate",
                environ=database_environ(databases[key]),
            )
        samples: dict[str, list[dict]] = {key: [] for key in PRODUCT_KEYS}
        for round_number in range(args.repeat):
            # Alternate which product goes first, as run.py does.
            shift = round_number % len(PRODUCT_KEYS)
            for key in PRODUCT_KEYS[shift:] + PRODUCT_KEYS[:shift]:
                samples[key].append(
                    drain(server, products[key], args.jobs, databases[key])
                )
            print(f"round {round_number + 1}/{args.repeat}", flush=True)
        print_table(products, samples)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
