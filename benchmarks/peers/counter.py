"""Redis keys that the benchmark jobs update, so the harness can count them.

Every product's no-op job makes one ``INCR`` on the benchmark Redis server,
which costs each product the same one round trip per job.
"""

import os

import redis

DONE_KEY = "bench:done"
STARTED_KEY = "bench:started"

_client = None


def get_client():
    """Return this process's client for the benchmark server (``BENCH_REDIS_URL``)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _client
