"""The targets of django-rq-lite against its peers, checked on one run."""

from __future__ import annotations

import statistics

# Gunicorn's default worker timeout, in seconds: a request that runs longer
# is killed in a default deployment.
REQUEST_TIMEOUT = 30


def advantage(bench, key: str, peer: str) -> float | None:
    from .report import advantage as figure_advantage

    figure = bench.figures.get(key)
    return figure_advantage(figure, peer) if figure else None


def median_of(bench, key: str, product: str) -> float | None:
    figure = bench.figures.get(key)
    if not figure or not figure.samples.get(product):
        return None
    return statistics.median(figure.samples[product])


def verdict(value: float | None, needed: float, higher_is_better=True) -> str:
    if value is None:
        return "not measured"
    met = value >= needed if higher_is_better else value <= needed
    if met:
        return "met"
    short = needed / value if higher_is_better else value / needed
    if short < 1.01:
        # "1.00x short" would read as a tie.
        return f"**missed**, {100 * (short - 1):.1f}% short"
    return f"**missed**, {short:.2f}x short"


def format_ratio(ratio: float) -> str:
    """Return ``ratio`` with two decimals, or three where two round it to 1."""
    if 0.995 <= ratio < 1.005 and ratio != 1:
        return f"{ratio:.3f}x"
    return f"{ratio:.2f}x"


def ratio_row(bench, target, key, peer, needed) -> list[str]:
    ratio = advantage(bench, key, peer)
    return ratio_cells(target, ratio, needed)


def ratio_cells(target, ratio: float | None, needed: float) -> list[str]:
    text = "–" if ratio is None else format_ratio(ratio)
    return [target, text, f"≥ {needed:g}x", verdict(ratio, needed)]


def cross_ratio(bench, our_key: str, their_key: str, peer: str) -> float | None:
    """Return how many times better ours is in one figure than a peer in another.

    Both figures must have the same unit and direction, for example two
    throughput rows with different worker classes.
    """
    ours = median_of(bench, our_key, "lite")
    theirs = median_of(bench, their_key, peer)
    if not ours or not theirs or float("inf") in (ours, theirs):
        return None
    if bench.figures[our_key].higher_is_better:
        return ours / theirs
    return theirs / ours


def cross_row(bench, target, our_key, their_key, peer, needed) -> list[str]:
    return ratio_cells(target, cross_ratio(bench, our_key, their_key, peer), needed)


def table(bench) -> list[str]:
    rows = [
        *worker_rows(bench),
        ratio_row(bench, "`.delay()` at least 2x django-rq", "delay", "djrq", 2),
        ratio_row(
            bench, "bulk enqueue at least 2x RQ's `enqueue_many`", "bulk", "djrq", 2
        ),
        ratio_row(
            bench, "spawn to first job no slower than django-rq", "start", "djrq", 1
        ),
        ratio_row(bench, "worker start at most half of Celery's", "start", "celery", 2),
        ratio_row(bench, "idle stop no slower than django-rq", "stop_idle", "djrq", 1),
        ratio_row(
            bench, "idle stop at most half of Celery's", "stop_idle", "celery", 2
        ),
        ratio_row(
            bench, "idle worker memory no larger than django-rq's", "memory", "djrq", 1
        ),
        ratio_row(
            bench,
            "idle worker memory, shared pages counted once, no larger than django-rq's",
            "memory_resident",
            "djrq",
            1,
        ),
    ]
    rows.extend(dashboard_rows(bench))
    lines = ["| target | figure | needed | result |", "|---|---|---|---|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def worker_rows(bench) -> list[list[str]]:
    return [
        cross_row(
            bench,
            "`FastWorker` at least Celery prefork, 1 process",
            "drain_fast",
            "drain_fork",
            "celery",
            1,
        ),
        cross_row(
            bench,
            "`FastWorker` at least Celery solo",
            "drain_fast",
            "drain_nofork",
            "celery",
            1,
        ),
        cross_row(
            bench,
            "`FastWorker` at least 5x django-rq's forking worker",
            "drain_fast",
            "drain_fork",
            "djrq",
            5,
        ),
        ratio_row(
            bench,
            "2 processes at least Celery prefork, concurrency 2",
            "drain_two",
            "celery",
            1,
        ),
        ratio_row(
            bench, "ORM job at least Celery prefork, 1 process", "orm", "celery", 1
        ),
        cross_row(
            bench, "ORM job at least Celery solo", "orm", "orm_solo", "celery", 1
        ),
        ratio_row(
            bench, "forking worker at least equal to django-rq", "drain_fork", "djrq", 1
        ),
        ratio_row(
            bench,
            "no-fork worker at least equal to django-rq",
            "drain_nofork",
            "djrq",
            1,
        ),
    ]


def dashboard_rows(bench) -> list[list[str]]:
    sizes = bench.config.sizes
    if f"page_{sizes[0]}" not in bench.figures:
        return []
    smallest, largest = sizes[0], sizes[-1]
    rows = [
        ratio_row(
            bench,
            f"failed-jobs page at {largest:,} no slower than django-rq",
            f"page_{largest}",
            "djrq",
            1,
        )
    ]

    unfiltered = median_of(bench, f"page_{largest}", "lite")
    filtered = median_of(bench, f"page_filtered_{largest}", "lite")
    slowdown = filtered / unfiltered if filtered and unfiltered else None
    rows.append(
        [
            f"failed-jobs page filtered by exception class at {largest:,} "
            "at most 2x the unfiltered page",
            "–" if slowdown is None else f"{slowdown:.2f}x the unfiltered time",
            "≤ 2x",
            verdict(slowdown, 2, higher_is_better=False),
        ]
    )

    if len(sizes) > 1:
        rows.append(page_growth_row(bench, smallest, largest))

    seconds = median_of(bench, f"requeue_{largest}", "lite")
    rows.append(
        [
            f'"requeue all" on {largest:,} within a {REQUEST_TIMEOUT} s request',
            "–" if seconds is None else f"{seconds:.1f} s",
            f"≤ {REQUEST_TIMEOUT} s",
            verdict(seconds, REQUEST_TIMEOUT, higher_is_better=False),
        ]
    )
    rows.append(
        ratio_row(
            bench,
            f'"requeue all" on {largest:,} at most a tenth of django-rq\'s time',
            f"requeue_{largest}",
            "djrq",
            10,
        )
    )
    return rows


def page_growth_row(bench, smallest: int, largest: int) -> list[str]:
    growth = {}
    for product in ("lite", "djrq"):
        low = median_of(bench, f"page_{smallest}", product)
        high = median_of(bench, f"page_{largest}", product)
        growth[product] = high / low if low and high else None
    ours = growth["lite"]
    theirs = growth["djrq"]
    return [
        f"failed-jobs page flat (within 2x) from {smallest:,} to {largest:,}",
        "–"
        if ours is None
        else f"{ours:.2f}x growth "
        f"(django-rq: {'–' if theirs is None else f'{theirs:.2f}x'})",
        "≤ 2x",
        verdict(ours, 2, higher_is_better=False),
    ]
