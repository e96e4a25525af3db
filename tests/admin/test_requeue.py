import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from rq.registry import FailedJobRegistry

from django_rq_lite.models import Queue
from django_rq_lite.queues import get_queue
from tests.admin.conftest import DASHBOARD
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker

pytestmark = pytest.mark.django_db


def queue_log_entries(queue_name="default"):
    content_type = ContentType.objects.get_for_model(Queue)
    return LogEntry.objects.filter(content_type=content_type, object_id=queue_name)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_requeue_job_runs_again(admin_client, tmp_path):
    flag = tmp_path / "flag"
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.fail_unless_file_exists", str(flag))
    run_burst_worker()
    assert job.get_status(refresh=True) == "failed"
    flag.write_text("fixed")

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/requeue/", follow=True
    )

    assert messages_of(response) == [f"Requeued job {job.id}."]
    assert queue.job_ids == [job.id]
    assert job.id not in FailedJobRegistry(queue=queue)
    run_burst_worker("default")
    assert job.get_status(refresh=True) == "finished"
    assert job.latest_result().return_value == "fixed"


def test_requeue_job_logs_entry(admin_client, admin_user):
    [job] = make_failed_jobs(1)

    admin_client.post(f"{DASHBOARD}default/jobs/{job.id}/requeue/")

    [entry] = queue_log_entries()
    assert entry.user == admin_user
    assert entry.action_flag == CHANGE
    assert entry.object_repr == "default"
    assert job.id in entry.change_message


def test_requeue_job_get_changes_nothing(admin_client):
    [job] = make_failed_jobs(1)

    response = admin_client.get(f"{DASHBOARD}default/jobs/{job.id}/requeue/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.content.decode() == (
        "GET is not allowed here. This URL changes a job, so it accepts only "
        "POST, from the buttons on the job's page."
    )
    assert job.get_status(refresh=True) == "failed"
    assert not queue_log_entries().exists()


def test_requeue_job_not_failed_warns(admin_client):
    job = get_queue("default").enqueue("tests.testapp.jobs.add", 1, 1)

    response = admin_client.post(
        f"{DASHBOARD}default/jobs/{job.id}/requeue/", follow=True
    )

    [message] = messages_of(response)
    assert "requeue does not apply to queued jobs" in message
    assert not queue_log_entries().exists()


def test_requeue_all_confirmation_shows_count(admin_client):
    make_failed_jobs(3)

    response = admin_client.get(f"{DASHBOARD}default/failed/requeue/")

    assert response.status_code == 200
    assert response.context["count"] == 3
    assert "Requeue all 3 failed jobs of queue default?" in (response.content.decode())
    assert FailedJobRegistry(queue=get_queue("default")).count == 3


def test_requeue_all_link_on_failed_list(admin_client):
    make_failed_jobs(1)
    response = admin_client.get(f"{DASHBOARD}default/failed/")
    assert f'href="{DASHBOARD}default/failed/requeue/"' in response.content.decode()


def test_requeue_all_moves_jobs(admin_client, admin_user, flush_redis):
    jobs = make_failed_jobs(4)
    flush_redis.delete(jobs[0].key)
    queue = get_queue("default")

    response = admin_client.post(f"{DASHBOARD}default/failed/requeue/", follow=True)

    assert response.redirect_chain == [(f"{DASHBOARD}default/failed/", 302)]
    assert messages_of(response) == [
        "Requeued 3 failed jobs of queue default.",
        "Removed 1 entry whose job data has expired.",
    ]
    assert sorted(queue.job_ids) == sorted(job.id for job in jobs[1:])
    [entry] = queue_log_entries()
    assert entry.user == admin_user
    assert "Requeued 3 failed jobs of queue default" in entry.change_message


def test_requeue_all_leaves_other_queues(admin_client):
    make_failed_jobs(2)
    make_failed_jobs(1, queue_name="low")

    admin_client.post(f"{DASHBOARD}default/failed/requeue/")

    assert FailedJobRegistry(queue=get_queue("low")).count == 1
    assert not queue_log_entries("low").exists()
