"""Celery application of the ORM job, with Django set up in the worker.

``DJANGO_SETTINGS_MODULE`` points at ``celery_site.settings``, the shared
settings and ``bench_app`` model that the RQ sites use. Because that variable
is set, Celery 5.7 installs its Django fix-up (``celery/fixups/django.py``),
which closes the database connections before and after each task. The module
calls ``django.setup()`` itself, so a process that only enqueues can import it.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "celery_site.settings")

import django  # noqa: E402

django.setup()

from bench_app.models import InsertedRow  # noqa: E402
from celery import Celery  # noqa: E402
from counter import DONE_KEY, get_client  # noqa: E402

app = Celery("bench_orm", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task
def insert_row():
    InsertedRow.objects.create(label="celery task")
    get_client().incr(DONE_KEY)
