"""An example project site shared by the HTTP and browser tests of a module."""

import os

import pytest

from tests.e2e.helpers import DevServer, manage, project_env

ADMIN_USERNAME = "operator"
ADMIN_PASSWORD = "e2e-password"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    """Migrate a new database, create a superuser and run the dev server.

    The site uses the session's private Redis server (``REDIS_URL``), which
    the suite flushes around each test.
    """
    env = project_env(tmp_path_factory.mktemp("site"), os.environ["REDIS_URL"])
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(
        {**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        "createsuperuser",
        "--noinput",
        "--username",
        ADMIN_USERNAME,
        "--email",
        "operator@example.com",
    )
    server = DevServer(env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
