"""The measured figures: each function repeats one measurement per product."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .processes import (
    BenchmarkError,
    peak_rss_kib,
    run_probe,
    start_worker,
    terminate,
    time_probe,
    tree_resident_kib,
    wait_for_count,
)

DONE_KEY = "bench:done"
STARTED_KEY = "bench:started"
# Seconds after its first job at which a worker counts as idle. FastWorker
# keeps its horse for one second after a job in case another comes, and on
# a loaded machine a worker's bookkeeping after the job takes a while too.
IDLE_SECONDS = 3.0
SLEEP_JOB_SECONDS = 2
# Redis keys where each product keeps queued or taken but unacknowledged jobs.
QUEUE_KEYS = {"lite": "rq:queue:default", "djrq": "rq:queue:default"}
CELERY_QUEUE_KEY = "celery"
CELERY_UNACKED_KEY = "unacked"


@dataclass
class Figure:
    """Samples of one measured quantity for each product."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, product: str, value: float) -> None:
        self.samples.setdefault(product, []).append(value)


class Bench:
    """One benchmark run: the server, the products and the collected figures."""

    def __init__(self, server, products, config, log) -> None:
        self.server = server
        self.products = products
        self.config = config
        self.log = log
        self.figures: dict[str, Figure] = {}

    def figure(self, key, label, unit, higher_is_better=False) -> Figure:
        if key not in self.figures:
            self.figures[key] = Figure(key, label, unit, higher_is_better)
        return self.figures[key]

    def probe(self, product, action, count=0, timeout=600, environ=None):
        return run_probe(product, self.server.url, action, count, timeout, environ)

    def each_product(self, keys=("lite", "djrq", "celery")):
        for key in keys:
            yield self.products[key]

    def repeat(self, name: str, step, keys=("lite", "djrq", "celery")) -> None:
        """Run ``step(product)`` ``repeat`` times for each product, in turns.

        Turns alternate between products so that a change in machine load
        affects all of them alike. Each round starts with the next product,
        so that none always runs just after the same peer.
        """
        for round_number in range(self.config.repeat):
            shift = round_number % len(keys)
            for product in self.each_product(keys[shift:] + keys[:shift]):
                self.server.flush()
                try:
                    step(product)
                except BenchmarkError as error:
                    self.log(f"  {name} {product.label}: {error}")
            self.log(f"  {name}: round {round_number + 1}/{self.config.repeat}")


def measure_enqueue(bench: Bench) -> None:
    count = bench.config.enqueue_count
    delay = bench.figure("delay", f"`.delay()`, {count:,} calls", "jobs/s", True)
    bulk = bench.figure("bulk", f"bulk enqueue, {count:,} jobs", "jobs/s", True)
    bulk.notes.update(
        lite="`JobFunction.delay_many` (one pipeline)",
        djrq="RQ `Queue.enqueue_many`",
        celery="`group(...).apply_async()`",
    )

    def step(product):
        result = bench.probe(product, "delay", count)
        delay.add(product.key, count / result["seconds"])
        bench.server.flush()
        result = bench.probe(product, "bulk", count)
        bulk.add(product.key, count / result["seconds"])

    bench.repeat("enqueue", step)


def measure_start(bench: Bench) -> None:
    """Spawn a worker with one job queued; time it, then stop it when idle."""
    start = bench.figure("start", "spawn worker to first job done", "s")
    setup = bench.figure("setup", "import and setup alone (process exit)", "s")
    memory = bench.figure("memory", "idle worker peak RSS, with children", "MiB")
    resident = bench.figure(
        "memory_resident",
        "idle worker RSS, children's pages shared with it counted once",
        "MiB",
    )
    stop = bench.figure("stop_idle", "SIGTERM to idle worker exit", "s")
    for figure in (start, memory, resident, stop):
        figure.notes["celery"] = "prefork, concurrency 1"

    def step(product):
        setup.add(product.key, time_probe(product, bench.server.url, "setup"))
        bench.probe(product, "delay", 0)
        started = time.perf_counter()
        process = start_worker(product, bench.server.url, "default")
        try:
            done = wait_for_count(bench.server.client, DONE_KEY, 1, process, 120)
            start.add(product.key, done - started)
            time.sleep(IDLE_SECONDS)
            memory.add(product.key, peak_rss_kib(process.pid) / 1024)
            resident.add(product.key, tree_resident_kib(process.pid) / 1024)
        finally:
            stop.add(product.key, terminate(process))

    bench.repeat("start", step)


def measure_stop_busy(bench: Bench) -> None:
    figure = bench.figure(
        "stop_busy", f"SIGTERM during a {SLEEP_JOB_SECONDS} s job to exit", "s"
    )

    def step(product):
        bench.probe(product, "sleep", SLEEP_JOB_SECONDS)
        process = start_worker(product, bench.server.url, "default")
        try:
            wait_for_count(bench.server.client, STARTED_KEY, 1, process, 120)
        except BenchmarkError:
            terminate(process)
            raise
        figure.add(product.key, terminate(process))
        outcome = job_outcome(bench.server.client, product.key)
        outcomes = figure.notes.get(product.key, "")
        figure.notes[product.key] = f"{outcomes}, {outcome}".lstrip(", ")

    bench.repeat("stop during a job", step)
    for product, outcomes in figure.notes.items():
        counts = {
            name: outcomes.split(", ").count(name) for name in outcomes.split(", ")
        }
        figure.notes[product] = "job " + ", ".join(
            f"{name} {count}x" for name, count in counts.items()
        )


def job_outcome(client, product: str) -> str:
    """Return where the interrupted sleep job ended up after the worker exited."""
    if int(client.get(DONE_KEY) or 0) >= 1:
        return "finished"
    if product in QUEUE_KEYS:
        if client.zcard("rq:failed:default"):
            return "failed"
        if client.llen(QUEUE_KEYS[product]):
            return "requeued"
        if client.zcard("rq:wip:default") or client.zcard("rq:started:default"):
            return "left started"
        return "lost"
    if client.llen(CELERY_QUEUE_KEY):
        return "requeued"
    if client.hlen(CELERY_UNACKED_KEY):
        return "unacked, redelivered later"
    return "lost"
