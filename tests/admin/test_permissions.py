import pytest
from django.test import Client, override_settings

from tests.admin.conftest import DASHBOARD
from tests.dashboard.helpers import make_failed_jobs


def dashboard_urls(job_id):
    """Return the dashboard's GET pages: read-only ones first, then confirmations."""
    return [
        DASHBOARD,
        f"{DASHBOARD}default/failed/",
        f"{DASHBOARD}default/jobs/{job_id}/",
        f"{DASHBOARD}workers/",
        f"{DASHBOARD}counts.json",
        f"{DASHBOARD}default/scheduled/",
        f"{DASHBOARD}default/failed/requeue/",
        f"{DASHBOARD}default/failed/all/delete/",
        f"{DASHBOARD}default/empty/",
    ]


# The number of read-only pages at the start of ``dashboard_urls``.
READ_ONLY_COUNT = 6


def action_posts(job_id):
    """Return (url, data) for every POST that changes jobs or queues."""
    return [
        (f"{DASHBOARD}default/jobs/{job_id}/requeue/", {}),
        (f"{DASHBOARD}default/jobs/{job_id}/delete/", {}),
        (f"{DASHBOARD}default/jobs/{job_id}/cancel/", {}),
        (f"{DASHBOARD}default/jobs/{job_id}/enqueue/", {}),
        (f"{DASHBOARD}default/jobs/{job_id}/stop/", {}),
        (f"{DASHBOARD}default/failed/requeue/", {}),
        (f"{DASHBOARD}default/failed/all/delete/", {}),
        (f"{DASHBOARD}default/empty/", {}),
        (
            f"{DASHBOARD}default/failed/",
            {"action": "delete", "_selected_action": [job_id], "post": "yes"},
        ),
    ]


@pytest.mark.django_db
def test_index_lists_dashboard(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()


@pytest.mark.django_db
def test_index_hides_dashboard_without_permission(staff_client):
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    assert DASHBOARD not in response.content.decode()


@pytest.mark.django_db
def test_index_hidden_when_show_admin_false(admin_client):
    with override_settings(RQ={"SHOW_ADMIN": False}):
        response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert DASHBOARD not in response.content.decode()


@pytest.mark.django_db
def test_pages_404_when_show_admin_false(admin_client):
    [job] = make_failed_jobs(1)
    with override_settings(RQ={"SHOW_ADMIN": False}):
        for url in dashboard_urls(job.id):
            assert admin_client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_anonymous_redirected_to_login(client):
    [job] = make_failed_jobs(1)
    for url in dashboard_urls(job.id):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


@pytest.mark.django_db
def test_staff_without_permission_403(staff_client):
    [job] = make_failed_jobs(1)
    for url in dashboard_urls(job.id):
        assert staff_client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_view_permission_opens_pages(view_client):
    [job] = make_failed_jobs(1)
    for url in dashboard_urls(job.id)[:READ_ONLY_COUNT]:
        assert view_client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_view_permission_cannot_act(view_client):
    [job] = make_failed_jobs(1)
    for url, data in action_posts(job.id):
        assert view_client.post(url, data).status_code == 403, url
    for url in dashboard_urls(job.id)[READ_ONLY_COUNT:]:
        assert view_client.get(url).status_code == 403, url
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_anonymous_post_redirected_to_login(client):
    [job] = make_failed_jobs(1)
    for url, data in action_posts(job.id):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_staff_without_permission_post_403(staff_client):
    [job] = make_failed_jobs(1)
    for url, data in action_posts(job.id):
        assert staff_client.post(url, data).status_code == 403, url
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_every_action_rejected_without_csrf(admin_user):
    [job] = make_failed_jobs(1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for url, data in action_posts(job.id):
        assert client.post(url, data).status_code == 403, url
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_job_actions_reject_get(admin_client):
    [job] = make_failed_jobs(1)
    for action in ("requeue", "delete", "cancel", "enqueue", "stop"):
        url = f"{DASHBOARD}default/jobs/{job.id}/{action}/"
        assert admin_client.get(url).status_code == 405, url
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_view_permission_hides_requeue_buttons(view_client):
    [job] = make_failed_jobs(1)
    failed = view_client.get(f"{DASHBOARD}default/failed/").content.decode()
    detail = view_client.get(f"{DASHBOARD}default/jobs/{job.id}/").content.decode()
    assert "Requeue all" not in failed
    assert 'value="Requeue"' not in detail


@pytest.mark.django_db
def test_view_permission_cannot_requeue(view_client):
    [job] = make_failed_jobs(1)
    requeue = view_client.post(f"{DASHBOARD}default/jobs/{job.id}/requeue/")
    requeue_all = view_client.post(f"{DASHBOARD}default/failed/requeue/")
    confirmation = view_client.get(f"{DASHBOARD}default/failed/requeue/")
    assert requeue.status_code == 403
    assert requeue_all.status_code == 403
    assert confirmation.status_code == 403
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_change_permission_can_requeue(change_client):
    [job] = make_failed_jobs(1)
    response = change_client.post(f"{DASHBOARD}default/jobs/{job.id}/requeue/")
    assert response.status_code == 302
    assert job.get_status(refresh=True) == "queued"


@pytest.mark.django_db
def test_requeue_rejected_without_csrf_token(admin_user):
    [job] = make_failed_jobs(1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    single = client.post(f"{DASHBOARD}default/jobs/{job.id}/requeue/")
    every = client.post(f"{DASHBOARD}default/failed/requeue/")

    assert single.status_code == 403
    assert every.status_code == 403
    assert job.get_status(refresh=True) == "failed"


@pytest.mark.django_db
def test_requeue_accepted_with_csrf_token(admin_user):
    [job] = make_failed_jobs(1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(f"{DASHBOARD}default/jobs/{job.id}/")
    token = page.context["csrf_token"]

    response = client.post(
        f"{DASHBOARD}default/jobs/{job.id}/requeue/",
        {"csrfmiddlewaretoken": str(token)},
    )

    assert response.status_code == 302
    assert job.get_status(refresh=True) == "queued"


@pytest.mark.django_db
def test_permissions_created_by_migration(django_user_model):
    from django.contrib.auth.models import Permission

    codenames = set(
        Permission.objects.filter(content_type__app_label="django_rq_lite").values_list(
            "codename", flat=True
        )
    )
    assert codenames == {"view_queue", "change_queue"}
