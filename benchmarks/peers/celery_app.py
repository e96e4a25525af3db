"""Celery application of the benchmark: Redis broker, no result backend."""

import os
import time

from celery import Celery
from counter import DONE_KEY, STARTED_KEY, get_client

app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task
def noop():
    get_client().incr(DONE_KEY)


@app.task
def sleep_job(seconds):
    client = get_client()
    client.incr(STARTED_KEY)
    time.sleep(seconds)
    client.incr(DONE_KEY)
