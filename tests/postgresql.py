"""Whether the tests that need the local PostgreSQL server can run."""

import functools
import os


@functools.cache
def postgresql_unavailable_reason():
    """Return why the PostgreSQL tests cannot run, or an empty string."""
    if os.environ.get("RQ_LITE_TEST_POSTGRESQL") == "0":
        return "RQ_LITE_TEST_POSTGRESQL is 0"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(
            host="127.0.0.1", port=5432, dbname="test", user="postgres",
            connect_timeout=2,
        ):  # fmt: skip
            return ""
    except psycopg.Error as error:
        return f"PostgreSQL at 127.0.0.1:5432 is unreachable: {error}"
