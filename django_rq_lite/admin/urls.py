"""URL patterns of the dashboard, mounted by ``QueueAdmin.get_urls``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .options import QueueAdmin


def lazy_view(name: str) -> Callable[..., HttpResponse]:
    """Return a view that imports the view ``name`` of this package when called.

    ``name`` is ``"module.function"``. Every worker start loads the URLconf
    for Django's system checks but serves no page, so the page modules and
    the dashboard modules that they import stay out of its memory.
    """
    path_name = f"{__package__}.{name}"

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return import_string(path_name)(request, *args, **kwargs)

    view.__module__, view.__name__ = path_name.rsplit(".", 1)
    view.__qualname__ = view.__name__
    return view


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
        path("", wrap(lazy_view("views.queue_list")), name=name("changelist")),
        path("workers/", wrap(lazy_view("views.worker_list")), name=name("workers")),
        path("counts.json", wrap(lazy_view("views.queue_counts")), name=name("counts")),
        path(
            "periodic-jobs/",
            wrap(lazy_view("periodic.periodic_job_list")),
            name=name("periodic_jobs"),
        ),
        path(
            "<str:queue_name>/jobs/<str:job_id>/",
            wrap(lazy_view("views.job_detail")),
            name=name("job"),
        ),
        path(
            "<str:queue_name>/jobs/<str:job_id>/requeue/",
            wrap(lazy_view("actions.job_action"), permission="change"),
            name=name("requeue"),
        ),
        path(
            "<str:queue_name>/jobs/<str:job_id>/<str:action>/",
            wrap(lazy_view("actions.job_action"), permission="change"),
            name=name("job_action"),
        ),
        path(
            "<str:queue_name>/failed/requeue/",
            wrap(lazy_view("actions.requeue_all"), permission="change"),
            name=name("requeue_all"),
        ),
        path(
            "<str:queue_name>/empty/",
            wrap(lazy_view("actions.empty"), permission="change"),
            name=name("empty"),
        ),
        path(
            "<str:queue_name>/<str:list_name>/all/<str:action>/",
            wrap(lazy_view("actions.all_action"), permission="change"),
            name=name("all_action"),
        ),
        path(
            "<str:queue_name>/<str:list_name>/",
            wrap(lazy_view("views.job_list")),
            name=name("jobs"),
        ),
    ]
