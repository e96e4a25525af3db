"""Settings of the example project: a sign-up site that sends mail in jobs.

Environment variables:

- ``REDIS_URL``: the Redis server of the queues. Unset, the queues use the
  embedded development server that django-rq-lite starts on a unix socket.
- ``DJANGO_RQ_LITE_DEMO_DB``: path of the SQLite database file.
- ``DJANGO_RQ_LITE_DEMO_EMBEDDED_DIR``: directory of the embedded server.
- ``DJANGO_RQ_LITE_DEMO_MAIL_DIR``: directory that receives the sent mail.
- ``DJANGO_SECRET_KEY`` and ``DJANGO_DEBUG`` (``0`` turns debugging off).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A development-only default, so the demo runs with no configuration. Set
# DJANGO_SECRET_KEY before serving this project to anyone else.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-example-project-development-only"
)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") != "0"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq_lite",
    "signups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_RQ_LITE_DEMO_DB", str(BASE_DIR / "db.sqlite3")),
        # The web server and the worker write to the same file at once.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# Without RQ_QUEUES, django-rq-lite gives one "default" queue on its embedded
# development server, which the first process that needs it starts.
if os.environ.get("REDIS_URL"):
    RQ_QUEUES = {"default": {"URL": os.environ["REDIS_URL"]}}

# This project is for development, so the warning that the embedded server
# is not for production would only repeat on every command.
SILENCED_SYSTEM_CHECKS = ["django_rq_lite.W001"]

RQ = {
    "EMBEDDED_DIR": os.environ.get(
        "DJANGO_RQ_LITE_DEMO_EMBEDDED_DIR", str(BASE_DIR / ".rq-embedded")
    ),
}

# Each message becomes a file in the mail directory instead of leaving the
# machine.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get(
    "DJANGO_RQ_LITE_DEMO_MAIL_DIR", str(BASE_DIR / "sent-mail")
)
DEFAULT_FROM_EMAIL = "Demo site <noreply@example.com>"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_rq_lite": {"handlers": ["console"], "level": "INFO"},
        "signups": {"handlers": ["console"], "level": "INFO"},
    },
}
