"""Summaries of the RQ workers registered on each configured Redis server."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.core.exceptions import ImproperlyConfigured
from rq.worker import Worker

from .. import conf
from ..queues import get_queue

logger = logging.getLogger("django_rq_lite.dashboard")


@dataclass
class WorkerSummary:
    """The fields that the workers page shows for one worker."""

    name: str
    state: str
    current_job_id: str
    queue_names: list[str]
    hostname: str
    pid: int | None
    successful_job_count: int
    failed_job_count: int
    total_working_time: float
    last_heartbeat: datetime | None
    birth_date: datetime | None


@dataclass
class WorkerGroup:
    """The workers of the queues that share one Redis connection.

    ``error`` is set, and ``workers`` is empty, when Redis could not be read.
    """

    queue_names: list[str]
    workers: list[WorkerSummary] = field(default_factory=list)
    error: str = ""


def summarize_worker(worker: Worker) -> WorkerSummary:
    return WorkerSummary(
        name=worker.name,
        state=str(worker.get_state()),
        current_job_id=worker.get_current_job_id() or "",
        queue_names=worker.queue_names(),
        hostname=worker.hostname or "",
        pid=worker.pid,
        successful_job_count=worker.successful_job_count,
        failed_job_count=worker.failed_job_count,
        total_working_time=worker.total_working_time,
        last_heartbeat=worker.last_heartbeat,
        birth_date=worker.birth_date,
    )


def summarize_workers() -> list[WorkerGroup]:
    """List the workers of every configured queue, grouped by Redis connection.

    Workers are found through RQ's per-queue worker sets, so each appears once
    in the group of its connection, even when it listens on several queues.
    """
    groups: dict[tuple, WorkerGroup] = {}
    seen: dict[tuple, set[str]] = {}
    for name in conf.get_queue_names():
        try:
            queue = get_queue(name)
            params = queue.connection.connection_pool.connection_kwargs
            group_key = tuple(sorted((k, str(v)) for k, v in params.items()))
            group = groups.setdefault(group_key, WorkerGroup([]))
            group.queue_names.append(name)
            names = seen.setdefault(group_key, set())
            for worker in Worker.all(queue=queue, job_class=queue.job_class):
                if worker.name not in names:
                    names.add(worker.name)
                    group.workers.append(summarize_worker(worker))
        except (redis.RedisError, ImproperlyConfigured) as exc:
            logger.warning("Could not list workers queue=%s error=%s", name, exc)
            groups[("error", name)] = WorkerGroup(
                [name], error=f"{type(exc).__name__}: {exc}"
            )
    return list(groups.values())
