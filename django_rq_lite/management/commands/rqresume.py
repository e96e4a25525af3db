from django.core.management.base import BaseCommand
from redis.exceptions import RedisError
from rq.suspension import resume

from django_rq_lite import conf
from django_rq_lite.management.helpers import (
    distinct_servers,
    get_queues_or_error,
    redis_error,
)


class Command(BaseCommand):
    help = "Resume the RQ workers that rqsuspend suspended."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="QUEUE",
            help="Resume only the server of this queue; repeat for more "
            "(default: the servers of every configured queue).",
        )

    def handle(self, *args, **options):
        names = options["queues"] or conf.get_queue_names()
        for queue in distinct_servers(get_queues_or_error(names)):
            try:
                resume(queue.connection)
            except RedisError as error:
                raise redis_error(error, "resume the workers") from error
        self.stdout.write("Workers resumed.")
