"""Django site of the Celery ORM job: the shared settings and the benchmark app."""

from base_settings import *  # noqa: F403
from base_settings import BASE_APPS

INSTALLED_APPS = [*BASE_APPS, "bench_app"]
