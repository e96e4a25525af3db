import pytest

from tests.dashboard.helpers import make_failed_jobs

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

DASHBOARD = "/ops/django_rq_lite/queue/"


def test_custom_site_index_lists_dashboard(admin_client):
    response = admin_client.get("/ops/")
    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()


def test_custom_site_links_stay_on_site(admin_client):
    [job] = make_failed_jobs(1)

    queues = admin_client.get(DASHBOARD).content.decode()
    failed = admin_client.get(f"{DASHBOARD}default/failed/").content.decode()
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/").content.decode()

    assert f'href="{DASHBOARD}default/failed/"' in queues
    assert f'href="{DASHBOARD}default/jobs/{job.id}/"' in failed
    assert f'action="{DASHBOARD}default/jobs/{job.id}/requeue/"' in detail
    assert 'href="/ops/"' in detail


def test_custom_site_requeue_redirects_on_site(admin_client):
    [job] = make_failed_jobs(1)

    response = admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/requeue/")

    assert response.status_code == 302
    assert response["Location"] == f"{DASHBOARD}default/jobs/{job.id}/"
    assert job.get_status(refresh=True) == "queued"


def test_custom_site_anonymous_redirected_to_its_login(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith("/ops/login/")


def test_custom_site_new_pages_stay_on_site(admin_client):
    [job] = make_failed_jobs(1)

    queues = admin_client.get(DASHBOARD).content.decode()
    workers = admin_client.get(f"{DASHBOARD}workers/")
    counts = admin_client.get(f"{DASHBOARD}counts.json")
    failed = admin_client.get(f"{DASHBOARD}default/failed/").content.decode()

    assert f'href="{DASHBOARD}workers/"' in queues
    assert f'data-rq-counts-url="{DASHBOARD}counts.json"' in queues
    assert workers.status_code == 200
    assert counts.json()["queues"]["default"]["counts"]["failed"] == 1
    assert f'href="{DASHBOARD}default/failed/requeue/"' in failed


def test_custom_site_bulk_action_redirects_on_site(admin_client):
    [job] = make_failed_jobs(1)
    data = {"action": "delete", "_selected_action": [job.id], "post": "yes"}

    response = admin_client.post(f"{DASHBOARD}default/failed/", data)

    assert response.status_code == 302
    assert response["Location"] == f"{DASHBOARD}default/failed/"
