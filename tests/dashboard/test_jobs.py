import pytest

from django_rq_lite.dashboard.jobs import (
    JobNotFound,
    get_job_detail,
    get_job_summaries,
    parse_exception_line,
)
from django_rq_lite.queues import get_queue
from tests.dashboard.helpers import make_failed_jobs, run_burst_worker


@pytest.mark.parametrize(
    ("traceback", "expected"),
    [
        ("Traceback...\nValueError: boom\n", ("ValueError", "boom")),
        (
            "x\nrq.timeouts.JobTimeoutException: Task exceeded",
            (
                "rq.timeouts.JobTimeoutException",
                "Task exceeded",
            ),
        ),
        ("KeyboardInterrupt", ("KeyboardInterrupt", "")),
        ("ValueError: a: b", ("ValueError", "a: b")),
        ("Job killed by a cold shutdown", ("", "Job killed by a cold shutdown")),
        ("", ("", "")),
    ],
)
def test_parse_exception_line(traceback, expected):
    assert parse_exception_line(traceback) == expected


def test_summaries_of_failed_jobs():
    [job] = make_failed_jobs(1, message="broken input")

    [summary] = get_job_summaries(get_queue("default"), [job.id])

    assert summary.func_name == "tests.testapp.jobs.fail"
    assert summary.status == "failed"
    assert summary.exc_class == "ValueError"
    assert summary.exc_message == "broken input"
    assert summary.ended_at is not None
    assert summary.problem == ""


def test_summaries_keep_order_and_mark_missing(flush_redis):
    first, second = make_failed_jobs(2)
    flush_redis.delete(first.key)

    summaries = get_job_summaries(get_queue("default"), [first.id, second.id])

    assert [summary.id for summary in summaries] == [first.id, second.id]
    assert summaries[0].missing
    assert not summaries[1].missing


def test_summary_undeserializable_data(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "data", b"\x80 not a pickle")

    [summary] = get_job_summaries(get_queue("default"), [job.id])

    assert "cannot be deserialized" in summary.problem
    assert summary.func_name == ""
    assert summary.status == "failed"


def test_summary_unreadable_hash(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "created_at", "not a date")

    [summary] = get_job_summaries(get_queue("default"), [job.id])

    assert "job hash cannot be read" in summary.problem


def test_detail_of_failed_job():
    [job] = make_failed_jobs(1, message="detail")

    detail = get_job_detail(get_queue("default"), job.id)

    assert detail.args == "('detail',)"
    assert detail.kwargs == "{}"
    assert detail.origin == "default"
    assert detail.in_failed_registry
    assert "Traceback" in detail.traceback
    assert detail.problems == []


def test_detail_of_finished_job_shows_return_value():
    job = get_queue("default").enqueue("tests.testapp.jobs.add", 2, 3)
    run_burst_worker()

    detail = get_job_detail(get_queue("default"), job.id)

    assert detail.result == "5"
    assert not detail.in_failed_registry
    assert detail.exc_class == ""


def test_detail_function_not_importable():
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.removed_module.vanished", 1)
    run_burst_worker()

    detail = get_job_detail(queue, job.id)

    assert detail.func_name == "tests.testapp.removed_module.vanished"
    assert len(detail.problems) == 1
    assert "cannot be imported" in detail.problems[0]


def test_detail_undeserializable_data(flush_redis):
    [job] = make_failed_jobs(1)
    flush_redis.hset(job.key, "data", b"\x80 not a pickle")

    detail = get_job_detail(get_queue("default"), job.id)

    assert detail.args == ""
    assert len(detail.problems) == 1
    assert "cannot be deserialized" in detail.problems[0]


@pytest.mark.parametrize("job_id", ["no-such-job", "a:b", "a b", "../x", ""])
def test_detail_not_found(job_id):
    make_failed_jobs(1)
    with pytest.raises(JobNotFound):
        get_job_detail(get_queue("default"), job_id)


def test_detail_of_job_on_other_queue():
    [job] = make_failed_jobs(1, queue_name="low")
    with pytest.raises(JobNotFound):
        get_job_detail(get_queue("default"), job.id)


def test_detail_odd_job_id():
    [job] = make_failed_jobs(1, job_id="-Odd_ID--42_")

    detail = get_job_detail(get_queue("default"), "-Odd_ID--42_")

    assert detail.id == job.id
    assert detail.exc_class == "ValueError"
