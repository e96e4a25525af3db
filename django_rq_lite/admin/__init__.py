"""The background jobs dashboard in the Django admin.

Importing this module (as ``admin.autodiscover()`` does) registers the
dashboard on ``django.contrib.admin.site``. Call ``register(site)`` to add it
to another ``AdminSite``.
"""

from django.contrib import admin

from .options import QueueAdmin, register

__all__ = ["QueueAdmin", "register"]

register(admin.site)
