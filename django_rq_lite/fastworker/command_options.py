"""The rqworker options for the fast worker and for several processes."""

from __future__ import annotations

from django.core.management.base import CommandError
from rq import Worker

from .. import conf
from ..queues import resolve_class
from .worker import FastWorker, supports_installed_rq

# The default worker class, as rqworker's help names it.
DEFAULT_WORKER_HELP = "django_rq_lite.fastworker.FastWorker, or rq.Worker on RQ 2"


def default_worker_class() -> type[Worker]:
    """Return rqworker's worker class when ``--worker-class`` names none.

    That is ``RQ['WORKER_CLASS']`` when set, else FastWorker, which needs
    RQ 3, else RQ's forking ``Worker``.
    """
    configured = conf.get_class("WORKER_CLASS")
    if configured is not None:
        return configured
    return FastWorker if supports_installed_rq() else Worker


def add_arguments(parser) -> None:
    parser.add_argument(
        "--max-jobs-per-horse",
        type=int,
        metavar="N",
        help="With django_rq_lite.fastworker.FastWorker: replace its work-horse "
        "process after N jobs, to bound memory that jobs leak (default: no "
        "limit).",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="Run N worker processes and restart those that fail (default: 1).",
    )


def worker_options(options: dict, class_options: dict) -> dict:
    """Return the fast worker's keyword arguments for ``get_worker``.

    Raise ``CommandError`` when ``--max-jobs-per-horse`` is given for a
    worker class that does not reuse its horse.
    """
    limit = options.get("max_jobs_per_horse")
    if limit is None:
        return {}
    if limit < 1:
        raise CommandError(
            f"--max-jobs-per-horse is {limit}, but it must be at least 1."
        )
    worker_class = resolve_class(
        class_options["worker_class"], "WORKER_CLASS", default_worker_class()
    )
    if not issubclass(worker_class, FastWorker):
        # Name the class as the user gave it: rq.Worker, not the module
        # that RQ defines it in.
        class_name = class_options["worker_class"]
        if not isinstance(class_name, str):
            class_name = f"{worker_class.__module__}.{worker_class.__qualname__}"
        raise CommandError(
            f"--max-jobs-per-horse needs a worker that reuses its work-horse, "
            f"but the worker class is {class_name}. Add --worker-class "
            "django_rq_lite.fastworker.FastWorker."
        )
    return {"max_jobs_per_horse": limit}


def process_name(name: str | None, index: int) -> str | None:
    """Return the worker name for process ``index``, or None for RQ's random name."""
    if name is None:
        return None
    return f"{name}-{index + 1}"


def run_processes(options: dict, run_worker) -> None:
    """Run ``--processes`` workers until they exit, and raise if any failed."""
    count = options["processes"]
    if count < 1:
        raise CommandError(f"--processes is {count}, but it must be at least 1.")
    # Check the class options here, so an error stops the command before
    # it forks, instead of failing in every process.
    from ..management import worker_options as class_arguments

    worker_options(options, class_arguments.class_options(options))
    from .pool import WorkerProcesses

    failures = WorkerProcesses(count, run_worker, restart=not options["burst"]).run()
    if failures:
        raise CommandError(
            f"{failures} worker process(es) exited with an error. Their log "
            "lines above give the cause."
        )
