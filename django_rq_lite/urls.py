"""URLs of the metrics and status endpoints.

Include them in a project's URLconf, for example
``path("rq/", include("django_rq_lite.urls"))``.
"""

from django.urls import path

from . import metrics

app_name = "django_rq_lite"

urlpatterns = [
    path("metrics/", metrics.metrics_view, name="metrics"),
    path("status/", metrics.status_view, name="status"),
]
