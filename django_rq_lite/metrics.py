"""Queue statistics, a Prometheus collector and the JSON status view.

Both views serve staff users, and callers that send the token from
``RQ["METRICS_TOKEN"]`` in an ``Authorization: Bearer`` header.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
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


# Query parameters that clients commonly use for tokens. A token in a URL
# ends up in access logs and browser history, so these are rejected.
QUERY_TOKEN_PARAMETERS = ("token", "access_token", "bearer")

# The permissions of which a staff user needs one, as for the dashboard's
# pages: Django's admin lets the change permission view too.
VIEW_PERMISSIONS = ("django_rq_lite.view_queue", "django_rq_lite.change_queue")


def get_metrics_token() -> str:
    """Return ``RQ["METRICS_TOKEN"]``, or an empty string when token auth is off."""
    return conf.get_global_setting().get("METRICS_TOKEN") or ""


# Minimum METRICS_TOKEN length that the system check accepts.
# secrets.token_urlsafe(32) returns 43 characters.
MIN_TOKEN_LENGTH = 32


def check_settings(options: dict) -> list:
    """Return a system check error when ``RQ["METRICS_TOKEN"]`` is too short."""
    from django.core.checks import Error

    token = options.get("METRICS_TOKEN")
    if not isinstance(token, str) or not token or len(token) >= MIN_TOKEN_LENGTH:
        return []
    return [
        Error(
            f"RQ['METRICS_TOKEN'] has {len(token)} characters, fewer than "
            f"{MIN_TOKEN_LENGTH}, so it is easy to guess.",
            hint='Generate one with: python -c "import secrets; '
            'print(secrets.token_urlsafe(32))", or remove the key to turn '
            "token access off.",
            id="django_rq_lite.E020",
        )
    ]


def check_access(request: HttpRequest) -> HttpResponse | None:
    """Return an error response unless the request may read queue statistics.

    A staff user with the ``view_queue`` or ``change_queue`` permission
    passes, as on the dashboard's pages. So does a request whose
    ``Authorization: Bearer`` header matches ``RQ["METRICS_TOKEN"]``,
    compared in constant time. A bearer header is ignored when no token is
    configured.
    """
    if any(name in request.GET for name in QUERY_TOKEN_PARAMETERS):
        return HttpResponse(
            "Tokens in the query string are rejected. Send the token in an "
            "Authorization: Bearer header.\n",
            status=400,
            content_type="text/plain",
        )
    token = get_metrics_token()
    given = bearer_token(request)
    if token and given is not None:
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        logger.warning(
            "Rejected a metrics request with an invalid bearer token path=%s",
            request.path,
        )
        return HttpResponse("Invalid token.\n", status=403, content_type="text/plain")

    user = request.user
    may_view = any(user.has_perm(permission) for permission in VIEW_PERMISSIONS)
    if user.is_authenticated and user.is_staff and may_view:
        return None
    if user.is_authenticated:
        # The same rule as the dashboard's pages, which show the same counts.
        return HttpResponse(
            f"Staff access with the {VIEW_PERMISSIONS[0]} permission required.\n",
            status=403,
            content_type="text/plain",
        )
    response = HttpResponse(
        "Log in as a staff user or send an Authorization: Bearer token.\n",
        status=401,
        content_type="text/plain",
    )
    if token:
        response["WWW-Authenticate"] = 'Bearer realm="django-rq-lite"'
    return response


def bearer_token(request: HttpRequest) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, else None."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


@never_cache
@require_safe
def status_view(request: HttpRequest) -> HttpResponse:
    """Return the job counts and worker count of every queue as JSON."""
    denied = check_access(request)
    if denied is not None:
        return denied
    stats = collect_stats()
    return JsonResponse(
        {
            "ok": not any(item.error for item in stats),
            "queues": {item.name: item.as_dict() for item in stats},
        }
    )


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Return the queue statistics in the Prometheus text format."""
    denied = check_access(request)
    if denied is not None:
        return denied
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from prometheus_client.registry import CollectorRegistry
    except ImportError:
        return HttpResponse(
            "The Prometheus endpoint needs prometheus-client. Install it with "
            "pip install 'django-rq-lite[prometheus]'.\n",
            status=501,
            content_type="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class QueueCollector:
    """A Prometheus collector that reads the queue statistics on each scrape."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        jobs = GaugeMetricFamily(
            "rq_jobs",
            "Jobs in each queue and registry.",
            labels=["queue", "status"],
        )
        workers = GaugeMetricFamily(
            "rq_workers", "Live workers that listen on each queue.", labels=["queue"]
        )
        up = GaugeMetricFamily(
            "rq_queue_up",
            "1 when the queue's Redis server could be read, else 0.",
            labels=["queue"],
        )
        for item in collect_stats():
            up.add_metric([item.name], 0 if item.error else 1)
            if item.error:
                continue
            for status, count in item.counts.items():
                jobs.add_metric([item.name, status], count)
            workers.add_metric([item.name], item.workers)
        return [jobs, workers, up]
