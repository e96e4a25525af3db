"""Worker throughput: queued jobs drained by one or two worker processes.

The drains of no-op jobs also count the Redis commands that the server ran
per job, from ``INFO commandstats`` read when the first job finished and
again when the last did, the same window that the throughput is counted over.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .figures import CELERY_QUEUE_KEY, CELERY_UNACKED_KEY, DONE_KEY, Bench, Figure
from .processes import (
    BenchmarkError,
    PollCount,
    start_worker,
    terminate,
    wait_for_count,
)

# Commands of the harness's own snapshot transaction (MULTI, INFO, GET,
# EXEC) that the server counts between two snapshots.
SNAPSHOT_COMMANDS = 4
# Table of bench_app's InsertedRow model, which the ORM job inserts into.
ORM_TABLE = "bench_app_insertedrow"
PRODUCT_KEYS = ("lite", "djrq", "celery")


@dataclass(frozen=True)
class CommandSnapshot:
    """Commands that the server has run, and finished jobs, at one moment."""

    calls: int
    done: int


def snapshot_commands(client) -> CommandSnapshot:
    """Read the server's command total and the finished-job counter atomically."""
    with client.pipeline(transaction=True) as pipe:
        pipe.info("commandstats")
        pipe.get(DONE_KEY)
        stats, done = pipe.execute()
    calls = sum(entry["calls"] for entry in stats.values())
    return CommandSnapshot(calls, int(done or 0))


def commands_per_job(
    before: CommandSnapshot, after: CommandSnapshot, polls: int
) -> float:
    """Return the worker's commands per job between two snapshots.

    Left out are the harness's snapshot transaction and its ``polls`` GET
    requests, and each job's own INCR of the finished-job counter, which
    every product's job makes alike.
    """
    jobs = after.done - before.done
    harness = SNAPSHOT_COMMANDS + polls
    return (after.calls - before.calls - harness - jobs) / jobs


def drain_step(
    bench: Bench,
    mode: str,
    figure: Figure,
    commands: Figure | None = None,
    bulk_action: str = "bulk",
    environs: dict[str, dict[str, str]] | None = None,
):
    """Return a step that drains ``drain_count`` queued jobs with one worker command.

    ``mode`` names the worker command in ``Product.workers``, ``bulk_action``
    the probe action that queues the jobs, and ``environs`` the variables
    that each product's probe and worker get in addition.
    """
    count = bench.config.drain_count

    def step(product):
        environ = (environs or {}).get(product.key)
        bench.probe(product, bulk_action, count, environ=environ)
        process = start_worker(product, bench.server.url, mode, environ)
        client = bench.server.client
        polls = PollCount()
        try:
            timeout = 60 + count / 10
            first = wait_for_count(client, DONE_KEY, 1, process, timeout)
            before = snapshot_commands(client)
            last = wait_for_count(client, DONE_KEY, count, process, timeout, polls)
            after = snapshot_commands(client)
        except BenchmarkError as error:
            raise BenchmarkError(f"{error} {describe_jobs_left(client)}") from None
        finally:
            terminate(process)
        figure.add(product.key, (count - 1) / (last - first))
        if commands is not None and after.done > before.done:
            commands.add(product.key, commands_per_job(before, after, polls.value))

    return step


def describe_jobs_left(client) -> str:
    """Return where the jobs that have not finished are, for an error message."""
    places = {
        "queued (RQ)": client.llen("rq:queue:default"),
        "in RQ's intermediate list": client.llen("rq:queue:default:intermediate"),
        "started (RQ)": client.zcard("rq:started:default"),
        "failed (RQ)": client.zcard("rq:failed:default"),
        "queued (Celery)": client.llen(CELERY_QUEUE_KEY),
        "unacknowledged (Celery)": client.hlen(CELERY_UNACKED_KEY),
    }
    found = ", ".join(f"{count} {place}" for place, count in places.items() if count)
    return f"Jobs left: {found or 'none found'}."


def measure_throughput(bench: Bench) -> None:
    labels = {
        "fork": "worker throughput, forking (RQ `Worker`; Celery prefork, 1 process)",
        "nofork": "worker throughput, no fork (RQ `SimpleWorker`; Celery solo)",
    }
    has_fast = "fast" in bench.products["lite"].workers
    figures = {
        mode: bench.figure(f"drain_{mode}", label, "jobs/s", True)
        for mode, label in labels.items()
    }
    if has_fast:
        figures["fast"] = bench.figure(
            "drain_fast",
            "worker throughput, ours with `FastWorker` (reused horse) against the "
            "peers' forking workers",
            "jobs/s",
            True,
        )
    commands = {
        mode: bench.figure(
            f"commands_{mode}", f"Redis commands per job, {kind}", "commands"
        )
        for mode, kind in (
            ("fork", "forking (RQ `Worker`; Celery prefork, 1 process)"),
            ("nofork", "no fork (RQ `SimpleWorker`; Celery solo)"),
            ("fast", "ours with `FastWorker` against the peers' forking workers"),
        )
        if mode in figures
    }

    for mode in labels:
        step = drain_step(bench, mode, figures[mode], commands[mode])
        bench.repeat(f"throughput {mode}", step)
    if not has_fast:
        return
    step = drain_step(bench, "fast", figures["fast"], commands["fast"])
    bench.repeat("throughput FastWorker", step, ["lite"])
    for key in ("drain", "commands"):
        fast = bench.figures[f"{key}_fast"]
        forking = bench.figures[f"{key}_fork"]
        for product in ("djrq", "celery"):
            fast.samples[product] = list(forking.samples.get(product, []))
            fast.notes[product] = "the forking row's samples"


def measure_parallel(bench: Bench) -> None:
    """Drain the queued jobs with two worker processes of each product."""
    keys = [key for key in PRODUCT_KEYS if "two" in bench.products[key].workers]
    figure = bench.figure(
        "drain_two",
        "worker throughput, 2 processes (ours `FastWorker --processes 2`; "
        "django-rq `rqworker-pool --num-workers 2`; Celery prefork, concurrency 2)",
        "jobs/s",
        True,
    )
    commands = bench.figure(
        "commands_two", "Redis commands per job, 2 processes", "commands"
    )
    bench.repeat(
        "throughput 2 processes", drain_step(bench, "two", figure, commands), keys
    )


def measure_orm(bench: Bench) -> None:
    """Drain jobs that each insert one row into a file SQLite database."""
    keys = [key for key in PRODUCT_KEYS if "orm" in bench.products[key].workers]
    orm = bench.figure(
        "orm",
        "ORM insert job throughput (ours `FastWorker`; django-rq `Worker`; "
        "Celery prefork, 1 process)",
        "jobs/s",
        True,
    )
    orm_solo = bench.figure(
        "orm_solo",
        "ORM insert job throughput, Celery solo (ours: the row above)",
        "jobs/s",
        True,
    )
    directory = Path(bench.server.directory.name)
    databases = {key: directory / f"orm-{key}.sqlite3" for key in keys}
    for key in keys:
        bench.probe(
            bench.products[key], "migrate", environ=database_environ(databases[key])
        )
    bench.repeat("ORM job", orm_step(bench, "orm", orm, databases), keys)
    if "orm_solo" in bench.products["celery"].workers:
        step = orm_step(bench, "orm_solo", orm_solo, databases)
        bench.repeat("ORM job, Celery solo", step, ["celery"])
    orm_solo.samples["lite"] = list(orm.samples.get("lite", []))
    orm_solo.notes["lite"] = "the row above's samples"


def database_environ(path: Path) -> dict[str, str]:
    return {"BENCH_DB_PATH": str(path)}


def orm_step(bench: Bench, mode: str, figure: Figure, databases: dict[str, Path]):
    """Return a drain step of the ORM job that checks the inserted rows."""
    environs = {key: database_environ(path) for key, path in databases.items()}
    drain = drain_step(bench, mode, figure, None, "bulk_orm", environs)
    count = bench.config.drain_count

    def step(product):
        path = databases[product.key]
        with closing(sqlite3.connect(path)) as database, database:
            database.execute(f"DELETE FROM {ORM_TABLE}")
        drain(product)
        with closing(sqlite3.connect(path)) as database:
            (rows,) = database.execute(f"SELECT COUNT(*) FROM {ORM_TABLE}").fetchone()
        if rows != count:
            bench.log(
                f"  ORM job {product.label}: {rows} rows inserted, expected {count}."
            )

    return step
