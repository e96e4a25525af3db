from django.db import models


class InsertedRow(models.Model):
    """One row per ORM benchmark job."""

    label = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label
