import zlib

from rq.registry import FailedJobRegistry

from django_rq_lite.dashboard.actions import ActionCounts, run_action
from django_rq_lite.queues import get_queue
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker

# Fields that differ between two jobs for reasons other than the requeue.
VARYING_FIELDS = {b"created_at", b"enqueued_at", b"last_heartbeat", b"data"}


def comparable_hash(connection, job):
    job_hash = connection.hgetall(job.key)
    return {key: value for key, value in job_hash.items() if key not in VARYING_FIELDS}


def test_requeue_matches_rq_requeue(flush_redis):
    ours, theirs = make_failed_jobs(2, message="same")
    queue = get_queue("default")

    counts = run_action(queue, "failed", "requeue", [ours.id])
    FailedJobRegistry(queue=queue).requeue(theirs.id)

    assert counts == ActionCounts(done=1)
    ours_hash = comparable_hash(flush_redis, ours)
    theirs_hash = comparable_hash(flush_redis, theirs)
    # RQ rewrites every field, so the worker fields are equal once both
    # hashes drop the values that only RQ refreshes.
    for field in set(ours_hash) ^ set(theirs_hash):
        assert field in {b"redis_server_version"}, field
    shared = set(ours_hash) & set(theirs_hash) - {b"redis_server_version"}
    for field in shared:
        assert ours_hash[field] == theirs_hash[field], field
    assert flush_redis.ttl(ours.key) == flush_redis.ttl(theirs.key)
    assert queue.job_ids == [ours.id, theirs.id]


def test_requeued_job_runs_again(tmp_path):
    flag = tmp_path / "flag"
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.fail_unless_file_exists", str(flag))
    run_burst_worker()
    flag.write_text("fixed")

    run_action(queue, "failed", "requeue", [job.id])
    run_burst_worker()

    assert job.get_status(refresh=True) == "finished"
    assert FailedJobRegistry(queue=queue).count == 0


def test_requeue_rate_limited_job(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(
        job.key, mapping={"rate_limit_key": "tests", "rate_limit_concurrency": 1}
    )
    queue = get_queue("default")

    counts = run_action(queue, "failed", "requeue", [job.id])

    assert counts.done == 1
    assert job.id not in FailedJobRegistry(queue=queue)
    assert queue.job_ids == [job.id]
    assert job.get_status(refresh=True) == "queued"
    assert zlib.decompress(flush_redis.hget(job.key, "exc_info")) == b""
    assert flush_redis.hget(job.key, "started_at") in (None, b"")


def test_requeue_rate_limited_twice_once(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "rate_limit_key", "tests")
    queue = get_queue("default")

    first = run_action(queue, "failed", "requeue", [job.id])
    second = run_action(queue, "failed", "requeue", [job.id])

    assert first.done == 1
    assert second.done == 0
    assert second.not_in_list == 1
    assert queue.job_ids == [job.id]
