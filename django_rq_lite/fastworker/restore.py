"""Rebuild a job from its Redis hash as RQ does, with faster timestamp parsing.

RQ's ``Job.restore()`` parses each of a job's timestamps with
``datetime.strptime()``, which took about 5.6 microseconds per timestamp
on Python 3.11 on the development machine. The fast worker restores two
per job in the horse, between two jobs, and five per job in the worker.
``restore_job()`` parses the timestamps that are in the format RQ writes
with ``datetime.fromisoformat()`` instead, in about 1.2 microseconds, and
leaves any other value to RQ.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from rq.job import Job

# The timestamp fields of a job's hash that Job.restore() parses.
TIMESTAMP_FIELDS = (
    "created_at",
    "enqueued_at",
    "started_at",
    "ended_at",
    "last_heartbeat",
)
# Hashes read from Redis have bytes keys, and those that the horse hands
# to the worker have str keys.
TIMESTAMP_KEYS = (*TIMESTAMP_FIELDS, *(name.encode() for name in TIMESTAMP_FIELDS))

# The format of RQ's utcformat(), "%Y-%m-%dT%H:%M:%S.%fZ", in ASCII digits.
RQ_TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def parse_timestamp(value: Any) -> datetime | None:
    """Return the UTC time that RQ wrote as ``value``, or None for another format."""
    if type(value) is not bytes or RQ_TIMESTAMP.fullmatch(value) is None:
        return None
    return datetime.fromisoformat(value[:-1].decode()).replace(tzinfo=timezone.utc)


def restore_job(job: Job, fields: dict) -> None:
    """Set the fields of ``job`` from its hash ``fields``, as ``Job.restore()`` does.

    ``fields`` maps names (bytes or str) to the bytes values of the hash,
    and this may change it. A job class that overrides ``restore()`` is
    restored by its own method alone.
    """
    if type(job).restore is not Job.restore:
        job.restore(fields)
        return
    timestamps = {}
    for key in TIMESTAMP_KEYS:
        moment = parse_timestamp(fields.get(key))
        if moment is not None:
            timestamps[key if type(key) is str else key.decode()] = moment
            # Job.restore() reads an empty value as a missing one.
            fields[key] = b""
    job.restore(fields)
    for name, moment in timestamps.items():
        setattr(job, name, moment)
