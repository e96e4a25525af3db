"""Command-line options shared by ``rqworker`` and ``rqworker-pool``."""

from __future__ import annotations

import gc
import logging
import os
import signal
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.urls import get_resolver
from django.utils.module_loading import import_string

from django_rq_lite import conf

# The system checks that the worker commands run at start: django-rq-lite's
# own, which validate RQ_QUEUES and RQ. The project's other checks (admin,
# models, templates) load modules that a worker never uses, which would hold
# about a megabyte in every worker process. "manage.py check" runs them all.
WORKER_CHECK_TAGS = ["django_rq_lite"]

logger = logging.getLogger("django_rq_lite.worker")


def add_queue_arguments(parser):
    parser.add_argument(
        "queues",
        nargs="*",
        metavar="queue",
        help="Queue names from RQ_QUEUES, highest priority first.",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="Run every queued job, then exit instead of waiting for more.",
    )


def add_class_arguments(parser, worker_default="rq.Worker"):
    parser.add_argument(
        "--worker-class",
        help="Dotted path of the worker class (default: RQ['WORKER_CLASS'] "
        f"or {worker_default}).",
    )
    parser.add_argument(
        "--queue-class",
        help="Dotted path of the queue class (default: RQ['QUEUE_CLASS'] or rq.Queue).",
    )
    parser.add_argument(
        "--job-class",
        help="Dotted path of the job class (default: RQ['JOB_CLASS'] or rq.job.Job).",
    )
    parser.add_argument(
        "--serializer",
        help='Serializer: "pickle", "json" or a dotted path (default: the '
        "queues' SERIALIZER setting).",
    )


LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def add_process_arguments(parser):
    parser.add_argument(
        "--logging-level",
        type=str.upper,
        choices=LOGGING_LEVELS,
        help="Level of the rq.worker logger (default: the level that LOGGING "
        "sets, else INFO).",
    )
    parser.add_argument(
        "--pid",
        metavar="FILE",
        help="Write the worker's process id to FILE.",
    )


def class_options(options):
    """Return the class and serializer options for ``get_worker``.

    Raise ``CommandError`` for a dotted path that cannot be imported.
    """
    result = {
        "worker_class": options["worker_class"],
        "queue_class": options["queue_class"],
        "job_class": options["job_class"],
        "serializer": options["serializer"],
    }
    for option in ("worker_class", "queue_class", "job_class"):
        check_import(option, options[option])
        check_class(option, options[option])
    if options["serializer"]:
        path = conf.resolve_serializer_path(options["serializer"])
        check_import("serializer", path)
        result["serializer"] = path
    return result


def check_import(option, path):
    if not path:
        return
    try:
        import_string(path)
    except ImportError as error:
        flag = "--" + option.replace("_", "-")
        raise CommandError(
            f"{flag} {path!r} cannot be imported: {error}. Give the dotted "
            "path of an importable class."
        ) from error


def check_class(option, path):
    """Raise ``CommandError`` when ``path`` is not a subclass of RQ's class."""
    if not path:
        return
    key = option.upper()
    if not conf.is_class_for(import_string(path), key):
        flag = "--" + option.replace("_", "-")
        base = conf.CLASS_BASES[key]
        raise CommandError(
            f"{flag} {path!r} is not a subclass of {base}. Give the dotted "
            f"path of a subclass of {base}."
        )


def logging_level(option):
    """Return the --logging-level, else None to keep a level from LOGGING.

    RQ sets the level it is given on the rq.worker logger, so without
    the option and without a level from LOGGING this returns INFO.
    """
    if option:
        return option.upper()
    if logging.getLogger("rq.worker").level != logging.NOTSET:
        return None
    return "INFO"


@contextmanager
def pid_file(path):
    """Write this process's id to ``path`` (if given) and remove it on exit."""
    if not path:
        yield
        return
    try:
        Path(path).write_text(f"{os.getpid()}\n")
    except OSError as error:
        raise CommandError(
            f"Cannot write the pid file {path!r}: {error.strerror}. Give "
            "a writable path to --pid."
        ) from error
    try:
        yield
    finally:
        Path(path).unlink(missing_ok=True)


def stop_if_signalled_during_start(worker):
    """Make SIGINT and SIGTERM stop ``worker`` warmly while it starts.

    RQ's ``work()`` registers the worker in Redis before it installs its
    own signal handlers. A signal in that gap would end the process at once
    and leave the registration behind until its TTL runs out, so the
    dashboard would list a worker that no longer exists. Until RQ replaces
    these handlers, a signal only sets the flag that RQ's loop reads before
    its first dequeue, and the worker then stops and unregisters.
    """

    def request_stop(signum, frame):
        worker._stop_requested = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)


def prepare_for_jobs(command):
    """Load the URLconf, then freeze the objects that the process built so far.

    A worker builds its settings, modules and classes once and keeps them
    until it exits, so the garbage collector's passes over them are wasted.
    Frozen, they are skipped by every later full collection, by those of
    each forked work-horse (whose writes would copy the shared pages), and
    by those at interpreter exit, which took most of an idle worker's stop
    time. Python's documentation of ``gc.freeze()`` advises it before a fork.

    Only a command run from the command line freezes, because its process
    ends with it. In a process that calls ``call_command()``, such as a
    test run, the garbage that exists at that moment could never be freed.
    """
    load_urlconf()
    # Django's run_from_argv() sets this attribute, and call_command() does not.
    if getattr(command, "_called_from_command_line", False):
        gc.freeze()


def load_urlconf():
    """Import the project's URLconf, so that forked work-horses inherit it.

    Without it, a job that calls ``reverse()`` imports the URLconf and its
    views in every horse, which under RQ's ``Worker`` means every job.
    """
    if not getattr(settings, "ROOT_URLCONF", None):
        return
    try:
        get_resolver().url_patterns  # noqa: B018 - imports the URLconf.
    except Exception as error:
        logger.warning(
            "Could not import the URLconf %s: %s. Jobs that reverse URLs will "
            "fail with the same error until it is fixed.",
            settings.ROOT_URLCONF,
            error,
        )


def add_development_arguments(parser):
    parser.add_argument(
        "--reload",
        action="store_true",
        help="Restart when a Python source file changes, after the current job "
        "ends. For development only.",
    )
    parser.add_argument(
        "--sentry-dsn",
        metavar="DSN",
        help="Report job exceptions to Sentry at this DSN through sentry-sdk's "
        "RQ integration. Ignored when the project has already initialised "
        "Sentry.",
    )


def run_with_development_options(options, run):
    """Call ``run()``, with Sentry and the reloader when the options ask."""

    def run_worker():
        if options.get("sentry_dsn"):
            init_sentry(options["sentry_dsn"])
        return run()

    if options.get("reload"):
        from django_rq_lite.management import reloading

        return reloading.run_with_reloader(run_worker)
    return run_worker()


def init_sentry(dsn):
    """Initialise sentry-sdk with its RQ integration, unless already initialised.

    Return whether this call initialised it. A project that calls
    ``sentry_sdk.init()`` in its settings keeps its own configuration.
    """
    try:
        import sentry_sdk
        from sentry_sdk.integrations.rq import RqIntegration
    except ImportError:
        raise CommandError(
            "--sentry-dsn needs sentry-sdk. Install it with pip install "
            "'django-rq-lite[sentry]'."
        ) from None
    # is_initialized() is in sentry-sdk since 2.0, the extra's lower bound.
    if sentry_sdk.is_initialized():
        logger.info("Sentry is already initialised, so --sentry-dsn is ignored")
        return False
    try:
        sentry_sdk.init(dsn=dsn, integrations=[RqIntegration()])
    except Exception as error:
        # sentry-sdk raises BadDsn, a plain Exception subclass.
        raise CommandError(
            f"--sentry-dsn is invalid: {error}. Give the DSN from the Sentry "
            "project's settings, e.g. https://key@sentry.example.com/1."
        ) from error
    logger.info("Sentry initialised with the RQ integration")
    return True
