from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError
from rq import Worker
from rq.utils import now

from django_rq_lite import conf
from django_rq_lite.management.helpers import get_queues_or_error, redis_error


class Command(BaseCommand):
    help = (
        "Exit with status 1 when a queue has fewer live workers than required, "
        "for container health checks; exit with 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "queues",
            nargs="*",
            metavar="queue",
            help="Queue names from RQ_QUEUES (default: every configured queue "
            "except those with ASYNC set to False).",
        )
        parser.add_argument(
            "--min-workers",
            type=int,
            default=1,
            help="Live workers each queue needs (default: 1).",
        )
        parser.add_argument(
            "--max-heartbeat-age",
            type=int,
            help="Count only workers whose last heartbeat is at most this many "
            "seconds old (default: every worker whose Redis entry has not "
            "expired, which RQ keeps for the worker TTL, 420 s by default).",
        )

    def handle(self, *args, **options):
        if options["min_workers"] < 1:
            raise CommandError(
                f"--min-workers {options['min_workers']} is less than 1. Give "
                "1 or more."
            )
        age = options["max_heartbeat_age"]
        if age is not None and age < 1:
            raise CommandError(
                f"--max-heartbeat-age {age} is less than 1. Give 1 or more "
                "seconds, or leave it out to count every registered worker."
            )
        names = options["queues"] or [
            name for name in conf.get_queue_names() if conf.is_async(name)
        ]
        if not names:
            raise CommandError(
                "No queue to check: every queue has ASYNC set to False. Name "
                "the queues to check."
            )
        unhealthy = []
        for queue in get_queues_or_error(names):
            try:
                count = count_live_workers(queue, options["max_heartbeat_age"])
            except RedisError as error:
                raise redis_error(
                    error, f"read the workers of {queue.name!r}"
                ) from error
            self.stdout.write(f"{queue.name}: {count} live worker(s)")
            if count < options["min_workers"]:
                unhealthy.append(queue.name)

        if unhealthy:
            raise CommandError(
                f"Too few live workers on: {', '.join(unhealthy)} (required: "
                f"{options['min_workers']}). Start rqworker for these queues."
            )


def count_live_workers(queue, max_heartbeat_age=None):
    """Return the workers of ``queue`` with a recent enough heartbeat."""
    workers = Worker.all(queue=queue)
    if max_heartbeat_age is None:
        return len(workers)
    oldest = now() - timedelta(seconds=max_heartbeat_age)
    return sum(
        1
        for worker in workers
        if worker.last_heartbeat is not None and worker.last_heartbeat >= oldest
    )
