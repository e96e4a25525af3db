from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from django_rq_lite.management.helpers import get_queue_or_error, redis_error


class Command(BaseCommand):
    help = "Move failed jobs of a queue back onto the queue, by id or all of them."

    def add_arguments(self, parser):
        parser.add_argument(
            "job_ids", nargs="*", metavar="job_id", help="Ids of failed jobs."
        )
        parser.add_argument(
            "--queue",
            default="default",
            help="Queue whose failed jobs to requeue (default: 'default').",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="Requeue every job in the queue's failed registry.",
        )

    def handle(self, *args, **options):
        job_ids = options["job_ids"]
        if options["all"] == bool(job_ids):
            raise CommandError(
                "Give either job ids or --all, not both and not neither."
            )
        queue = get_queue_or_error(options["queue"])
        registry = queue.failed_job_registry
        try:
            if options["all"]:
                job_ids = registry.get_job_ids()
            requeued, not_failed = requeue(registry, job_ids)
        except RedisError as error:
            raise redis_error(error, "requeue failed jobs") from error

        self.stdout.write(f"Requeued {requeued} job(s) on queue {queue.name!r}.")
        if not_failed:
            raise CommandError(
                f"Not in the failed registry of queue {queue.name!r}: "
                f"{', '.join(not_failed)}. Check the ids and the --queue option."
            )


def requeue(registry, job_ids):
    """Requeue ``job_ids`` and return the count and the ids that were not failed."""
    requeued = 0
    not_failed = []
    for job_id in job_ids:
        try:
            registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError, ValueError):
            not_failed.append(job_id)
            continue
        requeued += 1
    return requeued, not_failed
