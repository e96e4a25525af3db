"""The failed-job index: its writers, its sync with the registry, its reads."""

import os
import subprocess
import sys
import time

import pytest
from rq import Retry
from rq.registry import FailedJobRegistry

from django_rq_lite.dashboard.actions import (
    count_matching,
    run_action,
    run_action_on_all,
)
from django_rq_lite.dashboard.filters import IndexedJobIdList, JobFilter
from django_rq_lite.dashboard.index import (
    IndexKeys,
    get_filter_choices,
    record_entries,
    sync_index,
)
from django_rq_lite.queues import get_queue
from django_rq_lite.workers import get_worker
from tests.dashboard.helpers import InProcessWorker, make_failed_jobs

# The hooked worker closes Django's database connections around each job,
# which pytest-django allows only in tests with database access.
pytestmark = pytest.mark.django_db

FAIL = "tests.testapp.jobs.fail"
KEY_ERROR = "tests.testapp.jobs.fail_with_key_error"
DECLINED = "tests.testapp.jobs.fail_with_payment_declined"
DECLINED_CLASS = "tests.testapp.jobs.PaymentDeclined"


def indexed_ids(connection, key):
    return {job_id.decode() for job_id in connection.zrange(key, 0, -1)}


def run_hooked_worker(queue_name="default"):
    """Run the jobs in this process with the worker class that has the hook."""
    worker = get_worker(queue_name, worker_class=InProcessWorker)
    worker.work(burst=True)


def filtered_ids(queue, job_filter, **options):
    job_list = IndexedJobIdList(queue, job_filter, **options)
    return job_list.get_ids(0, None)


def test_hook_indexes_failure_in_process(flush_redis):
    queue = get_queue("default")
    job = queue.enqueue(KEY_ERROR)

    run_hooked_worker()

    keys = IndexKeys("default")
    assert indexed_ids(flush_redis, keys.exc_class_key("KeyError")) == {job.id}
    assert indexed_ids(flush_redis, keys.func_key(KEY_ERROR)) == {job.id}


def test_hook_uses_registry_score(flush_redis):
    queue = get_queue("default")
    job = queue.enqueue(FAIL)

    run_hooked_worker()

    keys = IndexKeys("default")
    registry_score = flush_redis.zscore(keys.registry, job.id)
    assert flush_redis.zscore(keys.exc_class_key("ValueError"), job.id) == (
        registry_score
    )


def test_hook_indexes_failure_in_forked_horse(flush_redis):
    queue = get_queue("default")
    job = queue.enqueue(DECLINED)

    subprocess.run(
        [sys.executable, "-m", "django", "rqworker", "default", "--burst"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        timeout=60,
        check=True,
        capture_output=True,
    )

    keys = IndexKeys("default")
    assert job.id in FailedJobRegistry(queue=queue)
    assert indexed_ids(flush_redis, keys.exc_class_key(DECLINED_CLASS)) == {job.id}


def test_hook_skips_retried_job(flush_redis):
    queue = get_queue("default")
    queue.enqueue(FAIL, retry=Retry(max=1, interval=60))

    run_hooked_worker()

    keys = IndexKeys("default")
    assert flush_redis.zcard(keys.key("ids")) == 0


def test_sync_indexes_earlier_failures():
    jobs = make_failed_jobs(3)
    queue = get_queue("default")

    state = sync_index(queue)

    assert state.complete
    assert set(filtered_ids(queue, JobFilter("ValueError"))) == {j.id for j in jobs}


def test_sync_bounded_by_max_jobs():
    make_failed_jobs(5)
    queue = get_queue("default")

    first = sync_index(queue, max_jobs=2)
    second = sync_index(queue)

    assert (first.indexed, first.total) == (2, 5)
    assert not first.complete
    assert second.complete


def test_requeue_removes_from_index(flush_redis):
    first, second = make_failed_jobs(2)
    queue = get_queue("default")
    sync_index(queue)

    run_action(queue, "failed", "requeue", [first.id])

    key = IndexKeys("default").exc_class_key("ValueError")
    assert indexed_ids(flush_redis, key) == {second.id}


def test_delete_removes_from_index(flush_redis):
    first, second = make_failed_jobs(2)
    queue = get_queue("default")
    sync_index(queue)

    run_action(queue, "failed", "delete", [first.id])

    keys = IndexKeys("default")
    assert indexed_ids(flush_redis, keys.func_key(FAIL)) == {second.id}
    assert flush_redis.hget(keys.key("entries"), first.id) is None


def test_expired_entries_leave_index(flush_redis):
    queue = get_queue("default")
    queue.enqueue(FAIL, failure_ttl=1)
    kept = queue.enqueue(FAIL, failure_ttl=600)
    run_hooked_worker()
    time.sleep(1.2)

    state = sync_index(queue)

    key = IndexKeys("default").exc_class_key("ValueError")
    assert state.total == 1
    assert indexed_ids(flush_redis, key) == {kept.id}


def test_external_removal_pruned_on_read(flush_redis):
    first, second = make_failed_jobs(2)
    queue = get_queue("default")
    sync_index(queue)
    # RQ's own API removes the entry without the dashboard's knowledge.
    FailedJobRegistry(queue=queue).remove(first.id)

    ids = IndexedJobIdList(queue, JobFilter("ValueError")).get_ids(0, None)

    key = IndexKeys("default").exc_class_key("ValueError")
    assert ids == [second.id]
    assert indexed_ids(flush_redis, key) == {second.id}


def test_refailure_moves_between_classes(flush_redis):
    queue = get_queue("default")
    job = queue.enqueue(FAIL)
    run_hooked_worker()
    keys = IndexKeys("default")
    # Record the same job again as if a requeued run failed differently.
    record_entries(queue, [(job.id, "KeyError", FAIL)])

    assert indexed_ids(flush_redis, keys.exc_class_key("ValueError")) == set()
    assert indexed_ids(flush_redis, keys.exc_class_key("KeyError")) == {job.id}


def test_filter_matches_short_class_name():
    queue = get_queue("default")
    job = queue.enqueue(DECLINED)
    queue.enqueue(FAIL)
    run_hooked_worker()

    assert filtered_ids(queue, JobFilter("PaymentDeclined")) == [job.id]


def test_filter_combines_class_and_function():
    queue = get_queue("default")
    wanted = queue.enqueue(KEY_ERROR)
    queue.enqueue(FAIL)
    queue.enqueue(DECLINED)
    run_hooked_worker()

    ids = filtered_ids(queue, JobFilter("KeyError", KEY_ERROR))
    none = filtered_ids(queue, JobFilter("ValueError", KEY_ERROR))

    assert ids == [wanted.id]
    assert none == []


def test_filter_unknown_class_empty():
    make_failed_jobs(1)
    job_list = IndexedJobIdList(get_queue("default"), JobFilter("NoSuchError"))

    assert job_list.count() == 0
    assert job_list.get_ids(0, 10) == []


def test_filtered_pages_no_duplicates():
    queue = get_queue("default")
    expected = [queue.enqueue(FAIL).id for _ in range(17)]
    expected_keys = [queue.enqueue(KEY_ERROR).id for _ in range(5)]
    run_hooked_worker()
    job_list = IndexedJobIdList(queue, JobFilter("ValueError"))

    pages = [job_list[start : start + 5] for start in range(0, 20, 5)]
    seen = [job_id for page in pages for job_id in page]

    assert job_list.count() == 17
    assert len(seen) == len(set(seen))
    assert set(seen) == set(expected)
    assert not set(seen) & set(expected_keys)


def test_filtered_order_follows_registry():
    queue = get_queue("default")
    for _ in range(4):
        queue.enqueue(FAIL)
    run_hooked_worker()
    registry = FailedJobRegistry(queue=queue)

    ids = filtered_ids(queue, JobFilter("ValueError"))

    assert ids == registry.get_job_ids(desc=True)


def test_count_matching_uses_index():
    make_failed_jobs(2)
    queue = get_queue("default")
    queue.enqueue(KEY_ERROR)
    run_hooked_worker()

    assert count_matching(queue, "failed", JobFilter(exc_class="KeyError")) == 1


def test_requeue_all_matching_by_function(flush_redis):
    queue = get_queue("default")
    wanted = [queue.enqueue(DECLINED).id for _ in range(5)]
    other = queue.enqueue(FAIL)
    run_hooked_worker()

    counts = run_action_on_all(
        queue, "failed", "requeue", JobFilter(func_name=DECLINED), batch_size=2
    )

    assert counts.done == 5
    assert sorted(queue.job_ids) == sorted(wanted)
    assert FailedJobRegistry(queue=queue).get_job_ids() == [other.id]
    key = IndexKeys("default").func_key(DECLINED)
    assert flush_redis.zcard(key) == 0


def test_filter_choices_list_known_names():
    queue = get_queue("default")
    queue.enqueue(FAIL)
    job = queue.enqueue(KEY_ERROR)
    run_hooked_worker()
    run_action(queue, "failed", "delete", [job.id])

    classes, functions = get_filter_choices(queue)

    assert classes == ["ValueError"]
    assert functions == [FAIL]


def test_pair_key_dropped_on_delete(flush_redis):
    queue = get_queue("default")
    job = queue.enqueue(KEY_ERROR)
    run_hooked_worker()
    pair_key = IndexKeys("default").pair_key("KeyError", KEY_ERROR)
    recorded = indexed_ids(flush_redis, pair_key)

    run_action(queue, "failed", "delete", [job.id])

    assert recorded == {job.id}
    assert flush_redis.exists(pair_key) == 0
