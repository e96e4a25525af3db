"""Stop the demo's child processes: warm, then cold, then with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STOP_TIMEOUT = 10.0
# RQ ignores a second SIGTERM that arrives within 1 s of the first.
COLD_SHUTDOWN_DELAY = 1.5
COLD_STOP_TIMEOUT = 10.0


def say(*values: object) -> None:
    """Print ``values``, and discard all later output once its reader is gone.

    When the demo's output goes through a pipe, such as to ``tee``, Ctrl-C
    stops the reader too, and printing raises BrokenPipeError. The demo
    must still stop its children, so from then on output goes to /dev/null.
    """
    try:
        print(*values, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def stop_process(label: str, process: subprocess.Popen) -> None:
    """Send SIGTERM, wait, then kill the child's whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            say(f"The {label} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
    kill_group(process)
    say(f"Stopped the {label}")


def stop_worker(process: subprocess.Popen) -> None:
    """Stop the worker warm, then cold, then with SIGKILL.

    The first SIGTERM is a warm shutdown that lets the running job finish.
    A second SIGTERM is a cold shutdown: the worker kills its work-horse and
    moves the job to the failed registry with the reason. SIGKILL is the
    last resort, for the worker and every process it started.
    """
    if process.poll() is None:
        first_signal = time.monotonic()
        process.send_signal(signal.SIGTERM)
        if not exits_within(process, STOP_TIMEOUT):
            say(
                f"The worker did not stop within {STOP_TIMEOUT:.0f} s. Stopping "
                "it cold, which fails its running job."
            )
            time.sleep(max(0.0, first_signal + COLD_SHUTDOWN_DELAY - time.monotonic()))
            process.send_signal(signal.SIGTERM)
            if not exits_within(process, COLD_STOP_TIMEOUT):
                say(
                    f"The worker did not stop within {COLD_STOP_TIMEOUT:.0f} s "
                    "of a cold shutdown. Killing it and its work-horse."
                )
                kill_descendants(process.pid)
    kill_group(process)
    say("Stopped the worker")


def exits_within(process: subprocess.Popen, timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def kill_group(process: subprocess.Popen) -> None:
    # Kill what is left of the child's process group too, such as the
    # worker's scheduler process.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def kill_descendants(pid: int) -> None:
    """Send SIGKILL to ``pid`` and every process below it.

    RQ's work-horse calls ``os.setpgrp()``, so it leaves the worker's process
    group and ``killpg`` misses it. The parent links in /proc find it, and
    they must be read before the worker dies, because its children then
    move to another parent.
    """
    for descendant in [pid, *find_descendants(pid)]:
        try:
            os.kill(descendant, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def find_descendants(pid: int) -> list[int]:
    """Return the pids below ``pid``, read from /proc (Linux only)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the second field after the command name, which
        # is in parentheses and may contain spaces.
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found
