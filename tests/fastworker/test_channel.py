"""The channel and shared memory between FastWorker's worker and its horse."""

import os
import time

import pytest

from django_rq_lite.fastworker.channel import (
    Channel,
    ChannelError,
    SharedBytes,
    SharedFlag,
    wait_readable,
)


def run_in_child(function):
    """Run ``function`` in a forked child and return its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            function()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_channel_messages_cross_fork():
    parent_end, child_end = Channel.pair()
    # Larger than a socket buffer, so it arrives in many reads.
    large = os.urandom(5 * 1024 * 1024)

    def child():
        parent_end.close()
        message = child_end.recv()
        child_end.send_bytes(message["data"])
        child_end.send_bytes(b"")
        child_end.send({"job_id": message["job_id"][::-1]})

    pid = os.fork()
    if pid == 0:
        try:
            child()
        finally:
            os._exit(0)
    child_end.close()
    parent_end.send({"job_id": "abc", "data": large})

    assert parent_end.recv_bytes() == large
    assert parent_end.recv_bytes() == b""
    assert parent_end.recv() == {"job_id": "cba"}
    os.waitpid(pid, 0)
    with pytest.raises(EOFError):
        parent_end.recv_bytes()


def test_poll_sees_message_and_close():
    first, second = Channel.pair()
    assert not first.poll()

    second.send_bytes(b"reply")
    assert first.poll()
    assert first.recv_bytes() == b"reply"
    assert not first.poll()

    second.close()
    assert first.poll()
    with pytest.raises(EOFError):
        first.recv_bytes()


def test_eof_inside_message():
    first, second = Channel.pair()
    # A header that announces 100 bytes, then only 3 of them.
    second._socket.sendall((100).to_bytes(8, "big") + b"abc")
    second.close()

    with pytest.raises(EOFError):
        first.recv_bytes()


def test_closed_channel_raises_os_error():
    first, _second = Channel.pair()
    first.close()

    with pytest.raises(OSError, match="The channel is closed"):
        first.poll()
    with pytest.raises(OSError):
        first.recv_bytes()


def test_send_to_closed_end():
    first, second = Channel.pair()
    second.close()

    with pytest.raises(OSError):
        first.send_bytes(b"x" * 1024)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")
def test_wait_readable_timeout_and_exit():
    channel, _other = Channel.pair()
    started = time.monotonic()
    assert not wait_readable([channel], 0.2)
    assert time.monotonic() - started >= 0.15

    pid = os.fork()
    if pid == 0:
        time.sleep(0.2)
        os._exit(0)
    pidfd = os.pidfd_open(pid)
    try:
        assert wait_readable([channel, pidfd], 10)
        assert not channel.poll()
    finally:
        os.close(pidfd)
        os.waitpid(pid, 0)


def test_shared_memory_crosses_fork():
    running = SharedBytes(8)
    stop = SharedFlag(False)
    assert running.value == b""
    assert stop.value is False

    def child():
        running.value = b"job-1"
        stop.value = True

    assert run_in_child(child) == 0
    assert running.value == b"job-1"
    assert stop.value is True

    running.value = b"j2"
    assert running.value == b"j2"
    stop.value = False
    assert stop.value is False


def test_shared_bytes_too_long():
    running = SharedBytes(4)
    running.value = b"abc"

    expected = "Value of 4 bytes is too long for shared memory of 4 bytes"
    with pytest.raises(ValueError, match=expected):
        running.value = b"abcd"
    assert running.value == b"abc"


def test_recv_bytes_size_above_max():
    first, second = Channel.pair()
    second._socket.sendall((2**40).to_bytes(8, "big"))

    with pytest.raises(ChannelError, match="Invalid message of 1099511627776 bytes"):
        first.recv_bytes(max_size=1024)


def test_recv_bytes_cut_message_times_out():
    first, second = Channel.pair()
    second._socket.sendall((100).to_bytes(8, "big") + b"abc")

    with pytest.raises(TimeoutError):
        first.recv_bytes(timeout=0.2)
    # The timeout applies to that read only.
    second.send_bytes(b"")
    assert first._socket.gettimeout() is None
