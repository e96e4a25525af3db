from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from django_rq_lite.dashboard.actions import run_action, run_action_on_all
from django_rq_lite.dashboard.filters import JobFilter
from django_rq_lite.dashboard.queues import FAILED
from django_rq_lite.management.helpers import (
    get_queue_or_error,
    redis_error,
    shorten_id,
)


class Command(BaseCommand):
    help = (
        "Move failed jobs of a queue back onto the queue, by id or all of them, "
        "as the dashboard's requeue does."
    )

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
            help="Requeue every job in the queue's failed registry, or with "
            "--exc-class or --func every one that matches.",
        )
        parser.add_argument(
            "--exc-class",
            default="",
            help="With --all: only jobs that failed with this exception class, "
            "with or without its module (e.g. KeyError).",
        )
        parser.add_argument(
            "--func",
            default="",
            help="With --all: only jobs of this function's dotted path.",
        )

    def handle(self, *args, **options):
        job_ids = options["job_ids"]
        if options["all"] == bool(job_ids):
            raise CommandError(
                "Give either job ids or --all, not both and not neither."
            )
        job_filter = JobFilter(options["exc_class"], options["func"])
        if job_filter and not options["all"]:
            raise CommandError(
                "--exc-class and --func select among all failed jobs, so they "
                "need --all instead of job ids."
            )
        queue = get_queue_or_error(options["queue"])
        not_failed = []
        try:
            if options["all"]:
                counts = run_action_on_all(queue, FAILED, "requeue", job_filter)
            else:
                not_failed = ids_not_failed(queue, job_ids)
                present = [job_id for job_id in job_ids if job_id not in not_failed]
                counts = run_action(queue, FAILED, "requeue", present)
        except RedisError as error:
            raise redis_error(error, "requeue failed jobs") from error

        self.stdout.write(f"Requeued {counts.done} job(s) on queue {queue.name!r}.")
        problems = []
        if counts.unreadable:
            problems.append(
                f"{counts.unreadable} job(s) stay in the failed registry because "
                "their function cannot be imported or their data cannot be "
                "loaded, so a worker would fail them again. Fix the code, or "
                "delete them with rqdelete."
            )
        if not_failed:
            problems.append(
                f"Not in the failed registry of queue {queue.name!r}: "
                f"{', '.join(shorten_id(job_id) for job_id in not_failed)}. Check "
                "the ids and the --queue option."
            )
        if problems:
            raise CommandError(" ".join(problems))


def ids_not_failed(queue, job_ids):
    """Return the ids of ``job_ids`` that the queue's failed registry lacks."""
    registry_key = queue.failed_job_registry.key
    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.zscore(registry_key, job_id)
        scores = pipeline.execute()
    return [
        job_id for job_id, score in zip(job_ids, scores, strict=True) if score is None
    ]
