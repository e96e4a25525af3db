"""The dashboard's scripts in headless Chromium: "select all" and auto-refresh.

The browser comes from ``tests.e2e.test_browser``'s ``page`` fixture, which
skips these tests where Chromium or Playwright is missing.
"""

import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.dashboard.helpers import make_failed_jobs
from tests.e2e.test_browser import page  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Wait for at least two polls of the auto-refresh script (one every 5 s).
REFRESH_TIMEOUT_MS = 12_000


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class ThreadingServer(WSGIServer):
    daemon_threads = True


@pytest.fixture
def live_url():
    """Serve the test project, with the admin's static files, on 127.0.0.1."""
    with override_settings(STATIC_URL="/static/"):
        application = StaticFilesHandler(WSGIHandler())
        server = make_server(
            "127.0.0.1", 0, application, ThreadingServer, handler_class=QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


@pytest.fixture
def session_cookie(live_url, admin_user, client):
    """Log in before Playwright starts, because its event loop blocks the ORM."""
    client.force_login(admin_user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    return {"name": cookie.key, "value": cookie.value, "url": live_url}


@pytest.fixture
def logged_in_page(session_cookie, page):  # noqa: F811
    page.context.add_cookies([session_cookie])
    return page


def test_select_all_then_delete(logged_in_page, live_url):
    from playwright.sync_api import expect

    make_failed_jobs(12)
    tab = logged_in_page
    tab.goto(f"{live_url}{DASHBOARD}default/failed/?per_page=10")

    tab.locator("#action-toggle").check()
    tab.get_by_role("button", name="Select all 12 jobs").click()
    tab.locator("select[name=action]").select_option("delete")
    tab.get_by_role("button", name="Go").click()
    expect(tab.locator("#content-main")).to_contain_text("Delete all 12 failed")
    tab.get_by_role("button", name="Yes, delete 12 jobs").click()

    expect(tab.locator(".messagelist")).to_contain_text("Deleted 12 failed jobs")
    assert get_queue("default").failed_job_registry.count == 0


def test_auto_refresh_updates_counts(logged_in_page, live_url):
    from playwright.sync_api import expect

    tab = logged_in_page
    tab.goto(f"{live_url}{DASHBOARD}")
    tab.get_by_label("Auto-refresh counts").check()
    get_queue("default").enqueue("tests.testapp.jobs.add", 1, 2)

    cell = tab.locator('tr[data-rq-queue="default"] td[data-rq-list="queued"]')
    expect(cell).to_have_text("1", timeout=REFRESH_TIMEOUT_MS)
    tab.reload()
    expect(tab.get_by_label("Auto-refresh counts")).to_be_checked()


def test_auto_refresh_stops_when_queue_gone(logged_in_page, live_url):
    from playwright.sync_api import expect

    tab = logged_in_page
    tab.goto(f"{live_url}{DASHBOARD}low/failed/")
    toggle = tab.get_by_label("Auto-refresh counts")
    toggle.check()

    queues = {name: options for name, options in settings.RQ_QUEUES.items()}
    del queues["low"]
    with override_settings(RQ_QUEUES=queues):
        status = tab.locator(".rq-lite-refresh-status")
        expect(status).to_contain_text("no longer exists", timeout=REFRESH_TIMEOUT_MS)
    expect(toggle).to_be_disabled()
