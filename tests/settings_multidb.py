"""Settings with a second database alias, for the on-commit enqueue cases.

``tests/test_enqueue_on_commit.py`` runs ``tests/multidb_on_commit_cases.py``
in a pytest subprocess with these settings, because a pytest-django session
creates its test databases once, from the settings it starts with.

- ``other`` is a second SQLite database next to ``RQ_LITE_TEST_DB``.
- ``RQ_LITE_TEST_POSTGRESQL=1`` adds the alias ``postgresql``: the local
  server at 127.0.0.1:5432, user ``postgres``; pytest-django creates and
  drops the test database ``test_rq_lite_on_commit`` on it.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, TEST_DB

_other_db = f"{TEST_DB}-other"
DATABASES = {
    **DATABASES,
    "other": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _other_db,
        "TEST": {"NAME": _other_db},
    },
}

if os.environ.get("RQ_LITE_TEST_POSTGRESQL") == "1":
    DATABASES["postgresql"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": 5432,
        "NAME": "test",
        "USER": "postgres",
        "TEST": {"NAME": "test_rq_lite_on_commit"},
    }
