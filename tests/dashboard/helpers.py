"""Helpers that put real jobs into RQ's registries for the dashboard tests."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job

from django_rq_lite.queues import get_queue


class InProcessWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` without the pub/sub command channel.

    NOTE: with RQ 3.0.0 and redis-py 8.2.0, closing the channel at the end of
    a burst sometimes blocks for 60 seconds: RQ unsubscribes before it stops the
    channel thread, so the thread waits ``sleep_time`` (60 s) for a
    subscription while ``PubSubWorkerThread.stop()`` joins it. Tests send no
    worker commands, so the channel is not opened.
    """

    def subscribe(self) -> None:
        pass


def run_burst_worker(queue_name: str = "default") -> None:
    """Run every queued job of ``queue_name`` in this process, then return.

    The results are in Redis when it returns. The worker is RQ's plain
    class, not ``workers.get_worker``'s, because the Django mixin closes
    database connections, which would end the test transaction.
    """
    queue = get_queue(queue_name)
    worker = InProcessWorker(
        [queue],
        connection=queue.connection,
        job_class=queue.job_class,
        serializer=queue.serializer,
    )
    worker.work(burst=True)


def make_failed_jobs(
    count: int, queue_name: str = "default", message: str = "boom", **options
) -> list[Job]:
    """Enqueue ``count`` failing jobs and run a worker so they all fail."""
    queue = get_queue(queue_name)
    jobs = [
        queue.enqueue("tests.testapp.jobs.fail", message, **options)
        for _ in range(count)
    ]
    run_burst_worker(queue_name)
    return jobs
