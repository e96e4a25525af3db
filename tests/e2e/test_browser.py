"""The example project in a real headless Chromium, driven by Playwright.

The test takes screenshots of the failed-jobs and job pages. With
``RQ_LITE_UPDATE_SCREENSHOTS=1`` it saves them to ``docs/screenshots/`` for the
README, else to a temporary directory, so a test run leaves the repository
unchanged. Chromium comes from the system (``/usr/bin/chromium``, Debian's package),
never from ``playwright install``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.e2e.helpers import REPO_DIR, run_burst_worker

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
README_SCREENSHOT_DIR = REPO_DIR / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@pytest.fixture
def page(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing; install it with: apt-get install chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is missing; install it with: pip install playwright",
    )
    with sync_api.sync_playwright() as playwright:
        # A new, empty profile, so no state leaks between runs.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture
def screenshot_dir(tmp_path):
    if os.environ.get("RQ_LITE_UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        return README_SCREENSHOT_DIR
    return tmp_path


def test_browser_requeue_after_fix(example_site, page, screenshot_dir):
    from playwright.sync_api import expect

    base = example_site.base_url
    env = example_site.env

    page.goto(f"{base}/")
    page.get_by_label("Name").fill("Bob")
    page.get_by_label("E-mail").fill("bob@blocked.example")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{base}/signups/")
    run_burst_worker(env)

    page.goto(f"{base}/admin/login/?next=/signups/")
    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("tr", has_text="bob@blocked.example")).to_contain_text(
        "DomainBlocked"
    )

    page.get_by_role("link", name="Failed jobs").click()
    failed_row = page.locator("#result_list tbody tr").first
    expect(failed_row).to_contain_text("DomainBlocked")
    page.screenshot(path=screenshot_dir / "failed-jobs.png", full_page=True)

    failed_row.get_by_role("link").click()
    expect(page.locator("pre.rq-lite-traceback")).to_contain_text("DomainBlocked")
    page.screenshot(path=screenshot_dir / "job.png", full_page=True)
    job_url = page.url

    # Fix the cause: delete the blocked domain in the admin.
    page.goto(f"{base}/admin/signups/blockeddomain/")
    page.get_by_role("link", name="blocked.example").click()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name=re.compile("Yes")).click()
    expect(page.locator(".messagelist")).to_contain_text("deleted successfully")

    page.goto(job_url)
    page.get_by_role("button", name="Requeue").click()
    expect(page.locator(".messagelist")).to_contain_text("Requeued job")
    run_burst_worker(env)

    page.reload()
    expect(page.locator("#content-main")).to_contain_text(
        "Confirmation e-mail sent for sign-up"
    )
    page.goto(f"{base}/signups/")
    expect(page.locator("tr", has_text="bob@blocked.example")).to_contain_text("Sent")
    for name in ("failed-jobs.png", "job.png"):
        assert (screenshot_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
