"""The periodic-jobs page of the dashboard."""

import pytest

from django_rq_lite import cron, get_queue
from tests.admin.conftest import DASHBOARD
from tests.commands.worker_process import wait_for

pytestmark = pytest.mark.django_db

PAGE = f"{DASHBOARD}periodic-jobs/"
ADD = "tests.testapp.jobs.add"
ENTRIES = [
    {"func": ADD, "args": [1, 2], "interval": 60, "name": "add-often"},
    {"func": ADD, "args": [3, 4], "cron": "0 3 * * *", "name": "nightly-add"},
]

try:
    cron.get_cron_module()
    HAS_CRON = True
except cron.CronUnavailable:
    HAS_CRON = False

needs_cron = pytest.mark.skipif(not HAS_CRON, reason="RQ has no cron scheduler API")


@needs_cron
def test_periodic_page_lists_declared_jobs(admin_client, settings):
    settings.RQ = {"CRON": ENTRIES}

    content = admin_client.get(PAGE).content.decode()

    assert "add-often" in content
    assert "every 60 s" in content
    assert "0 3 * * *" in content
    assert content.count("no scheduler running") == 2


@needs_cron
def test_periodic_page_links_last_job(admin_client, settings):
    settings.RQ = {"CRON": ENTRIES}
    thread, stop = cron.start_scheduler_thread(cron.build_scheduler())
    try:
        wait_for(lambda: get_queue().count == 1, 10, "the job was not enqueued")
        wait_for(
            lambda: all(s.scheduled for s in cron.list_periodic_jobs()),
            10,
            "the scheduler did not save its jobs",
        )
        content = admin_client.get(PAGE).content.decode()
    finally:
        stop.set()
        thread.join(timeout=10)

    job_id = get_queue().get_job_ids()[0]
    assert f'href="{DASHBOARD}default/jobs/{job_id}/"' in content
    assert "queued" in content
    assert "no scheduler running" not in content


@needs_cron
def test_periodic_page_no_jobs_declared(admin_client, settings):
    settings.RQ = {}

    content = admin_client.get(PAGE).content.decode()

    assert "No periodic jobs are declared" in content


def test_periodic_page_shows_invalid_declaration(admin_client, settings):
    settings.RQ = {"CRON": [{"func": ADD}]}

    response = admin_client.get(PAGE)

    assert response.status_code == 200
    assert "Cannot list the periodic jobs" in response.content.decode()


def test_periodic_page_needs_view_permission(staff_client):
    assert staff_client.get(PAGE).status_code == 403


def test_periodic_page_allowed_with_view(view_client, settings):
    settings.RQ = {}

    assert view_client.get(PAGE).status_code == 200


def test_queues_page_links_periodic_page(admin_client):
    content = admin_client.get(DASHBOARD).content.decode()

    assert f'href="{PAGE}"' in content
