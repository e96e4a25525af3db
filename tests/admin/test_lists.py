import time
from datetime import timedelta

import pytest
from rq import Retry
from rq.worker import Worker

from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker

pytestmark = pytest.mark.django_db

FAILED_LIST = f"{DASHBOARD}default/failed/"


def listed_ids(response):
    return [job.id for job in response.context["jobs"]]


def test_every_registry_page_lists_its_job(admin_client):
    queue = get_queue("default")
    scheduled = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)
    parent = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    deferred = queue.enqueue("tests.testapp.jobs.add", 3, 4, depends_on=parent)
    canceled = queue.enqueue("tests.testapp.jobs.add", 5, 6)
    canceled.cancel()
    expected = {
        "scheduled": [scheduled.id],
        "deferred": [deferred.id],
        "canceled": [canceled.id],
        "queued": [parent.id],
    }
    for list_name, ids in expected.items():
        response = admin_client.get(f"{DASHBOARD}default/{list_name}/")
        assert response.status_code == 200, list_name
        assert listed_ids(response) == ids, list_name


def test_queues_page_counts_every_list(admin_client):
    queue = get_queue("default")
    queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)

    content = admin_client.get(DASHBOARD).content.decode()

    assert f'href="{DASHBOARD}default/scheduled/">1</a>' in content
    assert f'href="{DASHBOARD}default/canceled/">0</a>' in content
    assert f'href="{DASHBOARD}workers/">0</a>' in content


def test_workers_page_shows_worker(admin_client):
    queue = get_queue("default")
    worker = Worker([queue], connection=queue.connection, name="test-worker-1")
    worker.register_birth()

    response = admin_client.get(f"{DASHBOARD}workers/")

    [group] = response.context["groups"]
    [summary] = group.workers
    assert summary.name == "test-worker-1"
    assert summary.queue_names == ["default"]
    assert summary.pid == worker.pid
    assert "test-worker-1" in response.content.decode()


def test_search_by_job_id(admin_client):
    jobs = make_failed_jobs(3)

    found = admin_client.get(FAILED_LIST, {"q": jobs[1].id})
    elsewhere = admin_client.get(f"{DASHBOARD}default/finished/", {"q": jobs[1].id})

    assert listed_ids(found) == [jobs[1].id]
    assert listed_ids(elsewhere) == []


def test_search_queued_and_started_lists(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)

    queued = admin_client.get(f"{DASHBOARD}default/queued/", {"q": job.id})
    started = admin_client.get(f"{DASHBOARD}default/started/", {"q": job.id})

    assert listed_ids(queued) == [job.id]
    assert listed_ids(started) == []


def test_filter_by_exception_class(admin_client):
    make_failed_jobs(2)
    key_error = get_queue("default").enqueue("tests.testapp.jobs.fail_with_key_error")
    run_burst_worker()

    response = admin_client.get(FAILED_LIST, {"exc_class": "KeyError"})

    assert listed_ids(response) == [key_error.id]
    assert "Requeue all matching" in response.content.decode()


def test_filter_by_builtins_class_path(admin_client):
    value_errors = make_failed_jobs(2)

    response = admin_client.get(FAILED_LIST, {"exc_class": "builtins.ValueError"})

    assert sorted(listed_ids(response)) == sorted(job.id for job in value_errors)


def test_search_with_filter_offers_no_all_actions(admin_client):
    [value_error] = make_failed_jobs(1)
    get_queue("default").enqueue("tests.testapp.jobs.fail_with_key_error")
    run_burst_worker()

    response = admin_client.get(
        FAILED_LIST, {"q": value_error.id, "exc_class": "KeyError"}
    )

    assert listed_ids(response) == [value_error.id]
    assert "Requeue all" not in response.content.decode()


def test_filter_by_function(admin_client):
    value_errors = make_failed_jobs(2)
    get_queue("default").enqueue("tests.testapp.jobs.fail_with_key_error")
    run_burst_worker()

    response = admin_client.get(FAILED_LIST, {"func": "tests.testapp.jobs.fail"})

    assert sorted(listed_ids(response)) == sorted(job.id for job in value_errors)


def test_filtered_pages_cover_all_once(admin_client):
    jobs = make_failed_jobs(25)
    get_queue("default").enqueue("tests.testapp.jobs.fail_with_key_error")
    run_burst_worker()
    seen = []
    for number, expected in [(1, 10), (2, 10), (3, 5)]:
        query = {"page": number, "per_page": 10, "exc_class": "ValueError"}
        ids = listed_ids(admin_client.get(FAILED_LIST, query))
        assert len(ids) == expected, number
        seen += ids
    assert len(seen) == len(set(seen))
    assert set(seen) == {job.id for job in jobs}


def test_sort_oldest_first(admin_client):
    [older] = make_failed_jobs(1)
    # Registry scores have one-second resolution.
    time.sleep(1.1)
    [newer] = make_failed_jobs(1)

    default = admin_client.get(FAILED_LIST)
    ascending = admin_client.get(FAILED_LIST, {"o": "asc"})

    assert listed_ids(default) == [newer.id, older.id]
    assert listed_ids(ascending) == [older.id, newer.id]


def test_counts_json(admin_client):
    make_failed_jobs(2)

    everything = admin_client.get(f"{DASHBOARD}counts.json").json()
    default = admin_client.get(f"{DASHBOARD}counts.json", {"queue": "default"}).json()
    unknown = admin_client.get(f"{DASHBOARD}counts.json", {"queue": "gone"})

    assert everything["queues"]["default"]["counts"]["failed"] == 2
    assert list(default["queues"]) == ["default"]
    assert unknown.status_code == 404


def test_counts_json_needs_permission(staff_client, client):
    assert staff_client.get(f"{DASHBOARD}counts.json").status_code == 403


def test_job_page_dependencies_and_results(admin_client):
    queue = get_queue("default")
    parent = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    child = queue.enqueue("tests.testapp.jobs.add", 3, 4, depends_on=parent)

    parent_page = admin_client.get(f"{DASHBOARD}default/jobs/{parent.id}/")
    child_page = admin_client.get(f"{DASHBOARD}default/jobs/{child.id}/")
    run_burst_worker()
    finished_page = admin_client.get(f"{DASHBOARD}default/jobs/{parent.id}/")

    assert parent_page.context["job"].dependent_ids == [child.id]
    assert child_page.context["job"].dependency_ids == [parent.id]
    assert f'href="{DASHBOARD}default/jobs/{child.id}/"' in (
        parent_page.content.decode()
    )
    [result] = finished_page.context["job"].results
    assert result.return_value == "3"


def test_job_page_retries_and_failures(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.fail", "again", retry=Retry(max=1))
    run_burst_worker()

    response = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")

    detail = response.context["job"]
    assert detail.retries_left == 0
    assert detail.results
    assert "ValueError: again" in detail.results[0].traceback


def test_job_page_actions_follow_list(admin_client):
    queue = get_queue("default")
    scheduled = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)

    content = admin_client.get(f"{DASHBOARD}default/jobs/{scheduled.id}/").content

    assert b'value="Enqueue now"' in content
    assert b'value="Delete"' in content
    assert b'value="Requeue"' not in content
