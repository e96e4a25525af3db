"""Job functions that the tests enqueue and worker processes import."""

import os
import time

from django_rq_lite import job


def add(x, y):
    return x + y


def fail(message="boom"):
    raise ValueError(message)


def sleep_then_return(seconds, value="done"):
    time.sleep(seconds)
    return value


def write_marker(path, text="ran"):
    with open(path, "a") as marker:
        marker.write(f"{text}\n")
    return text


def worker_pid():
    return os.getpid()


@job
def plain_job(x):
    return x * 2


@job("high", timeout=30, result_ttl=100)
def high_job(x):
    return x + 1
