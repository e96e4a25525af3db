"""The periodic-jobs page: declared cron jobs with their last and next runs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .. import cron
from ..dashboard.jobs import is_valid_job_id
from .views import render

if TYPE_CHECKING:
    from .options import QueueAdmin

logger = logging.getLogger("django_rq_lite.admin")


def periodic_job_list(request: HttpRequest, model_admin: QueueAdmin) -> HttpResponse:
    """List the periodic jobs, or the reason they cannot be listed.

    An invalid declaration, an RQ without the cron API (``CronUnavailable``)
    and a Redis error are shown on the page instead of raised.
    """
    statuses, error = [], ""
    try:
        statuses = cron.list_periodic_jobs()
    except ImproperlyConfigured as exc:
        error = str(exc)
    except redis.RedisError as exc:
        logger.warning("Periodic jobs page failed to read Redis error=%s", exc)
        error = f"Redis failed: {type(exc).__name__}: {exc}"
    rows = [
        {
            "status": status,
            "links_to_job": bool(status.last_job_id)
            and status.last_status is not None
            and is_valid_job_id(status.last_job_id),
        }
        for status in statuses
    ]
    return render(
        request,
        model_admin,
        "periodic_job_list.html",
        "Periodic jobs",
        rows=rows,
        error=error,
    )
