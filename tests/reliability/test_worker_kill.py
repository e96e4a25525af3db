"""A worker killed with SIGKILL mid-job: registry cleanup fails the job, and a
requeue runs it to the end."""

import os
import signal
import time

import pytest
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite import get_queue
from tests.testapp import jobs

from .helpers import WORKER_CLASSES, wait_for


def expire_started_entries(redis_client, registry):
    """Move every entry of ``registry`` to a past expiry, as if heartbeats stopped.

    RQ extends an entry at each heartbeat, at least 60 s ahead, so a killed
    worker's entry would otherwise take a minute or more to expire.
    """
    for member in redis_client.zrange(registry.key, 0, -1):
        redis_client.zadd(registry.key, {member: 1})


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
@pytest.mark.parametrize("cleanup", ["explicit", "worker_maintenance"])
def test_killed_job_failed_then_requeued(
    private_queues,
    redis_client,
    workers,
    tmp_path,
    reliability_stats,
    worker_class,
    cleanup,
):
    queue = get_queue("default")
    flag = tmp_path / "release"
    killed = queue.enqueue(jobs.wait_for_file_then_count, str(flag))
    following = queue.enqueue(jobs.add, 1, 2)
    worker = workers.start(worker_class=worker_class)
    wait_for(
        lambda: redis_client.hget(jobs.RUN_COUNTS_KEY, killed.id),
        timeout=30,
        message="the job did not start",
    )

    # A forking worker's work-horse runs in a process group of its own, so it
    # is killed by its id, as the out-of-memory killer or a container stop
    # would kill it.
    job_pid = int(redis_client.hget(jobs.RUN_PIDS_KEY, killed.id))
    if job_pid != worker.pid:
        os.kill(job_pid, signal.SIGKILL)
    workers.kill_group(worker)
    reliability_stats.record(faults_injected=1)

    started = StartedJobRegistry(queue=queue)
    assert killed.get_status(refresh=True) == JobStatus.STARTED
    assert started.count == 1

    flag.write_text("go")
    if cleanup == "explicit":
        # The entry has not expired yet, so a cleanup now leaves the job alone.
        started.cleanup()
        assert killed.get_status(refresh=True) == JobStatus.STARTED
        started.cleanup(timestamp=time.time() + 3600)
    else:
        expire_started_entries(redis_client, started)
        assert workers.run_burst(worker_class=worker_class) == 0
        assert following.get_status(refresh=True) == JobStatus.FINISHED

    assert started.count == 0
    assert killed.get_status(refresh=True) == JobStatus.FAILED
    assert "AbandonedJobError" in killed.latest_result().exc_string

    FailedJobRegistry(queue=queue).requeue(killed.id)
    assert workers.run_burst(worker_class=worker_class) == 0

    reliability_stats.record(jobs_run=3)
    assert killed.get_status(refresh=True) == JobStatus.FINISHED
    assert killed.return_value(refresh=True) == 2
    assert following.get_status(refresh=True) == JobStatus.FINISHED
    assert started.count == 0
    assert FailedJobRegistry(queue=queue).count == 0
