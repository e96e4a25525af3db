"""Queue statistics, a Prometheus collector and the JSON status view.

Both views answer staff users, and callers that send the token from
``RQ["METRICS_TOKEN"]`` in an ``Authorization: Bearer`` header.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from rq import Queue, Worker

from . import conf
from .queues import get_queue

logger = logging.getLogger("django_rq_lite.metrics")

# RQ's job registries of a queue by the name that counts use, in the order
# a job passes through them.
REGISTRY_NAMES = (
    "started",
    "deferred",
    "scheduled",
    "finished",
    "failed",
    "canceled",
)
COUNT_NAMES = ("queued", *REGISTRY_NAMES)


@dataclass
class QueueStats:
    """The job counts and live worker count of one queue.

    ``error`` is set, and the counts are empty, when Redis could not be read.
    """

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_workers(queue: Queue) -> int:
    """Return the number of live workers that listen on ``queue``.

    A worker counts while its hash exists in Redis. RQ deletes the hash when
    the worker stops, and lets it expire ``worker_ttl`` seconds after the
    last heartbeat when the process dies without stopping.
    """
    return len(Worker.all(queue=queue))


def collect_queue_stats(name: str) -> QueueStats:
    """Count the jobs of queue ``name`` in the queue and each registry.

    A Redis error, or settings that cannot be used, is stored in ``error``
    so one bad queue does not hide the others.
    """
    try:
        queue = get_queue(name)
        counts = {"queued": queue.count}
        for registry_name in REGISTRY_NAMES:
            registry = getattr(queue, f"{registry_name}_job_registry")
            counts[registry_name] = registry.count
        workers = count_workers(queue)
    except (redis.RedisError, ImproperlyConfigured) as error:
        logger.warning("Failed to read queue statistics queue=%s error=%s", name, error)
        return QueueStats(name, error=f"{type(error).__name__}: {error}")
    return QueueStats(name, counts, workers)


def collect_stats(names: list[str] | None = None) -> list[QueueStats]:
    """Return the statistics of ``names`` (default: every configured queue)."""
    if names is None:
        names = conf.get_queue_names()
    return [collect_queue_stats(name) for name in names]
