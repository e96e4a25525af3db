from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from rq.registry import CanceledJobRegistry, FailedJobRegistry, ScheduledJobRegistry

from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.admin.test_requeue import messages_of, queue_log_entries
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker

pytestmark = pytest.mark.django_db

FAILED_LIST = f"{DASHBOARD}default/failed/"


def failed_count():
    return FailedJobRegistry(queue=get_queue("default")).count


def test_bulk_action_confirmation_shows_count(admin_client):
    jobs = make_failed_jobs(3)
    data = {"action": "requeue", "_selected_action": [job.id for job in jobs[:2]]}

    response = admin_client.post(FAILED_LIST, data)

    assert response.status_code == 200
    assert response.context["count"] == 2
    assert "Requeue 2 failed jobs of queue default?" in response.content.decode()
    assert failed_count() == 3


def test_bulk_requeue_selected(admin_client, admin_user):
    jobs = make_failed_jobs(3)
    data = {
        "action": "requeue",
        "_selected_action": [job.id for job in jobs[:2]],
        "post": "yes",
    }

    response = admin_client.post(FAILED_LIST, data, follow=True)

    assert response.redirect_chain == [(FAILED_LIST, 302)]
    assert messages_of(response) == ["Requeued 2 failed jobs of queue default."]
    assert sorted(get_queue("default").job_ids) == sorted(j.id for j in jobs[:2])
    [entry] = queue_log_entries()
    assert entry.user == admin_user
    assert "Requeued 2 failed jobs of queue default" in entry.change_message


def test_bulk_delete_select_across(admin_client, flush_redis):
    jobs = make_failed_jobs(4)
    data = {"action": "delete", "_selected_action": [jobs[0].id]}
    data["select_across"] = "1"

    confirmation = admin_client.post(FAILED_LIST, data)
    data["post"] = "yes"
    response = admin_client.post(FAILED_LIST, data, follow=True)

    assert confirmation.context["count"] == 4
    assert messages_of(response) == ["Deleted 4 failed jobs of queue default."]
    assert failed_count() == 0
    assert not any(flush_redis.exists(job.key) for job in jobs)


def test_bulk_action_needs_selection(admin_client):
    make_failed_jobs(1)

    response = admin_client.post(FAILED_LIST, {"action": "requeue"}, follow=True)

    [message] = messages_of(response)
    assert "Items must be selected" in message
    assert failed_count() == 1


def test_bulk_action_unknown_rejected(admin_client):
    [job] = make_failed_jobs(1)
    data = {"action": "cancel", "_selected_action": [job.id], "post": "yes"}

    response = admin_client.post(FAILED_LIST, data, follow=True)

    assert messages_of(response) == ["Choose an action that applies to these jobs."]
    assert failed_count() == 1


def test_requeue_all_matching_filter(admin_client):
    make_failed_jobs(2)
    queue = get_queue("default")
    key_error = queue.enqueue("tests.testapp.jobs.fail_with_key_error")
    run_burst_worker()
    url = f"{DASHBOARD}default/failed/all/requeue/?exc_class=KeyError"

    confirmation = admin_client.get(url)
    response = admin_client.post(url, follow=True)

    assert confirmation.context["count"] == 1
    assert "that match the filter: exception class KeyError?" in (
        confirmation.content.decode()
    )
    assert response.redirect_chain == [(f"{FAILED_LIST}?exc_class=KeyError", 302)]
    assert queue.job_ids == [key_error.id]
    assert failed_count() == 2


def test_delete_all_failed(admin_client):
    make_failed_jobs(3)

    response = admin_client.post(f"{DASHBOARD}default/failed/all/delete/", follow=True)

    assert messages_of(response) == ["Deleted 3 failed jobs of queue default."]
    assert failed_count() == 0


def test_all_action_not_for_list_404(admin_client):
    response = admin_client.get(f"{DASHBOARD}default/finished/all/requeue/")
    assert response.status_code == 404


def test_delete_one_job(admin_client, flush_redis):
    [job] = make_failed_jobs(1)

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/delete/", follow=True
    )

    assert response.redirect_chain == [(FAILED_LIST, 302)]
    assert messages_of(response) == [f"Deleted job {job.id}."]
    assert not flush_redis.exists(job.key)
    [entry] = queue_log_entries()
    assert job.id in entry.change_message


def test_cancel_queued_job(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/cancel/", follow=True
    )

    assert messages_of(response) == [f"Canceled job {job.id}."]
    assert queue.count == 0
    assert job.id in CanceledJobRegistry(queue=queue)


def test_cancel_failed_job_refused(admin_client):
    [job] = make_failed_jobs(1)

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/cancel/", follow=True
    )

    [message] = messages_of(response)
    assert "cancel does not apply to failed jobs" in message
    assert failed_count() == 1


def test_enqueue_scheduled_job_now(admin_client):
    queue = get_queue("default")
    job = queue.enqueue_in(timedelta(hours=1), "tests.testapp.jobs.add", 1, 2)

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/enqueue/", follow=True
    )

    assert messages_of(response) == [f"Enqueued job {job.id}."]
    assert queue.job_ids == [job.id]
    assert job.id not in ScheduledJobRegistry(queue=queue)


def test_stop_job_not_running_warns(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)

    response = admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/stop/", follow=True)

    [message] = messages_of(response)
    assert message.startswith(f"Job {job.id} was not stopped")
    assert not queue_log_entries().exists()


def test_stop_finished_job_warns(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    run_burst_worker("default")

    response = admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/stop/", follow=True)

    assert messages_of(response) == [
        f"Job {job.id} was not stopped: it is finished, not started, so no "
        "worker is running it."
    ]
    assert not queue_log_entries().exists()


def test_action_on_job_in_no_list_warns(admin_client):
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    # As after another request took the job off its queue: the hash stays.
    queue.connection.lrem(queue.key, 0, job.id)

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/delete/", follow=True
    )

    assert messages_of(response) == [
        f"Job {job.id} was not changed: it is in none of the queue's job lists "
        "now, so it cannot be deleted. Reload its page to see where it is."
    ]
    assert queue.connection.exists(job.key)
    assert not queue_log_entries().exists()


def test_unknown_job_action_404(admin_client):
    [job] = make_failed_jobs(1)
    response = admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/explode/")
    assert response.status_code == 404


def test_empty_queue(admin_client, admin_user):
    queue = get_queue("default")
    for n in range(3):
        queue.enqueue("tests.testapp.jobs.add", n, 1)

    confirmation = admin_client.get(f"{DASHBOARD}default/empty/")
    response = admin_client.post(f"{DASHBOARD}default/empty/", follow=True)

    assert confirmation.context["count"] == 3
    assert queue.count == 0
    assert messages_of(response) == ["Deleted 3 queued jobs of queue default."]
    entry = LogEntry.objects.get()
    assert entry.user == admin_user
    assert entry.object_repr == "default"


def test_confirmation_get_changes_nothing(admin_client):
    make_failed_jobs(2)
    queue = get_queue("default")
    queue.enqueue("tests.testapp.jobs.add", 1, 2)

    admin_client.get(f"{DASHBOARD}default/failed/requeue/")
    admin_client.get(f"{DASHBOARD}default/failed/all/delete/")
    admin_client.get(f"{DASHBOARD}default/empty/")

    assert failed_count() == 2
    assert queue.count == 1
    assert not LogEntry.objects.exists()


def test_row_requeue_button_posts_to_job(admin_client):
    [job] = make_failed_jobs(1)

    content = admin_client.get(FAILED_LIST).content.decode()

    assert f'formaction="{DASHBOARD}default/jobs/{job.id}/requeue/"' in content
