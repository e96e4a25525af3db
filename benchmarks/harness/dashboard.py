"""Failed-jobs page and "requeue all" of both admin dashboards."""

from __future__ import annotations

from .figures import Bench
from .processes import BenchmarkError

DASHBOARD_PRODUCTS = ("lite", "djrq")
# Above this registry size "requeue all" runs once per product, because
# django-rq's view needs more than a minute for each run.
SINGLE_REQUEUE_SIZE = 100_000


def requeue_rounds(bench: Bench, size: int) -> int:
    return 1 if size >= SINGLE_REQUEUE_SIZE else bench.config.repeat


def measure_dashboard(bench: Bench) -> None:
    for size in bench.config.sizes:
        page = bench.figure(f"page_{size}", f"failed-jobs page, {size:,} failed", "s")
        filtered = bench.figure(
            f"page_filtered_{size}",
            "failed-jobs page filtered by exception class (half the jobs; "
            f"django-rq has no filter), {size:,} failed",
            "s",
        )
        page_memory = bench.figure(
            f"page_rss_{size}", f"web peak RSS, page at {size:,}", "MiB"
        )
        for product in bench.each_product(DASHBOARD_PRODUCTS):
            bench.server.flush()
            try:
                bench.probe(product, "fill", size)
                result = bench.probe(product, "page", bench.config.repeat)
            except BenchmarkError as error:
                bench.log(f"  page {size} {product.label}: {error}")
                continue
            for seconds in result["seconds"]:
                page.add(product.key, seconds)
            for seconds in result.get("filtered_seconds", []):
                filtered.add(product.key, seconds)
            page_memory.add(product.key, result["peak_rss_kib"] / 1024)
            check_listed(bench, product, size, result.get("listed"))
        bench.log(f"  failed-jobs page at {size:,}: done")

        requeue = bench.figure(
            f"requeue_{size}", f'"requeue all", {size:,} failed', "s"
        )
        requeue_memory = bench.figure(
            f"requeue_rss_{size}", f'web peak RSS, "requeue all" at {size:,}', "MiB"
        )
        rounds = requeue_rounds(bench, size)
        for round_number in range(rounds):
            for product in bench.each_product(DASHBOARD_PRODUCTS):
                measure_requeue(bench, product, size, requeue, requeue_memory)
            bench.log(f'  "requeue all" at {size:,}: round {round_number + 1}/{rounds}')
        if size >= SINGLE_REQUEUE_SIZE:
            for product in DASHBOARD_PRODUCTS:
                requeue.notes[product] = "one run"


def check_listed(bench, product, size: int, listed: dict | None) -> None:
    """Log each page that lists another number of jobs than the fill wrote."""
    if listed is None:
        return
    # The filter selects KeyError, the exception of every second job.
    expected = {"unfiltered": size, "filtered": size // 2}
    for page, count in listed.items():
        if count != expected[page]:
            bench.log(
                f"  {page} page at {size:,} {product.label}: {count} jobs "
                f"listed, expected {expected[page]}."
            )


def measure_requeue(bench, product, size, requeue, requeue_memory) -> None:
    bench.server.flush()
    try:
        bench.probe(product, "fill", size)
        result = bench.probe(product, "requeue", size, timeout=1800)
    except BenchmarkError as error:
        bench.log(f'  "requeue all" {size} {product.label}: {error}')
        return
    if result["queued"] != size or result["left_failed"]:
        bench.log(
            f'  "requeue all" {size} {product.label}: {result["queued"]} jobs '
            f"queued and {result['left_failed']} left failed, expected {size} and 0."
        )
    requeue.add(product.key, result["seconds"])
    requeue_memory.add(product.key, result["peak_rss_kib"] / 1024)
