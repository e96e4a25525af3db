"""Read jobs for display: summaries for lists and details for one job.

Job data comes from Redis and may be incomplete or unreadable: the job hash
may have expired while its registry entry remains, its function may no longer
import, or its data may not deserialize. Each of those is reported in the
summary (``missing`` or ``problem``) instead of raised, so a list always
renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.module_loading import import_string
from rq import Queue
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

# The job ids that RQ 3 accepts for custom ids (``rq.job.JOB_ID_PATTERN``).
# Other strings are rejected before they reach Redis, because RQ would read
# "a:b" as the execution "b" of job "a".
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")

# Maximum length, in characters, of the shown repr of arguments, meta or a
# return value. Longer ones are cut and marked.
MAX_REPR_LENGTH = 2000

# Maximum length, in characters, of the argument preview in job lists.
MAX_PREVIEW_LENGTH = 80

# Matches "module.ExceptionClass: message" on a traceback's last line.
EXCEPTION_LINE = re.compile(r"(?P<cls>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?")


class JobNotFound(LookupError):
    """A job id that has no job hash on the queue."""

    def __init__(self, queue_name: str, job_id: str) -> None:
        self.queue_name = queue_name
        self.job_id = job_id
        super().__init__(f"Job {job_id!r} was not found on queue {queue_name!r}.")


@dataclass
class JobSummary:
    """The fields that a job list shows for one job.

    ``missing`` means the id is listed but its job hash has expired or was
    deleted. ``problem`` is the reason some of the job's data could not be read.
    """

    id: str
    missing: bool = False
    func_name: str = ""
    status: str = ""
    origin: str = ""
    created_at: datetime | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exc_class: str = ""
    exc_message: str = ""
    traceback: str = ""
    problem: str = ""
    args_preview: str = ""


@dataclass
class ResultSummary:
    """One stored result of a job: a return value or a traceback."""

    id: str
    type: str
    created_at: datetime | None
    return_value: str = ""
    traceback: str = ""


@dataclass
class JobDetail(JobSummary):
    """A job summary plus what the job page shows."""

    description: str = ""
    args: str = ""
    kwargs: str = ""
    result: str = ""
    timeout: Any = None
    result_ttl: int | None = None
    failure_ttl: int | None = None
    meta: str = ""
    in_failed_registry: bool = False
    problems: list[str] = field(default_factory=list)
    dependency_ids: list[str] = field(default_factory=list)
    dependent_ids: list[str] = field(default_factory=list)
    retries_left: int | None = None
    worker_name: str = ""
    results: list[ResultSummary] = field(default_factory=list)


def is_valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID_PATTERN.fullmatch(job_id))


def truncated_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > MAX_REPR_LENGTH:
        return text[:MAX_REPR_LENGTH] + f"... ({len(text)} characters in all)"
    return text


def parse_exception_line(traceback: str) -> tuple[str, str]:
    """Return the exception class and message from a traceback's last line."""
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    if not lines:
        return "", ""
    last = lines[-1].strip()
    match = EXCEPTION_LINE.fullmatch(last)
    if match is None:
        return "", last
    return match["cls"], match["message"] or ""


@dataclass
class FetchedJob:
    """One job read from Redis by ``fetch_jobs``.

    ``job`` is ``None`` when the id has no job hash. ``error`` is the reason a
    hash that exists could not be read, and ``result`` is the latest result, as
    ``job.latest_result()`` would return it.
    """

    id: str
    job: Job | None = None
    result: Result | None = None
    error: str = ""


def fetch_jobs(
    queue: Queue, job_ids: list[str], with_results: bool = True
) -> list[FetchedJob]:
    """Fetch jobs, and their latest results, in one pipelined round trip.

    Without ``with_results`` the results are not read, which is faster for
    actions that do not look at them.
    """
    connection = queue.connection
    # An id that RQ 3 would not accept (one with "/" or ":", say) is treated
    # as missing, so no page links to it and bulk actions prune it.
    valid_ids = [job_id for job_id in job_ids if is_valid_job_id(job_id)]
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in valid_ids:
            pipeline.hgetall(queue.job_class.key_for(job_id))
            if with_results:
                pipeline.xrevrange(Result.get_key(job_id), "+", "-", count=1)
        replies = iter(pipeline.execute())

    fetched = []
    for job_id in job_ids:
        if not is_valid_job_id(job_id):
            fetched.append(FetchedJob(job_id))
            continue
        job_hash = next(replies)
        latest = next(replies) if with_results else []
        if not job_hash:
            fetched.append(FetchedJob(job_id))
            continue
        job = queue.job_class(
            job_id, connection=connection, serializer=queue.serializer
        )
        try:
            job.restore(job_hash)
        except Exception as exc:  # Any malformed field, so the list still renders.
            error = f"The job hash cannot be read: {describe_exception(exc)}"
            fetched.append(FetchedJob(job_id, job, error=error))
            continue
        fetched.append(FetchedJob(job_id, job, restore_result(queue, job_id, latest)))
    return fetched


def restore_result(queue: Queue, job_id: str, latest: list) -> Result | None:
    if not latest:
        return None
    result_id, payload = latest[0]
    try:
        return Result.restore(
            job_id,
            result_id.decode(),
            payload,
            connection=queue.connection,
            serializer=queue.serializer,
        )
    except Exception:  # A return value that cannot be deserialized.
        return None


def describe_exception(exc: BaseException) -> str:
    """Return ``"Class: message"`` for an exception and its cause."""
    cause = exc.__cause__ or exc.__context__
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})".replace(": )", ")")
    return text


def summarize(fetched: FetchedJob, summary_class=JobSummary):
    """Build a ``JobSummary`` (or ``JobDetail``) from a fetched job."""
    job = fetched.job
    if job is None:
        return summary_class(id=fetched.id, missing=True)
    summary = summary_class(
        id=fetched.id,
        status=get_status(job),
        origin=job.origin or "",
        created_at=job.created_at,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
    )
    if fetched.error:
        summary.problem = fetched.error
        return summary
    try:
        summary.func_name = job.func_name or ""
        summary.args_preview = preview_arguments(job)
    except DeserializationError as exc:
        summary.problem = (
            f"The job data cannot be deserialized: {describe_exception(exc)}"
        )
    summary.traceback = get_traceback(job, fetched.result)
    summary.exc_class, summary.exc_message = parse_exception_line(summary.traceback)
    return summary


def preview_arguments(job: Job) -> str:
    """Return the job's arguments as ``"1, 'a', key=2"``, cut to a short length."""
    parts = [repr(arg) for arg in job.args]
    parts += [f"{key}={value!r}" for key, value in job.kwargs.items()]
    text = ", ".join(parts)
    if len(text) > MAX_PREVIEW_LENGTH:
        return text[: MAX_PREVIEW_LENGTH - 3] + "..."
    return text


def get_status(job: Job) -> str:
    status = job.get_status(refresh=False)
    return getattr(status, "value", status) or ""


def get_traceback(job: Job, result: Result | None) -> str:
    """Return the traceback of the job's latest failure, or ``""``."""
    if result is not None:
        if result.type == Result.Type.FAILED:
            return result.exc_string or ""
        return ""
    # Without a result (results expire with result_ttl), the job hash may
    # still hold the traceback. ``job.exc_info`` is deprecated in RQ 3, so the
    # value that ``Job.restore`` stored is read directly.
    return getattr(job, "_exc_info", None) or ""


def get_job_summaries(queue: Queue, job_ids: list[str]) -> list[JobSummary]:
    """Summarize the jobs ``job_ids`` of ``queue``, in order."""
    return [summarize(fetched) for fetched in fetch_jobs(queue, job_ids)]


def get_job_detail(queue: Queue, job_id: str) -> JobDetail:
    """Return everything the job page shows of job ``job_id``.

    Raise ``JobNotFound`` for an invalid id, an id without a job hash, or a
    job whose origin is another queue.
    """
    if not is_valid_job_id(job_id):
        raise JobNotFound(queue.name, job_id)
    [fetched] = fetch_jobs(queue, [job_id])
    job = fetched.job
    if job is None or (job.origin and job.origin != queue.name):
        raise JobNotFound(queue.name, job_id)

    detail = summarize(fetched, summary_class=JobDetail)
    detail.in_failed_registry = job_id in FailedJobRegistry(queue=queue)
    if fetched.error:
        detail.problems.append(fetched.error)
        return detail

    add_call_details(detail, job)
    detail.description = job.description or ""
    detail.timeout = job.timeout
    detail.result_ttl = job.result_ttl
    detail.failure_ttl = job.failure_ttl
    detail.meta = truncated_repr(job.meta) if job.meta else ""
    detail.retries_left = job.retries_left
    detail.worker_name = job.worker_name or ""
    detail.dependency_ids = list(job._dependency_ids)
    detail.dependent_ids = sorted(job.dependent_ids)
    result = fetched.result
    if result is not None and result.type == Result.Type.SUCCESSFUL:
        detail.result = truncated_repr(result.return_value)
    add_results(detail, queue, job_id)
    return detail


def add_results(detail: JobDetail, queue: Queue, job_id: str) -> None:
    """Store every result of the job that Redis still holds, newest first."""
    entries = queue.connection.xrevrange(Result.get_key(job_id), "+", "-")
    for result_id, payload in entries:
        try:
            result = Result.restore(
                job_id,
                result_id.decode(),
                payload,
                connection=queue.connection,
                serializer=queue.serializer,
            )
        except Exception as exc:  # A return value that cannot be deserialized.
            detail.problems.append(
                f"Result {result_id.decode()} cannot be read: {describe_exception(exc)}"
            )
            continue
        summary = ResultSummary(
            id=result.id,
            type=result.type.name.lower(),
            created_at=result.created_at,
        )
        if result.type == Result.Type.SUCCESSFUL:
            summary.return_value = truncated_repr(result.return_value)
        else:
            summary.traceback = result.exc_string or ""
        detail.results.append(summary)


def add_call_details(detail: JobDetail, job: Job) -> None:
    """Store the job's arguments and any import problem of its function."""
    if detail.problem:
        detail.problems.append(detail.problem)
        return
    detail.args = truncated_repr(tuple(job.args))
    detail.kwargs = truncated_repr(job.kwargs)
    if job.instance is not None or not detail.func_name:
        return
    try:
        import_string(detail.func_name)
    except Exception as exc:  # Importing runs module code, which may raise anything.
        detail.problems.append(
            f"The function {detail.func_name!r} cannot be imported, so a "
            f"worker will fail this job: {describe_exception(exc)}"
        )
