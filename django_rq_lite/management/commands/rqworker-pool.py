import logging

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from redis.exceptions import RedisError
from rq.worker_pool import WorkerPool

from django_rq_lite.management import worker_options
from django_rq_lite.management.helpers import check_queue_names
from django_rq_lite.workers import get_worker


class Command(BaseCommand):
    help = (
        "Run a pool of RQ worker processes on the named queues (default: the "
        "'default' queue). The pool replaces a worker that dies, and every "
        "worker also moves due scheduled jobs to their queues."
    )

    requires_system_checks = worker_options.WORKER_CHECK_TAGS

    def add_arguments(self, parser):
        parser.add_argument(
            "-n",
            "--num-workers",
            type=int,
            default=2,
            help="Number of worker processes (default: 2).",
        )
        worker_options.add_queue_arguments(parser)
        worker_options.add_class_arguments(parser)
        worker_options.add_process_arguments(parser)
        worker_options.add_development_arguments(parser)

    def execute(self, *args, **options):
        return worker_options.run_with_development_options(
            options, lambda: super(Command, self).execute(*args, **options)
        )

    def handle(self, *args, **options):
        if options["num_workers"] < 1:
            raise CommandError(
                f"--num-workers {options['num_workers']} is less than 1. Give "
                "1 or more."
            )
        queue_names = options["queues"] or ["default"]
        check_queue_names(queue_names)
        pool = self._build_pool(queue_names, options)
        level = worker_options.logging_level(options["logging_level"])
        if level is None:
            level = logging.getLevelName(logging.getLogger("rq.worker").level)

        # The pool forks its workers, and a child must not share the
        # parent's database sockets.
        connections.close_all()
        worker_options.prepare_for_jobs(self)
        with worker_options.pid_file(options["pid"]):
            try:
                pool.start(burst=options["burst"], logging_level=level)
            except RedisError as error:
                raise CommandError(
                    f"The worker pool lost its Redis connection: {error}. Check "
                    "that the server in RQ_QUEUES is running and reachable."
                ) from error

    def _build_pool(self, queue_names, options):
        # A worker built the way rqworker builds one resolves the classes,
        # serializer and exception handlers, and checks that the queues share
        # one server and one serializer.
        try:
            worker = get_worker(*queue_names, **worker_options.class_options(options))
        except (ValueError, ImproperlyConfigured, RedisError) as error:
            raise CommandError(str(error)) from error
        return WorkerPool(
            queue_names,
            connection=worker.connection,
            num_workers=options["num_workers"],
            worker_class=type(worker),
            serializer=worker.serializer,
            job_class=worker.job_class,
            queue_class=worker.queue_class,
            exception_handlers=worker._exc_handlers or None,
        )
