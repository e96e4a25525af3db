"""The failed list filtered through the failed-job index, over HTTP."""

import pytest

from django_rq_lite.dashboard import filters
from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker

pytestmark = pytest.mark.django_db

FAILED_LIST = f"{DASHBOARD}default/failed/"
KEY_ERROR = "tests.testapp.jobs.fail_with_key_error"


def listed_ids(response):
    return [job.id for job in response.context["jobs"]]


def test_filtered_page_paginates_without_repeats(admin_client):
    value_errors = {job.id for job in make_failed_jobs(23)}
    queue = get_queue("default")
    for _ in range(4):
        queue.enqueue(KEY_ERROR)
    run_burst_worker()

    seen = []
    for number in (1, 2, 3):
        query = {"page": number, "per_page": 10, "exc_class": "ValueError"}
        seen += listed_ids(admin_client.get(FAILED_LIST, query))

    assert len(seen) == 23
    assert len(set(seen)) == 23
    assert set(seen) == value_errors


def test_incomplete_index_noted(admin_client, monkeypatch):
    make_failed_jobs(3)
    monkeypatch.setattr(filters, "MAX_INDEX_PER_REQUEST", 1)

    first = admin_client.get(FAILED_LIST, {"exc_class": "ValueError"})

    assert "covers 1 of 3 failed jobs" in first.content.decode()
    assert len(listed_ids(first)) == 1


def test_reload_continues_indexing(admin_client, monkeypatch):
    make_failed_jobs(3)
    monkeypatch.setattr(filters, "MAX_INDEX_PER_REQUEST", 2)

    admin_client.get(FAILED_LIST, {"exc_class": "ValueError"})
    second = admin_client.get(FAILED_LIST, {"exc_class": "ValueError"})

    assert "covers" not in second.content.decode()
    assert len(listed_ids(second)) == 3


def test_filter_choices_in_datalist(admin_client):
    make_failed_jobs(1)
    queue = get_queue("default")
    queue.enqueue(KEY_ERROR)
    run_burst_worker()
    admin_client.get(FAILED_LIST, {"exc_class": "KeyError"})

    content = admin_client.get(FAILED_LIST).content.decode()

    assert '<option value="KeyError">' in content
    assert f'<option value="{KEY_ERROR}">' in content


def test_delete_all_matching_leaves_others(admin_client):
    make_failed_jobs(3)
    queue = get_queue("default")
    kept = queue.enqueue(KEY_ERROR)
    run_burst_worker()
    url = f"{DASHBOARD}default/failed/all/delete/?exc_class=ValueError"

    confirmation = admin_client.get(url)
    admin_client.post(url)
    remaining = admin_client.get(FAILED_LIST)

    assert confirmation.context["count"] == 3
    assert listed_ids(remaining) == [kept.id]
