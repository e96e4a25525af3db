"""Run probes and workers of a product and watch them through /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .envs import PEERS_DIR, PROBE, Product

RESULT_PREFIX = "BENCH-RESULT "
POLL_INTERVAL = 0.002
STOP_TIMEOUT = 60


class BenchmarkError(RuntimeError):
    """A probe or worker failed, so a figure could not be measured."""


@dataclass
class PollCount:
    """Number of GET requests that ``wait_for_count`` sent to the server."""

    value: int = 0


def run_probe(
    product: Product,
    redis_url: str,
    action: str,
    count: int = 0,
    timeout=600,
    environ: dict[str, str] | None = None,
) -> dict:
    """Run ``probe.py ACTION`` in the product's environment and return its JSON.

    ``environ`` adds variables to the product's environment.
    """
    command = [product.python, PROBE, action, product.key, str(count)]
    try:
        completed = subprocess.run(
            command,
            cwd=PEERS_DIR,
            env={**product.env(redis_url), **(environ or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(
            f"{product.label} probe {action} {count} timed out after {timeout} s."
        ) from None
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise BenchmarkError(
        f"{product.label} probe {action} {count} failed with exit status "
        f"{completed.returncode}: {completed.stderr.strip()[-2000:]}"
    )


def time_probe(product: Product, redis_url: str, action: str) -> float:
    """Return the wall time of a probe process, start to exit, in seconds."""
    started = time.perf_counter()
    run_probe(product, redis_url, action)
    return time.perf_counter() - started


def start_worker(
    product: Product, redis_url: str, mode: str, environ: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        product.workers[mode],
        cwd=PEERS_DIR,
        env={**product.env(redis_url), **(environ or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_count(
    client,
    key: str,
    target: int,
    process,
    timeout: float,
    polls: PollCount | None = None,
) -> float:
    """Poll ``key`` until it reaches ``target``; return the time it did.

    Each poll is one GET, counted in ``polls`` when it is given.
    """
    deadline = time.perf_counter() + timeout
    while True:
        value = int(client.get(key) or 0)
        if polls is not None:
            polls.value += 1
        now = time.perf_counter()
        if value >= target:
            return now
        if process.poll() is not None:
            raise BenchmarkError(
                f"The worker exited with status {process.returncode} after "
                f"{value} of {target} jobs."
            )
        if now > deadline:
            raise BenchmarkError(
                f"Timed out after {timeout} s with {value} of {target} jobs done."
            )
        time.sleep(POLL_INTERVAL)


def terminate(process: subprocess.Popen) -> float:
    """Send SIGTERM and return the seconds until the process exited.

    A worker still running after ``STOP_TIMEOUT`` seconds gets SIGKILL with
    its process group, and the figure is returned as infinite.
    """
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(process)
        return float("inf")
    elapsed = time.perf_counter() - started
    kill_group(process)
    return elapsed


def kill_group(process: subprocess.Popen) -> None:
    """Kill what is left of a worker's process group (its pool children)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def descendants(pid: int) -> list[int]:
    """Return the ids of a process and all its descendants, from /proc."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(descendants(int(child)))
    return found


def peak_rss_kib(pid: int) -> int:
    """Return the summed peak RSS (VmHWM) of a process and its descendants."""
    total = 0
    for process_id in descendants(pid):
        try:
            status = Path(f"/proc/{process_id}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


def tree_resident_kib(pid: int) -> int:
    """Return a process's RSS plus the private memory of its descendants.

    A forked child shares its parent's unchanged pages, which the summed
    RSS of both counts twice. Here the child adds only its private pages
    (``Private_Clean`` and ``Private_Dirty`` of ``/proc/PID/smaps_rollup``).
    """
    total = read_kib(f"/proc/{pid}/status", "VmRSS:")
    for child in descendants(pid)[1:]:
        rollup = f"/proc/{child}/smaps_rollup"
        total += read_kib(rollup, "Private_Clean:") + read_kib(rollup, "Private_Dirty:")
    return total


def read_kib(path: str, field: str) -> int:
    """Return the KiB value of ``field`` in a /proc file, or 0 if it is gone."""
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0
