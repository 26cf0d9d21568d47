"""Transport: the one TCP/TLS byte stream of a connection, the part that is the same on every loop.

A transport stands between a base ``Connection`` (``conn``) and a loop (``loop``, the loop
interface of ``loop.py``). It owns the stream's life, the write queue and the accounting the
base sees; a subclass (``sockets.py``'s ``SocketTransport`` on every readiness loop,
``twisted/transport.py``'s ``TwistedTransport``) connects, reads and writes its own way. It knows nothing
of AMQP and never parses a byte (internals.md rule 1). What lives here, once:

* the stream's state (:class:`StreamState`), driven by one transition table
  (:data:`STREAM_TRANSITIONS`: resolve, then address by address, then TLS, on every loop). An
  event the table does not list for the current state raises ``RuntimeError``; ``can(event)``
  asks first;
* :meth:`Transport.emit`: the per-publish hot path. It queues by reference inline (a
  ``WriteQueue.append`` call would add ~20 % to emit) and asks the loop for one flush per loop
  iteration (``flush_pending`` is true while a flush will come without being asked:
  scheduled, or waiting for the loop to take more);
* :meth:`Transport.write_buffer_size`, :meth:`Transport.flushed` (the drain accounting: the
  base hears ``_on_write_buffer_drained()`` once per flush that emptied what it had handed
  over), :meth:`Transport.deliver` (received bytes to the base; an exception in it is logged
  and reading goes on, internals.md rule 7);
* :meth:`Transport.disconnect` (one last non-blocking write, teardown, then
  ``_on_stream_terminated(None)`` from a loop callback, never from inside the down-call; a
  repeat is a no-op), :meth:`Transport.lose_stream`, :meth:`Transport.fail`;
* :meth:`Transport.on_resolved` / :meth:`Transport.connect_failed`: the resolver's answer,
  then the addresses tried in order by the subclass's :meth:`connect_next`, and the error once
  every address failed (the same classes and texts on every loop).

A subclass sets ``strategies`` and implements :meth:`start_connect`, :meth:`connect_next`,
:meth:`flush`, :meth:`write_last` and :meth:`release`, and reports ``stream_up()``, ``deliver()``,
``flushed()``, ``lose_stream()``/``fail()`` back here. It must not call the base's up-calls
itself.
"""

from __future__ import annotations

import abc
import enum
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from amqpbase import exceptions

from . import errors
from .loop import Loop
from .queue import WriteQueue
from .strategies import Strategies

#: What ``emit`` accepts and queues by reference (the caller must not modify it until sent).
Buffer = Union[bytes, bytearray, memoryview]


class StreamState(enum.Enum):
    """Where a transport's one stream is (its ``state``)."""

    IDLE = "idle"  # no stream: connect() may be called
    RESOLVING = "resolving"  # getaddrinfo() running off the loop thread
    CONNECTING = "connecting"  # TCP connect, address by address
    HANDSHAKING = "handshaking"  # TLS handshake
    OPEN = "open"  # _on_stream_connected() was called
    CLOSING = "closing"  # disconnected; _on_stream_terminated(None) is scheduled


_S = StreamState
#: emit's check: a module constant is one lookup where ``StreamState.OPEN`` is two.
_OPEN = StreamState.OPEN
#: The states with a stream or a connect in progress: they can fail or be disconnected.
_ACTIVE = (_S.RESOLVING, _S.CONNECTING, _S.HANDSHAKING, _S.OPEN)
_Table = Dict[Tuple[StreamState, str], StreamState]

#: Resolve, connect address by address, TLS: the select and Twisted transports.
STREAM_TRANSITIONS: _Table = {
    (_S.IDLE, "connect"): _S.RESOLVING,
    (_S.RESOLVING, "resolved"): _S.CONNECTING,
    (_S.CONNECTING, "tls"): _S.HANDSHAKING,
    (_S.CONNECTING, "up"): _S.OPEN,
    (_S.HANDSHAKING, "up"): _S.OPEN,
    **{(state, "fail"): _S.IDLE for state in _ACTIVE},
    **{(state, "disconnect"): _S.CLOSING for state in _ACTIVE},
    (_S.CLOSING, "closed"): _S.IDLE,
}


class Transport(abc.ABC):
    """One TCP/TLS stream at a time for ``conn`` on ``loop`` (see the module docstring).

    Public surface (tests and the adapter's connection use only this): ``state``, ``params``,
    ``queue`` (the :class:`WriteQueue`), ``sock`` (the connected socket while there is one and
    the loop exposes it, else ``None``), ``loop``, and the methods ``connect``, ``disconnect``,
    ``emit``, ``write_buffer_size``, ``where``.
    """

    #: The logger of the adapter (its records keep the adapter's ``<package>.connection`` name).
    logger = logging.getLogger(__name__)
    #: The loop's write strategies (``strategies.py``, where they are chosen).
    strategies: Strategies

    def __init__(self, connection: Any, loop: Loop) -> None:
        self.conn = connection
        self.loop = loop
        self.state = StreamState.IDLE
        self.params: Any = None
        #: The identity of the connect attempt in flight: results of an older one are ignored.
        self.attempt: Optional[object] = None
        self.queue = WriteQueue()
        self.sock: Any = None
        #: True while a flush will come without emit asking (scheduled, or the loop is still
        #: taking what it was handed): emit's one check.
        self.flush_pending = False
        #: Bytes were handed over since the last drain report: the next flush that empties
        #: everything reports ``_on_write_buffer_drained()``.
        self.drain_owed = False
        #: Inside ``_on_data_available`` (flush after read: emits wait for it to return).
        self.delivering = False
        self.flush_due = False
        self.addresses: List[Tuple[Any, ...]] = []  # getaddrinfo() entries not tried yet
        self.errors: List[Tuple[Any, OSError]] = []  # (sockaddr, error) per failed address

    # ------------------------------------------------------------------ what a loop supplies

    @abc.abstractmethod
    def start_connect(self, attempt: object) -> None:
        """Begin connecting to ``params`` for ``attempt``; report ``stream_up()`` or
        ``fail(...)`` later, from the loop, never from inside this call."""

    @abc.abstractmethod
    def connect_next(self) -> None:
        """Connect to the next of ``addresses`` (a failure is appended to ``errors``, then the
        next one is tried); with none left, ``connect_failed()``."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Hand what is queued to the kernel (or the loop's own stream); clear
        ``flush_pending`` unless the loop will call back when it can take more."""

    @abc.abstractmethod
    def write_last(self) -> None:
        """One last non-blocking attempt to send what is queued (disconnect); never waits,
        never raises, never calls the base."""

    @abc.abstractmethod
    def release(self) -> None:
        """Forget the loop's side of the stream (connect in flight, timers, socket, handlers);
        report nothing."""

    # ------------------------------------------------------------------ down-calls

    def connect(self, params: Any) -> None:
        """Open a stream to ``params.host``/``params.port`` (``ssl_options``,
        ``tcp_options``, ``socket_timeout`` apply). Only from ``IDLE`` (else
        ``RuntimeError``); exactly one outcome, reported by an up-call from the loop."""
        self.transition("connect")
        self.params = params
        attempt = self.attempt = object()
        self.start_connect(attempt)

    def disconnect(self) -> None:
        """Drop the stream (one last non-blocking write first) or abort the connect, and report
        ``_on_stream_terminated(None)`` from a loop callback; a no-op when there is none."""
        if not self.can("disconnect"):
            return  # a repeat, or the stream already ended
        if self.state is _OPEN:
            self.write_last()  # e.g. a Connection.CloseOk emitted just before
        self.teardown()
        self.transition("disconnect")
        self.loop.call_soon(self.notify_disconnected)

    def emit(self, data: Buffer) -> None:
        """Queue ``data`` by reference for the next flush; the caller must not modify it
        afterwards. Without an open stream the bytes are dropped (logged at DEBUG)."""
        if self.state is not _OPEN:
            self.logger.debug("%s: dropped %d bytes emitted without a stream", self.where(),
                              len(data))
            return
        if type(data) is not bytes and (
            type(data) is not memoryview or data.ndim != 1 or data.format != "B"
        ):
            data = memoryview(data).cast("B")  # a bytearray as a view; len() counts bytes
        size = len(data)
        if size:
            # WriteQueue.append, inline: a method call would add ~20% to emit, which runs
            # once per publish (docs/internals.md). By reference: no copy, no syscall.
            queue = self.queue
            queue.buffers.append(data)
            queue.size += size
            if not self.flush_pending:
                self.flush_pending = True
                self.schedule_flush()

    def write_buffer_size(self) -> int:
        """Bytes emitted and not yet known to be taken by the kernel (the queue, plus what
        the loop's own stream holds, where it holds anything)."""
        return self.queue.size

    # ------------------------------------------------------------------ reports from the loop

    def on_resolved(
        self, attempt: object, result: Union[Sequence[Tuple[Any, ...]], BaseException, None]
    ) -> None:
        """``getaddrinfo()``'s entries, or its error, for connect attempt ``attempt``; no
        entries at all is a ``NameResolutionError`` too."""
        if attempt is not self.attempt:
            return  # disconnected meanwhile
        if isinstance(result, BaseException) or not result:
            cause = result if isinstance(result, BaseException) else None
            self.fail(errors.resolve_failed(self.where(), result), cause)
            return
        self.transition("resolved")
        self.addresses, self.errors = list(result), []
        self.connect_next()

    def connect_failed(self) -> None:
        """No address is left to try: report what each one failed with."""
        self.fail(*errors.connect_failure(self.where(), self.errors))

    def stream_up(self) -> None:
        self.transition("up")
        self.conn._on_stream_connected()

    def deliver(self, data: Any) -> None:
        """Received bytes, in order, to the base (which copies what it keeps). An exception
        is logged with its traceback and reading goes on (rule 7): Twisted would otherwise drop
        the connection, Tornado stop reading."""
        self.delivering = True
        try:
            self.conn._on_data_available(data)
        except Exception:  # noqa: BLE001 - rule 7: log with the traceback, keep the stream
            self.logger.exception("%s: error while handling received data", self.where())
        finally:
            self.delivering = False
        if self.flush_due:
            # What the data's handlers emitted (an ack, the next publish) leaves now, without
            # a loop callback of its own (the flush-after-read strategy).
            self.flush_due = False
            self.flush()

    def flush_behind_callbacks(self) -> None:
        """Unless a flush is pending, schedule one behind the loop callbacks already queued
        (``call_before_io``): what those callbacks emit leaves in the same loop turn. For a
        layer that has just queued callbacks that will emit (the awaitable API settling a
        future: its task wakes on the next turn), which would otherwise each cost a turn of
        their own for the flush. A flush with nothing queued makes no syscall."""
        if not self.flush_pending:
            self.flush_pending = True
            self.loop.call_before_io(self.flush)

    def schedule_flush(self) -> None:
        """Run :meth:`flush` once soon (emit made ``flush_pending`` true first): when the
        received data being handled was delivered (flush after read), else before the loop
        next waits for I/O."""
        if self.delivering and self.strategies.flush_after_read:
            self.flush_due = True
        else:
            self.loop.call_before_io(self.flush)

    def flushed(self) -> None:
        """Everything handed over since the last report has been taken: report the drain
        (once per emptied buffer; never for bytes the base did not emit)."""
        if self.drain_owed:
            self.drain_owed = False
            self.conn._on_write_buffer_drained()

    def lose_stream(self, exc: Optional[BaseException]) -> None:
        """The open stream broke (``exc``) or the peer closed it (``None``)."""
        error = errors.stream_lost(self.where(), exc)
        self.fail(error, error.__cause__)

    def fail(self, error: exceptions.AMQPConnectionError, cause: Optional[BaseException]) -> None:
        """The stream or the connect ended with ``error``: teardown, then the one
        ``_on_stream_terminated(error)``."""
        error.__cause__ = cause
        self.teardown()
        self.transition("fail")
        self.conn._on_stream_terminated(error)

    def notify_disconnected(self) -> None:
        self.transition("closed")
        self.conn._on_stream_terminated(None)

    # ------------------------------------------------------------------ helpers

    def teardown(self) -> None:
        """Forget the stream and everything of it in flight; report nothing."""
        self.attempt = None
        self.addresses = []
        self.release()
        self.queue.clear()
        self.flush_pending = self.drain_owed = self.flush_due = False

    def can(self, event: str) -> bool:
        """Whether ``event`` is legal now (``disconnect``: a stream or a connect is in
        progress; a repeat, or a disconnect after the stream ended, is not)."""
        return (self.state, event) in STREAM_TRANSITIONS

    def transition(self, event: str) -> None:
        try:
            self.state = STREAM_TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(
                f"stream event {event!r} is illegal in state {self.state.name}"
            ) from None

    def where(self) -> str:
        """``host:port`` of the attempt, the start of every message (``"?"`` before one)."""
        return f"{self.params.host}:{self.params.port}" if self.params is not None else "?"


__all__ = [
    "Buffer",
    "STREAM_TRANSITIONS",
    "StreamState",
    "Transport",
]
