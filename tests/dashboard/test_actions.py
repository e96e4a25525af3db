import pickle
import threading
from datetime import timedelta

import pytest
from redis.exceptions import WatchError
from rq.exceptions import InvalidJobOperation
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
)

from django_rq_lite.connections import get_connection
from django_rq_lite.dashboard.actions import (
    ActionCounts,
    count_matching,
    empty_queue,
    move_to_queues,
    run_action,
    run_action_on_all,
    stop_job,
)
from django_rq_lite.dashboard.filters import JobFilter
from django_rq_lite.queues import get_queue
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker


def failed_ids(queue_name="default"):
    queue = get_queue(queue_name)
    return set(FailedJobRegistry(queue=queue).get_job_ids())


def test_requeue_moves_to_queue():
    first, second = make_failed_jobs(2)
    queue = get_queue("default")

    counts = run_action(queue, "failed", "requeue", [first.id])

    assert counts == ActionCounts(done=1)
    assert queue.job_ids == [first.id]
    assert failed_ids() == {second.id}


def test_requeue_resets_job_for_rerun():
    [job] = make_failed_jobs(1)
    queue = get_queue("default")

    run_action(queue, "failed", "requeue", [job.id])

    job.refresh()
    assert job.get_status() == "queued"
    assert job.ended_at is None


def test_requeue_prunes_missing(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.delete(job.key)

    counts = run_action(get_queue("default"), "failed", "requeue", [job.id, "a:b"])

    assert counts == ActionCounts(missing=1)
    assert failed_ids() == set()


def test_requeue_twice_counts_gone():
    [job] = make_failed_jobs(1)
    queue = get_queue("default")
    run_action(queue, "failed", "requeue", [job.id])

    counts = run_action(queue, "failed", "requeue", [job.id])

    assert counts == ActionCounts(not_in_list=1)
    assert queue.job_ids == [job.id]


def test_requeue_unimportable_kept(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "data", job.data.replace(b"tests.testapp", b"gone_pkg"))

    counts = run_action(get_queue("default"), "failed", "requeue", [job.id])

    assert counts == ActionCounts(unreadable=1)
    assert failed_ids() == {job.id}


def test_requeue_undeserializable_kept(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "data", b"not a pickle")

    counts = run_action(get_queue("default"), "failed", "requeue", [job.id])

    assert counts == ActionCounts(unreadable=1)
    assert failed_ids() == {job.id}


def test_requeue_concurrent_threads_once():
    jobs = make_failed_jobs(20)
    queue = get_queue("default")
    job_ids = [job.id for job in jobs]
    results = []
    barrier = threading.Barrier(4)

    def requeue():
        barrier.wait(timeout=10)
        results.append(run_action(get_queue("default"), "failed", "requeue", job_ids))

    threads = [threading.Thread(target=requeue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(counts.done for counts in results) == 20
    assert sorted(queue.job_ids) == sorted(job_ids)


def test_requeue_all_concurrent_threads_once():
    jobs = make_failed_jobs(30)
    queue = get_queue("default")
    results = []
    barrier = threading.Barrier(3)

    def requeue_all():
        barrier.wait(timeout=10)
        results.append(
            run_action_on_all(get_queue("default"), "failed", "requeue", batch_size=4)
        )

    threads = [threading.Thread(target=requeue_all) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(counts.done for counts in results) == 30
    assert len(queue.job_ids) == 30
    assert sorted(queue.job_ids) == sorted(job.id for job in jobs)


def test_requeue_all_in_batches(flush_redis):
    jobs = make_failed_jobs(7)
    for job in jobs[2:4]:
        flush_redis.delete(job.key)
    queue = get_queue("default")

    counts = run_action_on_all(queue, "failed", "requeue", batch_size=2)

    assert counts == ActionCounts(done=5, missing=2)
    assert sorted(queue.job_ids) == sorted(job.id for job in jobs[:2] + jobs[4:])
    assert failed_ids() == set()


def test_requeue_all_skips_unreadable_batches(flush_redis):
    jobs = make_failed_jobs(5)
    flush_redis.hset(jobs[1].key, "data", b"not a pickle")
    queue = get_queue("default")

    counts = run_action_on_all(queue, "failed", "requeue", batch_size=2)

    assert counts == ActionCounts(done=4, unreadable=1)
    assert failed_ids() == {jobs[1].id}


def test_requeue_all_empty_registry():
    counts = run_action_on_all(get_queue("default"), "failed", "requeue")
    assert counts == ActionCounts()


def test_requeue_all_only_its_queue():
    make_failed_jobs(2)
    [other] = make_failed_jobs(1, queue_name="low")

    counts = run_action_on_all(get_queue("default"), "failed", "requeue")

    assert counts.done == 2
    assert failed_ids("low") == {other.id}


def test_requeue_all_matching_filter():
    value_errors = make_failed_jobs(3)
    queue = get_queue("default")
    key_error = queue.enqueue("tests.testapp.jobs.fail_with_key_error")
    run_burst_worker()
    job_filter = JobFilter(exc_class="ValueError")

    assert count_matching(queue, "failed", job_filter) == 3
    counts = run_action_on_all(queue, "failed", "requeue", job_filter, batch_size=2)

    assert counts.done == 3
    assert sorted(queue.job_ids) == sorted(job.id for job in value_errors)
    assert failed_ids() == {key_error.id}


def test_delete_removes_job_data(flush_redis):
    first, second = make_failed_jobs(2)
    queue = get_queue("default")

    counts = run_action(queue, "failed", "delete", [first.id])

    assert counts == ActionCounts(done=1)
    assert not flush_redis.exists(first.key)
    assert failed_ids() == {second.id}


def test_delete_all_queued(flush_redis):
    queue = get_queue("default")
    jobs = [queue.enqueue("tests.testapp.jobs.add", n, 1) for n in range(5)]

    counts = run_action_on_all(queue, "queued", "delete", batch_size=2)

    assert counts == ActionCounts(done=5)
    assert queue.count == 0
    assert not any(flush_redis.exists(job.key) for job in jobs)


def test_delete_started_rejected():
    with pytest.raises(InvalidJobOperation):
        run_action(get_queue("default"), "started", "delete", ["x"])


def test_cancel_queued_job():
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)

    counts = run_action(queue, "queued", "cancel", [job.id])

    assert counts == ActionCounts(done=1)
    assert queue.count == 0
    assert job.id in CanceledJobRegistry(queue=queue)


def test_enqueue_now_scheduled():
    queue = get_queue("default")
    job = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)

    counts = run_action(queue, "scheduled", "enqueue", [job.id])

    assert counts == ActionCounts(done=1)
    assert queue.job_ids == [job.id]
    assert job.id not in ScheduledJobRegistry(queue=queue)


def test_enqueue_now_deferred_runs_once():
    queue = get_queue("default")
    parent = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    child = queue.enqueue("tests.testapp.jobs.add", 3, 4, depends_on=parent)
    assert child.id in DeferredJobRegistry(queue=queue)

    counts = run_action(queue, "deferred", "enqueue", [child.id])
    run_burst_worker()

    assert counts == ActionCounts(done=1)
    assert len(child.results()) == 1


def test_enqueue_now_concurrent_threads_once():
    queue = get_queue("default")
    jobs = [
        queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", index, 1)
        for index in range(20)
    ]
    job_ids = [job.id for job in jobs]
    results = []
    barrier = threading.Barrier(4)

    def enqueue_now():
        barrier.wait(timeout=10)
        results.append(
            run_action(get_queue("default"), "scheduled", "enqueue", job_ids)
        )

    threads = [threading.Thread(target=enqueue_now) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 4
    assert sum(counts.done for counts in results) == 20
    assert sum(counts.not_in_list for counts in results) == 60
    assert sorted(queue.job_ids) == sorted(job_ids)
    assert ScheduledJobRegistry(queue=queue).count == 0


def test_enqueue_now_skips_taken_job():
    queue = get_queue("default")
    scheduled = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)
    removed_elsewhere = queue.enqueue_in(
        timedelta(hours=1), "tests.testapp.jobs.add", 3, 4
    )
    registry = ScheduledJobRegistry(queue=queue)
    # Another process took this job after the action read it.
    registry.remove(removed_elsewhere)

    moved = move_to_queues(queue, "scheduled", [scheduled, removed_elsewhere])

    assert moved == 1
    assert queue.job_ids == [scheduled.id]
    assert registry.count == 0


def test_enqueue_now_failure_keeps_job():
    queue = get_queue("default")
    job = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)
    # Saving the job raises before the transaction runs, where a killed
    # process would stop too.
    job.meta["unpicklable"] = lambda: None

    with pytest.raises((pickle.PicklingError, AttributeError)):
        move_to_queues(queue, "scheduled", [job])

    assert job.id in ScheduledJobRegistry(queue=queue)
    assert queue.job_ids == []


class RegistryToucher:
    """A value that changes a registry whenever it is pickled."""

    def __init__(self, connection, key):
        self.connection = connection
        self.key = key

    def __reduce__(self):
        self.connection.zincrby(self.key, 1, "other-job")
        return (str, ("touched",))


def test_enqueue_now_gives_up_on_busy_registry():
    queue = get_queue("default")
    job = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)
    registry = ScheduledJobRegistry(queue=queue)
    # Saving the job changes the watched registry, as a busy one would.
    job.meta["touch"] = RegistryToucher(get_connection("default"), registry.key)

    with pytest.raises(WatchError, match="changed during each of 20 attempts"):
        move_to_queues(queue, "scheduled", [job])

    assert job.id in registry
    assert queue.job_ids == []


def test_enqueue_now_rate_limited_job(flush_redis):
    queue = get_queue("default")
    job = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)
    flush_redis.hset(
        job.key, mapping={"rate_limit_key": "tests", "rate_limit_concurrency": 1}
    )

    counts = run_action(queue, "scheduled", "enqueue", [job.id])

    assert counts == ActionCounts(done=1)
    assert job.id not in ScheduledJobRegistry(queue=queue)
    assert queue.job_ids == [job.id]
    assert job.get_status(refresh=True) == "queued"


def test_stop_job_not_running():
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    with pytest.raises(InvalidJobOperation):
        stop_job(queue, job.id)


def test_stop_finished_job_rejected():
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    run_burst_worker("default")

    with pytest.raises(InvalidJobOperation) as caught:
        stop_job(queue, job.id)
    assert str(caught.value) == (
        "it is finished, not started, so no worker is running it."
    )


def test_empty_queue_counts():
    queue = get_queue("default")
    for n in range(3):
        queue.enqueue("tests.testapp.jobs.add", n, 1)

    assert empty_queue(queue) == 3
    assert queue.count == 0


def test_unknown_action_rejected():
    with pytest.raises(InvalidJobOperation):
        run_action(get_queue("default"), "finished", "requeue", ["x"])


def test_cancel_deferred_job():
    queue = get_queue("default")
    parent = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    child = queue.enqueue("tests.testapp.jobs.add", 3, 4, depends_on=parent)

    counts = run_action(queue, "deferred", "cancel", [child.id])

    assert counts == ActionCounts(done=1)
    assert child.id not in DeferredJobRegistry(queue=queue)
    assert child.id in CanceledJobRegistry(queue=queue)


def test_cancel_all_queued_in_batches():
    queue = get_queue("default")
    jobs = [queue.enqueue("tests.testapp.jobs.add", n, 1) for n in range(5)]

    counts = run_action_on_all(queue, "queued", "cancel", batch_size=2)

    assert counts == ActionCounts(done=5)
    assert queue.count == 0
    assert CanceledJobRegistry(queue=queue).count == len(jobs)
