import time

import pytest
from django.test import override_settings

from django_rq_lite.conf import QueueNotFound
from django_rq_lite.dashboard.queues import (
    JobIdList,
    JobListNotFound,
    contains_job,
    format_connection,
    summarize_queue,
    summarize_queues,
)
from django_rq_lite.queues import get_queue
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker
from tests.redis_server import free_port


def test_summarize_queue_counts_each_list():
    make_failed_jobs(2)
    queue = get_queue("default")
    queue.enqueue("tests.testapp.jobs.add", 1, 2)
    run_burst_worker()
    queue.enqueue("tests.testapp.jobs.add", 3, 4)

    summary = summarize_queue("default")

    assert summary.error == ""
    assert summary.counts == {
        "queued": 1,
        "started": 0,
        "deferred": 0,
        "scheduled": 0,
        "finished": 1,
        "failed": 2,
        "canceled": 0,
    }
    assert summary.workers == 0


def test_summarize_queues_in_settings_order(settings):
    names = [summary.name for summary in summarize_queues()]
    assert names == list(settings.RQ_QUEUES)


def test_summarize_queue_unknown_name():
    with pytest.raises(QueueNotFound):
        summarize_queue("nope")


def test_summarize_queue_redis_down():
    port = free_port()
    queues = {"down": {"URL": f"redis://127.0.0.1:{port}/0", "SOCKET_TIMEOUT": 2}}
    with override_settings(RQ_QUEUES=queues):
        summary = summarize_queue("down")
    assert summary.counts == {}
    assert "ConnectionError" in summary.error
    assert summary.connection == f"127.0.0.1:{port}, db 0"


def test_summarize_queue_hides_password():
    port = free_port()
    url = f"redis://:s3cret-word@127.0.0.1:{port}/0"
    with override_settings(RQ_QUEUES={"down": {"URL": url, "SOCKET_TIMEOUT": 2}}):
        summary = summarize_queue("down")
    assert "s3cret-word" not in summary.connection
    assert "s3cret-word" not in summary.error


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ({"host": "127.0.0.1", "port": 6380, "db": 2}, "127.0.0.1:6380, db 2"),
        ({"socket": "/tmp/r.sock", "db": 0}, "unix socket /tmp/r.sock, db 0"),
        (
            {"embedded": True, "socket": "/tmp/e.sock", "db": 1},
            "embedded server, unix socket /tmp/e.sock, db 1",
        ),
        ({"sentinel": "main", "db": 0}, "Sentinel master 'main', db 0"),
        ({"cache": "default"}, "django-redis cache 'default'"),
    ],
)
def test_format_connection(description, expected):
    assert format_connection(description) == expected


def test_job_id_list_unknown_name():
    with pytest.raises(JobListNotFound):
        JobIdList(get_queue("default"), "ready")


def test_job_id_list_failed_newest_first():
    [older] = make_failed_jobs(1)
    # Registry scores have one-second resolution.
    time.sleep(1.1)
    [newer] = make_failed_jobs(1)

    ids = JobIdList(get_queue("default"), "failed")[0:10]

    assert ids == [newer.id, older.id]


def test_job_id_list_slices_cover_all_once():
    jobs = make_failed_jobs(7)
    ids = JobIdList(get_queue("default"), "failed")

    pages = [ids[0:3], ids[3:6], ids[6:9]]

    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(sum(pages, [])) == sorted(job.id for job in jobs)


def test_job_id_list_queued_in_queue_order():
    queue = get_queue("low")
    jobs = [queue.enqueue("tests.testapp.jobs.add", n, n) for n in range(5)]

    ids = JobIdList(queue, "queued", descending=False)

    assert ids.count() == 5
    assert ids[1:3] == [jobs[1].id, jobs[2].id]
    assert ids[4:4] == []


def test_job_id_list_queued_newest_first():
    queue = get_queue("low")
    jobs = [queue.enqueue("tests.testapp.jobs.add", n, n) for n in range(5)]

    ids = JobIdList(queue, "queued")

    assert ids[0:2] == [jobs[4].id, jobs[3].id]
    assert ids[3:10] == [jobs[1].id, jobs[0].id]
    assert ids[3:None] == [jobs[1].id, jobs[0].id]


def test_contains_job_per_list():
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)

    assert contains_job(queue, "queued", job.id)
    assert not contains_job(queue, "failed", job.id)
    assert not contains_job(queue, "started", job.id)


def test_job_id_list_rejects_index():
    ids = JobIdList(get_queue("default"), "failed")
    with pytest.raises(TypeError):
        ids[0]
