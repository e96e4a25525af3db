from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from django_rq_lite.fastworker import command_options as fast_options
from django_rq_lite.management import worker_options
from django_rq_lite.management.helpers import check_queue_names
from django_rq_lite.workers import get_worker

DEQUEUE_STRATEGIES = ("default", "round_robin", "random")


@contextmanager
def cron_thread(scheduler):
    """Run ``scheduler`` in a thread while the block runs, if one is given."""
    if scheduler is None:
        yield
        return
    from django_rq_lite import cron

    thread, stop = cron.start_scheduler_thread(scheduler)
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


class Command(BaseCommand):
    help = (
        "Run an RQ worker on the named queues, in the given order "
        "(default: the 'default' queue)."
    )

    requires_system_checks = worker_options.WORKER_CHECK_TAGS

    def add_arguments(self, parser):
        worker_options.add_queue_arguments(parser)
        parser.add_argument(
            "--with-scheduler",
            action="store_true",
            help="Also move scheduled jobs (enqueue_in, enqueue_at, retries "
            "with intervals) to their queues when they are due.",
        )
        parser.add_argument(
            "--with-cron",
            action="store_true",
            help="Also run RQ's cron scheduler in this process, which enqueues "
            "the periodic jobs of RQ['CRON'] and RQ['CRON_MODULE'].",
        )
        parser.add_argument("--name", help="Worker name (default: RQ's random name).")
        worker_options.add_class_arguments(
            parser, worker_default=fast_options.DEFAULT_WORKER_HELP
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
        worker_options.add_process_arguments(parser)
        worker_options.add_development_arguments(parser)
        fast_options.add_arguments(parser)

    def execute(self, *args, **options):
        # --reload and --sentry-dsn wrap the whole command, so a restarted
        # child process runs the system checks and handle() again.
        return worker_options.run_with_development_options(
            options, lambda: super(Command, self).execute(*args, **options)
        )

    def handle(self, *args, **options):
        queue_names = options["queues"] or ["default"]
        check_queue_names(queue_names)
        for name in ("max_jobs", "worker_ttl", "job_monitoring_interval"):
            value = options[name]
            if value is not None and value < 1:
                flag = "--" + name.replace("_", "-")
                raise CommandError(f"{flag} is {value}, but it must be at least 1.")
        if options["with_cron"] and options["processes"] != 1:
            raise CommandError(
                "--with-cron works only with --processes 1, because each "
                "process would enqueue the periodic jobs. Run rqcron as a "
                "process of its own instead."
            )
        if options["processes"] != 1:
            worker_options.prepare_for_jobs(self)
            with worker_options.pid_file(options["pid"]):
                fast_options.run_processes(
                    options,
                    lambda index: self._run_process(queue_names, options, index),
                )
            return
        worker = self._build_worker(queue_names, options)

        scheduler = self._build_cron_scheduler() if options["with_cron"] else None

        with worker_options.pid_file(options["pid"]), cron_thread(scheduler):
            try:
                worker_options.stop_if_signalled_during_start(worker)
                worker_options.prepare_for_jobs(self)
                worker.work(**self._work_options(options))
            except RedisError as error:
                raise CommandError(
                    f"The worker lost its Redis connection: {error}. Check that "
                    "the server in RQ_QUEUES is running and reachable."
                ) from error
            except ValueError as error:
                hint = ""
                if "active worker named" in str(error):
                    # RQ raises this at start-up when a live worker has the name.
                    hint = " Give --name a name that no running worker uses."
                raise CommandError(
                    f"The worker could not start: {str(error).rstrip('.')}.{hint}"
                ) from error

    def _run_process(self, queue_names, options, index):
        name = fast_options.process_name(options["name"], index)
        options = {**options, "name": name}
        worker = self._build_worker(queue_names, options)
        worker_options.stop_if_signalled_during_start(worker)
        worker_options.prepare_for_jobs(self)
        worker.work(**self._work_options(options))

    def _build_worker(self, queue_names, options):
        kwargs = worker_options.class_options(options)
        if kwargs["worker_class"] is None:
            kwargs["worker_class"] = fast_options.default_worker_class()
        kwargs.update(fast_options.worker_options(options, kwargs))
        for option in ("name", "worker_ttl", "job_monitoring_interval"):
            if options[option] is not None:
                kwargs[option] = options[option]
        try:
            return get_worker(*queue_names, **kwargs)
        except (ValueError, ImproperlyConfigured, RedisError) as error:
            raise CommandError(str(error)) from error

    def _build_cron_scheduler(self):
        from django_rq_lite import cron

        try:
            return cron.build_scheduler()
        except ImproperlyConfigured as error:
            raise CommandError(f"--with-cron: {error}") from error

    def _work_options(self, options):
        from rq.worker import DequeueStrategy

        return {
            "burst": options["burst"],
            "with_scheduler": options["with_scheduler"],
            "max_jobs": options["max_jobs"],
            "max_idle_time": options["max_idle_time"],
            "logging_level": worker_options.logging_level(options["logging_level"]),
            "dequeue_strategy": DequeueStrategy(options["dequeue_strategy"]),
        }
