from django.db import models
from django.utils import timezone


class BlockedDomain(models.Model):
    """A mail domain that the confirmation job does not send to.

    Staff edit the list in the admin. Deleting a row lets the failed jobs of
    that domain succeed when they are requeued.
    """

    domain = models.CharField(max_length=253, unique=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self):
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)


class Signup(models.Model):
    """A sign-up whose confirmation e-mail a background job sends."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100)
    email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)
    # The id of the RQ job that sends the confirmation, chosen before enqueueing.
    job_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "sign-up"

    def __str__(self):
        return f"{self.name} <{self.email}>"

    @property
    def domain(self):
        return self.email.rpartition("@")[2].lower()
