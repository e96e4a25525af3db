"""RQ workers built from settings, with Django database connection care."""

from __future__ import annotations

import functools
import inspect
import logging
import signal
import threading
from typing import Any

from django.db import connections
from rq import Worker
from rq.job import Job, JobStatus
from rq.utils import now
from rq.worker import SimpleWorker

# Task modules import the @job decorator. The worker imports it too, so each
# forked work-horse inherits it instead of importing it for every job.
from . import conf, decorators  # noqa: F401
from .queues import get_queues, resolve_class

logger = logging.getLogger("django_rq_lite.worker")

# The signal that a closed terminal or tmux kill-session sends. Windows has none.
SIGHUP = getattr(signal, "SIGHUP", None)


class DjangoWorkerMixin:
    """Keep Django's database connections sound around every job.

    The worker closes its connections before it forks a work-horse, so a
    horse never shares a socket with its parent. It discards unusable or
    expired connections before and after each job, so a lost database
    connection fails at most one job. On a cold shutdown (a second SIGTERM
    or SIGINT) the killed job is moved to the failed registry with the
    reason, instead of staying "started" until registry cleanup.

    SIGHUP stops the worker as SIGTERM does, warm and then cold, when its
    action is the default one (ending the process) as ``work()`` starts.
    A worker started under ``nohup`` keeps ignoring it.
    """

    # Whether this worker's work() handles SIGHUP. Forked work-horses and
    # the scheduler process inherit the flag with the handler.
    _handles_sighup = False
    # The first stop signal, which a cold shutdown's reason names.
    _stop_signal: int | None = None

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self._handles_sighup = sighup_has_default_action()
        if not self._handles_sighup:
            return super().work(*args, **kwargs)
        # RQ's work() registers the worker in Redis before it installs its
        # signal handlers, so this handler covers that gap.
        signal.signal(SIGHUP, self._request_stop_while_starting)
        try:
            return super().work(*args, **kwargs)
        finally:
            signal.signal(SIGHUP, signal.SIG_DFL)

    def _request_stop_while_starting(self, signum: int, frame: Any) -> None:
        # RQ's loop reads this flag before its first dequeue, then stops and
        # unregisters the worker.
        self._stop_requested = True

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        if self._handles_sighup:
            signal.signal(SIGHUP, self.request_stop)

    def request_stop(self, signum: int, frame: Any) -> None:
        # RQ's request_stop() makes a second SIGINT or SIGTERM a cold
        # shutdown, and raises StopRequested when the worker is idle.
        self._stop_signal = signum
        if self._handles_sighup:
            signal.signal(SIGHUP, self.request_force_stop)
        super().request_stop(signum, frame)

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()
        if self._handles_sighup:
            # The action that the process had before work() replaced it.
            signal.signal(SIGHUP, signal.SIG_DFL)

    def execute_job(self, job: Job, queue: Any) -> Any:
        if not isinstance(self, SimpleWorker):
            connections.close_all()
        return super().execute_job(job, queue)

    def perform_job(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> bool:
        close_old_connections()
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            if self.is_horse:
                # The horse exits after this job without Python's clean-up,
                # so close persistent connections here instead of dropping them.
                connections.close_all()
            else:
                close_old_connections()

    def handle_job_failure(
        self,
        job: Job,
        queue: Any,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Any = None,
    ) -> None:
        # The parameters are RQ 3.0's, so _fail_killed_job passes "execution"
        # here. RQ 2 has no such parameter and cleans up self.execution.
        parent = super().handle_job_failure
        options = {}
        if (
            execution is not None
            and "execution" in inspect.signature(parent).parameters
        ):
            options["execution"] = execution
        parent(job, queue, started_job_registry, exc_string, **options)
        try:
            # Imported here, so a worker that runs no failing job loads
            # none of the dashboard's modules.
            from .dashboard.index import record_failure

            record_failure(self.connection, job, exc_string or "")
        except Exception:
            # The dashboard indexes the job later from the failed registry.
            logger.warning(
                "Failed to index failed job job_id=%s worker=%s",
                job.id,
                self.name,
                exc_info=True,
            )

    def unsubscribe(self) -> None:
        # RQ 3.0 sends UNSUBSCRIBE, then stops the pubsub thread, which
        # redis-py 8.2 joins. When the thread reads the reply before its
        # running flag is cleared, it waits up to 60 s for a subscription,
        # so the worker hangs on exit. With the flag cleared first, the
        # reply ends the thread's loop.
        if self.pubsub_thread is not None:
            try:
                self.pubsub_thread.stop(timeout=0)
            except TypeError:
                # Older redis-py releases have stop() without a timeout,
                # and there it only clears the flag.
                self.pubsub_thread.stop()
        super().unsubscribe()

    def request_force_stop(self, signum: int, frame: Any) -> None:
        execution = self.execution
        job = self.get_current_job() if execution is not None else None
        in_process = not self.horse_pid
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            if job is None:
                raise
            reason = (
                f"Job killed by a cold shutdown of worker {self.name}: it "
                f"received {describe_stop_signals(self._stop_signal, signum)}."
            )
            if in_process:
                # The job runs in this process, so RQ's perform_job() catches
                # this exception and records it as the job's failure. The
                # worker then stops, because the first signal requested it.
                raise SystemExit(reason) from None
            self._fail_killed_job(job, execution, reason)
            raise

    def _fail_killed_job(self, job: Job, execution: Any, reason: str) -> None:
        try:
            if job.get_status(refresh=True) != JobStatus.STARTED:
                return
            job.ended_at = now()
            options = {"queue": self._queue_of(job), "exc_string": reason}
            if "execution" in inspect.signature(self.handle_job_failure).parameters:
                # RQ 3 cleans up the execution it is given, but RQ 2 has no
                # such parameter and cleans up self.execution.
                options["execution"] = execution
            self.handle_job_failure(job, **options)
            logger.warning(
                "Moved killed job to the failed registry job_id=%s worker=%s",
                job.id,
                self.name,
            )
        except Exception:
            logger.exception(
                "Failed to move killed job to the failed registry job_id=%s "
                "worker=%s. Registry cleanup moves it there later.",
                job.id,
                self.name,
            )

    def _queue_of(self, job: Job) -> Any:
        for queue in self.queues:
            if queue.name == job.origin:
                return queue
        return self.queue_class(
            job.origin, connection=self.connection, serializer=self.serializer
        )


def sighup_has_default_action() -> bool:
    """Tell whether SIGHUP would end this process, so a worker may handle it.

    Under ``nohup`` SIGHUP is ignored, and a handler that someone else
    installed stays theirs. Python installs handlers in the main thread only.
    """
    return (
        SIGHUP is not None
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(SIGHUP) == signal.SIG_DFL
    )


def describe_stop_signals(first: int | None, second: int) -> str:
    """Return "SIGTERM twice", or "SIGHUP, then SIGTERM" for two signals."""
    second_name = signal.Signals(second).name
    if first is None or first == second:
        return f"{second_name} twice"
    return f"{signal.Signals(first).name}, then {second_name}"


def close_old_connections() -> None:
    """Close unusable or expired database connections, as Django does per request.

    A connection inside an atomic block is left open, because closing it
    would break the transaction. That is the case when a test runs a
    SimpleWorker inside Django's TestCase transaction.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@functools.cache
def with_django(worker_class: type[Worker]) -> type[Worker]:
    """Return a subclass of ``worker_class`` with the Django mixin."""
    if issubclass(worker_class, DjangoWorkerMixin):
        return worker_class
    return type(worker_class.__name__, (DjangoWorkerMixin, worker_class), {})


def get_worker(
    *queue_names: str,
    worker_class: type[Worker] | str | None = None,
    queue_class: Any = None,
    job_class: Any = None,
    serializer: Any = None,
    **kwargs: Any,
) -> Worker:
    """Return a worker for ``queue_names`` (default: ``default``), in order.

    Other keyword arguments go to the worker class, such as ``name`` or
    ``worker_ttl``. The ``RQ`` setting's ``EXCEPTION_HANDLERS`` are added.
    Log lines name jobs by id, not by description, because a description
    contains the job's arguments; pass ``log_job_description=True`` to log
    descriptions.
    """
    queue_options = {
        "queue_class": queue_class,
        "job_class": job_class,
        "serializer": serializer,
    }
    queues = get_queues(*queue_names, **queue_options)
    serializers = {queue.serializer for queue in queues}
    if len(serializers) > 1 and serializer is None:
        raise ValueError(
            "Queues "
            + ", ".join(repr(queue.name) for queue in queues)
            + " use different serializers, but one worker reads jobs with one. "
            "Give them the same SERIALIZER or start a worker for each."
        )
    klass = with_django(resolve_class(worker_class, "WORKER_CLASS", Worker))
    handlers = conf.get_exception_handlers() + list(
        kwargs.pop("exception_handlers", None) or []
    )
    kwargs.setdefault("log_job_description", False)
    return klass(
        queues,
        connection=queues[0].connection,
        queue_class=type(queues[0]),
        job_class=queues[0].job_class,
        serializer=queues[0].serializer,
        exception_handlers=handlers or None,
        **kwargs,
    )
