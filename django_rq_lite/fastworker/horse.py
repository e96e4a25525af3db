"""The work-horse side of FastWorker: a loop that runs job after job."""

from __future__ import annotations

import marshal
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from redis.exceptions import RedisError, WatchError
from rq.exceptions import NoSuchJobError
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.suspension import is_suspended
from rq.timeouts import BaseTimeoutException
from rq.utils import as_text, now
from rq.worker import WorkerStatus

from ..job_writer import CONNECTION_ARGS
from . import pipeline as packed_pipeline
from .restore import restore_job

try:
    from rq.rate_limit import release_slot
except ImportError:
    # RQ 2 has no rate limits, so a finished job has no slot to release.
    def release_slot(job: Job) -> None:
        return None


# Size in bytes of the shared buffer that contains the horse's running job id.
JOB_ID_BYTES = 256

# The horse hands the worker the end of a job only when the job's fields and
# result take at most this many bytes, and writes a larger job's end itself.
# The worker reads messages of up to 1 MiB.
MAX_HANDED_END_BYTES = 256 * 1024

# Times that a job's end tries again to enqueue a dependent that RQ's
# enqueue_jobs() skipped because its records changed meanwhile, after a
# random pause of up to DEPENDENT_RETRY_SECONDS.
DEPENDENT_RETRIES = 5
DEPENDENT_RETRY_SECONDS = 0.005

# Statuses of a dependent that another process has already moved out of
# the deferred state.
MOVED_STATUSES = frozenset(
    {
        JobStatus.READY_TO_ENQUEUE,
        JobStatus.QUEUED,
        JobStatus.STARTED,
        JobStatus.FINISHED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
    }
)

# Seconds that an exiting horse waits for the worker to write the successes
# it handed on, before it leaves them to the worker. The worker kills a
# horse that does not exit 5 seconds after it closes the channel.
SETTLE_SECONDS = 2.0

# Takes the next job off the queues KEYS, in their order, and writes its
# start in the same atomic step, so no crash can leave the job dequeued but
# not started. The start is the commands after ARGV[5], each given as its
# argument count and then its arguments, with ARGV[3] in place of the job id
# and ARGV[4] in place of the queue name. ARGV[1] is the job key prefix,
# ARGV[2] the queue key prefix and ARGV[5] the worker's job monitoring
# interval. The id of a job whose hash is gone (deleted or expired while
# queued) is dropped, as RQ's dequeue drops it. Returns false when the
# queues are empty, and the queue key, the job id and the job's hash once
# the start is written. Returns 0, leaving the job queued for the worker's
# own dequeue, when the job's origin is another queue or its timeout is
# shorter than the interval, because RQ gives such a job a shorter heartbeat
# than the commands contain.
START_SCRIPT = """
local function can_start(fields, queue_name)
    for index = 1, #fields, 2 do
        local name, value = fields[index], fields[index + 1]
        if name == "origin" and value ~= queue_name then
            return false
        end
        if name == "timeout" then
            local timeout = tonumber(value)
            if timeout and timeout > 0 and timeout < tonumber(ARGV[5]) then
                return false
            end
        end
    end
    return true
end
-- A "%" in a replacement would be read as a capture by gsub().
local function escape(text)
    return (string.gsub(text, "%%", "%%%%"))
end
-- The stand-in id and queue name are hexadecimal, with no pattern
-- characters, so a plain find() tells whether gsub() has work to do.
-- Most arguments hold neither, and find() is cheaper than a gsub().
local function replace(text, stand_in, replacement)
    if string.find(text, stand_in, 1, true) then
        return (string.gsub(text, stand_in, replacement))
    end
    return text
end
for _, queue_key in ipairs(KEYS) do
    local queue_name = string.sub(queue_key, #ARGV[2] + 1)
    while true do
        local job_id = redis.call("LINDEX", queue_key, 0)
        if not job_id then
            break
        end
        local fields = redis.call("HGETALL", ARGV[1] .. job_id)
        if #fields == 0 then
            redis.call("LPOP", queue_key)
        elseif not can_start(fields, queue_name) then
            return 0
        else
            redis.call("LPOP", queue_key)
            local job_text, queue_text = escape(job_id), escape(queue_name)
            local index = 6
            while index <= #ARGV do
                local count = tonumber(ARGV[index])
                local command = {}
                for offset = 1, count do
                    local text = replace(ARGV[index + offset], ARGV[3], job_text)
                    command[offset] = replace(text, ARGV[4], queue_text)
                end
                redis.call(unpack(command))
                index = index + count + 1
            end
            return {queue_key, job_id, fields}
        end
    end
end
return false
"""


@dataclass
class HandedEnd:
    """The success of a job whose end the horse hands to the worker to write.

    ``message`` contains what the worker needs to write it. It is a tuple
    of ``number``, the job's id, its queue name, the execution id and its
    creation time in microseconds since the epoch, the job's fields as RQ
    saves them, and the return value that the job's serializer wrote. The
    last is None when the job returned None.
    """

    number: int
    job: Job
    queue: Any
    execution: Execution
    message: tuple
    sent: bool = False


class KnownResultSerializer:
    """A job's serializer that returns a return value the horse already serialized.

    The worker writes a handed end with RQ's own code, which serializes the
    job's return value. The horse sends the bytes, not the object, so this
    serializer returns them for ``HANDED_RESULT`` instead of serializing
    the value again.
    """

    def __init__(self, serializer: Any, result: bytes) -> None:
        self.serializer = serializer
        self.result = result

    def dumps(self, value: Any) -> bytes:
        if value is HANDED_RESULT:
            return self.result
        return self.serializer.dumps(value)

    def loads(self, data: bytes) -> Any:
        return self.serializer.loads(data)


# Marker for the return value that KnownResultSerializer contains serialized.
HANDED_RESULT = object()


@dataclass
class QueuedStart:
    """The start of a job, added to a pipeline that has not run yet."""

    job: Job
    execution: Execution
    # The TTL of the worker heartbeat that the start writes, if it writes one.
    heartbeat_ttl: int | None


class HorseMixin:
    """Methods that run in FastWorker's long-lived horse.

    The horse is a fork of the worker, so it has a copy of the worker
    object. It receives job messages on a channel (a Unix socket pair)
    and runs each job with RQ's ``perform_job()``. For ``chain_seconds``
    after a message, it then dequeues and runs jobs itself, and sends
    the worker a message for each job it starts without waiting for a
    reply. When the queues are empty, the time is up, or the worker
    stops, it replies with whether it retires.

    When a job succeeds and another is queued, the horse writes only the
    next job's start, and hands the worker the success to write while it
    runs the next job: see ``_hand_off_end()``.
    """

    def _run_horse(self, channel: Any) -> None:
        """Run jobs that arrive on ``channel`` until it closes, then exit."""
        random.seed()
        self.setup_work_horse_signals()
        self._in_fast_horse = True
        self._worker_pid = os.getppid()
        self._horse_pid = 0
        # RQ's worker sets this before it forks a horse, and jobs may read it.
        os.environ["RQ_WORKER_ID"] = self.name
        # Hexadecimal, so START_SCRIPT's gsub() reads them as plain text.
        self._stand_in_job_id = uuid.uuid4().hex
        self._stand_in_queue_name = f"q{uuid.uuid4().hex}"
        self.executions.clear()
        exit_code = 0
        self._horse_jobs_done = 0
        self._handed = {}
        self._handed_count = 0
        try:
            while True:
                try:
                    message = channel.recv()
                except EOFError:
                    break
                except (BrokenPipeError, ConnectionResetError) as error:
                    self._log_lost_worker(error)
                    break
                if self._run_chain(channel, message):
                    break
        except BaseException:
            self.log.exception("Horse %s: unexpected error, exiting", os.getpid())
            exit_code = 1
        finally:
            try:
                self._settle_handed_ends()
            except BaseException:
                self.log.exception(
                    "Horse %s: failed to write the ends of jobs it handed to "
                    "worker process %s",
                    os.getpid(),
                    self._worker_pid,
                )
                exit_code = 1
            self.close_horse_resources()
        os._exit(exit_code)

    def _run_chain(self, channel: Any, message: dict) -> bool:
        """Run the job in ``message``, then the jobs this horse dequeues.

        Return whether the horse retires.
        """
        self._chain_deadline = time.monotonic() + message["chain_seconds"]
        self._dequeued = None
        self._perform_message(message)
        while True:
            self._horse_jobs_done += 1
            retire = self._job_timed_out or self._reached_max_jobs(
                self._horse_jobs_done
            )
            following = None
            if self._dequeued is not None:
                # The last job's end already took the next job off its queue.
                following = self._start_following_job()
            elif not retire and time.monotonic() < self._chain_deadline:
                following = self._start_following_job()
            self._dequeued = None
            if following is None:
                self._end_chain()
                self._fail_lost_start()
                try:
                    channel.send_bytes(encode_reply(retire))
                except (BrokenPipeError, ConnectionResetError) as error:
                    # The jobs' ends are written, so only the reply is lost.
                    self._log_lost_worker(error)
                    return True
                return retire
            job, queue, execution = following
            if self._report_or_fail(channel, job, queue, execution):
                return True
            self._run_job(job, queue, execution)

    def _end_chain(self) -> None:
        """Write the ends that no message carried, and the worker's idle state.

        The last job's end is handed on before the reply that shows whether
        a job follows it. When none does, no message carries the end, so it
        is written here, in the transaction that writes the worker idle.
        """
        unsent = [number for number, end in self._handed.items() if not end.sent]
        if len(unsent) == 1 and self._left_busy:
            end = self._handed[unsent[0]]
            self._write_handed_end(end, idle=True)
            del self._handed[end.number]
            return
        self._write_ends_here(unsent_only=True)
        if self._left_busy:
            # The last job's end left the worker busy for the next job. The
            # worker trusts the horse to write it idle.
            self._write_idle()

    def _report_or_fail(
        self, channel: Any, job: Job, queue: Any, execution: Execution
    ) -> bool:
        """Tell the worker about a job that this horse started.

        Return True when the worker is gone: then no one would monitor the
        job, so it fails at once without running, and the horse retires.
        """
        # The last job's end, when the horse hands it to the worker.
        end = next((end for end in self._handed.values() if not end.sent), None)
        try:
            channel.send_bytes(encode_reply(False, job, execution, end and end.message))
        except OSError as error:
            self._fail_unmonitored_job(job, queue, execution, error)
            return True
        if end is not None:
            end.sent = True
        return False

    def _log_lost_worker(self, error: OSError) -> None:
        """Log that the worker closed its end of the channel, as its exit does."""
        self.log.warning(
            "Horse %s: worker process %s exited or closed the channel (%s), "
            "so the horse exits",
            os.getpid(),
            self._worker_pid,
            error,
        )

    def _fail_unmonitored_job(
        self,
        job: Job,
        queue: Any,
        execution: Execution,
        error: OSError | None = None,
        cause: str | None = None,
    ) -> None:
        """Fail a job that this horse started when its worker cannot monitor it.

        ``cause``, when given, is the reason's text after "Horse PID".
        """
        if cause is None and os.getppid() == self._worker_pid and error is not None:
            # A job closed or replaced the horse's end of the channel.
            cause = f"lost its channel to worker process {self._worker_pid} ({error})"
        elif cause is None:
            cause = f"outlived its worker process {self._worker_pid}"
        reason = (
            f"Horse {os.getpid()} {cause} before the job ran. "
            "The job did not run; requeue it."
        )
        self.log.warning("Horse %s: failing job %s: %s", os.getpid(), job.id, reason)
        job.ended_at = now()
        self.handle_job_failure(
            job, queue=queue, exc_string=reason, execution=execution
        )

    def _write_idle(self) -> None:
        with self.connection.pipeline() as pipeline:
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)
            pipeline.execute()

    def _reached_max_jobs(self, jobs_done: int) -> bool:
        return (
            self.max_jobs_per_horse is not None and jobs_done >= self.max_jobs_per_horse
        )

    def _may_take_next_job(self) -> bool:
        """Tell whether the job that ends now may be followed by another here."""
        return (
            not self._reached_max_jobs(self._horse_jobs_done + 1)
            and time.monotonic() < self._chain_deadline
            and self._may_take_job()
        )

    def _may_take_job(self) -> bool:
        """Tell whether the horse may dequeue another job now."""
        if self._chain_stop.value or self._suspended_now():
            return False
        # If the worker died, no one would monitor the next job.
        return os.getppid() == self._worker_pid

    def _start_following_job(self) -> tuple[Job, Any, Execution] | None:
        """Dequeue a job without waiting and write its start, or return None.

        The job is the one dequeued with the last job's success, if any.
        """
        dequeued = self._dequeued
        if dequeued is None and not self._may_take_job():
            return None
        try:
            if dequeued is None and not uses_rq_dequeue(self.queue_class):
                # NOTE: a custom dequeue and the start are two round trips,
                # and a horse killed between them leaves the job dequeued.
                result = self._dequeue()
                if result is None:
                    return None
                job, queue = result
                execution, _ = self._start_execution(job, queue, read_hash=False)
            else:
                if dequeued is None:
                    with self.connection.pipeline(transaction=False) as pipeline:
                        self._add_dequeue(pipeline)
                        (dequeued,) = self._execute_pipeline(pipeline)
                elif isinstance(dequeued, packed_pipeline.SentRequest):
                    dequeued = self._read_dequeued(dequeued)
                pending_start, self._pending_start = self._pending_start, None
                result = self._restore_dequeued(dequeued)
                if result is None:
                    return None
                job, queue = result
                execution = self._adopt_start(pending_start, job)
            # NOTE: this reorders the horse's copy of the queues only, so with
            # round-robin or random dequeueing the worker starts from its own.
            self.reorder_queues(reference_queue=queue)
            job.redis_server_version = self.get_redis_server_version()
            self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
        except RedisError as error:
            # The worker's loop retries Redis with its back-off.
            self._lose_start(error)
            return None
        except Exception:
            self.log.exception("Horse %s: failed to dequeue a job", os.getpid())
            return None
        return job, queue, execution

    def _lose_start(self, error: RedisError) -> None:
        """Note that the reply to START_SCRIPT was lost with ``error``.

        Redis may have run the script, so ``_fail_lost_start()`` looks for
        the job it started once the chain ends. The horse looks for no
        other job in this chain.
        """
        self.log.warning(
            "Horse %s: failed to dequeue and start the next job: %s",
            os.getpid(),
            error,
        )
        if self._pending_start is not None:
            self._lost_start = (self._pending_start, error)
            self._pending_start = None
        self._dequeued = False

    def _fail_lost_start(self) -> None:
        """Fail the job whose start a lost START_SCRIPT reply may have written.

        When the connection fails after the script was sent, Redis may have
        taken a job off its queue and started it, and the horse does not
        know which. The start's execution id is known, and the worker's
        executions set names the job. That job did not run, and no one
        monitors it, so it fails at once, with the reason that it did not run,
        instead of staying started until registry cleanup fails it as
        abandoned. When Redis is still unreachable, this raises, so the
        horse exits and the worker fails the jobs it does not know.
        """
        if self._lost_start is None:
            return
        start, error = self._lost_start
        self._lost_start = None
        key = WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.name)
        suffix = f":{start.execution.id}"
        for member in self.connection.smembers(key):
            composite_key = as_text(member)
            if not composite_key.endswith(suffix):
                continue
            job_id = composite_key[: -len(suffix)]
            job = self._new_job(job_id)
            try:
                job.refresh()
            except NoSuchJobError:
                # The job was deleted, so only its execution record is left.
                self.connection.srem(key, member)
                return
            start.execution.job_id = job_id
            cause = (
                f"lost its Redis connection ({error}) after the job's start "
                "was written,"
            )
            self._fail_unmonitored_job(
                job, self._queue_named(job.origin), start.execution, cause=cause
            )
            return

    def _dequeue(self) -> tuple[Job, Any] | None:
        return self.queue_class.dequeue_any(
            self._ordered_queues,
            None,
            connection=self.connection,
            job_class=self.job_class,
            serializer=self.serializer,
            death_penalty_class=self.death_penalty_class,
        )

    def _add_dequeue(self, pipeline: Any) -> None:
        """Add START_SCRIPT, which dequeues the next job and writes its start."""
        self._pending_start = None
        queues = self._ordered_queues
        start, commands = self._record_start()
        arguments: list = []
        for args, _ in commands:
            args = packed_pipeline.split_command_name(args)
            arguments.append(len(args))
            arguments.extend(args)
        pipeline.eval(
            START_SCRIPT,
            len(queues),
            *(queue.key for queue in queues),
            self.job_class.redis_job_namespace_prefix,
            self.queue_class.redis_queue_namespace_prefix,
            start.job.id,
            start.job.origin,
            self.job_monitoring_interval,
            *arguments,
        )
        self._pending_start = start

    def _record_start(self) -> tuple[QueuedStart, list]:
        """Return the start of a dequeued job and the commands that write it.

        The commands come from the same code that writes a start in a round
        trip of its own, run for a stand-in job whose id and origin queue
        START_SCRIPT replaces with the dequeued job's.

        NOTE: this assumes that RQ's start depends on the job only through
        its id, origin and timeout, which START_SCRIPT replaces or checks.
        The tests in ``tests/fastworker/test_start_script.py`` compare both
        paths for the installed RQ, so a release that writes more fails them.
        """
        stand_in = self._new_job(self._stand_in_job_id)
        stand_in.origin = self._stand_in_queue_name
        # A start serializes nothing. Without a serializer, the registries
        # that RQ builds for the stand-in skip the check of the worker's
        # serializer against RQ's Serializer protocol, which took about 15
        # microseconds per start on Python 3.11 on the development machine.
        stand_in.serializer = None
        state = self._state
        # This pipeline only collects the commands, and never runs.
        with self.connection.pipeline(transaction=False) as recorder:
            start = self._queue_start(stand_in, recorder)
            commands = recorder.command_stack
        # Until the script has written the start, the worker's state and
        # executions are as they were.
        self._state_after_start = self._state
        self._state = state
        self.executions.pop(start.execution.id, None)
        return start, commands

    def _adopt_start(self, start: QueuedStart, job: Job) -> Execution:
        """Apply to ``job`` the start that START_SCRIPT wrote for it."""
        stand_in = start.job
        job.worker_name = stand_in.worker_name
        job.last_heartbeat = stand_in.last_heartbeat
        job.started_at = stand_in.started_at
        # RQ's prepare_for_execution() sets the status attribute this way.
        job._status = stand_in._status
        execution = start.execution
        execution.job_id = job.id
        execution._job = job
        self.executions[execution.id] = execution
        self._state = self._state_after_start
        self._note_start(start)
        return execution

    def _restore_dequeued(self, dequeued: Any) -> tuple[Job, Any] | None:
        """Build the job and queue from START_SCRIPT's reply, or return None.

        None means that the queues were empty, or that their next job is
        left to the worker's own dequeue.
        """
        if not dequeued:
            return None
        queue_key, job_id, fields = (
            as_text(dequeued[0]),
            as_text(dequeued[1]),
            dequeued[2],
        )
        job = self._new_job(job_id)
        restore_job(job, dict(zip(fields[::2], fields[1::2], strict=True)))
        prefix = self.queue_class.redis_queue_namespace_prefix
        return job, self._queue_named(queue_key[len(prefix) :])

    def _suspended_now(self) -> bool:
        # As in the worker, the flag is read at most once a second.
        if time.monotonic() - self._suspension_checked_at < 1.0:
            return False
        self._suspension_checked_at = time.monotonic()
        return bool(is_suspended(self.connection, self))

    def _perform_message(self, message: dict) -> None:
        job = self._new_job(message["job_id"])
        restore_job(job, dict(message["job_hash"]))
        job.redis_server_version = message["redis_server_version"]
        queue = self._queue_named(message["queue_name"])
        self._run_job(job, queue, self._execution_from(message, job))

    def _execute_pipeline(self, pipeline: Any) -> list:
        """Run ``pipeline`` packed by hand, in the horse on a connection it keeps.

        Keeping one connection skips the pool's checks on each call: a
        process id check on taking and on returning the connection, and a
        poll of its socket.
        """
        connection = self._connection_to_keep(pipeline)
        if connection is None:
            return packed_pipeline.execute(pipeline)
        if isinstance(self._dequeued, packed_pipeline.SentRequest):
            # Its replies come first on the connection.
            self._dequeued.read()
        return packed_pipeline.execute(pipeline, connection)

    def _send_pipeline(self, pipeline: Any) -> packed_pipeline.SentRequest:
        """Send ``pipeline`` as ``_execute_pipeline()`` runs it, without waiting.

        Nothing else may run on the kept connection until the returned
        request's ``read()``, which ``_execute_pipeline()`` calls first
        when the request is ``self._dequeued``.
        """
        connection = self._connection_to_keep(pipeline)
        if connection is None:
            return packed_pipeline.SentRequest.done(packed_pipeline.execute(pipeline))
        return packed_pipeline.send(pipeline, connection)

    def _read_dequeued(self, sent: packed_pipeline.SentRequest) -> Any:
        """Return the reply of START_SCRIPT, sent by ``_hand_off_end()``."""
        (dequeued,) = sent.read()
        return dequeued

    def _connection_to_keep(self, pipeline: Any) -> Any:
        """Return the horse's kept connection for ``pipeline``, or None."""
        pool = self.connection.connection_pool
        if not self._in_fast_horse or pipeline.connection_pool is not pool:
            return None
        if self._kept_connection is None:
            self._kept_connection = pool.get_connection(*CONNECTION_ARGS)
        return self._kept_connection

    def _new_job(self, job_id: str) -> Job:
        """Return a job object for ``job_id`` with the worker's serializer.

        ``Job()`` checks a given serializer against RQ's ``Serializer``
        protocol, which is slow on Python 3.11 (a few microseconds a job).
        The worker's serializer passed that check when the worker started.
        """
        job = self.job_class(job_id, connection=self.connection)
        job.serializer = self.serializer
        return job

    def _execution_from(self, message: dict, job: Job) -> Execution:
        """Rebuild the execution of ``job`` that ``message`` describes."""
        execution = Execution(
            message["execution_id"],
            job.id,
            connection=self.connection,
            worker_name=self.name,
        )
        execution.created_at = message["execution_created_at"]
        execution._job = job
        return execution

    def _run_job(self, job: Job, queue: Any, execution: Execution) -> None:
        self.executions.clear()
        self.executions[execution.id] = execution
        os.environ["RQ_JOB_ID"] = job.id
        self._running_job.value = job.id.encode()[: JOB_ID_BYTES - 1]
        self._prepared_job_id = job.id
        self._job_timed_out = False
        self._left_busy = False
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
        result_ttl = job.get_result_ttl(self.default_result_ttl)
        repeats = job.repeats_left is not None and job.repeats_left > 0
        if repeats or result_ttl == 0:
            # A job with result_ttl=0 is deleted with its dependents key in
            # the transaction, so only RQ's version, which moves the
            # dependents inside it, still finds them.
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        take_next = (
            self._in_fast_horse
            and not self._ending_handed
            and not self._ending_chain
            and uses_rq_dequeue(self.queue_class)
            and self._may_take_next_job()
        )
        add_dequeue = take_next
        if take_next:
            if self._hand_off_end(job, queue, execution):
                return
            if self._dequeued is not None:
                # The next job's dequeue was sent before the end turned out
                # impossible to hand on. False means that it took no job.
                take_next = bool(self._dequeued)
                add_dequeue = False
        keep_busy = take_next or self._ending_handed
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
            self._keep_busy = keep_busy
            try:
                self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            finally:
                self._keep_busy = False
            if add_dequeue:
                # The next job leaves its queue in this transaction, saving
                # the two round trips of a dequeue.
                self._add_dequeue(pipeline)
            results = self._execute_pipeline(pipeline)
        if not self._ending_handed:
            self._left_busy = take_next
        dependents = results[0]
        if add_dequeue:
            # False when the queues were empty, so the horse does not look again.
            self._dequeued = results[-1] or False
        if dependents:
            # NOTE: RQ moves dependents to its ready registry inside the success
            # transaction, so its cleanup enqueues them after a crash. Here a
            # process that dies between the two steps leaves them deferred,
            # unless the other process finds the job finished: see callers
            # of _enqueue_dependents_if_any().
            self._enqueue_dependents(job, queue)
        release_slot(job)
        self.log.info(
            "Successfully completed job %s in %ss on worker %s",
            job.id,
            job.ended_at - job.started_at,
            self.name,
        )

    def _enqueue_dependents(self, job: Job, queue: Any) -> None:
        """Enqueue the dependents of ``job``, which has finished, with RQ's code.

        RQ's ``enqueue_jobs()`` skips a dependent whose records change while
        it enqueues it, and leaves it in the ready registry until RQ's
        periodic cleanup. The worker and its horse write job ends at the
        same time, which makes that more likely, so this tries again.
        """
        moved = self._move_dependents_to_ready(job, queue)
        queue.enqueue_ready_jobs_by_queue(moved)
        for _ in range(DEPENDENT_RETRIES):
            waiting = self._still_ready(moved)
            if not waiting:
                return
            # A jitter, not a secret, so that two writers fall out of step.
            time.sleep(random.uniform(0, DEPENDENT_RETRY_SECONDS))  # noqa: S311
            queue.enqueue_ready_jobs_by_queue(waiting)

    def _move_dependents_to_ready(self, job: Job, queue: Any) -> dict:
        """Move the dependents of ``job`` that are due to RQ's ready registry.

        RQ writes a job's success and moves its dependents in one watched
        transaction, so of two jobs that end at once, only the second to
        commit sees both finished. Here the success is written first, so
        both processes could see both finished and move the dependent
        twice. Watching each dependent's hash makes the second move fail,
        and a dependent that another process moved leaves this job's set.
        """
        with self.connection.pipeline() as pipeline:
            while True:
                try:
                    pipeline.watch(job.dependents_key)
                    job_ids = [
                        as_text(job_id)
                        for job_id in pipeline.smembers(job.dependents_key)
                    ]
                    if not job_ids:
                        return {}
                    keys = [self.job_class.key_for(job_id) for job_id in job_ids]
                    pipeline.watch(*keys)
                    moved_already = [
                        job_id
                        for job_id, key in zip(job_ids, keys, strict=True)
                        if as_text(pipeline.hget(key, "status") or "") in MOVED_STATUSES
                    ]
                    if moved_already:
                        pipeline.multi()
                        pipeline.srem(job.dependents_key, *moved_already)
                        pipeline.execute()
                        continue
                    moved = queue.move_dependents_to_ready(job, pipeline=pipeline)
                    pipeline.execute()
                    return moved
                except WatchError:
                    continue

    def _still_ready(self, job_ids_by_queue: dict[str, list[str]]) -> dict:
        """Return the jobs of ``job_ids_by_queue`` that are still ready to enqueue."""
        job_ids = [job_id for ids in job_ids_by_queue.values() for job_id in ids]
        if not job_ids:
            return {}
        with self.connection.pipeline(transaction=False) as pipeline:
            for job_id in job_ids:
                pipeline.hget(self.job_class.key_for(job_id), "status")
            statuses = dict(zip(job_ids, pipeline.execute(), strict=True))
        waiting = {}
        for name, ids in job_ids_by_queue.items():
            left = [
                job_id
                for job_id in ids
                if as_text(statuses[job_id] or "") == JobStatus.READY_TO_ENQUEUE
            ]
            if left:
                waiting[name] = left
        return waiting

    def _enqueue_dependents_if_any(self, job: Job, queue: Any) -> None:
        """Enqueue what ``job``'s dependents set still lists, for a job found finished.

        The process that wrote the success may have died before it enqueued
        the dependents. RQ removes each dependent that it enqueues from the
        set, so this enqueues none twice.
        """
        if self.connection.scard(job.dependents_key):
            self._enqueue_dependents(job, queue)

    def _hand_off_end(self, job: Job, queue: Any, execution: Execution) -> bool:
        """Start the next job, and leave the success of ``job`` to the worker.

        A horse that writes each job's success before it starts the next
        job keeps RQ's bookkeeping of about 20 commands on the path from
        one job to the next. Here the horse writes only the next job's
        start, and the message that reports that job to the worker carries
        this job's end. The worker process writes the success with RQ's
        code while the horse runs the next job, so the two overlap on two
        cores, as Celery's prefork pool overlaps its broker work with tasks.

        The horse sends the next job's dequeue and start (START_SCRIPT)
        without waiting for the reply: it builds the message, and finishes
        this job's Django clean-up, while Redis runs the script, and
        ``_start_following_job()`` reads the reply. When the queues turn
        out empty, ``_end_chain()`` writes the success.

        The horse keeps the job until the worker sets the shared
        ``_handed_ack`` counter after the write. If the worker dies first,
        the horse writes the success itself (``_settle_handed_ends()``).

        Return True when this end is handed on. Return False when its
        webhooks, its size, its return value or a Redis error keep it here.
        Then ``self._dequeued`` is still None, contains the reply of a
        dequeue that has run, or is False after an error.
        """
        if getattr(job, "webhooks", None):
            # RQ sends webhooks after the success is written, so a job with
            # webhooks has its success written here, before they are sent.
            return False
        self._prune_handed_ends()
        with self.connection.pipeline(transaction=False) as pipeline:
            self._add_dequeue(pipeline)
            try:
                sent = self._send_pipeline(pipeline)
            except RedisError as error:
                # The caller writes this job's success in the next round trip.
                self._lose_start(error)
                return False
        self._dequeued = sent
        message = self._handed_message(job, queue, execution)
        if message is None:
            try:
                dequeued = self._read_dequeued(sent)
            except RedisError as error:
                self._lose_start(error)
                return False
            # False when the queues were empty, so the horse does not look again.
            self._dequeued = dequeued or False
            return False
        self._left_busy = True
        self._handed[message[0]] = HandedEnd(message[0], job, queue, execution, message)
        return True

    def _handed_message(
        self, job: Job, queue: Any, execution: Execution
    ) -> tuple | None:
        """Return what the worker needs to write the success of ``job``, or None."""
        try:
            fields = job.to_dict(include_meta=False, include_result=False)
            for name, value in fields.items():
                if isinstance(value, str) and type(value) is not str:
                    # A str enum, such as the status, which marshal rejects.
                    # redis-py writes its str value.
                    fields[name] = str.__str__(value)
            result = None
            if job._result is not None:
                result = self.serializer.dumps(job._result)
            message = (
                self._handed_count + 1,
                job.id,
                queue.name,
                execution.id,
                microseconds_since_epoch(execution.created_at),
                fields,
                result,
            )
            size = len(marshal.dumps(message))
        except Exception:
            # RQ's own path stores a placeholder for a value it cannot
            # serialize, and marshal rejects other types of field.
            return None
        if size > MAX_HANDED_END_BYTES:
            return None
        self._handed_count += 1
        return message

    def _write_ends_here(self, unsent_only: bool) -> None:
        """Write the successes handed on that the worker has not written.

        With ``unsent_only``, write only those that no message carried.
        """
        if not self._handed:
            return
        acked = self._handed_ack.value
        for number in sorted(self._handed):
            end = self._handed[number]
            if number <= acked or (unsent_only and end.sent):
                continue
            del self._handed[number]
            status = self.connection.hget(end.job.key, "status")
            if status is None:
                # The job was deleted.
                continue
            if as_text(status) == JobStatus.FINISHED:
                # The worker wrote the success and died before it set the
                # counter, maybe before it enqueued the dependents.
                self._enqueue_dependents_if_any(end.job, end.queue)
                continue
            self._write_handed_end(end, idle=False)

    def _write_handed_end(self, end: HandedEnd, idle: bool) -> None:
        """Write the success of ``end`` here, with RQ's code.

        With ``idle``, the same transaction writes the worker idle. Without
        it, the worker's state is left as it is.
        """
        if idle:
            self._ending_chain = True
        else:
            self._ending_handed = True
        try:
            self.handle_job_success(
                end.job, end.queue, end.queue.started_job_registry, end.execution
            )
        finally:
            self._ending_chain = False
            self._ending_handed = False

    def _settle_handed_ends(self) -> None:
        """Before the horse exits, see that every success it handed on is written.

        The worker writes them in the order the horse sent them. While the
        worker lives, the horse waits up to ``SETTLE_SECONDS`` for it, then
        leaves it the rest. Once the worker is gone, the horse writes them.
        A success that no message carried is always written here.
        """
        if not self._handed:
            return
        self._prune_handed_ends()
        deadline = time.monotonic() + SETTLE_SECONDS
        while (
            any(end.sent for end in self._handed.values())
            and os.getppid() == self._worker_pid
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
            self._prune_handed_ends()
        if os.getppid() == self._worker_pid:
            # The worker has those that were sent, and writes them.
            self._write_ends_here(unsent_only=True)
        else:
            self._write_ends_here(unsent_only=False)

    def _prune_handed_ends(self) -> None:
        acked = self._handed_ack.value
        for number in [number for number in self._handed if number <= acked]:
            del self._handed[number]

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
        if self._in_fast_horse and not self._keep_busy and not self._ending_handed:
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


def uses_rq_dequeue(queue_class: type) -> bool:
    """Tell whether ``queue_class`` dequeues as RQ's ``Queue`` does.

    START_SCRIPT does what these methods do, so a queue class that
    overrides one of them dequeues through its own methods instead.
    """
    return all(
        getattr(queue_class, name).__func__ is getattr(Queue, name).__func__
        for name in ("dequeue_any", "lmove", "lpop", "_fetch_dequeued_job")
    )


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def microseconds_since_epoch(moment: datetime) -> int:
    """Return ``moment``, naive in UTC as RQ's times are, as an integer."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // MICROSECOND


def encode_reply(
    retire: bool,
    job: Job | None = None,
    execution: Any = None,
    handed: tuple | None = None,
) -> bytes:
    """Return the horse's reply for the channel: whether it retires, and the
    job it started itself, if any, with what the worker needs to monitor it.
    ``handed`` is the success that the worker is to write, if any, as
    ``HandedEnd.message``.

    The horse sends one per job, so the reply is a marshalled tuple, which
    costs less than pickling a dictionary.
    """
    if job is None:
        return marshal.dumps((retire,))
    return marshal.dumps(
        (
            retire,
            job.id,
            job.origin,
            job.timeout,
            execution.id,
            microseconds_since_epoch(execution.created_at),
            handed,
        )
    )


def decode_reply(data: bytes) -> dict:
    """Return the reply that ``encode_reply()`` encoded, as a dictionary."""
    # Jobs in the horse can write to the channel, but they are the project's
    # own code. Data that does not decode raises, and the worker kills the horse.
    fields = marshal.loads(data)  # noqa: S302
    if len(fields) == 1:
        return {"retire": fields[0], "next": None, "handed": None}
    retire, job_id, queue_name, timeout, execution_id, micros, handed = fields
    return {
        "retire": retire,
        "handed": handed,
        "next": {
            "job_id": job_id,
            "queue_name": queue_name,
            "timeout": timeout,
            "execution_id": execution_id,
            "execution_created_at": EPOCH + micros * MICROSECOND,
        },
    }
