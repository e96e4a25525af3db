"""Two "requeue all" requests at the same time: each failed job runs once more."""

import threading

import pytest
from django.test import Client
from django.urls import reverse
from rq.registry import FailedJobRegistry

from django_rq_lite import get_queue
from tests.testapp import jobs

from .helpers import SIMPLE_WORKER

FAILED_JOBS = 300
REQUESTS = 2
# This test restarts no server, so it runs without an fsync per write.
REDIS_APPENDONLY = False


def post_requeue_all(user, url, barrier, responses):
    client = Client()
    client.force_login(user)
    barrier.wait(timeout=30)
    responses.append(client.post(url))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_requeue_all_runs_once(
    private_queues, redis_client, workers, admin_user, reliability_stats
):
    queue = get_queue("default")
    failed = FailedJobRegistry(queue=queue)
    queued = [
        queue.enqueue(jobs.count_run, fail_first=True) for _ in range(FAILED_JOBS)
    ]
    assert workers.run_burst(worker_class=SIMPLE_WORKER, timeout=120) == 0
    assert failed.count == FAILED_JOBS

    url = reverse("admin:django_rq_lite_queue_requeue_all", args=["default"])
    barrier = threading.Barrier(REQUESTS)
    responses = []
    threads = [
        threading.Thread(
            target=post_requeue_all, args=(admin_user, url, barrier, responses)
        )
        for _ in range(REQUESTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [response.status_code for response in responses] == [302] * REQUESTS
    queued_ids = queue.get_job_ids()
    assert len(queued_ids) == FAILED_JOBS
    assert len(set(queued_ids)) == FAILED_JOBS
    assert failed.count == 0

    assert workers.run_burst(worker_class=SIMPLE_WORKER, timeout=120) == 0
    runs = [int(redis_client.hget(jobs.RUN_COUNTS_KEY, job.id)) for job in queued]
    lost = sum(1 for count in runs if count < 2)
    twice = sum(1 for count in runs if count > 2)
    reliability_stats.record(faults_injected=FAILED_JOBS, jobs_run=sum(runs))
    reliability_stats.record(jobs_lost=lost, jobs_run_twice=twice)
    assert lost == 0
    assert twice == 0
    assert queue.count == 0
