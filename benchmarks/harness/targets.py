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
    return f"**missed**, {short:.2f}x short"


def ratio_row(bench, target, key, peer, needed) -> list[str]:
    ratio = advantage(bench, key, peer)
    text = "–" if ratio is None else f"{ratio:.2f}x"
    return [target, text, f"≥ {needed:g}x", verdict(ratio, needed)]


def table(bench) -> list[str]:
    rows = [
        ratio_row(bench, "`.delay()` at least equal to django-rq", "delay", "djrq", 1),
        ratio_row(bench, "bulk enqueue at least equal to django-rq", "bulk", "djrq", 1),
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
        ratio_row(bench, "worker start at most half of Celery's", "start", "celery", 2),
        ratio_row(
            bench, "idle stop at most half of Celery's", "stop_idle", "celery", 2
        ),
    ]
    rows.extend(dashboard_rows(bench))
    lines = ["| target | figure | needed | result |", "|---|---|---|---|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def dashboard_rows(bench) -> list[list[str]]:
    sizes = bench.config.sizes
    if len(sizes) < 2 or f"page_{sizes[0]}" not in bench.figures:
        return []
    smallest, largest = sizes[0], sizes[-1]
    rows = []

    growth = {}
    for product in ("lite", "djrq"):
        low = median_of(bench, f"page_{smallest}", product)
        high = median_of(bench, f"page_{largest}", product)
        growth[product] = high / low if low and high else None
    ours = growth["lite"]
    theirs = growth["djrq"]
    rows.append(
        [
            f"failed-jobs page flat (within 2x) from {smallest:,} to {largest:,}",
            "–"
            if ours is None
            else f"{ours:.2f}x growth "
            f"(django-rq: {'–' if theirs is None else f'{theirs:.2f}x'})",
            "≤ 2x",
            verdict(ours, 2, higher_is_better=False),
        ]
    )

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
            f'"requeue all" on {largest:,} at least 5x faster than django-rq',
            f"requeue_{largest}",
            "djrq",
            5,
        )
    )
    return rows
