import pytest
from django.conf import settings
from django.test import override_settings

from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker
from tests.redis_server import free_port

pytestmark = pytest.mark.django_db


def test_every_page_200(admin_client):
    [job] = make_failed_jobs(1)
    urls = [DASHBOARD, f"{DASHBOARD}default/jobs/{job.id}/"]
    urls += [f"{DASHBOARD}default/{name}/" for name in ("queued", "started")]
    urls += [f"{DASHBOARD}default/{name}/" for name in ("finished", "failed")]
    urls += [f"{DASHBOARD}default/failed/requeue/"]
    for url in urls:
        assert admin_client.get(url).status_code == 200, url


def test_queues_page_counts_link_to_lists(admin_client):
    make_failed_jobs(3)

    response = admin_client.get(DASHBOARD)

    content = response.content.decode()
    assert f'href="{DASHBOARD}default/failed/">3</a>' in content
    assert f'href="{DASHBOARD}default/queued/">0</a>' in content
    assert "Queues" in content


def test_queues_page_shows_connection(admin_client, redis_url):
    response = admin_client.get(DASHBOARD)
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    assert f"127.0.0.1:{port}, db 0" in response.content.decode()


def test_queues_page_redis_down_row(admin_client):
    port = free_port()
    url = f"redis://:hidden-pass@127.0.0.1:{port}/0"
    queues = {**settings.RQ_QUEUES, "down": {"URL": url, "SOCKET_TIMEOUT": 2}}
    make_failed_jobs(1)

    with override_settings(RQ_QUEUES=queues):
        response = admin_client.get(DASHBOARD)

    content = response.content.decode()
    assert response.status_code == 200
    assert "Cannot read this queue: ConnectionError" in content
    assert f'href="{DASHBOARD}default/failed/">1</a>' in content
    assert "hidden-pass" not in content


def test_queues_page_queue_name_with_slash(admin_client, redis_url):
    queues = {**settings.RQ_QUEUES, "team/emails": {"URL": redis_url}}
    with override_settings(RQ_QUEUES=queues):
        response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    assert "team/emails" in response.content.decode()


def test_job_list_redis_down_redirects(admin_client):
    port = free_port()
    queues = {"down": {"URL": f"redis://127.0.0.1:{port}/0", "SOCKET_TIMEOUT": 2}}

    with override_settings(RQ_QUEUES=queues):
        response = admin_client.get(f"{DASHBOARD}down/failed/", follow=True)

    messages = [str(message) for message in response.context["messages"]]
    assert response.redirect_chain == [(DASHBOARD, 302)]
    assert len(messages) == 1
    assert "ConnectionError" in messages[0]


def test_failed_list_columns(admin_client):
    [job] = make_failed_jobs(1, message="disk full")

    response = admin_client.get(f"{DASHBOARD}default/failed/")

    content = response.content.decode()
    assert f'href="{DASHBOARD}default/jobs/{job.id}/"' in content
    assert "tests.testapp.jobs.fail" in content
    assert "<strong>ValueError</strong>: disk full" in content
    assert response.context["jobs"][0].ended_at is not None


def test_failed_list_pages(admin_client):
    jobs = make_failed_jobs(25)
    seen = []
    for number, expected in [(1, 10), (2, 10), (3, 5)]:
        response = admin_client.get(
            f"{DASHBOARD}default/failed/", {"page": number, "per_page": 10}
        )
        ids = [job.id for job in response.context["jobs"]]
        assert len(ids) == expected, number
        seen += ids
    assert len(seen) == len(set(seen))
    assert set(seen) == {job.id for job in jobs}


def test_failed_list_default_page_size(admin_client):
    make_failed_jobs(30)
    response = admin_client.get(f"{DASHBOARD}default/failed/")
    assert len(response.context["jobs"]) == 25


def test_failed_list_page_links_keep_page_size(admin_client):
    make_failed_jobs(12)
    response = admin_client.get(f"{DASHBOARD}default/failed/", {"per_page": 10})
    assert 'href="?page=2&amp;per_page=10"' in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"page": 4, "per_page": 10},
        {"page": 0},
        {"page": "last"},
        {"per_page": 7},
        {"per_page": 1000},
    ],
)
def test_failed_list_invalid_page_404(admin_client, query):
    make_failed_jobs(25)
    response = admin_client.get(f"{DASHBOARD}default/failed/", query)
    assert response.status_code == 404


def test_empty_failed_list_200(admin_client):
    response = admin_client.get(f"{DASHBOARD}default/failed/")
    assert response.status_code == 200
    assert "No failed jobs." in response.content.decode()


@pytest.mark.parametrize(
    ("path", "get_status"),
    [
        ("nope/", 404),
        ("nope/failed/", 404),
        ("default/ready/", 404),
        ("default/jobs/no-such-job/", 404),
        ("nope/jobs/no-such-job/", 404),
        ("default/jobs/bad:id/", 404),
        ("nope/failed/requeue/", 404),
        # The requeue URL takes only POST, which is checked first.
        ("default/jobs/no-such-job/requeue/", 405),
    ],
)
def test_unknown_queue_list_or_job_404(admin_client, path, get_status):
    make_failed_jobs(1)
    response = admin_client.get(f"{DASHBOARD}{path}")
    post = admin_client.post(f"{DASHBOARD}{path}")
    assert response.status_code == get_status
    assert post.status_code == 404


def test_job_page_fields(admin_client):
    [job] = make_failed_jobs(1, message="details here")

    response = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")

    content = response.content.decode()
    assert job.id in content
    assert "tests.testapp.jobs.fail" in content
    assert "(&#x27;details here&#x27;,)" in content
    assert "Traceback (most recent call last)" in content
    assert 'value="Requeue"' in content
    assert f'href="{DASHBOARD}default/failed/">Failed jobs</a>' in content


def test_job_page_odd_job_id(admin_client):
    job_id = "-Odd_ID--42_"
    make_failed_jobs(1, job_id=job_id)

    listing = admin_client.get(f"{DASHBOARD}default/failed/")
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job_id}/")

    assert f'href="{DASHBOARD}default/jobs/{job_id}/"' in listing.content.decode()
    assert detail.status_code == 200
    assert detail.context["job"].id == job_id


def test_job_page_finished_job_has_no_requeue(admin_client):
    job = get_queue("default").enqueue("tests.testapp.jobs.add", 2, 3)
    run_burst_worker()

    response = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")

    assert response.status_code == 200
    assert 'value="Requeue"' not in response.content.decode()


def test_missing_job_listed(admin_client, flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.delete(job.key)

    listing = admin_client.get(f"{DASHBOARD}default/failed/")
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")

    assert "Missing: the job data has expired" in listing.content.decode()
    assert detail.status_code == 404


def test_undeserializable_job_lists_and_opens(admin_client, flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "data", b"\x80 not a pickle")

    listing = admin_client.get(f"{DASHBOARD}default/failed/")
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")

    assert "cannot be deserialized" in listing.content.decode()
    assert detail.status_code == 200
    assert "cannot be deserialized" in detail.content.decode()


def test_unimportable_function_lists_and_opens(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.removed_module.vanished")
    run_burst_worker()

    listing = admin_client.get(f"{DASHBOARD}default/failed/")
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")

    assert "tests.testapp.removed_module.vanished" in listing.content.decode()
    assert detail.status_code == 200
    assert "cannot be imported" in detail.content.decode()


def test_job_data_escaped(admin_client):
    payload = "<script>alert(1)</script>"
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.fail", payload, description=payload)
    run_burst_worker()

    listing = admin_client.get(f"{DASHBOARD}default/failed/").content.decode()
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/").content.decode()

    assert payload not in listing
    assert payload not in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
