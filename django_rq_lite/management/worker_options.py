"""Command-line options shared by ``rqworker`` and ``rqworker-pool``."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import CommandError
from django.utils.module_loading import import_string

from django_rq_lite import conf


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


def add_class_arguments(parser):
    parser.add_argument(
        "--worker-class",
        help="Dotted path of the worker class (default: RQ['WORKER_CLASS'] "
        "or rq.Worker).",
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


def add_process_arguments(parser):
    parser.add_argument(
        "--logging-level",
        help="Level of the rq.worker logger: DEBUG, INFO, WARNING or ERROR "
        "(default: the level that LOGGING sets, else INFO).",
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
