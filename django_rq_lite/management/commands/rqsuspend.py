from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError
from rq.suspension import suspend

from django_rq_lite import conf
from django_rq_lite.management.helpers import (
    distinct_servers,
    get_queues_or_error,
    redis_error,
)


class Command(BaseCommand):
    help = (
        "Suspend the RQ workers of the Redis servers in RQ_QUEUES: they finish "
        "their current job, then take no new job until rqresume or the "
        "duration ends. Workers in burst mode exit instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--duration",
            type=int,
            help="Resume by itself after this many seconds (default: stay "
            "suspended until rqresume).",
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="QUEUE",
            help="Suspend only the server of this queue; repeat for more "
            "(default: the servers of every configured queue). Suspension "
            "applies to every worker of a server, whatever its queues.",
        )

    def handle(self, *args, **options):
        duration = options["duration"]
        if duration is not None and duration < 1:
            raise CommandError(
                f"--duration {duration} is less than 1. Give a number of "
                "seconds, or leave it out to suspend until rqresume."
            )
        names = options["queues"] or conf.get_queue_names()
        for queue in distinct_servers(get_queues_or_error(names)):
            try:
                suspend(queue.connection, duration)
            except RedisError as error:
                raise redis_error(error, "suspend the workers") from error
        if duration is None:
            self.stdout.write("Workers suspended. Run rqresume to resume them.")
        else:
            self.stdout.write(f"Workers suspended for {duration} seconds.")
