"""The work-horse side of FastWorker: a loop that runs job after job."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.suspension import is_suspended
from rq.timeouts import BaseTimeoutException
from rq.utils import now
from rq.worker import WorkerStatus

try:
    from rq.rate_limit import release_slot
except ImportError:
    # RQ 2 has no rate limits, so a finished job has no slot to release.
    def release_slot(job: Job) -> None:
        return None


# Size in bytes of the shared buffer that contains the horse's running job id.
JOB_ID_BYTES = 256


class HorseMixin:
    """Methods that run in FastWorker's long-lived horse.

    The horse is a fork of the worker, so it has a copy of the worker
    object. It receives job messages on a pipe and runs each job with RQ's
    ``perform_job()``. For ``chain_seconds`` after a message, it then
    dequeues and runs jobs itself, and sends the worker a message for each
    job it starts without waiting for a reply. When the queues are empty,
    the time is up, or the worker stops, it replies with whether it retires.
    """

    def _run_horse(self, channel: Any) -> None:
        """Run jobs that arrive on ``channel`` until it closes, then exit."""
        random.seed()
        self.setup_work_horse_signals()
        self._in_fast_horse = True
        self._worker_pid = os.getppid()
        self._horse_pid = 0
        self.executions.clear()
        exit_code = 0
        self._horse_jobs_done = 0
        try:
            while True:
                try:
                    message = channel.recv()
                except EOFError:
                    break
                if self._run_chain(channel, message):
                    break
        except BaseException:
            self.log.exception("Horse %s: unexpected error, exiting", os.getpid())
            exit_code = 1
        finally:
            self.close_horse_resources()
        os._exit(exit_code)

    def _run_chain(self, channel: Any, message: dict) -> bool:
        """Run the job in ``message``, then the jobs this horse dequeues.

        Return whether the horse retires.
        """
        deadline = time.monotonic() + message["chain_seconds"]
        self._perform_message(message)
        while True:
            self._horse_jobs_done += 1
            retire = self._job_timed_out or (
                self.max_jobs_per_horse is not None
                and self._horse_jobs_done >= self.max_jobs_per_horse
            )
            following = None
            if not retire and time.monotonic() < deadline:
                following = self._start_following_job()
            if following is None:
                channel.send({"retire": retire, "next": None})
                return retire
            job, queue, execution = following
            channel.send({"retire": False, "next": describe_job(job, execution)})
            self._run_job(job, queue, execution)

    def _start_following_job(self) -> tuple[Job, Any, Execution] | None:
        """Dequeue a job without waiting and write its start, or return None."""
        if self._chain_stop.value or self._suspended_now():
            return None
        if os.getppid() != self._worker_pid:
            # The worker died, so no one would monitor the next job.
            return None
        try:
            result = self.queue_class.dequeue_any(
                self._ordered_queues,
                None,
                connection=self.connection,
                job_class=self.job_class,
                serializer=self.serializer,
                death_penalty_class=self.death_penalty_class,
            )
            if result is None:
                return None
            job, queue = result
            # NOTE: this reorders the horse's copy of the queues only, so with
            # round-robin or random dequeueing the worker starts from its own.
            self.reorder_queues(reference_queue=queue)
            job.redis_server_version = self.get_redis_server_version()
            self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
            execution, _ = self._start_execution(job, queue, read_hash=False)
        except Exception:
            # The worker's loop retries Redis with its back-off.
            self.log.exception("Horse %s: failed to dequeue a job", os.getpid())
            return None
        return job, queue, execution

    def _suspended_now(self) -> bool:
        # As in the worker, the flag is read at most once a second.
        if time.monotonic() - self._suspension_checked_at < 1.0:
            return False
        self._suspension_checked_at = time.monotonic()
        return bool(is_suspended(self.connection, self))

    def _perform_message(self, message: dict) -> None:
        job = self.job_class(
            message["job_id"], connection=self.connection, serializer=self.serializer
        )
        job.restore(message["job_hash"])
        job.redis_server_version = message["redis_server_version"]
        queue = self._queue_named(message["queue_name"])
        execution = Execution(
            message["execution_id"],
            job.id,
            connection=self.connection,
            worker_name=self.name,
        )
        execution.created_at = message["execution_created_at"]
        execution._job = job
        self._run_job(job, queue, execution)

    def _run_job(self, job: Job, queue: Any, execution: Execution) -> None:
        self.executions.clear()
        self.executions[execution.id] = execution
        os.environ["RQ_JOB_ID"] = job.id
        self._running_job.value = job.id.encode()[: JOB_ID_BYTES - 1]
        self._prepared_job_id = job.id
        self._job_timed_out = False
        try:
            self.perform_job(job, queue, execution)
        finally:
            self._running_job.value = b""

    def _queue_named(self, name: str) -> Any:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return self.queue_class(
            name,
            connection=self.connection,
            job_class=self.job_class,
            serializer=self.serializer,
        )

    def prepare_job_execution(
        self, job: Job, remove_from_intermediate_queue: bool = False
    ) -> None:
        if self._prepared_job_id != job.id:
            super().prepare_job_execution(job, remove_from_intermediate_queue)
            return
        # The worker already wrote this in _start_execution().
        self._prepared_job_id = None
        self.procline(f"Processing {job.func_name} from {job.origin}")

    def handle_job_success(
        self, job: Job, queue: Any, started_job_registry: Any, execution: Execution
    ) -> None:
        """Write a job's success in one transaction, without RQ's WATCH.

        RQ's version watches the job's dependents key and reads it before
        the transaction, which costs two more round trips. Here the
        transaction reads the dependents itself, atomically with the
        FINISHED status, so a dependent added later finds the job finished
        and is enqueued by RQ's enqueue. Dependents read in the transaction
        are enqueued afterwards by RQ's ``enqueue_dependents()``.
        """
        if job.repeats_left is not None and job.repeats_left > 0:
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        result_ttl = job.get_result_ttl(self.default_result_ttl)
        with self.connection.pipeline() as pipeline:
            pipeline.scard(job.dependents_key)
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            if result_ttl != 0:
                # NOTE: _handle_success() is private to RQ; RQ 3.0's worker
                # calls it the same way.
                job._handle_success(
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=execution.id,
                    execution_started_at=execution.created_at,
                    execution_ended_at=job.ended_at,
                )
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            job._status = JobStatus.FINISHED
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            dependents = pipeline.execute()[0]
        if dependents:
            # NOTE: RQ moves dependents to its ready registry inside the success
            # transaction, so its cleanup enqueues them after a crash. Here a
            # horse that dies between the two steps leaves them deferred.
            queue.enqueue_dependents(job)
        release_slot(job)
        self.log.info(
            "Successfully completed job %s in %ss on worker %s",
            job.id,
            job.ended_at - job.started_at,
            self.name,
        )

    def handle_execution_ended(self, job: Job, queue: Any, heartbeat_ttl: int) -> None:
        # RQ's version writes a job heartbeat that keeps the job alive while
        # its callbacks run. Without callbacks, the next transaction ends it.
        if job.success_callback is None and job.failure_callback is None:
            job.ended_at = now()
            return
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if isinstance(exc_info[1], BaseTimeoutException):
            self._job_timed_out = True
        super().handle_exception(job, *exc_info)

    def cleanup_execution(
        self, job: Job, pipeline: Any, execution: Execution | None = None
    ) -> None:
        super().cleanup_execution(job, pipeline, execution)
        if self._in_fast_horse:
            # The worker trusts these writes when the horse replies.
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)

    def close_horse_resources(self) -> None:
        """Release what the horse holds before it exits without clean-up.

        Close Django's database connections, when Django is configured,
        instead of dropping their sockets.
        """
        from django.conf import settings

        if not settings.configured:
            return
        from django.db import connections

        connections.close_all()


def describe_job(job: Job, execution: Execution) -> dict:
    """Return what the worker needs to monitor ``job``, for the pipe."""
    return {
        "job_id": job.id,
        "queue_name": job.origin,
        "timeout": job.timeout,
        "execution_id": execution.id,
        "execution_created_at": execution.created_at,
    }
