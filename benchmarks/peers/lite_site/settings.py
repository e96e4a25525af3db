"""Benchmark site of django-rq-lite."""

from base_settings import *  # noqa: F403
from base_settings import BASE_APPS

INSTALLED_APPS = [*BASE_APPS, "django_rq_lite", "bench_app"]
