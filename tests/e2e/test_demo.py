"""The README's demo command, run for real with the embedded Redis server."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from django_rq_lite import embedded
from tests.e2e.helpers import PROJECT_DIR, project_env, wait_until_answers
from tests.redis_server import free_port

pytestmark = pytest.mark.slow

DEMO = PROJECT_DIR / "demo.py"
# The lines that report a process the demo started.
PID_LINE = re.compile(r"^Started the [^(\n]+\(pid (\d+)\)", re.MULTILINE)
WORKER_PID_LINE = re.compile(r"Started the worker \(pid (\d+)\)")
READY_LINE = "Press Ctrl-C to stop."
TIMEOUT = 60


def demo_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, str(DEMO), "--no-install", "--port", str(port), *extra]


def demo_env(tmp_path: Path, redis_url: str | None = None) -> dict[str, str]:
    # The demo runs itself again with the virtual environment's Python.
    # Naming this interpreter's environment keeps it here, under tox too.
    return {**project_env(tmp_path, redis_url), "RQ_LITE_VENV": sys.prefix}


def process_gone(pid: int) -> bool:
    """Tell whether ``pid`` has exited; a zombie counts as exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def started_pids(output: str) -> list[int]:
    return [int(pid) for pid in PID_LINE.findall(output)]


class LineReader:
    """Collect a process's output lines in a thread, to wait with a timeout."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,))
        self._thread.daemon = True
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                return False
            self.lines.append(line)
            if text in line:
                return True
        return False

    def rest(self, timeout: float = 10) -> str:
        self._thread.join(timeout)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


def test_demo_check_starts_and_stops(tmp_path):
    env = demo_env(tmp_path)
    completed = subprocess.run(
        demo_command(free_port(), "--check"),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Check passed" in output
    pids = started_pids(output)
    # The embedded server, the worker and the web server.
    assert len(pids) == 3, output
    assert [pid for pid in pids if not process_gone(pid)] == []
    assert not (tmp_path / "embedded" / "redis.sock").exists()
    assert output.count("Stopped the embedded Redis server") == 1, output


def test_demo_check_uses_redis_url(tmp_path, redis_url):
    env = demo_env(tmp_path, redis_url)
    completed = subprocess.run(
        demo_command(free_port(), "--check"),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "embedded" not in completed.stdout
    # Only the worker and the web server: no embedded server starts.
    assert len(started_pids(output)) == 2, output
    assert not (tmp_path / "embedded").exists()


@pytest.mark.parametrize(
    "signum",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_demo_stops_children_on_signal(tmp_path, signum):
    env = demo_env(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        demo_command(port),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = LineReader(process.stdout)
    try:
        assert reader.wait_for(READY_LINE, TIMEOUT), reader.rest()
        wait_until_answers(f"http://127.0.0.1:{port}/signups/", 10)
        pids = started_pids("".join(reader.lines))
        process.send_signal(signum)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    output = reader.rest()
    assert code == 0, output
    assert len(pids) == 3, output
    assert [pid for pid in pids if not process_gone(pid)] == []
    assert not (tmp_path / "embedded" / "redis.sock").exists()


def read_until(fd: int, text: str, timeout: float) -> str:
    """Read from ``fd`` until the output contains ``text``; return the output."""
    output = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in output:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            pytest.fail(f"No {text!r} within {timeout} s: {output.decode()}")
        chunk = os.read(fd, 65536)
        if not chunk:
            pytest.fail(f"The output ended before {text!r}: {output.decode()}")
        output += chunk
    return output.decode()


def test_demo_stops_children_after_output_reader_exits(tmp_path):
    # As with "demo.py | tee log": Ctrl-C stops tee too, so the demo's
    # output pipe has no reader when the demo stops its children.
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        demo_command(free_port()),
        env=demo_env(tmp_path),
        stdout=write_end,
        stderr=subprocess.STDOUT,
    )
    os.close(write_end)
    try:
        output = read_until(read_end, READY_LINE, TIMEOUT)
        os.close(read_end)
        pids = started_pids(output)

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    left = [pid for pid in pids if not process_gone(pid)]
    for pid in left:
        # A failed stop must not leave the demo's children running after the
        # test. The worker leads a process group with its scheduler in it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert code == 0
    assert len(pids) == 3, output
    assert left == []
    assert not (tmp_path / "embedded" / "redis.sock").exists()


def test_demo_rejects_busy_port(tmp_path):
    env = demo_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        completed = subprocess.run(
            demo_command(port, "--check"),
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert completed.returncode == 1
    assert f"Port {port} on 127.0.0.1 is not free" in completed.stderr


@pytest.mark.parametrize("port", ["0", "99999", "http"])
def test_demo_rejects_invalid_port(tmp_path, port):
    completed = subprocess.run(
        [sys.executable, str(DEMO), "--no-install", "--port", port, "--check"],
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert completed.returncode == 2
    assert "argument --port: invalid port" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_demo_unreachable_redis_url(tmp_path):
    url = f"redis://:secret-word@127.0.0.1:{free_port()}/0"
    completed = subprocess.run(
        demo_command(free_port(), "--check"),
        env=demo_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    assert "Traceback" not in output
    assert "secret-word" not in output
    assert completed.stderr.startswith("error: Redis at redis://:***@127.0.0.1:")
    assert "fix REDIS_URL" in completed.stderr
    # It stops before starting the worker and the web server.
    assert started_pids(output) == [], output


def test_demo_redis_url_wrong_password(tmp_path, redis_url):
    address = redis_url.removeprefix("redis://")
    url = f"redis://nobody:secret-word@{address}"
    completed = subprocess.run(
        demo_command(free_port(), "--check"),
        env=demo_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    assert "Traceback" not in output
    assert "secret-word" not in output
    assert f"Redis at redis://nobody:***@{address} " in completed.stderr
    assert "rejected the login" in completed.stderr
    assert "Fix the user name and password in REDIS_URL" in completed.stderr


def test_demo_keeps_other_demos_server(tmp_path):
    env = demo_env(tmp_path)
    first = subprocess.Popen(
        demo_command(free_port()),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = LineReader(first.stdout)
    try:
        assert reader.wait_for(READY_LINE, TIMEOUT), reader.rest()

        second = subprocess.run(
            demo_command(free_port(), "--check"),
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        server_responds = embedded.get_status(tmp_path / "embedded").responds

        first.send_signal(signal.SIGTERM)
        first_code = first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
        embedded.stop_server(tmp_path / "embedded")

    first_output = reader.rest()
    second_output = second.stdout + second.stderr
    assert second.returncode == 0, second_output
    assert "Using the running embedded Redis server" in second_output
    assert "Started the embedded Redis server" not in second_output
    assert "Stopped the embedded Redis server" not in second_output
    assert server_responds is True

    assert first_code == 0, first_output
    assert "Stopped the embedded Redis server" in first_output
    assert not (tmp_path / "embedded" / "redis.sock").exists()


def children_of(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid``."""
    children = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def wait_for_started_job(connection, job_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Job.fetch(job_id, connection=connection).get_status() != "started":
        assert time.monotonic() < deadline, f"job {job_id} did not start"
        time.sleep(0.1)


def test_demo_stop_fails_running_job(tmp_path, redis_url):
    connection = redis.Redis.from_url(redis_url)
    env = demo_env(tmp_path, redis_url)
    process = subprocess.Popen(
        demo_command(free_port()),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = LineReader(process.stdout)
    try:
        assert reader.wait_for(READY_LINE, TIMEOUT), reader.rest()
        pids = started_pids("".join(reader.lines))
        worker_pid = int(WORKER_PID_LINE.search("".join(reader.lines)).group(1))

        job = Queue("default", connection=connection).enqueue("time.sleep", 120)
        wait_for_started_job(connection, job.id, 20)
        # The worker's children: the work-horse and the scheduler.
        worker_children = children_of(worker_pid)

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    output = reader.rest()
    assert code == 0, output
    assert "Stopping it cold" in output
    assert worker_children, output
    assert [pid for pid in pids + worker_children if not process_gone(pid)] == []
    assert job.id in FailedJobRegistry("default", connection=connection)
    reason = job.latest_result().exc_string
    assert reason.startswith("Job killed by a cold shutdown of worker demo-worker-")


def test_demo_leaves_server_in_use(tmp_path):
    env = demo_env(tmp_path)
    first = subprocess.Popen(
        demo_command(free_port()),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first_reader = LineReader(first.stdout)
    second = None
    try:
        assert first_reader.wait_for(READY_LINE, TIMEOUT), first_reader.rest()
        second = subprocess.Popen(
            demo_command(free_port()),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        second_reader = LineReader(second.stdout)
        assert second_reader.wait_for(READY_LINE, TIMEOUT), second_reader.rest()

        # The first demo started the server, but the second one uses it.
        first.send_signal(signal.SIGTERM)
        first_code = first.wait(timeout=30)
        server_responds = embedded.get_status(tmp_path / "embedded").responds
        second_running = second.poll() is None

        second.send_signal(signal.SIGTERM)
        second_code = second.wait(timeout=30)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        embedded.stop_server(tmp_path / "embedded")

    first_output = first_reader.rest()
    assert first_code == 0, first_output
    assert "Left the embedded Redis server running" in first_output
    assert server_responds is True
    assert second_running is True
    assert second_code == 0, second_reader.rest()


def load_processes_module():
    path = PROJECT_DIR / "processes.py"
    spec = importlib.util.spec_from_file_location("demo_processes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kill_descendants_reaches_new_group():
    processes = load_processes_module()
    # The grandchild leaves the group, as RQ's work-horse does with setpgrp.
    parent = subprocess.Popen(
        ["sh", "-c", "setsid sleep 300 & sleep 300 & wait"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(processes.find_descendants(parent.pid)) < 2:
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.05)
        descendants = processes.find_descendants(parent.pid)
        processes.kill_descendants(parent.pid)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not all(process_gone(pid) for pid in descendants):
            assert time.monotonic() < deadline, f"{descendants} still run"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
    assert len(descendants) == 2
    assert parent.returncode == -signal.SIGKILL
