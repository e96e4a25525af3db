"""restore_job() rebuilds a job from its hash exactly as RQ's Job.restore() does."""

import datetime

import pytest
from rq.job import Job
from rq.utils import now

from django_rq_lite import get_queue
from django_rq_lite.fastworker.restore import (
    TIMESTAMP_FIELDS,
    parse_timestamp,
    restore_job,
)
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


def ended_job_hash(connection):
    """Return the hash of a job with every timestamp field set."""
    job = get_queue().enqueue(jobs.add, 1, 2, description="restore test")
    moment = now()
    job.started_at = moment
    job.last_heartbeat = moment
    job.ended_at = moment + datetime.timedelta(seconds=1, microseconds=7)
    job.save()
    return job.id, connection.hgetall(job.key)


def restored_both_ways(connection, job_id, fields):
    theirs = Job(job_id, connection=connection)
    theirs.restore(dict(fields))
    ours = Job(job_id, connection=connection)
    restore_job(ours, dict(fields))
    return theirs, ours


def test_restore_matches_rq_with_bytes_keys(flush_redis):
    job_id, fields = ended_job_hash(flush_redis)

    theirs, ours = restored_both_ways(flush_redis, job_id, fields)

    for name in TIMESTAMP_FIELDS:
        assert getattr(theirs, name) is not None
        assert getattr(ours, name) == getattr(theirs, name)
    assert ours.to_dict() == theirs.to_dict()


def test_restore_matches_rq_with_str_keys(flush_redis):
    job_id, fields = ended_job_hash(flush_redis)
    str_keys = {name.decode(): value for name, value in fields.items()}

    theirs, ours = restored_both_ways(flush_redis, job_id, str_keys)

    for name in TIMESTAMP_FIELDS:
        assert getattr(ours, name) == getattr(theirs, name)
    assert ours.to_dict() == theirs.to_dict()


def test_other_formats_left_to_rq(flush_redis):
    job_id, fields = ended_job_hash(flush_redis)
    # RQ's older format, without microseconds, and a missing timestamp.
    fields[b"enqueued_at"] = b"2026-12-05T16:14:16Z"
    del fields[b"started_at"]

    theirs, ours = restored_both_ways(flush_redis, job_id, fields)

    assert ours.enqueued_at == datetime.datetime(
        2026, 12, 5, 16, 14, 16, tzinfo=datetime.timezone.utc
    )
    assert ours.enqueued_at == theirs.enqueued_at
    assert ours.started_at is None
    assert ours.to_dict() == theirs.to_dict()


class RecordingJob(Job):
    """A job class with a restore() of its own, which records its argument."""

    def restore(self, raw_data):
        self.restored_from = dict(raw_data)
        super().restore(raw_data)


def test_job_class_with_own_restore_gets_hash(flush_redis):
    job_id, fields = ended_job_hash(flush_redis)
    job = RecordingJob(job_id, connection=flush_redis)

    restore_job(job, dict(fields))

    assert job.restored_from == fields
    assert job.created_at is not None


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-05T16:14:16.123456Z",
        b"2026-12-05T16:14:16.123456",
        b"2026-12-05 16:14:16.123456Z",
        b"2026-12-05T16:14:16.1234Z",
        "２026-12-05T16:14:16.123456Z".encode(),
        b"",
        None,
    ],
)
def test_parse_timestamp_rejects_other_formats(value):
    assert parse_timestamp(value) is None


def test_parse_timestamp_reads_utc():
    moment = parse_timestamp(b"2026-12-05T16:14:16.000123Z")

    assert moment == datetime.datetime(
        2026, 12, 5, 16, 14, 16, 123, tzinfo=datetime.timezone.utc
    )
