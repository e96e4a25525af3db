"""Run several worker processes from one command and supervise them."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("django_rq_lite.worker")

# Seconds to wait before restarting a worker process that failed, so a
# worker that fails at start-up does not restart in a busy loop.
RESTART_DELAY = 1.0

# The option's value in Linux's <linux/prctl.h>.
PR_SET_PDEATHSIG = 1

# Seconds between two checks of a worker process for its parent's exit,
# on systems without prctl(PR_SET_PDEATHSIG).
PARENT_CHECK_SECONDS = 1.0


class WorkerProcesses:
    """Fork ``count`` worker processes and restart those that fail.

    Each process calls ``run_worker(index)`` and exits with status 0 when
    it returns. SIGINT and SIGTERM are forwarded to every process, so the
    first signal requests a warm shutdown and the second a cold one, as
    with a single worker. SIGHUP is forwarded too, unless the command
    started with SIGHUP ignored, as under ``nohup``. A process that exits
    with another status is restarted unless a signal arrived or
    ``restart`` is False (burst mode). When this process dies, even by
    SIGKILL, each worker process receives SIGTERM and stops warmly: at
    once on Linux, within PARENT_CHECK_SECONDS elsewhere.
    """

    def __init__(
        self, count: int, run_worker: Callable[[int], object], restart: bool = True
    ) -> None:
        if count < 1:
            raise ValueError(
                f"The number of worker processes is {count}, but it must be at least 1."
            )
        self.count = count
        self.run_worker = run_worker
        self.restart = restart
        self.children: dict[int, int] = {}
        self.failures = 0
        self.stopping = False
        self.forwarded_signals: tuple[signal.Signals, ...] = ()

    def run(self) -> int:
        """Run until every process has exited, and return how many failed."""
        from django.db import connections

        # A child must not share the parent's database sockets.
        connections.close_all()
        self.forwarded_signals = forwarded_signals()
        previous = {
            signum: signal.getsignal(signum) for signum in self.forwarded_signals
        }
        for signum in self.forwarded_signals:
            signal.signal(signum, self._forward)
        try:
            for index in range(self.count):
                self._start(index)
            while self.children:
                self._wait_for_child()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.failures

    def _start(self, index: int) -> None:
        parent_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            self._run_child(index, parent_pid)
        self.children[pid] = index
        logger.info("Started worker process %s (pid %s)", index + 1, pid)

    def _run_child(self, index: int, parent_pid: int) -> None:
        # A forwarded SIGHUP had its default action here before run().
        for signum in self.forwarded_signals:
            signal.signal(signum, signal.SIG_DFL)
        code = 0
        try:
            if stop_with_parent(parent_pid):
                self.run_worker(index)
            else:
                logger.warning(
                    "Worker process %s (pid %s) not started: its parent, "
                    "pid %s, exited",
                    index + 1,
                    os.getpid(),
                    parent_pid,
                )
        except SystemExit as error:
            if error.code is None or isinstance(error.code, int):
                code = error.code or 0
            else:
                code = 1
        except BaseException:
            logger.exception("Worker process %s failed", index + 1)
            code = 1
        finally:
            logging.shutdown()
        os._exit(code)

    def _wait_for_child(self) -> None:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            self.children.clear()
            return
        index = self.children.pop(pid, None)
        if index is None:
            return
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            logger.info("Worker process %s (pid %s) exited", index + 1, pid)
            return
        self.failures += 1
        logger.warning(
            "Worker process %s (pid %s) exited with status %s",
            index + 1,
            pid,
            code,
        )
        if self.restart and not self.stopping:
            time.sleep(RESTART_DELAY)
            self._start(index)

    def _forward(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


def forwarded_signals() -> tuple[signal.Signals, ...]:
    """Return the signals that stop the worker processes when this one gets them.

    SIGHUP is one of them only when its action is the default one, which
    would end this process and leave the workers running.
    """
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        return (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    return (signal.SIGINT, signal.SIGTERM)


def stop_with_parent(parent_pid: int) -> bool:
    """Make the kernel send this process SIGTERM when its parent exits.

    Return False when the parent, ``parent_pid``, has already exited, so
    the caller must not start a worker. Without Linux's PR_SET_PDEATHSIG,
    a thread checks the parent every PARENT_CHECK_SECONDS instead.
    """
    if not request_parent_death_signal(signal.SIGTERM):
        watch_parent(parent_pid)
    # The parent may have exited before the request, and then no signal comes.
    return os.getppid() == parent_pid


def request_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent exits.

    Return whether the kernel accepted, which needs Linux and a C library
    with prctl(). Linux sends the signal when the thread that forked this
    process exits, which for the pool's children is the main thread.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    # prctl() is variadic and reads unsigned longs after the option.
    arguments = [ctypes.c_ulong(value) for value in (signum, 0, 0, 0)]
    if prctl(PR_SET_PDEATHSIG, *arguments) != 0:
        logger.warning(
            "prctl(PR_SET_PDEATHSIG) failed in worker process pid %s: %s. It "
            "checks for its parent's exit every %s s instead",
            os.getpid(),
            os.strerror(ctypes.get_errno()),
            PARENT_CHECK_SECONDS,
        )
        return False
    return True


def watch_parent(parent_pid: int) -> threading.Thread:
    """Start a thread that sends this process SIGTERM once ``parent_pid`` exits.

    An exited parent's children get another parent, so ``os.getppid()``
    changes. The thread is a daemon and ends with the process.
    NOTE: this fallback for systems without prctl(), such as macOS, has
    been run on Linux only.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
