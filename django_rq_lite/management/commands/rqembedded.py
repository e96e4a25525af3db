from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from django_rq_lite import conf, embedded


class Command(BaseCommand):
    help = (
        "Start, stop or show the embedded development Redis server in the "
        "directory of RQ['EMBEDDED_DIR'] (default: .rq-embedded in BASE_DIR). "
        "It manages that directory even when RQ_QUEUES names another server."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            choices=["start", "stop", "status"],
            help="start: start the server unless it runs. stop: shut it down "
            "after writing its data to disk. status: print its socket, pid "
            "and whether it responds to PING.",
        )

    def handle(self, *args, action, **options):
        directory = conf.get_embedded_dir().absolute()
        if not any_queue_uses_embedded():
            self.stdout.write(
                "No queue in RQ_QUEUES uses the embedded server (URL "
                f"{conf.EMBEDDED_URL!r}), so this command manages the server "
                f"in {directory}, which your queues do not use."
            )
        if action == "start":
            self.start(directory)
        elif action == "stop":
            self.stop(directory)
        else:
            self.status(directory)

    def start(self, directory):
        try:
            started = embedded.start_server(directory)
        except embedded.EmbeddedServerError as error:
            raise CommandError(str(error)) from error
        status = embedded.get_status(directory)
        if started:
            self.stdout.write(
                f"Started the embedded Redis server (pid {status.pid}) on "
                f"{status.socket}"
            )
        else:
            self.stdout.write(
                f"The embedded Redis server (pid {status.pid}) already runs on "
                f"{status.socket}"
            )

    def stop(self, directory):
        status = embedded.get_status(directory)
        if not status.responds:
            if status.running:
                raise CommandError(
                    f"The embedded Redis server (pid {status.pid}) in "
                    f"{directory} runs but does not respond on {status.socket}. "
                    f"Read {directory / embedded.LOG_NAME} for the cause, then "
                    f"stop it with: kill {status.pid}"
                )
            self.stdout.write(f"No embedded Redis server runs in {directory}")
            return
        try:
            embedded.stop_server(directory)
        except RedisError as error:
            raise CommandError(
                f"The embedded Redis server (pid {status.pid}) in {directory} "
                f"rejected SHUTDOWN: {error}. Read "
                f"{directory / embedded.LOG_NAME} for the cause."
            ) from error
        if embedded.get_status(directory).running:
            raise CommandError(
                f"The embedded Redis server (pid {status.pid}) did not exit "
                f"within 10 seconds of SHUTDOWN. Run this command again, or "
                f"stop it with: kill {status.pid}"
            )
        self.stdout.write(
            f"Stopped the embedded Redis server (pid {status.pid}) in {directory}. "
            "Its data stays there, and the next use of an embedded queue starts "
            "it again."
        )

    def status(self, directory):
        status = embedded.get_status(directory)
        pid = status.pid if status.pid is not None else "none"
        if status.pid is not None and not status.running:
            pid = f"{status.pid} (no such server process: a stale pid file)"
        self.stdout.write(f"Directory: {directory}")
        self.stdout.write(f"Socket:    {status.socket}")
        self.stdout.write(f"Pid:       {pid}")
        self.stdout.write(f"Responds:  {'yes' if status.responds else 'no'}")


def any_queue_uses_embedded() -> bool:
    return any(
        conf.uses_embedded(conf.get_queue_options(name))
        for name in conf.get_queue_names()
    )
