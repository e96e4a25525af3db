"""Jobs that break in unusual ways end in an inspectable state, and the worker
goes on to the next job."""

import pytest
from rq.defaults import UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
from rq.job import JobStatus

from django_rq_lite import get_queue
from tests.testapp import jobs

from .helpers import WORKER_CLASSES

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def queue(private_queues):
    return get_queue("default")


def enqueue_faulty_jobs(queue):
    """Enqueue one job of each fault, then a normal job, in this order."""
    return {
        "timeout": queue.enqueue(jobs.sleep_then_return, 30, job_timeout=1),
        "raising_del": queue.enqueue(jobs.return_raising_on_delete),
        "unpicklable": queue.enqueue(jobs.return_unpicklable),
        "large_argument": queue.enqueue(jobs.measure_argument, "x" * TEN_MB),
        "normal": queue.enqueue(jobs.add, 2, 3),
    }


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_faulty_jobs_worker_goes_on(queue, workers, reliability_stats, worker_class):
    enqueued = enqueue_faulty_jobs(queue)

    exit_code = workers.run_burst(worker_class=worker_class, timeout=60)

    assert exit_code == 0
    statuses = {name: job.get_status(refresh=True) for name, job in enqueued.items()}
    reliability_stats.record(faults_injected=4, jobs_run=len(enqueued))
    assert statuses["timeout"] == JobStatus.FAILED
    assert "JobTimeoutException" in enqueued["timeout"].latest_result().exc_string
    assert statuses["raising_del"] == JobStatus.FINISHED
    # RQ stores a placeholder string in place of a result that pickle rejects.
    assert statuses["unpicklable"] == JobStatus.FINISHED
    unpicklable_result = enqueued["unpicklable"].return_value(refresh=True)
    assert unpicklable_result == UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
    assert statuses["large_argument"] == JobStatus.FINISHED
    assert enqueued["large_argument"].return_value(refresh=True) == TEN_MB
    assert statuses["normal"] == JobStatus.FINISHED
    assert enqueued["normal"].return_value(refresh=True) == 5
    assert queue.count == 0
