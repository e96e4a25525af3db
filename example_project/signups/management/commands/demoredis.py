from django.core.management.base import BaseCommand, CommandError

from django_rq_lite import conf, embedded


class Command(BaseCommand):
    help = (
        "Start or stop the embedded Redis server of the 'default' queue. Does "
        "nothing when RQ_QUEUES names another server."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop"])

    def handle(self, *args, action, **options):
        if not conf.uses_embedded(conf.get_queue_options("default")):
            self.stdout.write("The 'default' queue does not use the embedded server.")
            return
        directory = conf.get_embedded_dir()
        if action == "start":
            try:
                path = embedded.ensure_server(directory)
            except embedded.EmbeddedServerError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"The embedded Redis server answers on {path}")
        elif embedded.stop_server(directory):
            self.stdout.write(f"Stopped the embedded Redis server in {directory}")
        else:
            self.stdout.write(f"No embedded Redis server runs in {directory}")
