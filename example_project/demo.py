"""Run the example project: web server, worker and embedded Redis together.

Usage: ``python3 example_project/demo.py [--port 8000] [--no-install] [--check]``

On the first run it creates ``.venv`` at the top of the repository and
installs django-rq-lite with its ``embedded`` and ``django-redis`` extras,
then runs itself again with that virtual environment's Python. It migrates
the SQLite database, creates the ``admin`` superuser, starts the embedded
Redis server, a worker and the development server, and stops them on
Ctrl-C, SIGTERM or SIGHUP. It stops the embedded server only if it started
it and no other program is connected to it, so two demos in one clone can
share one server. ``REDIS_URL`` selects another Redis server instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent
MANAGE = PROJECT_DIR / "manage.py"
EXTRAS = "embedded,django-redis"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # Development only, and the banner prints it.
READY_TIMEOUT = 30.0
CLIENTS_CLOSE_TIMEOUT = 2.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

sys.path.insert(0, str(PROJECT_DIR))
import bootstrap  # noqa: E402 - lives next to this script.
from processes import say, stop_process, stop_worker  # noqa: E402 - the same.


class StopRequested(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the django-rq-lite example project with a worker."
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=8000,
        help="Port of the web server on 127.0.0.1, from 1 to 65535.",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="Do not create the virtual environment or run pip. Use the "
        "existing .venv, or this Python if there is none.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="Start everything, wait until the site returns 200 and the "
        "worker is registered, then stop and exit 0.",
    )
    return parser.parse_args(argv)


def port_number(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port {value!r}: give a number from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"invalid port {port}: give a number from 1 to 65535"
        )
    return port


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    python = choose_python(args.no_install)
    if not running_in_venv(python):
        # Run again with the interpreter that has Django and the package.
        os.execv(str(python), [str(python), __file__, *argv, "--no-install"])

    # SIGHUP arrives when the terminal closes. The children run in their own
    # sessions, so only this script can stop them.
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stop)
    demo = Demo(python, args.port)
    try:
        demo.prepare()
        demo.start()
        demo.wait_until_ready()
        demo.print_banner()
        if args.check:
            say("Check passed: the site answers and the worker is registered.")
            return 0
        return demo.watch()
    except StopRequested as stop:
        say(f"\nReceived {stop}, stopping.")
        return 0
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        demo.stop()


def choose_python(no_install: bool) -> Path:
    if not no_install:
        return bootstrap.ensure_venv(EXTRAS)
    if bootstrap.venv_python().exists():
        return bootstrap.venv_python()
    return Path(sys.executable)


def running_in_venv(python: Path) -> bool:
    """Tell whether this process already runs the interpreter ``python``."""
    if Path(sys.executable) == python:
        return True
    return Path(sys.prefix).resolve() == python.parent.parent.resolve()


def raise_stop(signum, frame):
    raise StopRequested(signal.Signals(signum).name)


class Demo:
    """The demo's processes: embedded Redis, a worker and the web server."""

    def __init__(self, python: Path, port: int) -> None:
        self.python = python
        self.port = port
        self.worker_name = f"demo-worker-{os.getpid()}"
        self.processes: dict[str, subprocess.Popen] = {}
        # Set only when this demo started the embedded server, so that it
        # stops only its own server.
        self.embedded_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def prepare(self) -> None:
        """Set Django up in this process, migrate and create the superuser."""
        # Set, not defaulted: a value left in the shell by another project
        # would load the wrong settings.
        os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
        try:
            import django
        except ImportError:
            bootstrap.fail(
                f"Django is not installed for {sys.executable}. Run this "
                "command without --no-install to create the virtual environment."
            )
        django.setup()
        # The demo prints its own line when it starts or stops the server.
        logging.getLogger("django_rq_lite.embedded").setLevel(logging.WARNING)
        from django.core.management import call_command

        check_port_free(self.port)
        say("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        self.create_superuser()

    def create_superuser(self) -> None:
        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        if users.filter(username=ADMIN_USERNAME).exists():
            return
        users.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
        say(f"Created the superuser {ADMIN_USERNAME!r}")

    def start(self) -> None:
        self.start_redis()
        self.check_redis()
        self.spawn(
            "worker",
            ["rqworker", "default", "--with-scheduler", "--name", self.worker_name],
        )
        self.spawn("web server", ["runserver", f"127.0.0.1:{self.port}", "--noreload"])

    def start_redis(self) -> None:
        from django_rq_lite import conf, embedded

        if not conf.uses_embedded(conf.get_queue_options("default")):
            return
        directory = conf.get_embedded_dir().absolute()
        try:
            started = embedded.start_server(directory)
        except embedded.EmbeddedServerError as error:
            bootstrap.fail(str(error))
        pid = embedded.get_status(directory).pid
        if started:
            self.embedded_dir = directory
            say(f"Started the embedded Redis server (pid {pid}) in {directory}")
        else:
            say(
                f"Using the running embedded Redis server (pid {pid}) in "
                f"{directory}. This demo leaves it running. Stop it with: "
                "python example_project/manage.py rqembedded stop"
            )

    def check_redis(self) -> None:
        """Stop with a one-line error when the queues' Redis server fails."""
        from django_rq_lite import get_connection

        with redis_errors_fail():
            get_connection("default").ping()

    def spawn(self, label: str, command: list[str]) -> None:
        # Each child gets its own process group, so the terminal's Ctrl-C
        # reaches only this script, which stops the children in order.
        process = subprocess.Popen(
            [str(self.python), str(MANAGE), *command],
            cwd=PROJECT_DIR,
            start_new_session=True,
        )
        self.processes[label] = process
        say(f"Started the {label} (pid {process.pid})")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_children()
            if self.site_answers():
                with redis_errors_fail():
                    if self.worker_registered():
                        return
            time.sleep(0.2)
        bootstrap.fail(
            f"The demo was not ready within {READY_TIMEOUT:.0f} seconds: the "
            f"site {self.url} or the worker {self.worker_name} did not start. "
            "Read the output above for the cause."
        )

    def site_answers(self) -> bool:
        # No proxy: the request must go to this machine's server.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def worker_registered(self) -> bool:
        from rq import Worker

        from django_rq_lite import get_connection

        workers = Worker.all(connection=get_connection("default"))
        return any(worker.name == self.worker_name for worker in workers)

    def check_children(self) -> None:
        for label, process in self.processes.items():
            code = process.poll()
            if code is not None:
                bootstrap.fail(
                    f"The {label} exited with code {code}. Read its output "
                    "above for the cause."
                )

    def print_banner(self) -> None:
        from django.urls import reverse

        redis = describe_redis()
        failed = reverse("admin:django_rq_lite_queue_jobs", args=["default", "failed"])
        say(
            "\nThe demo is running.\n"
            f"  Sign-up form:  {self.url}\n"
            f"  Submissions:   {self.url}signups/\n"
            f"  Admin:         {self.url}admin/\n"
            f"  Admin login:   user {ADMIN_USERNAME}, password {ADMIN_PASSWORD}\n"
            f"  Failed jobs:   {self.url}{failed.lstrip('/')}\n"
            f"  Redis:         {redis}\n"
            "Sign up with any address, then with one at blocked.example: that "
            "job fails.\nIn the admin, delete blocked.example under Blocked "
            "domains, then requeue the\nfailed job from "
            "its page under Failed jobs. Press Ctrl-C to stop.\n"
        )

    def watch(self) -> int:
        """Wait for a stop signal. Return 1 if a child exits on its own."""
        while True:
            for label, process in self.processes.items():
                code = process.poll()
                if code is not None:
                    say(f"The {label} exited with code {code}; stopping.")
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        # The web server stops first, so no new jobs arrive.
        web_server = self.processes.get("web server")
        if web_server is not None:
            stop_process("web server", web_server)
        worker = self.processes.get("worker")
        if worker is not None:
            stop_worker(worker)
        if self.embedded_dir is not None:
            self.stop_redis()

    def stop_redis(self) -> None:
        """Stop the embedded server, unless another program still uses it."""
        from django.core.management import call_command

        others = count_other_clients()
        if others:
            say(
                "Left the embedded Redis server running, because "
                f"{others} other connections use it, such as another demo's "
                "worker. Stop it with: "
                "python example_project/manage.py rqembedded stop"
            )
            return
        call_command("rqembedded", "stop")


def count_other_clients() -> int:
    """Count the connections to the default queue's server from elsewhere.

    This demo's worker and web server have exited, but the server may close
    their connections a moment later, so the count is read until it is 0
    or CLIENTS_CLOSE_TIMEOUT passes.
    """
    from redis.exceptions import RedisError

    from django_rq_lite import get_connection

    client = get_connection("default")
    deadline = time.monotonic() + CLIENTS_CLOSE_TIMEOUT
    while True:
        # Close this process's pooled connections, so the list holds only
        # the one that sends CLIENT LIST.
        client.connection_pool.disconnect()
        try:
            others = len(client.client_list()) - 1
        except RedisError:
            return 0
        if others <= 0 or time.monotonic() > deadline:
            return max(others, 0)
        time.sleep(0.1)


@contextmanager
def redis_errors_fail():
    """Turn a Redis error into a one-line error that names the server."""
    from redis.exceptions import AuthenticationError, RedisError

    try:
        yield
    except AuthenticationError as error:
        bootstrap.fail(
            f"Redis at {describe_redis_url()} rejected the login: {error} "
            "Fix the user name and password in REDIS_URL, or unset REDIS_URL "
            "to use the embedded server."
        )
    except RedisError as error:
        reason = str(error).rstrip(".")
        bootstrap.fail(
            f"Redis at {describe_redis_url()} failed: {reason}. Start that "
            "server or fix REDIS_URL, or unset REDIS_URL to use the embedded "
            "server."
        )


def describe_redis_url() -> str:
    """Return the default queue's Redis URL with its password masked."""
    from django_rq_lite import conf

    options = conf.get_queue_options("default")
    if conf.uses_embedded(options):
        return f"the embedded server in {conf.get_embedded_dir()}"
    url = options.get("URL")
    if not url:
        return describe_redis()
    return mask_password(url)


def mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def describe_redis() -> str:
    from django_rq_lite import conf
    from django_rq_lite.connections import describe_connection

    where = describe_connection(conf.get_queue_options("default"))
    if where.get("embedded"):
        return f"embedded server on the unix socket {where['socket']}"
    if "socket" in where:
        return f"unix socket {where['socket']}, database {where['db']}"
    if "host" in where:
        return f"{where['host']}:{where['port']}, database {where['db']}"
    return str(where)


def check_port_free(port: int) -> None:
    with socket.socket() as sock:
        # runserver sets SO_REUSEADDR too, so connections of a previous run
        # that linger in TIME_WAIT do not count as a busy port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            bootstrap.fail(
                f"Port {port} on 127.0.0.1 is not free ({error.strerror}). "
                "Stop the program that uses it or pass another --port."
            )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
