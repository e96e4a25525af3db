from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError

from django_rq_lite.management.helpers import (
    get_queue_or_error,
    redis_error,
    shorten_id,
)


class Command(BaseCommand):
    help = (
        "Delete jobs by id: remove them from their queue and registries and "
        "delete their data and results."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "job_ids", nargs="+", metavar="job_id", help="Ids of the jobs."
        )
        parser.add_argument(
            "--queue",
            default="default",
            help="Queue whose Redis server and serializer hold the jobs "
            "(default: 'default').",
        )

    def handle(self, *args, **options):
        queue = get_queue_or_error(options["queue"])
        deleted = 0
        missing = []
        try:
            for job_id in options["job_ids"]:
                job = fetch(queue, job_id)
                if job is None:
                    missing.append(job_id)
                    continue
                job.delete()
                deleted += 1
        except RedisError as error:
            raise redis_error(error, "delete jobs") from error

        self.stdout.write(f"Deleted {deleted} job(s).")
        if missing:
            missing_ids = ", ".join(shorten_id(job_id) for job_id in missing)
            raise CommandError(
                f"Jobs not found: {missing_ids}. Check the ids and that "
                f"--queue names a queue on the jobs' Redis server."
            )


def fetch(queue, job_id):
    """Return the job ``job_id`` from the queue's server, whatever its origin."""
    try:
        return queue.job_class.fetch(
            job_id, connection=queue.connection, serializer=queue.serializer
        )
    except (NoSuchJobError, ValueError):
        return None
