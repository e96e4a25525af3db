"""Send the commands of a redis-py pipeline, packed here, in one round trip.

A FastWorker horse writes a job's start and its end, about 28 commands in
all, most of them RQ's own bookkeeping, in one or two pipelines. In a
cProfile run of 10,000 no-op jobs (RQ 3.0, redis-py 8.2, Python 3.11)
redis-py's pipeline machinery took about half of the horse's time:
encoding each argument, preparing each command, and parsing each reply
through several calls. ``execute()`` sends the same commands in the same
order, so Redis ends in the same state, with less of that work in Python.
"""

from __future__ import annotations

from typing import Any

from redis.client import CaseInsensitiveDict, Pipeline
from redis.exceptions import ResponseError

from django_rq_lite.job_writer import (
    EXEC,
    MULTI,
    read_transaction,
    run_on_connection,
    run_on_held_connection,
)

try:
    from hiredis import pack_command as hiredis_pack
except ImportError:
    hiredis_pack = None

# Command options that this module handles: redis-py adds "keys" for its
# client-side cache, which a pipeline does not use.
HANDLED_OPTIONS = frozenset({"keys"})


def execute(pipeline: Pipeline, connection: Any = None) -> list:
    """Run the commands queued on ``pipeline`` and return their results.

    The results are those of ``pipeline.execute()``: with redis-py's
    reply callbacks applied, and the first error reply raised. A pipeline
    this module cannot pack exactly (WATCH, scripts registered on it, other
    command options, or a pipeline class other than redis-py's) runs
    through ``pipeline.execute()``.

    ``connection``, when given, is a connection of the pipeline's pool that
    the caller keeps out of the pool, so this skips the pool's checks.
    """
    commands = pipeline.command_stack
    if not _can_pack(pipeline, commands):
        return pipeline.execute()
    request = Request(pipeline)
    if connection is None:
        replies = run_on_connection(pipeline.connection_pool, request.send_and_read)
    else:
        replies = run_on_held_connection(connection, request.send_and_read)
    return request.results(replies)


def send(pipeline: Pipeline, connection: Any) -> SentRequest:
    """Send the commands queued on ``pipeline`` and return before Redis replies.

    ``connection`` is a connection that the caller keeps out of the pool,
    as for ``execute()``. The caller reads the results with the returned
    object's ``read()``, and sends nothing else on ``connection`` before.
    A pipeline that ``execute()`` cannot pack runs at once.
    """
    commands = pipeline.command_stack
    if not _can_pack(pipeline, commands):
        return SentRequest.done(pipeline.execute())
    request = Request(pipeline)
    run_on_held_connection(connection, request.send)
    return SentRequest(request, connection)


class Request:
    """The packed commands of a pipeline, and how to read their replies."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.commands = pipeline.command_stack
        self.transaction = pipeline.transaction
        self.callbacks = pipeline.response_callbacks
        encoder = pipeline.connection_pool.get_encoder()
        self.packed = _pack(self.commands, encoder, self.transaction)
        # reset() would also clear state that _can_pack() found unused.
        pipeline.command_stack = []

    def send(self, connection: Any) -> None:
        connection.send_packed_command([self.packed])

    def read(self, connection: Any) -> list:
        count = len(self.commands)
        if self.transaction:
            return read_transaction(connection, count)
        replies = []
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except ResponseError as error:
                replies.append(error)
        # As in a transaction, every reply is read before the first error is raised.
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    def send_and_read(self, connection: Any) -> list:
        self.send(connection)
        return self.read(connection)

    def results(self, replies: list) -> list:
        """Return ``replies`` with redis-py's reply callbacks applied."""
        callbacks = self.callbacks
        # The keys of redis-py's CaseInsensitiveDict are upper case, and reading
        # it as a plain dict skips a Python call of its get() per command.
        upper_case_keys = type(callbacks) is CaseInsensitiveDict
        results = []
        for (args, options), reply in zip(self.commands, replies, strict=True):
            if upper_case_keys:
                callback = dict.get(callbacks, args[0].upper())
            else:
                callback = callbacks.get(args[0])
            if callback is not None:
                if options:
                    options = {
                        name: value for name, value in options.items() if name != "keys"
                    }
                reply = callback(reply, **options)
            results.append(reply)
        return results


class SentRequest:
    """A request that ``send()`` sent, whose replies are still to read."""

    def __init__(self, request: Request | None, connection: Any) -> None:
        self.request = request
        self.connection = connection
        self._results: list | None = None

    @classmethod
    def done(cls, results: list) -> SentRequest:
        """Return a request that has run, whose ``read()`` returns ``results``."""
        sent = cls(None, None)
        sent._results = results
        return sent

    def read(self) -> list:
        """Read the replies and return the results, as ``execute()`` would.

        When the connection fails before every reply is read, Redis may or
        may not have run the commands, so this raises the error instead of
        sending them again.
        """
        if self._results is None:
            try:
                replies = self.request.read(self.connection)
            except BaseException:
                # Replies may remain unread on the connection.
                self.connection.disconnect()
                raise
            self._results = self.request.results(replies)
        return self._results


def _can_pack(pipeline: Pipeline, commands: list) -> bool:
    if type(pipeline) is not Pipeline or not commands:
        return False
    if pipeline.watching or pipeline.scripts or pipeline.explicit_transaction:
        return False
    if pipeline.connection is not None:
        # The pipeline has a connection of its own, as after WATCH.
        return False
    # RESP3 replies take other callbacks.
    if pipeline.connection_pool.connection_kwargs.get("protocol") not in (2, "2", None):
        return False
    return all(HANDLED_OPTIONS.issuperset(options) for _, options in commands)


def _pack(commands: list, encoder: Any, transaction: bool) -> bytes:
    pack = _pack_command
    if hiredis_pack is not None and (encoder.encoding, encoder.encoding_errors) in (
        ("utf-8", "strict"),
        ("utf8", "strict"),
    ):
        pack = _pack_command_hiredis
    parts = [MULTI] if transaction else []
    for args, _ in commands:
        parts.append(pack(split_command_name(args), encoder))
    if transaction:
        parts.append(EXEC)
    return b"".join(parts)


def split_command_name(args: tuple) -> tuple:
    """Return a command's arguments with a two-word name split in two.

    redis-py names some commands with their subcommand, as "CLIENT SETNAME".
    """
    if isinstance(args[0], str) and " " in args[0]:
        return (*args[0].split(), *args[1:])
    return args


def _pack_command_hiredis(args: tuple, encoder: Any) -> bytes:
    # hiredis packs str as UTF-8 and floats as repr() does, as redis-py's
    # encoder does. It rejects what that encoder may reject or treat
    # otherwise, such as bools and memoryviews.
    try:
        return hiredis_pack(args)
    except (TypeError, UnicodeError):
        return _pack_command(args, encoder)


def _pack_command(args: tuple, encoder: Any) -> bytes:
    encoding = encoder.encoding
    errors = encoder.encoding_errors
    parts = [b"*%d\r\n" % len(args)]
    for value in args:
        kind = type(value)
        if kind is str:
            value = value.encode(encoding, errors)
        elif kind is int:
            value = b"%d" % value
        elif kind is not bytes:
            # Floats, str enums and the rest, as redis-py encodes them.
            value = encoder.encode(value)
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)
