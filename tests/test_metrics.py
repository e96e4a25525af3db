"""The metrics and status endpoints: access rules and what they report."""

import importlib.util
import json
import sys

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import include, path

from django_rq_lite import get_queue
from tests.commands.worker_process import WorkerProcess, wait_for
from tests.redis_server import free_port
from tests.testapp import jobs

urlpatterns = [path("rq/", include("django_rq_lite.urls"))]

TOKEN = "metrics-token-for-tests-0123456789"
HAS_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None
needs_prometheus = pytest.mark.skipif(
    not HAS_PROMETHEUS, reason="prometheus-client is not installed"
)
ENDPOINTS = (
    "/rq/status/",
    pytest.param("/rq/metrics/", marks=needs_prometheus),
)

pytestmark = [pytest.mark.urls("tests.test_metrics"), pytest.mark.django_db]

# The app whose view_queue permission the endpoints need.
APP = "django_rq_lite"


@pytest.fixture
def token_settings(settings):
    settings.RQ = {"METRICS_TOKEN": TOKEN}
    return settings


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_queue", content_type__app_label=APP)
    )
    client.force_login(user)
    return client


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# Access


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_is_unauthorized(client, url):
    response = client.get(url)

    assert response.status_code == 401


def test_anonymous_gets_bearer_challenge(client, token_settings):
    response = client.get("/rq/status/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="django-rq-lite"'


@pytest.mark.parametrize("url", ENDPOINTS)
def test_non_staff_user_is_forbidden(client, url):
    user = User.objects.create_user("visitor", password="pw")
    client.force_login(user)

    response = client.get(url)

    assert response.status_code == 403


@pytest.mark.parametrize("url", ENDPOINTS)
def test_staff_user_without_permission_is_forbidden(client, url):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)

    response = client.get(url)

    assert response.status_code == 403
    assert response.content == (
        b"Staff access with the django_rq_lite.view_queue permission required.\n"
    )


@pytest.mark.parametrize("url", ENDPOINTS)
def test_staff_user_with_change_permission_is_allowed(client, url):
    # As in Django's admin, the change permission lets a user view too.
    user = User.objects.create_user("editor", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="change_queue", content_type__app_label=APP)
    )
    client.force_login(user)

    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ENDPOINTS)
def test_staff_user_is_allowed(staff_client, url):
    response = staff_client.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize("url", ENDPOINTS)
def test_right_token_is_allowed(client, token_settings, url):
    response = client.get(url, **bearer(TOKEN))

    assert response.status_code == 200


@pytest.mark.parametrize("url", ENDPOINTS)
def test_wrong_token_is_forbidden(client, token_settings, url):
    response = client.get(url, **bearer(TOKEN + "x"))

    assert response.status_code == 403


def test_lowercase_scheme_is_accepted(client, token_settings):
    response = client.get("/rq/status/", HTTP_AUTHORIZATION=f"bearer {TOKEN}")

    assert response.status_code == 200


@pytest.mark.parametrize("parameter", ["token", "access_token", "bearer"])
def test_token_in_query_string_is_rejected(client, token_settings, parameter):
    response = client.get(f"/rq/status/?{parameter}={TOKEN}")

    assert response.status_code == 400


def test_token_in_query_string_rejected_for_staff(staff_client, token_settings):
    response = staff_client.get(f"/rq/metrics/?token={TOKEN}")

    assert response.status_code == 400


def test_no_token_configured_ignores_bearer(client):
    response = client.get("/rq/status/", **bearer(""))
    assert response.status_code == 401

    response = client.get("/rq/status/", **bearer("anything"))
    assert response.status_code == 401


def test_empty_token_setting_disables_token_auth(client, settings):
    settings.RQ = {"METRICS_TOKEN": ""}

    response = client.get("/rq/status/", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 401


def test_post_is_not_allowed(client, token_settings):
    response = client.post("/rq/status/", **bearer(TOKEN))

    assert response.status_code == 405


@pytest.mark.parametrize("path", ["/rq/status/", "/rq/metrics/"])
def test_head_answers_like_get(client, token_settings, path):
    # Uptime monitors often send HEAD.
    response = client.head(path, **bearer(TOKEN))

    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", ["/rq/status/", "/rq/metrics/"])
def test_head_without_token_is_refused(client, token_settings, path):
    assert client.head(path).status_code == 401


# Content


def test_status_reports_counts(client, token_settings):
    get_queue("high").enqueue(jobs.add, 1, 2)

    response = client.get("/rq/status/", **bearer(TOKEN))

    body = json.loads(response.content)
    assert body["ok"] is True
    assert body["queues"]["high"]["counts"]["queued"] == 1
    assert body["queues"]["high"]["counts"]["failed"] == 0
    assert body["queues"]["default"]["workers"] == 0


def test_status_marks_unreachable_queue(client, token_settings, redis_url):
    token_settings.RQ_QUEUES = {
        "default": {"URL": redis_url},
        "down": {"URL": f"redis://127.0.0.1:{free_port()}/0"},
    }

    response = client.get("/rq/status/", **bearer(TOKEN))

    body = json.loads(response.content)
    assert response.status_code == 200
    assert body["ok"] is False
    assert body["queues"]["down"]["error"].startswith("ConnectionError")
    assert body["queues"]["default"]["error"] == ""


@needs_prometheus
def test_metrics_exposes_job_counts(client, token_settings):
    get_queue("low").enqueue(jobs.add, 1, 2)
    get_queue("low").enqueue(jobs.add, 3, 4)

    response = client.get("/rq/metrics/", **bearer(TOKEN))

    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain")
    assert 'rq_jobs{queue="low",status="queued"} 2.0' in text
    assert 'rq_jobs{queue="low",status="failed"} 0.0' in text
    assert 'rq_workers{queue="low"} 0.0' in text
    assert 'rq_queue_up{queue="low"} 1.0' in text


@needs_prometheus
def test_metrics_marks_unreachable_queue(client, token_settings, redis_url):
    token_settings.RQ_QUEUES = {"down": {"URL": f"redis://127.0.0.1:{free_port()}/0"}}

    response = client.get("/rq/metrics/", **bearer(TOKEN))

    assert 'rq_queue_up{queue="down"} 0.0' in response.content.decode()


@needs_prometheus
def test_metrics_counts_live_worker(client, token_settings, tmp_path, flush_redis):
    worker = WorkerProcess(
        "low", "--name", "metrics-worker", output_path=tmp_path / "w.log"
    )
    try:
        wait_for(
            lambda: (
                'rq_workers{queue="low"} 1.0'
                in client.get("/rq/metrics/", **bearer(TOKEN)).content.decode()
            ),
            20,
            "the metrics did not count the worker",
        )
        response = client.get("/rq/metrics/", **bearer(TOKEN))
        assert 'rq_workers{queue="default"} 0.0' in response.content.decode()
    finally:
        worker.kill()


# System check


def test_check_short_token_is_e020(settings):
    from django_rq_lite.checks import check_settings

    settings.RQ = {"METRICS_TOKEN": "abc123secret"}

    messages = check_settings()

    assert [message.id for message in messages] == ["django_rq_lite.E020"]
    assert "abc123secret" not in messages[0].msg


def test_check_long_token_passes(settings):
    from django_rq_lite.checks import check_settings

    settings.RQ = {"METRICS_TOKEN": TOKEN}

    assert check_settings() == []


def test_metrics_without_prometheus_is_501(client, token_settings, monkeypatch):
    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "prometheus_client", None)

    response = client.get("/rq/metrics/", **bearer(TOKEN))

    assert response.status_code == 501
    assert b"django-rq-lite[prometheus]" in response.content
