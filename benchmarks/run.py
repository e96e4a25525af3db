"""Benchmark django-rq-lite against django-rq and Celery on one Redis server.

Usage: ``.venv/bin/python benchmarks/run.py [--quick] [--repeat N]
[--only NAME,...] [--sizes 1000,10000,100000] [--no-write]``.
docs/benchmarks.md describes each figure and shows the last full run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import report  # noqa: E402
from harness.dashboard import measure_dashboard  # noqa: E402
from harness.drain import (  # noqa: E402
    measure_orm,
    measure_parallel,
    measure_throughput,
)
from harness.envs import build_products, versions_line  # noqa: E402
from harness.figures import (  # noqa: E402
    Bench,
    measure_enqueue,
    measure_start,
    measure_stop_busy,
)
from harness.server import RedisServer  # noqa: E402

STEPS = {
    "enqueue": measure_enqueue,
    "throughput": measure_throughput,
    "parallel": measure_parallel,
    "orm": measure_orm,
    "start": measure_start,
    "stop": measure_stop_busy,
    "dashboard": measure_dashboard,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        help="Repetitions of each figure (default: 5, or 1 with --quick).",
    )
    parser.add_argument(
        "--only",
        help=f"Comma-separated steps to run, from: {', '.join(STEPS)} (default: all).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smaller counts for a smoke run of about 3 minutes; never written "
        "to the docs unless --write-quick is given.",
    )

    parser.add_argument(
        "--sizes",
        help="Comma-separated failed-registry sizes for the dashboard step "
        "(default: 1000,10000,100000; with --quick: 1000,5000).",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="Print the results only; leave docs/benchmarks.md and the plot alone.",
    )
    parser.add_argument(
        "--write-quick",
        action="store_true",
        help="Write the docs even after a --quick run.",
    )
    args = parser.parse_args(argv)

    args.steps = parse_names(parser, args.only)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}.")

    default_sizes = "1000,5000" if args.quick else "1000,10000,100000"
    args.sizes = parse_sizes(parser, args.sizes or default_sizes)
    args.enqueue_count = 2_000 if args.quick else 10_000
    args.drain_count = 200 if args.quick else 2_000
    return args


def parse_names(parser, value: str | None) -> list[str]:
    if not value:
        return list(STEPS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        parser.error(
            f"--only got unknown step(s) {', '.join(unknown)}; "
            f"valid steps: {', '.join(STEPS)}."
        )
    return names


def parse_sizes(parser, value: str) -> list[int]:
    try:
        sizes = sorted({int(size) for size in value.split(",") if size.strip()})
    except ValueError:
        parser.error(f"--sizes expects comma-separated integers, got {value!r}.")
    if not sizes or sizes[0] < 1:
        parser.error(f"--sizes expects positive integers, got {value!r}.")
    return sizes


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def exit_on_sigterm(signum, frame) -> None:
    # SystemExit unwinds through main(), whose finally stops the Redis server.
    raise SystemExit(f"Stopped by signal {signum}.")


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    started = time.monotonic()
    context = report.machine_context(sys.argv)
    context["load_start"] = os.getloadavg()
    products = build_products(log)
    context["versions"] = versions_line(products)
    server = RedisServer()
    server.start()
    context["server"] = f"{server.version()} ({Path(server.binary).name})"
    log(f"Redis server {context['server']} on {server.url}")
    bench = Bench(server, products, args, log)
    try:
        for name in args.steps:
            log(f"Measuring {name}")
            STEPS[name](bench)
    finally:
        server.stop()
    context["load_end"] = os.getloadavg()
    context["duration"] = time.monotonic() - started
    text = report.render(bench, context, args)
    print(text)
    if args.no_write or (args.quick and not args.write_quick):
        log("Results not written (--no-write or --quick).")
        return 0
    report.write(text, bench, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
