"""Settings for worker subprocesses in tests: ``tests.settings`` plus switches.

Each switch is an environment variable, so one test can change one setting
of the worker it starts:

- ``RQ_LITE_SECOND_REDIS_URL`` adds the queue ``remote`` on that server.
- ``RQ_LITE_WORKER_DB=postgresql`` uses the local PostgreSQL database
  ``test`` at 127.0.0.1:5432 with persistent connections.
- ``RQ_LITE_UNKNOWN_QUEUE_KEY`` adds that key to the ``default`` queue,
  which django-rq-lite's system check E003 rejects.
- ``RQ_LITE_CHECK_MARKER`` registers a system check of the project, with
  no tag, that writes this file when it runs.
- ``RQ_LITE_BROKEN_URLCONF`` makes ``ROOT_URLCONF`` a module that raises
  on import.
- ``RQ_LITE_LOG_LEVEL`` sets the level of the ``rq.worker`` logger in
  ``LOGGING`` and prefixes every log line with ``django-logging``.
- ``RQ_LITE_LOSE_START_REPLY`` makes each FastWorker horse lose the reply
  to its first start script after Redis ran the script, as a connection
  that fails at that moment does.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import LOGGING, RQ_QUEUES

_second_redis_url = os.environ.get("RQ_LITE_SECOND_REDIS_URL")
if _second_redis_url:
    RQ_QUEUES = {**RQ_QUEUES, "remote": {"URL": _second_redis_url}}

if os.environ.get("RQ_LITE_WORKER_DB") == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": 5432,
            "NAME": "test",
            "USER": "postgres",
            # Persistent connections are the case where a worker process
            # could reuse a connection that the server has closed.
            "CONN_MAX_AGE": None,
        }
    }

_unknown_key = os.environ.get("RQ_LITE_UNKNOWN_QUEUE_KEY")
if _unknown_key:
    RQ_QUEUES = {
        **RQ_QUEUES,
        "default": {**RQ_QUEUES["default"], _unknown_key: True},
    }

_check_marker = os.environ.get("RQ_LITE_CHECK_MARKER")
if _check_marker:
    from django.core.checks import register

    @register()
    def write_check_marker(app_configs=None, **kwargs):
        with open(_check_marker, "w") as marker:
            marker.write("ran")
        return []


if os.environ.get("RQ_LITE_BROKEN_URLCONF"):
    ROOT_URLCONF = "tests.broken_urls"

_log_level = os.environ.get("RQ_LITE_LOG_LEVEL")
if _log_level:
    LOGGING = {
        **LOGGING,
        "formatters": {
            "prefixed": {"format": "django-logging %(name)s: %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "prefixed",
            },
        },
        "loggers": {
            "rq.worker": {"handlers": ["console"], "level": _log_level},
            "django_rq_lite": {"handlers": ["console"], "level": "INFO"},
        },
    }

if os.environ.get("RQ_LITE_LOSE_START_REPLY"):
    import redis

    from django_rq_lite.fastworker import pipeline as _packed_pipeline

    _read_reply = _packed_pipeline.SentRequest.read

    def _read_then_lose_reply(self):
        # Each horse is a fork of the worker, so each loses one reply.
        _packed_pipeline.SentRequest.read = _read_reply
        _read_reply(self)
        self.connection.disconnect()
        raise redis.ConnectionError("Reply lost by RQ_LITE_LOSE_START_REPLY.")

    _packed_pipeline.SentRequest.read = _read_then_lose_reply
