"""Benchmark jobs declared with django-rq-lite's ``@job``."""

import rq_jobs

from django_rq_lite import job


@job("default")
def noop():
    rq_jobs.count_done()


@job("default", timeout=60)
def sleep_job(seconds):
    rq_jobs.sleep_then_count(seconds)


@job("default")
def insert_row():
    rq_jobs.insert_then_count()
