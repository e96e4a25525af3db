"""Job bodies shared by the two RQ-based products."""

import time

from counter import DONE_KEY, STARTED_KEY
from rq import get_current_job


def count_done():
    """Count one finished job on the worker's own Redis connection."""
    get_current_job().connection.incr(DONE_KEY)


def sleep_then_count(seconds):
    connection = get_current_job().connection
    connection.incr(STARTED_KEY)
    time.sleep(seconds)
    connection.incr(DONE_KEY)


def insert_then_count():
    """Insert one row through Django's ORM, then count the job as finished."""
    from bench_app.models import InsertedRow

    InsertedRow.objects.create(label="rq job")
    get_current_job().connection.incr(DONE_KEY)
