"""The periodic-jobs page with declarations that RQ's scheduler cannot run."""

import pytest

from tests.admin.conftest import DASHBOARD

pytestmark = pytest.mark.django_db

PAGE = f"{DASHBOARD}periodic-jobs/"
ADD = "tests.testapp.jobs.add"


def test_periodic_page_never_matching_cron(admin_client, settings):
    settings.RQ = {"CRON": [{"func": ADD, "cron": "0 0 31 2 *", "name": "feb-31"}]}

    response = admin_client.get(PAGE)

    content = response.content.decode()
    assert response.status_code == 200
    assert "Cannot list the periodic jobs" in content
    assert "RQ[&#x27;CRON&#x27;][0] is invalid" in content
    assert "&#x27;0 0 31 2 *&#x27; matches no date" in content


def test_periodic_page_interval_too_long(admin_client, settings):
    settings.RQ = {"CRON": [{"func": ADD, "interval": 10**12}]}

    response = admin_client.get(PAGE)

    assert response.status_code == 200
    assert "more than the maximum of 31536000 seconds" in response.content.decode()
