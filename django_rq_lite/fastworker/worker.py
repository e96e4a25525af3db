"""An RQ worker that reuses one work-horse process for many jobs."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import rq
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError
from rq import Worker
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution
from rq.job import Job, JobStatus
from rq.utils import as_text, now, parse_composite_key
from rq.worker import WorkerStatus

from .channel import (
    Channel,
    ChannelError,
    SharedBytes,
    SharedCounter,
    SharedFlag,
    wait_readable,
)
from .horse import (
    EPOCH,
    HANDED_RESULT,
    JOB_ID_BYTES,
    MICROSECOND,
    HorseMixin,
    KnownResultSerializer,
    QueuedStart,
    decode_reply,
)
from .restore import restore_job

# A state or heartbeat written to Redis less than this many seconds ago is
# not written again, because the worker loop of RQ 3.0 repeats both several
# times between two jobs.
WRITE_COALESCE_SECONDS = 1.0

# A horse's reply is a marshalled tuple of a few hundred bytes. A larger
# size, or a reply whose bytes stop arriving, means that a job wrote
# invalid data on the channel.
MAX_REPLY_BYTES = 1024 * 1024
REPLY_READ_TIMEOUT = 10.0
# Seconds a horse has to exit after the worker closes its channel.
HORSE_EXIT_TIMEOUT = 5.0

# Seconds during which a horse dequeues and runs jobs itself after the worker
# hands it one. The worker's loop, with its maintenance, runs between two
# hand-offs.
CHAIN_SECONDS = 1.0

# Seconds that an idle worker keeps its horse for the next job. Then it
# stops the horse, so an idle worker is one process, as RQ's worker is. A
# fork takes a few milliseconds, so forking again for jobs that come less
# often than this costs at most about one per cent of the time.
HORSE_IDLE_SECONDS = 1


def supports_installed_rq() -> bool:
    """Tell whether the installed RQ has the internals FastWorker builds on."""
    return int(rq.__version__.split(".")[0]) >= 3


class FastWorker(HorseMixin, Worker):
    """An RQ worker that runs jobs in a long-lived work-horse process.

    RQ's ``Worker`` forks a horse for every job. This worker forks one
    horse and hands it a job over a channel (a Unix socket pair). For up
    to ``CHAIN_SECONDS`` after a hand-off, the horse then dequeues and
    runs the next jobs itself. The horse runs each job with RQ's
    ``perform_job()``, so timeouts, results, retries and callbacks
    behave as with RQ's worker. The worker forks a new horse after a
    crash, after a job is stopped or killed, after a job timeout, and
    after ``max_jobs_per_horse`` jobs. Jobs in one horse share its
    memory, so state that a job leaves in modules stays until the horse
    is replaced.

    The start of a job is written in one round trip. When a job succeeds
    and another is queued, the horse writes the next job's start and
    hands this worker the success to write while the next job runs.
    Otherwise the horse writes the start of the job that it dequeues
    itself in the success transaction of the job before it. The horse
    writes the worker's idle state and heartbeat in the same transaction
    as the last job's result.
    """

    def __init__(
        self, *args: Any, max_jobs_per_horse: int | None = None, **kwargs: Any
    ) -> None:
        if not supports_installed_rq():
            raise ImproperlyConfigured(
                f"FastWorker needs RQ 3.0 or newer, but RQ {rq.__version__} is "
                "installed. Upgrade RQ (pip install 'rq>=3,<4') or use "
                "another worker class."
            )
        if max_jobs_per_horse is not None and max_jobs_per_horse < 1:
            raise ValueError(
                f"max_jobs_per_horse is {max_jobs_per_horse}, but it must be at "
                "least 1. Give a positive number, or None for no limit."
            )
        super().__init__(*args, **kwargs)
        self.max_jobs_per_horse = max_jobs_per_horse
        self._horse_process_pid = 0
        self._horse_pidfd: int | None = None
        self._channel: Any = None
        self._in_fast_horse = False
        self._prepared_job_id: str | None = None
        self._job_timed_out = False
        self._state_written_at = float("-inf")
        self._heartbeat_written_at = float("-inf")
        self._heartbeat_written_ttl = 0
        self._suspension_checked_at = float("-inf")
        self._chain_jobs = True
        self._chain_deadline = float("-inf")
        self._dequeued: Any = None
        self._keep_busy = False
        self._left_busy = False
        self._chain_stop: Any = None
        self._running_job: Any = None
        self._kept_connection: Any = None
        self._pending_start: Any = None
        # A start whose START_SCRIPT reply was lost, and the error.
        self._lost_start: Any = None
        self._state_after_start: Any = None
        self._stand_in_job_id = ""
        self._stand_in_queue_name = ""
        # The horse's side of handed ends; see HorseMixin._hand_off_end().
        self._handed: dict = {}
        self._handed_count = 0
        self._ending_handed = False
        self._ending_chain = False
        # Shared with the horse: the number of the last handed end written.
        # The worker also keeps the ends it has yet to write, in order.
        self._handed_ack: Any = None
        self._unwritten_ends: list[UnwrittenEnd] = []
        # True from a dequeue that returned a job until the job's start is
        # written, while the worker's state is not yet busy.
        self._starting_job = False

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # With max_jobs, RQ's loop counts each job, so the horse runs only
        # the jobs that the worker hands it.
        arguments = inspect.signature(Worker.work).bind(self, *args, **kwargs)
        self._chain_jobs = arguments.arguments.get("max_jobs") is None
        return super().work(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> Any:
        """Dequeue as RQ does, and stop the horse after HORSE_IDLE_SECONDS idle."""
        keep_horse = timeout is not None and (
            max_idle_time is None or max_idle_time > HORSE_IDLE_SECONDS
        )
        self._write_unwritten_ends()
        result = self._dequeue_with_idle_horse(timeout, max_idle_time, keep_horse)
        # Until execute_job() has written the job's start, a warm shutdown
        # must let the job run, as during a job, instead of raising.
        self._starting_job = result is not None
        return result

    def _dequeue_with_idle_horse(
        self, timeout: int | None, max_idle_time: int | None, keep_horse: bool
    ) -> Any:
        if not (keep_horse and self._horse_process_pid):
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        waited_since = time.monotonic()
        result = super().dequeue_job_and_maintain_ttl(
            min(timeout, HORSE_IDLE_SECONDS), HORSE_IDLE_SECONDS
        )
        if result is not None:
            return result
        self.log.debug(
            "Worker %s: stopping idle horse %s", self.name, self._horse_process_pid
        )
        self._stop_horse()
        if max_idle_time is not None:
            waited = int(time.monotonic() - waited_since)
            max_idle_time = max(1, max_idle_time - waited)
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def _shutdown(self) -> None:
        """Stop after the current job, or at once when no job is running.

        RQ raises StopRequested from the signal handler when the worker is
        not busy. Between a dequeue and the job's start that would drop
        the dequeued job, and during ``os.fork()`` Python ignores the
        exception, so the stop was lost. There the worker stops after the
        job instead, as it does during a job.
        NOTE: _shutdown() is private to RQ; RQ 3.0's request_stop() calls it.
        """
        if not self._starting_job:
            super()._shutdown()
            return
        # As RQ's _shutdown() does for a busy worker.
        self._stop_requested = True
        self.set_shutdown_requested_date()
        if self.scheduler:
            self.stop_scheduler()
        self.log.debug("Worker %s: stopping after the job it is starting", self.name)

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        if self._chain_stop is not None:
            # The horse finishes its job and takes no other.
            self._chain_stop.value = True

    def get_current_job_id(self) -> str | None:
        """Return the id of the horse's running job, as the horse wrote it.

        The horse dequeues jobs itself, so the worker's own record can be a
        job behind. A stop command for a job that already ended is ignored.
        NOTE: RQ's stop by execution id still reads the worker's record.
        """
        job_id = super().get_current_job_id()
        if job_id is None or self._in_fast_horse or self._running_job is None:
            return job_id
        running = self._running_job.value
        if len(running) >= JOB_ID_BYTES - 1:
            # Too long for the buffer: trust the worker's record.
            return job_id
        return running.decode(errors="replace") or None

    # Writes that the worker loop repeats.

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is None and state == self._state and self._state_is_fresh():
            return
        super().set_state(state, pipeline=pipeline)
        if pipeline is None:
            self._state_written_at = time.monotonic()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        timeout = timeout or self.worker_ttl + 60
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        if self._heartbeat_covers(timeout):
            return
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(timeout, pipeline=batch)
            batch.execute()
        self._note_heartbeat(timeout)

    def check_for_suspension(self, burst: bool) -> None:
        # RQ reads the suspension flag before every job. Reading it at most
        # once a second saves a round trip per job, so a suspension takes
        # effect up to a second later.
        if time.monotonic() - self._suspension_checked_at < WRITE_COALESCE_SECONDS:
            return
        super().check_for_suspension(burst)
        self._suspension_checked_at = time.monotonic()

    def _state_is_fresh(self) -> bool:
        return time.monotonic() - self._state_written_at < WRITE_COALESCE_SECONDS

    def _heartbeat_covers(self, timeout: int) -> bool:
        elapsed = time.monotonic() - self._heartbeat_written_at
        return (
            elapsed < WRITE_COALESCE_SECONDS and self._heartbeat_written_ttl >= timeout
        )

    def _note_heartbeat(self, timeout: int) -> None:
        self._heartbeat_written_at = time.monotonic()
        self._heartbeat_written_ttl = timeout

    # The worker's side.

    def execute_job(self, job: Job, queue: Any) -> None:
        self._starting_job = True
        try:
            # The start comes before a fork, as in RQ's worker, so a worker
            # killed while it forks leaves the job started, not dequeued only.
            execution, job_hash = self._start_execution(job, queue)
            self._ensure_horse()
        finally:
            # From here the worker is busy, and RQ's _shutdown() waits.
            self._starting_job = False
        message = {
            "job_id": job.id,
            "job_hash": job_hash,
            "queue_name": queue.name,
            "execution_id": execution.id,
            "execution_created_at": execution.created_at,
            "redis_server_version": job.redis_server_version,
            "chain_seconds": self._chain_seconds(),
        }
        self._running_job.value = job.id.encode()[: JOB_ID_BYTES - 1]
        os.environ["RQ_WORKER_ID"] = self.name
        os.environ["RQ_JOB_ID"] = job.id
        self._horse_pid = self._horse_process_pid
        try:
            self._channel.send(message)
        except OSError:
            # The idle horse died; monitoring finds it gone and fails the job.
            self.log.warning(
                "Worker %s: could not send job %s to horse %s",
                self.name,
                job.id,
                self._horse_process_pid,
            )
        self.procline(f"Job {job.id} in horse {self._horse_process_pid}")
        self._monitor_horse(job, queue, execution)

    def _chain_seconds(self) -> float:
        if self._chain_jobs and not self._stop_requested:
            return CHAIN_SECONDS
        return 0.0

    def _start_execution(
        self, job: Job, queue: Any, read_hash: bool = True
    ) -> tuple[Execution, dict | None]:
        """Write the start of ``job`` in one round trip and return its hash.

        This combines RQ's ``prepare_execution()``, which the worker runs,
        with ``prepare_job_execution()``, which RQ's horse runs, so the horse
        skips the latter. RQ writes them in two round trips, so they are not
        atomic there either. A pipeline without MULTI saves a reply per command.
        """
        with self.connection.pipeline(transaction=False) as pipeline:
            # With one queue, RQ's dequeue leaves the id in the intermediate list.
            intermediate_key = (
                queue.intermediate_queue_key if len(self.queues) == 1 else None
            )
            start = self._queue_start(job, pipeline, intermediate_key)
            if read_hash:
                pipeline.hgetall(job.key)
            results = self._execute_pipeline(pipeline)
        self._note_start(start)
        return start.execution, results[-1] if read_hash else None

    def _queue_start(
        self, job: Job, pipeline: Any, intermediate_key: str | None = None
    ) -> QueuedStart:
        """Add the commands that write the start of ``job`` to ``pipeline``.

        When ``intermediate_key`` is given, the start also removes the job's
        id from that intermediate list.
        """
        heartbeat_ttl = self.get_heartbeat_ttl(job)
        execution = Execution.create(
            job, heartbeat_ttl, pipeline=pipeline, worker_name=self.name
        )
        self.executions[execution.id] = execution
        # Between two jobs that a horse runs in a row, the worker stays
        # busy, and _heartbeat_covers() skips a heartbeat written less
        # than WRITE_COALESCE_SECONDS ago.
        if self._state != WorkerStatus.BUSY:
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        # A running job sets the worker key's expiry to heartbeat_ttl,
        # shorter than an idle worker's, as RQ's worker does.
        write_heartbeat = not (
            self._heartbeat_covers(heartbeat_ttl)
            and self._heartbeat_written_ttl == heartbeat_ttl
        )
        if write_heartbeat:
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
        # This also writes the job's heartbeat.
        job.prepare_for_execution(self.name, pipeline=pipeline)
        pipeline.persist(job.key)
        if intermediate_key is not None:
            pipeline.lrem(intermediate_key, 1, job.id)
        return QueuedStart(job, execution, heartbeat_ttl if write_heartbeat else None)

    def _note_start(self, start: QueuedStart) -> None:
        """Record in this object that the start of ``start.job`` was written."""
        self._state_written_at = time.monotonic()
        if start.heartbeat_ttl is not None:
            self._note_heartbeat(start.heartbeat_ttl)

    def _ensure_horse(self) -> None:
        if self._horse_process_pid and self._reap_horse(block=False) is None:
            return
        parent_end, horse_end = Channel.pair()
        # Shared with the horse: a flag that stops it from taking more jobs,
        # and the id of the job it runs.
        self._chain_stop = SharedFlag(self._stop_requested)
        self._running_job = SharedBytes(JOB_ID_BYTES)
        self._handed_ack = SharedCounter()
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            os.setpgrp()
            self._run_horse(horse_end)
        horse_end.close()
        # Set in both processes, so that a killpg() right after the fork
        # cannot come before the horse's own setpgrp().
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        self._channel = parent_end
        self._horse_process_pid = pid
        self._horse_pidfd = open_pidfd(pid)
        self.log.info("Worker %s: started horse %s", self.name, pid)

    def _monitor_horse(self, job: Job, queue: Any, execution: Execution) -> None:
        job.started_at = now()
        reply = None
        while reply is None:
            ready = wait_readable(self._wait_objects(), self.job_monitoring_interval)
            if ready:
                reply = self._receive_reply()
                if reply is None:
                    break
                if reply["next"] is not None:
                    job, queue, execution = self._follow_job(reply["next"], execution)
                    if reply["handed"] is not None:
                        self._unwritten_ends.append(
                            UnwrittenEnd(self._handed_ack, reply["handed"])
                        )
                        self._write_unwritten_ends()
                    reply = None
                continue
            self._write_unwritten_ends()
            if not self._horse_alive():
                break
            working_time = (now() - job.started_at).total_seconds()
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            if job.timeout != -1 and working_time > timeout + 60:
                # The horse did not end the job at its timeout, so it is stuck.
                self.heartbeat(self.job_monitoring_interval + 60)
                self.kill_horse()
                break
            self.maintain_heartbeats(job, execution)

        self._horse_pid = 0
        self.executions.pop(execution.id, None)
        self._write_unwritten_ends()
        if reply is not None:
            self._finish_reply(reply)
            return
        status = self._reap_horse(block=True)
        self._fail_lost_job(job, queue, execution, status)
        self._fail_unreported_jobs(status)

    def _follow_job(
        self, message: dict, previous: Execution
    ) -> tuple[Job, Any, Execution]:
        """Monitor the job that the horse dequeued itself, described by ``message``."""
        self.executions.pop(previous.id, None)
        job = self._new_job(message["job_id"])
        job.timeout = message["timeout"]
        job.origin = message["queue_name"]
        job.started_at = now()
        execution = self._execution_from(message, job)
        self.executions[execution.id] = execution
        return job, self._queue_named(message["queue_name"]), execution

    def _wait_objects(self) -> list:
        objects = [self._channel]
        if self._horse_pidfd is not None:
            objects.append(self._horse_pidfd)
        return objects

    def _receive_reply(self) -> dict | None:
        """Return the horse's next reply, or None when there is none to read.

        Invalid data on the channel, which only a job in the horse can write,
        gets the horse killed, so that the caller fails its job and reaps it.

        NOTE: a job that closes the horse's end of the channel while it runs
        makes this return None with the horse alive. The caller then waits
        for the horse to exit, without timeout or heartbeat care meanwhile.
        """
        try:
            if not self._channel.poll():
                # Only the pidfd is ready, so the horse exited without a reply.
                return None
            data = self._channel.recv_bytes(MAX_REPLY_BYTES, REPLY_READ_TIMEOUT)
        except (ChannelError, TimeoutError) as error:
            self._kill_broken_horse(error)
            return None
        except (EOFError, OSError):
            return None
        try:
            return decode_reply(data)
        except (EOFError, ValueError, TypeError) as error:
            # marshal raises EOFError for data cut short.
            self._kill_broken_horse(error)
            return None

    def _kill_broken_horse(self, error: Exception) -> None:
        pid = self._horse_process_pid
        self.log.warning(
            "Worker %s: invalid reply from horse %s (%s: %s), killing it",
            self.name,
            pid,
            type(error).__name__,
            error,
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def _finish_reply(self, reply: dict) -> None:
        # The horse wrote the idle state and a heartbeat with the job's end.
        self._state = WorkerStatus.IDLE
        self._state_written_at = time.monotonic()
        self._note_heartbeat(self.worker_ttl + 60)
        if reply["retire"]:
            self._reap_horse(block=True)

    def _fail_lost_job(
        self, job: Job, queue: Any, execution: Execution, status: int | None
    ) -> None:
        """Fail ``job`` after its horse exited without a reply, as RQ's worker does."""
        self.set_state(WorkerStatus.IDLE)
        try:
            # A job that the horse dequeued is known here only by its id.
            job.refresh()
            job_status = job.get_status(refresh=False)
        except Exception:
            # The job finished and its hash expired, or it was deleted.
            return
        if self._stopped_job_id == job.id:
            self._handle_stopped_job(job, queue, execution)
            return
        if job_status == JobStatus.FINISHED:
            # The horse died after the success, maybe before the dependents.
            self._enqueue_dependents_if_any(job, queue)
            return
        if job_status == JobStatus.FAILED:
            return
        job.ended_at = now()
        detail = describe_exit(status)
        exc_string = f"Work-horse terminated unexpectedly ({detail})."
        self.log.warning("Worker %s: job %s failed: %s", self.name, job.id, exc_string)
        self.handle_work_horse_killed(job, self._horse_process_pid, status, None)
        self.handle_job_failure(
            job, queue=queue, exc_string=exc_string, execution=execution
        )

    def _fail_unreported_jobs(self, status: int | None) -> None:
        """Fail the jobs that the dead horse started but did not report.

        The horse writes a job's start in the transaction that ends the job
        before it, then sends the worker a message. A horse killed in between
        leaves a started job that only this worker's executions set records.
        """
        key = WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.name)
        try:
            members = self.connection.smembers(key)
        except RedisError:
            self.log.warning(
                "Worker %s: failed to read its executions after horse %s died. "
                "Registry cleanup fails its started jobs later",
                self.name,
                self._horse_process_pid,
                exc_info=True,
            )
            return
        unwritten = {end.execution_id for end in self._unwritten_ends}
        for member in members:
            job_id, execution_id = parse_composite_key(as_text(member))
            if execution_id in self.executions or execution_id in unwritten:
                continue
            job = self._new_job(job_id)
            try:
                job.refresh()
            except Exception:
                # The job is gone, so only its execution record is left.
                self.connection.srem(key, member)
                continue
            execution = Execution(
                execution_id, job_id, connection=self.connection, worker_name=self.name
            )
            self._fail_lost_job(job, self._queue_named(job.origin), execution, status)

    def _write_unwritten_ends(self) -> None:
        """Write the successes that horses handed on, in the order they came.

        A Redis error leaves the rest for the next call, which the worker
        makes at each monitoring interval and before each dequeue. Each
        success written is reported to its horse through the shared counter.
        """
        while self._unwritten_ends:
            end = self._unwritten_ends[0]
            # Counted before the write: a cold shutdown's SystemExit can
            # interrupt a write after Redis ran it.
            end.attempts += 1
            try:
                self._write_end(end)
            except RedisError:
                if end.attempts == 1:
                    self.log.warning(
                        "Worker %s: failed to write the success of job %s, retrying",
                        self.name,
                        end.job_id,
                        exc_info=True,
                    )
                return
            except Exception:
                # Its execution stays in the started registry, whose cleanup
                # fails the job once this worker is gone.
                self.log.exception(
                    "Worker %s: failed to write the success of job %s",
                    self.name,
                    end.job_id,
                )
            self._unwritten_ends.pop(0)
            end.counter.value = end.message[0]

    def _write_end(self, end: UnwrittenEnd) -> None:
        """Write the success that ``end`` describes, with RQ's code."""
        _, job_id, queue_name, execution_id, micros, fields, result = end.message
        job = self._new_job(job_id)
        retry = end.attempts > 1
        status = self.connection.hget(job.key, "status") if retry else None
        if status is not None and as_text(status) == JobStatus.FINISHED:
            # A write that raised may have written the success first.
            job.origin = queue_name
            self._enqueue_dependents_if_any(job, self._queue_named(queue_name))
            return
        encoder = self.connection.connection_pool.get_encoder()
        restore_job(
            job, {name: encoder.encode(value) for name, value in fields.items()}
        )
        if result is not None:
            job.serializer = KnownResultSerializer(self.serializer, result)
            job._result = HANDED_RESULT
        queue = self._queue_named(queue_name)
        execution = self._execution_from(
            {
                "execution_id": execution_id,
                "execution_created_at": EPOCH + micros * MICROSECOND,
            },
            job,
        )
        self.log.debug(
            "Worker %s: writing the success of job %s, handed on by its horse",
            self.name,
            job_id,
        )
        self.handle_job_success(job, queue, queue.started_job_registry, execution)

    def _horse_alive(self) -> bool:
        return self._reap_horse(block=False) is None

    def _reap_horse(self, block: bool) -> int | None:
        """Return the horse's wait status once it has exited, else None.

        After the horse has been reaped, by this method or by RQ's
        ``wait_for_horse()``, this returns -1 and clears the horse's pid, channel
        and pidfd.
        """
        pid = self._horse_process_pid
        if not pid:
            return -1
        try:
            reaped, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            reaped, status = pid, -1
        if reaped == 0:
            return None
        self._forget_horse()
        return status

    def _forget_horse(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._horse_pidfd is not None:
            os.close(self._horse_pidfd)
        self._channel = None
        self._horse_pidfd = None
        self._horse_process_pid = 0
        self._chain_stop = None
        self._running_job = None

    def _stop_horse(self) -> None:
        """Close the idle horse's channel, so it exits, and kill it if it does not."""
        pid = self._horse_process_pid
        if not pid:
            return
        self._channel.close()
        deadline = time.monotonic() + HORSE_EXIT_TIMEOUT
        while self._reap_horse(block=False) is None:
            if time.monotonic() > deadline:
                self.log.warning(
                    "Worker %s: horse %s did not exit in %s s, killing it",
                    self.name,
                    pid,
                    HORSE_EXIT_TIMEOUT,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self._reap_horse(block=True)
                return
            time.sleep(0.01)

    def teardown(self) -> None:
        if not self._in_fast_horse:
            self._stop_horse()
            self._write_unwritten_ends()
            for end in self._unwritten_ends:
                self.log.error(
                    "Worker %s: exiting without writing the success of job %s. "
                    "Registry cleanup fails it as abandoned",
                    self.name,
                    end.job_id,
                )
        super().teardown()


@dataclass
class UnwrittenEnd:
    """A success that a horse handed on, not yet written by the worker."""

    # The horse's SharedCounter of written ends, and its HandedEnd.message.
    counter: Any
    message: tuple
    attempts: int = 0

    @property
    def job_id(self) -> str:
        return self.message[1]

    @property
    def execution_id(self) -> str:
        return self.message[3]


def open_pidfd(pid: int) -> int | None:
    """Return a file descriptor that becomes readable when ``pid`` exits.

    Return None where ``os.pidfd_open`` is missing (before Linux 5.3 and
    on other systems). The worker then checks the horse once a
    monitoring interval.
    """
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def describe_exit(status: int | None) -> str:
    if status is None or status < 0:
        return "exit status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
