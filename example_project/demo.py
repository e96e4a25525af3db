"""Run the example project: web server, worker and embedded Redis together.

Usage: ``python3 example_project/demo.py [--port 8000] [--no-install] [--check]``

On the first run it creates ``.venv`` at the top of the repository and
installs django-rq-lite with its ``embedded`` and ``django-redis`` extras,
then runs itself again with that virtual environment's Python. It migrates
the SQLite database, creates the ``admin`` superuser, starts the embedded
Redis server, a worker and the development server, and stops all three on
Ctrl-C or SIGTERM. ``REDIS_URL`` selects another Redis server instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
MANAGE = PROJECT_DIR / "manage.py"
EXTRAS = "embedded,django-redis"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # Development only, and the banner prints it.
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

sys.path.insert(0, str(PROJECT_DIR))
import bootstrap  # noqa: E402 - lives next to this script.


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the django-rq-lite example project with a worker."
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="Port of the web server on 127.0.0.1."
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


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    python = choose_python(args.no_install)
    if not running_in_venv(python):
        # Run again with the interpreter that has Django and the package.
        os.execv(str(python), [str(python), __file__, *argv, "--no-install"])

    signal.signal(signal.SIGINT, raise_stop)
    signal.signal(signal.SIGTERM, raise_stop)
    demo = Demo(python, args.port)
    try:
        demo.prepare()
        demo.start()
        demo.wait_until_ready()
        demo.print_banner()
        if args.check:
            print("Check passed: the site answers and the worker is registered.")
            return 0
        return demo.watch()
    except StopRequested as stop:
        print(f"\nReceived {stop}, stopping.")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
        from django.core.management import call_command

        check_port_free(self.port)
        print("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        self.create_superuser()

    def create_superuser(self) -> None:
        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        if users.filter(username=ADMIN_USERNAME).exists():
            return
        users.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
        print(f"Created the superuser {ADMIN_USERNAME!r}")

    def start(self) -> None:
        self.start_redis()
        self.spawn(
            "worker",
            ["rqworker", "default", "--with-scheduler", "--name", self.worker_name],
        )
        self.spawn("web server", ["runserver", f"127.0.0.1:{self.port}", "--noreload"])

    def start_redis(self) -> None:
        from django_rq_lite import conf, embedded

        if not conf.uses_embedded(conf.get_queue_options("default")):
            return
        directory = conf.get_embedded_dir()
        try:
            embedded.ensure_server(directory)
        except embedded.EmbeddedServerError as error:
            bootstrap.fail(str(error))
        self.embedded_dir = directory
        pid = (directory / embedded.PID_NAME).read_text().strip()
        print(f"Started the embedded Redis server (pid {pid}) in {directory}")

    def spawn(self, label: str, command: list[str]) -> None:
        # Each child gets its own process group, so the terminal's Ctrl-C
        # reaches only this script, which stops the children in order.
        process = subprocess.Popen(
            [str(self.python), str(MANAGE), *command],
            cwd=PROJECT_DIR,
            start_new_session=True,
        )
        self.processes[label] = process
        print(f"Started the {label} (pid {process.pid})")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_children()
            if self.site_answers() and self.worker_registered():
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
        print(
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
            "its page under Failed jobs. Press Ctrl-C to stop.\n",
            flush=True,
        )

    def watch(self) -> int:
        """Wait for a stop signal. Return 1 if a child exits on its own."""
        while True:
            for label, process in self.processes.items():
                code = process.poll()
                if code is not None:
                    print(f"The {label} exited with code {code}; stopping.")
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        # The web server stops first, so no new jobs arrive. The worker's
        # SIGTERM is a warm shutdown that lets a running job finish.
        for label in ("web server", "worker"):
            process = self.processes.get(label)
            if process is not None:
                stop_process(label, process)
        if self.embedded_dir is not None:
            from django_rq_lite import embedded

            if embedded.stop_server(self.embedded_dir):
                print("Stopped the embedded Redis server")


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


def stop_process(label: str, process: subprocess.Popen) -> None:
    """Send SIGTERM, wait, then kill the child's whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"The {label} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
    # Kill what is left of the group too: the worker's work-horse and
    # scheduler processes.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
    print(f"Stopped the {label}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
