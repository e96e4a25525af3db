"""The example project over HTTP: sign up, a job fails, staff fix and requeue it.

The site runs in ``manage.py runserver`` and the jobs in real
``rqworker --burst`` processes, all on the session's private Redis server.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
import redis
from rq.registry import FailedJobRegistry

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.e2e.helpers import Browser, run_burst_worker

pytestmark = pytest.mark.slow

FAILED_LIST = "/admin/django_rq_lite/queue/default/failed/"
JOB_LINK = re.compile(r'href="(/admin/django_rq_lite/queue/default/jobs/([^/"]+)/)"')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
CHANGE_LINK = re.compile(r'href="(/admin/signups/blockeddomain/(\d+)/change/)')


def row_of(page: str, email: str) -> str:
    """Return the results-page table row that shows ``email``."""
    for row in page.split("<tr")[1:]:
        if f"<td>{email}</td>" in row:
            return row
    raise AssertionError(f"No row for {email} on the results page")


def failed_job_ids() -> list[str]:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return FailedJobRegistry("default", connection=client).get_job_ids()
    finally:
        client.close()


def sign_up(browser: Browser, name: str, email: str) -> None:
    status, headers, _ = browser.submit("/", {"name": name, "email": email})
    assert status == 302
    assert headers["Location"] == "/signups/"


def test_signup_job_sends_mail(example_site):
    browser = Browser(example_site.base_url)
    sign_up(browser, "<b>Ann</b>", "ann@example.com")

    _, _, before = browser.get("/signups/")
    assert "Queued" in row_of(before, "ann@example.com")

    run_burst_worker(example_site.env)

    _, _, after = browser.get("/signups/")
    row = row_of(after, "ann@example.com")
    assert ">Sent<" in row
    assert "Confirmation e-mail sent for sign-up" in row
    assert "finished" in row
    # The name is shown escaped, never as markup.
    assert "&lt;b&gt;Ann&lt;/b&gt;" in row
    mail_dir = Path(example_site.env["DJANGO_RQ_LITE_DEMO_MAIL_DIR"])
    messages = [path.read_text() for path in mail_dir.iterdir()]
    assert any("To: ann@example.com" in message for message in messages)


def test_failed_job_requeued_after_fix(example_site):
    browser = Browser(example_site.base_url)
    sign_up(browser, "Bob", "bob@blocked.example")
    run_burst_worker(example_site.env)

    _, _, results = browser.get("/signups/")
    assert "DomainBlocked" in row_of(results, "bob@blocked.example")
    assert len(failed_job_ids()) == 1

    # The operator finds the failure and its traceback in the dashboard.
    browser.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    status, _, failed_page = browser.get(FAILED_LIST)
    assert status == 200
    assert "DomainBlocked" in failed_page
    job_path, job_id = JOB_LINK.search(failed_page).groups()
    assert job_id == failed_job_ids()[0]
    _, _, job_page = browser.get(job_path)
    assert "Traceback" in job_page
    assert "send_confirmation" in job_page

    # The operator deletes the blocked domain through the admin.
    _, _, domains_page = browser.get("/admin/signups/blockeddomain/")
    change_path, domain_pk = CHANGE_LINK.search(domains_page).groups()
    delete_path = f"/admin/signups/blockeddomain/{domain_pk}/delete/"
    status, _, _ = browser.submit(delete_path, {"post": "yes"})
    assert status == 302
    status, _, _ = browser.get(change_path)
    assert status == 302  # The admin redirects for a deleted object.

    # Requeue is the form on the job page, posted with its CSRF token.
    requeue_path = html.unescape(FORM_ACTION.search(job_page).group(1))
    status, headers, _ = browser.submit(requeue_path, {}, form_path=job_path)
    assert status == 302
    assert headers["Location"] == job_path
    assert failed_job_ids() == []

    run_burst_worker(example_site.env)

    _, _, results = browser.get("/signups/")
    row = row_of(results, "bob@blocked.example")
    assert ">Sent<" in row
    assert "finished" in row
    assert "<td>2</td>" in row  # Attempts: the failed run and the requeued one.
    _, _, job_page = browser.get(job_path)
    assert "Confirmation e-mail sent for sign-up" in job_page


def test_requeue_rejects_missing_csrf_token(example_site):
    browser = Browser(example_site.base_url)
    browser.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    status, _, _ = browser.submit(
        "/admin/signups/blockeddomain/add/",
        {"domain": "csrf.example", "reason": "test"},
    )
    assert status == 302
    sign_up(browser, "Cy", "cy@csrf.example")
    run_burst_worker(example_site.env)
    (job_id,) = failed_job_ids()

    status, _, _ = browser.request(
        f"/admin/django_rq_lite/queue/default/jobs/{job_id}/requeue/", {}
    )
    assert status == 403
    assert failed_job_ids() == [job_id]
