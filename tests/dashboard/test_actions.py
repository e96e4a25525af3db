from rq.registry import FailedJobRegistry

from django_rq_lite.dashboard.actions import (
    RequeueCounts,
    requeue_all_failed,
    requeue_jobs,
)
from django_rq_lite.queues import get_queue
from tests.dashboard.helpers import make_failed_jobs


def failed_ids(queue_name="default"):
    queue = get_queue(queue_name)
    return set(FailedJobRegistry(queue=queue).get_job_ids())


def test_requeue_jobs_moves_to_queue():
    first, second = make_failed_jobs(2)
    queue = get_queue("default")

    counts = requeue_jobs(queue, [first.id])

    assert counts == RequeueCounts(requeued=1)
    assert queue.job_ids == [first.id]
    assert failed_ids() == {second.id}


def test_requeue_jobs_counts_missing(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.delete(job.key)

    counts = requeue_jobs(get_queue("default"), [job.id, "not:valid"])

    assert counts == RequeueCounts(missing=2)
    assert failed_ids() == {job.id}


def test_requeue_jobs_counts_not_failed():
    [job] = make_failed_jobs(1)
    queue = get_queue("default")
    requeue_jobs(queue, [job.id])

    counts = requeue_jobs(queue, [job.id])

    assert counts == RequeueCounts(not_failed=1)
    assert queue.job_ids == [job.id]


def test_requeue_all_in_batches(flush_redis):
    jobs = make_failed_jobs(7)
    # Two entries without a job hash sit among the others and stay behind.
    for job in jobs[2:4]:
        flush_redis.delete(job.key)
    queue = get_queue("default")

    counts = requeue_all_failed(queue, batch_size=2)

    assert counts == RequeueCounts(requeued=5, missing=2)
    assert sorted(queue.job_ids) == sorted(job.id for job in jobs[:2] + jobs[4:])
    assert failed_ids() == {job.id for job in jobs[2:4]}


def test_requeue_all_empty_registry():
    counts = requeue_all_failed(get_queue("default"))
    assert counts == RequeueCounts()


def test_requeue_all_only_its_queue():
    make_failed_jobs(2)
    [other] = make_failed_jobs(1, queue_name="low")

    counts = requeue_all_failed(get_queue("default"))

    assert counts.requeued == 2
    assert failed_ids("low") == {other.id}
