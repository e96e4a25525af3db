"""Run several worker processes from one command and supervise them."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

logger = logging.getLogger("django_rq_lite.worker")

# Seconds to wait before restarting a worker process that failed, so a
# worker that fails at start-up does not restart in a busy loop.
RESTART_DELAY = 1.0

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class WorkerProcesses:
    """Fork ``count`` worker processes and restart those that fail.

    Each process calls ``run_worker(index)`` and exits with status 0 when
    it returns. SIGINT and SIGTERM are forwarded to every process, so the
    first signal requests a warm shutdown and the second a cold one, as
    with a single worker. A process that exits with another status is
    restarted unless a signal arrived or ``restart`` is False (burst mode).
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

    def run(self) -> int:
        """Run until every process has exited, and return how many failed."""
        from django.db import connections

        # A child must not share the parent's database sockets.
        connections.close_all()
        previous = {signum: signal.getsignal(signum) for signum in FORWARDED_SIGNALS}
        for signum in FORWARDED_SIGNALS:
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
        pid = os.fork()
        if pid == 0:
            self._run_child(index)
        self.children[pid] = index
        logger.info("Started worker process %s (pid %s)", index + 1, pid)

    def _run_child(self, index: int) -> None:
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        code = 0
        try:
            self.run_worker(index)
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
