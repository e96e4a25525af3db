import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from django_rq_lite import conf
from django_rq_lite.workers import get_worker

DEQUEUE_STRATEGIES = ("default", "round_robin", "random")


class Command(BaseCommand):
    help = (
        "Run an RQ worker on the named queues, in the given order "
        "(default: the 'default' queue)."
    )

    def add_arguments(self, parser):
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
        parser.add_argument(
            "--with-scheduler",
            action="store_true",
            help="Also move scheduled jobs (enqueue_in, enqueue_at, retries "
            "with intervals) to their queues when they are due.",
        )
        parser.add_argument("--name", help="Worker name (default: RQ's random name).")
        parser.add_argument(
            "--worker-class",
            help="Dotted path of the worker class (default: RQ['WORKER_CLASS'] "
            "or rq.Worker).",
        )
        parser.add_argument(
            "--queue-class",
            help="Dotted path of the queue class (default: RQ['QUEUE_CLASS'] "
            "or rq.Queue).",
        )
        parser.add_argument(
            "--job-class",
            help="Dotted path of the job class (default: RQ['JOB_CLASS'] or "
            "rq.job.Job).",
        )
        parser.add_argument(
            "--serializer",
            help='Serializer: "pickle", "json" or a dotted path (default: the '
            "queues' SERIALIZER setting).",
        )
        parser.add_argument(
            "--max-jobs",
            type=int,
            help="Exit after running this many jobs.",
        )
        parser.add_argument(
            "--max-idle-time",
            type=int,
            help="Exit after this many seconds without a job.",
        )
        parser.add_argument(
            "--worker-ttl",
            type=int,
            help="Seconds after its last heartbeat that a worker counts as "
            "dead (RQ's default: 420).",
        )
        parser.add_argument(
            "--job-monitoring-interval",
            type=int,
            help="Seconds between heartbeats while a job runs (RQ's default: 30).",
        )
        parser.add_argument(
            "--dequeue-strategy",
            choices=DEQUEUE_STRATEGIES,
            default="default",
            help="Order in which queues are polled: 'default' (the given "
            "order), 'round_robin' or 'random'.",
        )
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

    def handle(self, *args, **options):
        queue_names = options["queues"] or ["default"]
        self._check_queue_names(queue_names)
        worker = self._build_worker(queue_names, options)

        if options["pid"]:
            self._write_pid(options["pid"])
        try:
            worker.work(**self._work_options(options))
        except RedisError as error:
            raise CommandError(
                f"The worker lost its Redis connection: {error}. Check that "
                "the server in RQ_QUEUES is running and reachable."
            ) from error
        except ValueError as error:
            # RQ raises ValueError at start-up when a running worker already
            # uses the name.
            raise CommandError(
                f"The worker could not start: {error}. Give --name a name that "
                "no running worker uses."
            ) from error
        finally:
            if options["pid"]:
                Path(options["pid"]).unlink(missing_ok=True)

    def _check_queue_names(self, queue_names):
        configured = conf.get_queue_names()
        unknown = [name for name in queue_names if name not in configured]
        if unknown:
            raise CommandError(
                f"Unknown queue(s): {', '.join(unknown)}. Configured queues in "
                f"RQ_QUEUES: {', '.join(configured)}."
            )

    def _build_worker(self, queue_names, options):
        worker_options = {
            "worker_class": options["worker_class"],
            "queue_class": options["queue_class"],
            "job_class": options["job_class"],
            "serializer": options["serializer"],
        }
        for option in ("worker_class", "queue_class", "job_class"):
            self._check_import(option, options[option])
        if options["serializer"]:
            path = conf.resolve_serializer_path(options["serializer"])
            self._check_import("serializer", path)
            worker_options["serializer"] = path
        for option in ("name", "worker_ttl", "job_monitoring_interval"):
            if options[option] is not None:
                worker_options[option] = options[option]
        try:
            return get_worker(*queue_names, **worker_options)
        except (ValueError, ImproperlyConfigured, RedisError) as error:
            raise CommandError(str(error)) from error

    def _check_import(self, option, path):
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

    def _work_options(self, options):
        from rq.worker import DequeueStrategy

        return {
            "burst": options["burst"],
            "with_scheduler": options["with_scheduler"],
            "max_jobs": options["max_jobs"],
            "max_idle_time": options["max_idle_time"],
            "logging_level": self._logging_level(options["logging_level"]),
            "dequeue_strategy": DequeueStrategy(options["dequeue_strategy"]),
        }

    def _logging_level(self, option):
        """Return the --logging-level, else None to keep a level from LOGGING.

        RQ sets the level it is given on the rq.worker logger, so without
        the option and without a level from LOGGING this returns INFO.
        """
        if option:
            return option.upper()
        if logging.getLogger("rq.worker").level != logging.NOTSET:
            return None
        return "INFO"

    def _write_pid(self, path):
        try:
            Path(path).write_text(f"{os.getpid()}\n")
        except OSError as error:
            raise CommandError(
                f"Cannot write the pid file {path!r}: {error.strerror}. Give "
                "a writable path to --pid."
            ) from error
