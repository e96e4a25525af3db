"""URL patterns of the dashboard, mounted by ``QueueAdmin.get_urls``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import URLPattern, path

from . import actions, periodic, views

if TYPE_CHECKING:
    from .options import QueueAdmin


def get_urlpatterns(model_admin: QueueAdmin) -> list[URLPattern]:
    """Return the dashboard's URL patterns, named like the admin's own.

    The queues page takes the changelist's name, so the admin index links to
    it. Job ids and queue names use the ``str`` converter, which accepts
    every character that RQ allows in a job id.

    NOTE: ``str`` stops at "/", so a queue whose name contains "/" is listed
    with its counts on the queues page, but it has no job pages.
    """
    wrap = model_admin.wrap_view
    name = model_admin.url_name
    return [
        path("", wrap(views.queue_list), name=name("changelist")),
        path("workers/", wrap(views.worker_list), name=name("workers")),
        path("counts.json", wrap(views.queue_counts), name=name("counts")),
        path(
            "periodic-jobs/",
            wrap(periodic.periodic_job_list),
            name=name("periodic_jobs"),
        ),
        path(
            "<str:queue_name>/jobs/<str:job_id>/",
            wrap(views.job_detail),
            name=name("job"),
        ),
        path(
            "<str:queue_name>/jobs/<str:job_id>/requeue/",
            wrap(actions.job_action, permission="change"),
            name=name("requeue"),
        ),
        path(
            "<str:queue_name>/jobs/<str:job_id>/<str:action>/",
            wrap(actions.job_action, permission="change"),
            name=name("job_action"),
        ),
        path(
            "<str:queue_name>/failed/requeue/",
            wrap(actions.requeue_all, permission="change"),
            name=name("requeue_all"),
        ),
        path(
            "<str:queue_name>/empty/",
            wrap(actions.empty, permission="change"),
            name=name("empty"),
        ),
        path(
            "<str:queue_name>/<str:list_name>/all/<str:action>/",
            wrap(actions.all_action, permission="change"),
            name=name("all_action"),
        ),
        path(
            "<str:queue_name>/<str:list_name>/",
            wrap(views.job_list),
            name=name("jobs"),
        ),
    ]
