"""Enqueue jobs from a separate process: ``python -m tests.reliability.producer``.

Arguments: the number of jobs, then every how many jobs one fails on its
first run (0 for none). Each job id is pushed to a Redis list, so the test
can check that every enqueued job ran.
"""

import sys

import django

ENQUEUED_KEY = "rq-lite-test:reliability:enqueued"
FAILING_KEY = "rq-lite-test:reliability:failing"


def produce(count: int, fail_every: int) -> None:
    from django_rq_lite import get_queue
    from tests.testapp import jobs

    queue = get_queue("default")
    for number in range(count):
        fail_first = bool(fail_every) and number % fail_every == 0
        queued = queue.enqueue(jobs.count_run, fail_first=fail_first)
        queue.connection.rpush(FAILING_KEY if fail_first else ENQUEUED_KEY, queued.id)


if __name__ == "__main__":
    django.setup()
    produce(int(sys.argv[1]), int(sys.argv[2]))
