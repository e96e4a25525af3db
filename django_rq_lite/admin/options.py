"""The ModelAdmin that serves the dashboard pages and checks permissions."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import redis
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .. import conf
from ..models import Queue
from .urls import get_urlpatterns

logger = logging.getLogger("django_rq_lite.admin")


class QueueAdmin(admin.ModelAdmin):
    """Dashboard pages over RQ's queues and registries, in place of a changelist.

    The "view" permission on ``Queue`` opens the pages and the "change"
    permission allows requeueing. ``RQ = {"SHOW_ADMIN": False}`` hides the
    dashboard from the index and makes its pages return 404.
    """

    list_per_page = 25
    per_page_choices = (10, 25, 50, 100)

    def get_urls(self):
        return get_urlpatterns(self)

    def url_name(self, page: str) -> str:
        """Return the URL pattern name of ``page`` (without the namespace)."""
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"

    def reverse(self, page: str, *args: str) -> str:
        """Return the URL of ``page`` on this model admin's admin site."""
        return reverse(
            f"{self.admin_site.name}:{self.url_name(page)}",
            args=args,
            current_app=self.admin_site.name,
        )

    def wrap_view(self, view: Callable, permission: str = "view") -> Callable:
        """Wrap ``view`` with the admin's login, CSRF and permission checks.

        ``permission`` is ``"view"`` for pages and ``"change"`` for actions.
        Staff without it get 403. A Redis error in a page of one queue
        becomes a message on the queues page, which shows each queue's error
        in its row instead of raising.
        """

        def inner(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not conf.show_admin():
                raise Http404("The background jobs dashboard is turned off.")
            if permission == "change":
                allowed = self.has_change_permission(request)
            else:
                allowed = self.has_view_permission(request)
            if not allowed:
                raise PermissionDenied
            request.current_app = self.admin_site.name
            try:
                return view(request, self, *args, **kwargs)
            except redis.RedisError as exc:
                if "queue_name" not in kwargs:
                    raise
                return self.redirect_after_redis_error(request, exc, kwargs)

        functools.update_wrapper(inner, view)
        return self.admin_site.admin_view(inner)

    def redirect_after_redis_error(
        self, request: HttpRequest, exc: redis.RedisError, view_kwargs: dict
    ) -> HttpResponse:
        queue_name = view_kwargs["queue_name"]
        logger.warning(
            "Dashboard request failed queue=%s path=%s error=%s",
            queue_name,
            request.path,
            exc,
        )
        messages.error(
            request,
            f"Redis of queue {queue_name!r} failed: {type(exc).__name__}: {exc}",
        )
        return HttpResponseRedirect(self.reverse("changelist"))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return conf.show_admin() and super().has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def register(site: admin.AdminSite, admin_class: type[QueueAdmin] = QueueAdmin):
    """Add the dashboard to ``site``, an ``AdminSite``, under "Background jobs"."""
    site.register(Queue, admin_class)
