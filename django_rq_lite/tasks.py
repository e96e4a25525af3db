"""A Django Tasks backend that runs tasks as RQ jobs on ``RQ_QUEUES``.

Django 6 provides the Tasks framework as ``django.tasks``, and the
``django-tasks`` package backports it to older versions as ``django_tasks``::

    TASKS = {
        "default": {
            "BACKEND": "django_rq_lite.tasks.RQBackend",
            "QUEUES": ["default", "high"],
            "OPTIONS": {"COMMIT_MODE": "on_commit"},
        }
    }

Each task becomes an RQ job whose id is the ``TaskResult`` id and whose
function is ``run_task``, so ``rqworker`` runs it and the dashboard shows it.
"""

from __future__ import annotations

import difflib
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus, get_current_job

from . import conf
from .on_commit import COMMIT_MODES, ON_COMMIT, call_on_commit
from .queues import get_queue, same_server

try:
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import (
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
except ImportError:
    try:
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import (
            Task,
            TaskContext,
            TaskError,
            TaskResult,
            TaskResultStatus,
        )
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued, task_finished, task_started
        from django_tasks.utils import normalize_json
    except ImportError as error:
        raise ImportError(
            "django_rq_lite.tasks needs Django 6 (django.tasks) or the "
            "django-tasks backport. Install it with: pip install "
            "'django-rq-lite[tasks]'."
        ) from error

__all__ = ["RQBackend", "run_task"]

RUN_TASK_PATH = "django_rq_lite.tasks.run_task"

# Job meta keys: the task options of the call, the names of the workers
# that ran it (one per attempt), and the errors of failed attempts.
# The keys of a backend's OPTIONS that RQBackend reads.
OPTION_KEYS = ("COMMIT_DATABASE", "COMMIT_MODE")

META_TASK = "django_task"
META_WORKER_IDS = "django_task_worker_ids"
META_ERRORS = "django_task_errors"

STATUS_MAP = {
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.DEFERRED: TaskResultStatus.READY,
    JobStatus.STARTED: TaskResultStatus.RUNNING,
    JobStatus.FINISHED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.STOPPED: TaskResultStatus.FAILED,
    JobStatus.CANCELED: TaskResultStatus.FAILED,
}


class RQBackend(BaseTaskBackend):
    """Run Django tasks on the RQ queues of ``RQ_QUEUES``.

    ``queue_name`` is an ``RQ_QUEUES`` name. ``run_after`` schedules the job,
    so a worker started with ``--with-scheduler`` must run. A ``priority``
    above 0 puts the job at the front of its queue, and 0 or below at the
    back. RQ has no finer order. ``OPTIONS`` may set ``COMMIT_MODE`` and
    ``COMMIT_DATABASE``, which override the queue's settings for tasks.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=str(uuid.uuid4()),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        queue = get_queue(task.queue_name)
        job_options = {
            "job_id": result.id,
            "at_front": task.priority > 0,
            "meta": {META_TASK: self._describe(task)},
            "on_commit": False,
        }
        job_args = (task.module_path, result.args, result.kwargs)

        def enqueue_now() -> None:
            if task.run_after is not None:
                queue.enqueue_at(task.run_after, run_task, *job_args, **job_options)
            else:
                queue.enqueue(run_task, *job_args, **job_options)
            object.__setattr__(result, "enqueued_at", datetime.now(timezone.utc))
            task_enqueued.send(type(self), task_result=result)

        mode = self.options.get("COMMIT_MODE")
        call_on_commit(
            enqueue_now,
            queue_name=queue.name,
            on_commit=None if mode is None else mode == ON_COMMIT,
            using=self.options.get("COMMIT_DATABASE"),
        )
        return result

    def _describe(self, task: Task) -> dict[str, Any]:
        run_after = task.run_after.isoformat() if task.run_after else None
        return {
            "backend": self.alias,
            "queue_name": task.queue_name,
            "priority": task.priority,
            "run_after": run_after,
        }

    def get_result(self, result_id: str) -> TaskResult:
        job = self._fetch_job(result_id)
        if job is None or job.func_name != RUN_TASK_PATH:
            raise TaskResultDoesNotExist(result_id)
        return build_result(job, load_task(job))

    def _fetch_job(self, job_id: str) -> Job | None:
        """Return the job from the first Redis server of the backend's queues."""
        names = sorted(self.queues) or conf.get_queue_names()
        connections = []
        for name in names:
            if name not in conf.get_queues_setting():
                continue
            queue = get_queue(name)
            if any(same_server(queue.connection, seen) for seen in connections):
                continue
            connections.append(queue.connection)
            try:
                return queue.job_class.fetch(
                    job_id, connection=queue.connection, serializer=queue.serializer
                )
            except NoSuchJobError:
                continue
        return None

    def check(self, **kwargs: Any) -> list:
        messages = list(super().check(**kwargs))
        where = f"TASKS[{self.alias!r}]"
        raw_queues = getattr(settings, "TASKS", {}).get(self.alias, {}).get("QUEUES")
        if isinstance(raw_queues, str):
            # Django makes a set of its letters, so E015 would name each one.
            messages.append(
                checks.Error(
                    f"{where}['QUEUES'] must be a list of queue names, not the "
                    f"string {raw_queues!r}.",
                    hint=f'Write "QUEUES": [{raw_queues!r}].',
                    id="django_rq_lite.E004",
                )
            )
            return messages
        if not isinstance(self.options, dict):
            messages.append(
                checks.Error(
                    f"{where}['OPTIONS'] must be a dict, not "
                    f"{type(self.options).__name__}.",
                    hint='For example: "OPTIONS": {"COMMIT_MODE": "on_commit"}.',
                    id="django_rq_lite.E004",
                )
            )
            return messages
        for key in sorted(set(self.options) - set(OPTION_KEYS)):
            close = difflib.get_close_matches(str(key), OPTION_KEYS, n=1)
            messages.append(
                checks.Error(
                    f"{where}['OPTIONS'] has an unknown key {key!r}.",
                    hint=(f"Did you mean {close[0]!r}? " if close else "")
                    + f"RQBackend's OPTIONS are {', '.join(OPTION_KEYS)}.",
                    id="django_rq_lite.E003",
                )
            )
        configured = conf.get_queue_names()
        for name in sorted(self.queues):
            if name not in configured:
                messages.append(
                    checks.Error(
                        f"TASKS[{self.alias!r}]['QUEUES'] names the queue "
                        f"{name!r}, which is not in RQ_QUEUES.",
                        hint=f"Add {name!r} to RQ_QUEUES or use one of: "
                        f"{', '.join(configured) or 'none'}.",
                        id="django_rq_lite.E015",
                    )
                )
        mode = self.options.get("COMMIT_MODE")
        if mode is not None and mode not in COMMIT_MODES:
            messages.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]['OPTIONS']['COMMIT_MODE'] is {mode!r}, "
                    "which is not a commit mode.",
                    hint=f"Use one of: {', '.join(repr(m) for m in COMMIT_MODES)}.",
                    id="django_rq_lite.E016",
                )
            )
        alias = self.options.get("COMMIT_DATABASE")
        if alias is not None and alias not in settings.DATABASES:
            messages.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]['OPTIONS']['COMMIT_DATABASE'] is "
                    f"{alias!r}, which is not in DATABASES.",
                    hint="Use one of the DATABASES aliases: "
                    f"{', '.join(settings.DATABASES) or 'none'}.",
                    id="django_rq_lite.E014",
                )
            )
        return messages


def load_task(job: Job) -> Task:
    """Return the task of a job, with the queue and priority of its call."""
    path = job.args[0]
    task = import_string(path)
    if not isinstance(task, Task):
        raise TaskResultDoesNotExist(
            f"Job {job.id} names {path!r}, which is not a task. Only jobs "
            "that RQBackend enqueued have task results."
        )
    options = job.meta.get(META_TASK, {})
    run_after = options.get("run_after")
    try:
        return task.using(
            priority=options.get("priority"),
            queue_name=options.get("queue_name"),
            run_after=datetime.fromisoformat(run_after) if run_after else None,
            backend=options.get("backend"),
        )
    except InvalidTask:
        # A process whose TASKS differ from the enqueuer's (for example a
        # worker without TASKS) rejects the call's options, so the task
        # keeps those of its decorator.
        return task


def build_result(job: Job, task: Task) -> TaskResult:
    """Build the ``TaskResult`` of a task job from its RQ state."""
    status = STATUS_MAP.get(job.get_status(refresh=False), TaskResultStatus.READY)
    result = TaskResult(
        task=task,
        id=job.id,
        status=status,
        enqueued_at=_aware(job.enqueued_at or job.created_at),
        started_at=_aware(job.started_at),
        finished_at=_aware(job.ended_at) if job.ended_at else None,
        last_attempted_at=_aware(job.started_at),
        args=job.args[1],
        kwargs=job.args[2],
        backend=job.meta.get(META_TASK, {}).get("backend", task.backend),
        errors=[TaskError(**error) for error in job.meta.get(META_ERRORS, [])],
        worker_ids=list(job.meta.get(META_WORKER_IDS, [])),
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.return_value())
    return result


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def run_task(task_path: str, args: list, kwargs: dict) -> Any:
    """Run the task at ``task_path`` in a worker and send Django's signals.

    RQ calls this as the job's function. Each attempt adds the worker's name
    to the job's meta, and a failed attempt adds its error, so
    ``get_result()`` can report them after a requeue.
    """
    job = get_current_job()
    job.meta.setdefault(META_WORKER_IDS, []).append(job.worker_name or "unknown")
    job.save_meta()
    task = load_task(job)
    result = build_result(job, task)
    object.__setattr__(result, "status", TaskResultStatus.RUNNING)
    task_started.send(RQBackend, task_result=result)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        value = normalize_json(value)
    except Exception as error:
        _record_error(job, result, error)
        raise
    object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(result, "finished_at", datetime.now(timezone.utc))
    object.__setattr__(result, "_return_value", value)
    task_finished.send(RQBackend, task_result=result)
    return value


def _record_error(job: Job, result: TaskResult, error: Exception) -> None:
    exception_type = type(error)
    record = {
        "exception_class_path": (
            f"{exception_type.__module__}.{exception_type.__qualname__}"
        ),
        "traceback": "".join(traceback.format_exception(error)),
    }
    job.meta.setdefault(META_ERRORS, []).append(record)
    job.save_meta()
    result.errors.append(TaskError(**record))
    object.__setattr__(result, "status", TaskResultStatus.FAILED)
    object.__setattr__(result, "finished_at", datetime.now(timezone.utc))
    task_finished.send(RQBackend, task_result=result)
