from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from django_rq_lite import cron
from django_rq_lite.management.helpers import redis_error


class Command(BaseCommand):
    help = (
        "Run RQ's cron scheduler, which enqueues the periodic jobs of "
        "RQ['CRON'] and RQ['CRON_MODULE'] when they are due. Run one per "
        "Redis server, next to the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--list",
            action="store_true",
            help="Print the periodic jobs with their last and next run times, "
            "then exit.",
        )
        parser.add_argument(
            "--name", help="Scheduler name (default: RQ's host:pid:random name)."
        )
        parser.add_argument(
            "--logging-level",
            default="INFO",
            help="Level of the rq.cron logger: DEBUG, INFO, WARNING or ERROR "
            "(default: INFO).",
        )

    def handle(self, *args, **options):
        try:
            if options["list"]:
                self._print_jobs(cron.list_periodic_jobs())
                return
            scheduler = cron.build_scheduler(
                name=options["name"] or "",
                logging_level=options["logging_level"].upper(),
            )
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        except RedisError as error:
            raise redis_error(error, "read the periodic jobs") from error

        if not scheduler.get_jobs():
            raise CommandError(
                "No periodic jobs are declared. Add entries to RQ['CRON'] or "
                "name a module with a CRON list in RQ['CRON_MODULE']."
            )
        try:
            scheduler.start()
        except RedisError as error:
            raise redis_error(error, "run the cron scheduler") from error

    def _print_jobs(self, statuses):
        if not statuses:
            self.stdout.write("No periodic jobs are declared.")
        for status in statuses:
            job = status.job
            last = (
                status.last_enqueued_at.isoformat()
                if status.last_enqueued_at
                else "never"
            )
            if status.next_enqueue_at:
                upcoming = status.next_enqueue_at.isoformat()
            elif status.scheduled:
                upcoming = "at the scheduler's next check"
            else:
                upcoming = "no scheduler running"
            self.stdout.write(
                f"{job.name}  queue={job.queue}  schedule={job.schedule}  "
                f"last={last} ({status.last_status or '-'})  next={upcoming}"
            )
