"""The results as Markdown tables, targets, and the dashboard plot."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import statistics
import subprocess
from pathlib import Path

from . import targets

DOCS_DIR = Path(__file__).resolve().parent.parent.parent / "docs"
DOC_PATH = DOCS_DIR / "benchmarks.md"
PLOT_PATH = DOCS_DIR / "benchmarks-dashboard.png"
LABELS = {"lite": "django-rq-lite", "djrq": "django-rq 4.2", "celery": "Celery 5.7"}
DASHBOARD_KEYS = ("page", "page_rss", "requeue", "requeue_rss")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_revision() -> str:
    """Return the commit of the measured code, marked when the tree has changes."""
    root = DOCS_DIR.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "django_rq_lite"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} with uncommitted changes" if changes else commit


def machine_context(argv: list[str]) -> dict:
    return {
        "revision": git_revision(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, {platform.platform()}",
        "command": "python benchmarks/run.py " + shlex.join(argv[1:]),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def format_value(value: float) -> str:
    if value == float("inf"):
        return "timed out"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_samples(values: list[float] | None) -> str:
    if not values:
        return "n/a"
    text = format_value(median(values))
    if len(values) > 1:
        text += f" ({format_value(min(values))}–{format_value(max(values))})"
    return text


def advantage(figure, product: str) -> float | None:
    """Return how many times better ours is than ``product`` (>1: ours is better)."""
    ours = figure.samples.get("lite")
    theirs = figure.samples.get(product)
    if not ours or not theirs:
        return None
    ours_median, theirs_median = median(ours), median(theirs)
    if float("inf") in (ours_median, theirs_median):
        return None
    if figure.higher_is_better:
        return ours_median / theirs_median if theirs_median else None
    return theirs_median / ours_median if ours_median else None


def format_ratio(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.2f}x"


def figure_row(figure) -> str:
    cells = [figure.label, figure.unit]
    for product in LABELS:
        text = format_samples(figure.samples.get(product))
        note = figure.notes.get(product)
        cells.append(f"{text}<br>{note}" if note and text != "n/a" else text)
    cells.append(format_ratio(advantage(figure, "djrq")))
    cells.append(format_ratio(advantage(figure, "celery")))
    return "| " + " | ".join(cells) + " |"


def results_table(bench) -> list[str]:
    header = (
        "| figure | unit | "
        + " | ".join(LABELS.values())
        + " | ours vs django-rq | ours vs Celery |"
    )
    lines = [header, "|" + "---|" * (len(LABELS) + 4)]
    for figure in bench.figures.values():
        if not figure.key.startswith(DASHBOARD_KEYS):
            lines.append(figure_row(figure))
    return lines


def dashboard_table(bench) -> list[str]:
    lines = [
        "| figure | unit | django-rq-lite | django-rq 4.2 | ours vs django-rq |",
        "|---|---|---|---|---|",
    ]
    for figure in bench.figures.values():
        if figure.key.startswith(DASHBOARD_KEYS):
            cells = [figure.label, figure.unit]
            for product in ("lite", "djrq"):
                text = format_samples(figure.samples.get(product))
                note = figure.notes.get(product)
                cells.append(f"{text}, {note}" if note and text != "n/a" else text)
            cells.append(format_ratio(advantage(figure, "djrq")))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(bench, context: dict, args) -> str:
    load_start = ", ".join(f"{value:.2f}" for value in context["load_start"])
    load_end = ", ".join(f"{value:.2f}" for value in context["load_end"])
    lines = [
        f"- date: {context['date']}",
        f"- machine: {context['machine']}",
        f"- load average (1, 5, 15 min): {load_start} at start, {load_end} at end",
        f"- server: {context['server']}, one private server on 127.0.0.1 for "
        "all products, flushed before each measurement",
        f"- versions: {context['versions']}",
        f"- django-rq-lite code: commit {context['revision']}",
        f"- command: `{context['command']}` ({args.repeat} "
        f"repetition{'' if args.repeat == 1 else 's'}, "
        f"{context['duration'] / 60:.1f} minutes)",
        "",
        "Each cell is the median, with the range (minimum–maximum) in brackets.",
        "The ratio columns say how many times better ours is: above 1 ours is",
        "better, below 1 the peer is (throughput: ours ÷ peer; times and memory:",
        "peer ÷ ours).",
        "",
        *results_table(bench),
        "",
        "### Dashboard",
        "",
        *dashboard_table(bench),
        "",
        "### Targets",
        "",
        *targets.table(bench),
    ]
    return "\n".join(lines) + "\n"


def write(results: str, bench, args) -> None:
    template = DOC_PATH.read_text() if DOC_PATH.exists() else ""
    start, end = "<!-- results start -->", "<!-- results end -->"
    if start in template and end in template:
        before = template.split(start)[0]
        after = template.split(end, 1)[1]
        text = f"{before}{start}\n{results}{end}{after}"
    else:
        text = f"# Benchmarks\n\n{start}\n{results}{end}\n"
    DOC_PATH.write_text(text)
    print(f"Wrote {DOC_PATH}")
    write_plot(bench, args.sizes)


def write_plot(bench, sizes: list[int]) -> None:
    """Plot page and "requeue all" time against registry size (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is not installed, so the plot was not drawn "
            "(pip install matplotlib)."
        )
        return
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = (("page", "failed-jobs page"), ("requeue", '"requeue all"'))
    for axis, (key, title) in zip(axes, panels, strict=True):
        for product in ("lite", "djrq"):
            points = [
                (size, median(bench.figures[f"{key}_{size}"].samples[product]))
                for size in sizes
                if product in bench.figures.get(f"{key}_{size}", _Empty).samples
            ]
            if points:
                sizes, seconds = zip(*points, strict=True)
                axis.plot(sizes, seconds, marker="o", label=LABELS[product])
        axis.set(xscale="log", yscale="log", title=title)
        axis.set_xlabel("failed jobs in the registry")
        axis.set_ylabel("seconds (median)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(PLOT_PATH, dpi=100)
    print(f"Wrote {PLOT_PATH}")


class _Empty:
    samples: dict = {}
