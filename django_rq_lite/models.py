"""The model behind the admin dashboard: one RQ queue, with no table."""

from django.db import models


class Queue(models.Model):
    """A configured RQ queue, as the admin dashboard presents it.

    The model has no table (``managed = False``) and is never queried. It
    exists so the admin lists the dashboard, so Django creates its "view" and
    "change" permissions, and so admin log entries can point at a queue by
    name.
    """

    name = models.CharField(max_length=200, primary_key=True)

    class Meta:
        managed = False
        default_permissions = ("view", "change")
        verbose_name = "queue"
        verbose_name_plural = "queues"

    def __str__(self) -> str:
        return self.name
