"""The socket pair that joins FastWorker's worker to its horse, and their shared memory.

multiprocessing's ``Pipe()``, ``connection.wait()`` and shared ctypes do
the same jobs, but their modules cost a worker about 5 ms of start-up
(``python -X importtime``) and 200 KiB of resident memory on the
development machine. FastWorker needs only the few lines below.
"""

from __future__ import annotations

import mmap
import pickle
import select
import socket
import struct
from typing import Any

# Each message is its length as 8 bytes in network order, then its bytes.
HEADER = struct.Struct("!Q")


class ChannelError(OSError):
    """Invalid data on a channel: a message that breaks its framing."""


class Channel:
    """One end of a stream socket pair that carries whole messages.

    ``send()`` and ``recv()`` carry pickled objects, ``send_bytes()`` and
    ``recv_bytes()`` bytes. As with multiprocessing's connections, reading
    from a channel whose other end is closed raises EOFError, and writing
    to it raises OSError.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        first, second = socket.socketpair()
        return cls(first), cls(second)

    def fileno(self) -> int:
        descriptor = self._socket.fileno()
        if descriptor == -1:
            # As multiprocessing's connections do, instead of poll()'s ValueError.
            raise OSError("The channel is closed.")
        return descriptor

    def close(self) -> None:
        self._socket.close()

    def send_bytes(self, data: bytes) -> None:
        self._socket.sendall(HEADER.pack(len(data)) + data)

    def recv_bytes(
        self, max_size: int | None = None, timeout: float | None = None
    ) -> bytes:
        """Return the next message.

        A message larger than ``max_size`` raises ChannelError before any
        memory is taken for it. With ``timeout``, a message whose bytes stop
        arriving for that many seconds raises TimeoutError, an OSError.
        """
        if timeout is None:
            return self._read_message(max_size)
        self._socket.settimeout(timeout)
        try:
            return self._read_message(max_size)
        finally:
            if self._socket.fileno() != -1:
                self._socket.settimeout(None)

    def send(self, message: Any) -> None:
        self.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    def recv(self) -> Any:
        # Only the horse calls this, for messages of the worker that forked it.
        return pickle.loads(self.recv_bytes())  # noqa: S301

    def poll(self) -> bool:
        """Tell whether a message, or the other end's close, can be read now."""
        return wait_readable([self], 0)

    def _read_message(self, max_size: int | None) -> bytes:
        (size,) = HEADER.unpack(self._read_exactly(HEADER.size))
        if max_size is not None and size > max_size:
            raise ChannelError(
                f"Invalid message of {size} bytes: at most {max_size} bytes "
                "were expected, so the other end wrote invalid data."
            )
        return self._read_exactly(size)

    def _read_exactly(self, size: int) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            count = self._socket.recv_into(view[received:])
            if count == 0:
                raise EOFError("The other end of the channel is closed.")
            received += count
        return bytes(buffer)


def wait_readable(objects: list[Any], timeout: float | None) -> bool:
    """Wait until one of ``objects`` can be read, for at most ``timeout`` seconds.

    Each object is a file descriptor or has ``fileno()``; a process's pidfd
    becomes readable when the process exits. Return whether one is ready.
    """
    poller = select.poll()
    for item in objects:
        poller.register(item, select.POLLIN)
    milliseconds = None if timeout is None else max(0, int(timeout * 1000))
    return bool(poller.poll(milliseconds))


class SharedBytes:
    """A few bytes of memory shared with the processes forked after it is made.

    ``value`` reads up to the first NUL byte, as a ctypes char array does,
    so it contains at most ``size - 1`` bytes.
    """

    def __init__(self, size: int) -> None:
        # mmap's default flags on Unix map it MAP_SHARED, so forks see writes.
        self._memory = mmap.mmap(-1, size)
        self._size = size

    @property
    def value(self) -> bytes:
        return self._memory[:].split(b"\0", 1)[0]

    @value.setter
    def value(self, data: bytes) -> None:
        if len(data) >= self._size:
            raise ValueError(
                f"Value of {len(data)} bytes is too long for shared memory of "
                f"{self._size} bytes, which ends with a NUL byte. Shorten it to "
                f"{self._size - 1} bytes."
            )
        self._memory[: len(data) + 1] = data + b"\0"


class SharedFlag:
    """A true-or-false value shared with the processes forked after it is made."""

    def __init__(self, value: bool = False) -> None:
        self._bytes = SharedBytes(2)
        self.value = value

    @property
    def value(self) -> bool:
        return self._bytes.value == b"\1"

    @value.setter
    def value(self, value: bool) -> None:
        self._bytes.value = b"\1" if value else b""


class SharedCounter:
    """A number from 0 to 2**64 - 1 shared with the processes forked after it is made.

    One process writes it and the others read it. Its 8 bytes are aligned
    in their own page, so on 64-bit machines a reader sees either the old
    number or the new one.
    """

    _format = struct.Struct("=Q")

    def __init__(self, value: int = 0) -> None:
        self._memory = mmap.mmap(-1, self._format.size)
        self.value = value

    @property
    def value(self) -> int:
        return self._format.unpack_from(self._memory)[0]

    @value.setter
    def value(self, value: int) -> None:
        self._format.pack_into(self._memory, 0, value)
