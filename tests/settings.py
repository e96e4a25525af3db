"""Settings for the test suite; the private Redis server comes from REDIS_URL."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_rq_lite",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# The test database is a file, not SQLite's in-memory default, so worker
# subprocesses started by the tests open the same database as the tests.
TEST_DB = os.environ.get("RQ_LITE_TEST_DB", str(BASE_DIR / ".test-db.sqlite3"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": TEST_DB,
        "TEST": {"NAME": TEST_DB},
    }
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def queues_for(url: str) -> dict:
    return {
        "default": {"URL": url},
        "high": {"URL": url, "DEFAULT_TIMEOUT": 60, "DEFAULT_RESULT_TTL": 900},
        "low": {"URL": url},
        "sync": {"URL": url, "ASYNC": False},
    }


RQ_QUEUES = queues_for(REDIS_URL)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "rq.worker": {"handlers": ["console"], "level": "INFO"},
        "django_rq_lite": {"handlers": ["console"], "level": "INFO"},
    },
}
