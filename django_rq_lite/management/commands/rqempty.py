from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from django_rq_lite import conf
from django_rq_lite.management.helpers import get_queues_or_error, redis_error


class Command(BaseCommand):
    help = (
        "Delete every queued job of the named queues. Jobs that are running, "
        "scheduled or in a registry are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "queues", nargs="*", metavar="queue", help="Queue names from RQ_QUEUES."
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="Empty every configured queue.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args, **options):
        names = options["queues"]
        if options["all"] == bool(names):
            raise CommandError(
                "Give either queue names or --all, not both and not neither."
            )
        if options["all"]:
            names = conf.get_queue_names()
        queues = get_queues_or_error(names)

        if options["interactive"] and not self._confirm(names):
            self.stdout.write("Cancelled: no job was deleted.")
            return
        for queue in queues:
            try:
                deleted = queue.empty()
            except RedisError as error:
                raise redis_error(error, f"empty queue {queue.name!r}") from error
            self.stdout.write(f"Deleted {deleted} job(s) from queue {queue.name!r}.")

    def _confirm(self, names):
        answer = input(
            f"This deletes every queued job of {', '.join(names)}.\n"
            "Are you sure you want to do this?\n\n"
            "    Type 'yes' to continue, or 'no' to cancel: "
        )
        return answer == "yes"
