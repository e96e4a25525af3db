import pytest
from rq.registry import FailedJobRegistry, StartedJobRegistry

from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.admin.test_requeue import messages_of
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker

pytestmark = pytest.mark.django_db

FAILED_LIST = f"{DASHBOARD}default/failed/"


def failed_ids():
    return set(FailedJobRegistry(queue=get_queue("default")).get_job_ids())


def make_unimportable_failed_job():
    job = get_queue("default").enqueue("tests.testapp.removed_module.vanished")
    run_burst_worker()
    return job


def test_bulk_delete_prunes_missing(admin_client, flush_redis):
    jobs = make_failed_jobs(3)
    flush_redis.delete(jobs[0].key)
    data = {"action": "delete", "select_across": "1", "post": "yes"}
    data["_selected_action"] = [jobs[1].id]

    response = admin_client.post(FAILED_LIST, data, follow=True)

    assert messages_of(response) == [
        "Deleted 2 failed jobs of queue default.",
        "Removed 1 entry whose job data has expired.",
    ]
    assert failed_ids() == set()


def test_unimportable_requeue_clear_message(admin_client):
    job = make_unimportable_failed_job()

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/requeue/", follow=True
    )

    [message] = messages_of(response)
    assert "cannot be imported" in message
    assert "Fix the code or delete the job." in message
    assert failed_ids() == {job.id}


def test_unimportable_requeue_all_kept(admin_client):
    make_failed_jobs(2)
    job = make_unimportable_failed_job()

    response = admin_client.post(f"{DASHBOARD}default/failed/requeue/", follow=True)

    messages = messages_of(response)
    assert messages[0] == "Requeued 2 failed jobs of queue default."
    assert messages[1].startswith("1 job was not changed because its function")
    assert failed_ids() == {job.id}


def test_unimportable_job_deleted(admin_client, flush_redis):
    job = make_unimportable_failed_job()

    response = admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/delete/")

    assert response.status_code == 302
    assert not flush_redis.exists(job.key)
    assert failed_ids() == set()


def test_undeserializable_job_deleted(admin_client, flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "data", b"\x80 not a pickle")

    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/")
    requeue = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/requeue/", follow=True
    )
    delete = admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/delete/")

    assert 'value="Delete"' in detail.content.decode()
    assert "cannot be deserialized" in messages_of(requeue)[0]
    assert delete.status_code == 302
    assert not flush_redis.exists(job.key)


def test_unknown_page_and_params_404(admin_client):
    make_failed_jobs(2)
    for query in ("page=3", "page=0", "page=x", "per_page=7", "o=sideways"):
        response = admin_client.get(f"{FAILED_LIST}?{query}")
        assert response.status_code == 404, query


def test_search_odd_and_unknown_ids(admin_client):
    make_failed_jobs(1)
    for term in ("no-such-job", "a:b", "<b>x</b>", "*", "%2F"):
        response = admin_client.get(FAILED_LIST, {"q": term})
        assert response.status_code == 200, term
        assert response.context["jobs"] == [], term


def test_search_started_glob_pattern(admin_client, flush_redis):
    registry = StartedJobRegistry(queue=get_queue("default"))
    flush_redis.zadd(registry.key, {"running-job:execution-1": 1e12})

    response = admin_client.get(f"{DASHBOARD}default/started/", {"q": "*"})
    found = admin_client.get(f"{DASHBOARD}default/started/", {"q": "running-job"})

    assert response.context["jobs"] == []
    assert [job.id for job in found.context["jobs"]] == ["running-job"]


def test_results_meta_and_args_escaped(admin_client):
    payload = "<img src=x onerror=alert(1)>"
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", payload, "!", meta={"note": payload})
    run_burst_worker()

    listing = admin_client.get(f"{DASHBOARD}default/finished/").content.decode()
    detail = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/").content.decode()

    assert payload not in listing
    assert payload not in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in listing
    assert "&lt;img src=x onerror=alert(1)&gt;!" in detail


def test_filter_escaped_in_links(admin_client):
    make_failed_jobs(1)
    payload = '"><script>x</script>'

    response = admin_client.get(FAILED_LIST, {"exc_class": payload})

    content = response.content.decode()
    assert payload not in content
    assert response.context["jobs"] == []


def test_invalid_id_in_registry_listed(admin_client, flush_redis):
    [job] = make_failed_jobs(1)
    registry = FailedJobRegistry(queue=get_queue("default"))
    for odd_id in ("team/emails", "a:b", "spaced id"):
        flush_redis.zadd(registry.key, {odd_id: 1e12})
        flush_redis.hset(f"rq:job:{odd_id}", "origin", "default")

    listing = admin_client.get(FAILED_LIST)
    data = {"action": "delete", "select_across": "1", "post": "yes"}
    data["_selected_action"] = [job.id]
    deleted = admin_client.post(FAILED_LIST, data, follow=True)

    assert listing.status_code == 200
    assert listing.content.decode().count("Missing: the job data") == 3
    assert messages_of(deleted) == ["Deleted 4 failed jobs of queue default."]
    assert failed_ids() == set()
    assert not flush_redis.exists("rq:job:team/emails")
