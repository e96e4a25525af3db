"""Split FastWorker's time per job into the job's own code and the work between jobs.

Usage: ``.venv/bin/python benchmarks/horse_time_probe.py [--jobs N]``.

The probe starts a private redis-server, as ``fastworker_probe.py`` does.
It drains two kinds of job with one burst ``FastWorker``: a no-op job, and
a job that inserts one row through Django's ORM into a SQLite file. Django's
default ``CONN_MAX_AGE`` of 0 applies, so each ORM job opens a connection.
Each job writes the time its code started and ended to shared memory, by
the clock and in the horse's CPU time. The probe prints the median time of
the job's code, and the median gap between the end of one job's code and
the start of the next. That gap is the horse's part of RQ's bookkeeping,
its Redis round trip and Django's connection care. The CPU rows of both
tell how much of that time the horse computes, rather than waits for
Redis, the disk or a CPU.

It also times a few of the horse's steps per job by wrapping their
methods, as listed in STEPS. Timing adds a few microseconds to each step.
The table ends with the CPU time per job of the worker process and its
horses, from ``getrusage()``, of the Redis server, from ``INFO cpu``, and
the time per job that the horses spent ready to run while another
process had the CPU, from Linux's ``/proc/PID/schedstat``.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from importlib import import_module
from multiprocessing import RawArray, RawValue
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))

from benchmarks import fastworker_probe  # noqa: E402
from benchmarks.fastworker_probe import start_redis  # noqa: E402

MAX_JOBS = 20000
# Start and end of each job's code, from time.perf_counter(), and the
# horse's CPU time at both, from time.process_time().
STARTS = RawArray("d", MAX_JOBS)
ENDS = RawArray("d", MAX_JOBS)
CPU_STARTS = RawArray("d", MAX_JOBS)
CPU_ENDS = RawArray("d", MAX_JOBS)
# Seconds that the horses waited for a CPU while ready to run, in all.
RUN_QUEUE_SECONDS = RawValue("d", 0.0)
DONE = RawValue("l", 0)

# Horse steps to time: (label, class attribute). Totals and counts are shared.
STEPS = [
    ("job end in the horse, with the next start sent", "handle_job_success"),
    ("recording the next start's commands", "_record_start"),
    ("sending the start script (pack, send)", "_send_pipeline"),
    ("reading its reply later (wait, parse)", "_read_dequeued"),
    ("rebuilding the next job from the reply", "_restore_dequeued"),
    ("message to the worker", "_report_or_fail"),
]
STEP_SECONDS = RawArray("d", len(STEPS))
STEP_CALLS = RawArray("l", len(STEPS))

# Labels of the CPU rows, keyed as cpu_seconds() returns them.
CPU_LABELS = {
    "horse": "CPU of the horses (mean)",
    "worker": "CPU of the worker process (mean)",
    "redis": "CPU of the Redis server (mean)",
}

NOOP = "benchmarks.horse_time_probe.noop"
INSERT = "benchmarks.horse_time_probe.insert_row"


def record(started: float, cpu_started: float) -> None:
    index = DONE.value
    if index < MAX_JOBS:
        STARTS[index] = started
        CPU_STARTS[index] = cpu_started
        ENDS[index] = time.perf_counter()
        CPU_ENDS[index] = time.process_time()
    DONE.value = index + 1


def noop() -> None:
    record(time.perf_counter(), time.process_time())


def insert_row() -> None:
    started, cpu_started = time.perf_counter(), time.process_time()
    from django.contrib.auth.models import Group

    Group.objects.create(name=uuid.uuid4().hex)
    record(started, cpu_started)


def run_queue_seconds() -> float | None:
    """Return the seconds this process waited for a CPU while ready, or None.

    The second field of ``/proc/self/schedstat`` counts them in nanoseconds
    on Linux built with scheduler statistics.
    """
    try:
        with open("/proc/self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def configure_django(url: str, directory: str) -> None:
    """Configure Django with the auth app, whose Group model the ORM job uses."""
    from django.core.management import call_command

    apps = ("django.contrib.contenttypes", "django.contrib.auth")
    fastworker_probe.configure_django(url, directory, apps)
    call_command("migrate", verbosity=0)


def time_steps() -> None:
    """Wrap the horse's steps in STEPS so that they add up their time."""
    from django_rq_lite.fastworker import FastWorker

    for index, (_, name) in enumerate(STEPS):
        original = getattr(FastWorker, name)

        @functools.wraps(original)
        def timed(self, *args, _original=original, _index=index, **kwargs):
            if not self._in_fast_horse:
                return _original(self, *args, **kwargs)
            started = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                STEP_SECONDS[_index] += time.perf_counter() - started
                STEP_CALLS[_index] += 1

        setattr(FastWorker, name, timed)

    close = FastWorker.close_horse_resources

    @functools.wraps(close)
    def close_and_count(self):
        # Each horse calls this just before it exits.
        if self._in_fast_horse:
            waited = run_queue_seconds()
            if waited is None:
                RUN_QUEUE_SECONDS.value = float("nan")
            else:
                RUN_QUEUE_SECONDS.value += waited
        return close(self)

    FastWorker.close_horse_resources = close_and_count


def measure(label: str, function: str, jobs: int, client) -> dict:
    from django.db import connections

    from django_rq_lite import get_queue, get_worker

    client.flushdb()
    DONE.value = 0
    RUN_QUEUE_SECONDS.value = 0.0
    for index in range(len(STEPS)):
        STEP_SECONDS[index] = 0.0
        STEP_CALLS[index] = 0
    queue = get_queue("default")
    queue.enqueue_many([queue.prepare_data(function) for _ in range(jobs)])
    connections.close_all()
    worker = get_worker("default", worker_class="django_rq_lite.fastworker.FastWorker")
    cpu_before = cpu_seconds(client)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    # A burst worker reaps its horse before work() returns, so the
    # children's CPU time contains the horse's.
    cpu = {
        name: (seconds - cpu_before[name]) / jobs
        for name, seconds in cpu_seconds(client).items()
    }
    done = min(DONE.value, MAX_JOBS)
    if done != jobs:
        raise RuntimeError(
            f"{label}: only {done} of {jobs} jobs ran; see the worker log."
        )
    bodies = [ENDS[index] - STARTS[index] for index in range(done)]
    gaps = [STARTS[index + 1] - ENDS[index] for index in range(done - 1)]
    cpu_bodies = [CPU_ENDS[index] - CPU_STARTS[index] for index in range(done)]
    cpu_gaps = [CPU_STARTS[index + 1] - CPU_ENDS[index] for index in range(done - 1)]
    steps = {
        step: STEP_SECONDS[index] / STEP_CALLS[index] if STEP_CALLS[index] else None
        for index, (step, _) in enumerate(STEPS)
    }
    return {
        "label": label,
        "jobs_per_second": jobs / elapsed,
        "body": statistics.median(bodies),
        "gap": statistics.median(gaps),
        "cpu_body": statistics.mean(cpu_bodies),
        "cpu_gap": statistics.mean(cpu_gaps),
        "run_queue": RUN_QUEUE_SECONDS.value / jobs,
        "steps": steps,
        "cpu": cpu,
    }


def cpu_seconds(client) -> dict[str, float]:
    """Return the CPU time used so far by this process, its children and Redis."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = client.info("cpu")
    return {
        "worker": own.ru_utime + own.ru_stime,
        "horse": children.ru_utime + children.ru_stime,
        "redis": server["used_cpu_user"] + server["used_cpu_sys"],
    }


def milliseconds(value: float | None) -> str:
    # NaN: a horse could not read its scheduler statistics.
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value * 1000:.2f}"


def print_table(rows: list[dict]) -> None:
    import django
    import rq

    print(
        f"Python {sys.version.split()[0]}, Django {django.__version__}, "
        f"RQ {rq.__version__}, {os.cpu_count()} CPUs, load average "
        + ", ".join(f"{value:.2f}" for value in os.getloadavg())
    )
    print()
    lines = [
        ("ms per job (medians; steps: means)", [row["label"] for row in rows]),
        ("jobs/s", [f"{row['jobs_per_second']:.0f}" for row in rows]),
        ("job's own code", [milliseconds(row["body"]) for row in rows]),
        ("gap between two jobs' code", [milliseconds(row["gap"]) for row in rows]),
        (
            "CPU of the job's code (mean)",
            [milliseconds(row["cpu_body"]) for row in rows],
        ),
        ("CPU of the gap (mean)", [milliseconds(row["cpu_gap"]) for row in rows]),
    ]
    for step, _ in STEPS:
        lines.append((step, [milliseconds(row["steps"][step]) for row in rows]))
    for name, label in CPU_LABELS.items():
        lines.append((label, [milliseconds(row["cpu"][name]) for row in rows]))
    lines.append(
        (
            "horses ready to run, waiting for a CPU (mean)",
            [milliseconds(row["run_queue"]) for row in rows],
        )
    )
    for number, (name, values) in enumerate(lines):
        print(f"| {name} | " + " | ".join(values) + " |")
        if number == 0:
            print("|---|" + "---:|" * len(rows))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs",
        type=int,
        default=3000,
        help=f"Jobs of each kind (default: 3000, at most {MAX_JOBS}).",
    )
    args = parser.parse_args(argv)
    if not 2 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs {args.jobs} is out of range: give 2 to {MAX_JOBS}.")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    directory = tempfile.mkdtemp(prefix="horse-time-probe-")
    server, port = start_redis(directory)
    try:
        configure_django(f"redis://127.0.0.1:{port}/0", directory)
        time_steps()
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        rows = [
            measure("no-op job", NOOP, args.jobs, client),
            measure("ORM insert job", INSERT, args.jobs, client),
        ]
        print_table(rows)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    # The horse runs the jobs from the module imported by this name, so its
    # shared arrays, not those of __main__, are the ones to read.
    import_module("benchmarks.horse_time_probe").main()
