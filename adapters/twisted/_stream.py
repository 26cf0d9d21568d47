"""TwistedStream: the one TCP/TLS byte stream of a :class:`TwistedConnection`, on a reactor.

The stream does the I/O behind TwistedConnection's hooks and reports back through the base
``Connection``'s up-calls (``_on_stream_connected``, ``_on_data_available``,
``_on_write_buffer_drained``, ``_on_stream_terminated``); it knows nothing of AMQP. Its states,
its transition table, the resolver's answer, the connect error once every address failed and
the ways a stream ends are the select transport's: both are an ``AddressByAddressStream``
(``adapters/_stream_common.py``), so both adapters report and end a stream the same way.

Contract (the hook contract of ``docs/internals.md``, in Twisted terms):

* ``connect()`` from ``IDLE`` runs ``getaddrinfo`` on the reactor's thread pool (what Twisted's
  own ``GAIResolver`` does, but keeping the ``socket.gaierror``, which GAIResolver swallows),
  then connects to each address IN ORDER through a ``TCP4ClientEndpoint``/``TCP6ClientEndpoint``
  (``socket_timeout`` per address), then runs the TLS handshake when ``ssl_options`` is set
  (:mod:`._tls`, ``socket_timeout`` again). ``HostnameEndpoint`` is not used: it drops the
  resolver's error and reports only the last address's failure, so neither the
  ``NameResolutionError`` cause nor the per-address message could match the select adapter.
  Failures map to the select adapter's exception classes and messages, cause chained: Twisted's
  connect errors become the OS errors select would see (``os_error``), then go through the
  shared mapping (``connect_failed()``).
* Writes are coalesced: ``emit`` queues buffers by reference in a ``WriteQueue``
  (``adapters/_write_queue.py``, shared with the other adapters). The stream is registered on the
  transport as a pull producer (``IPullProducer``): Twisted calls ``resumeProducing()`` each
  time its own buffer has fully drained (``abstract.FileDescriptor.doWrite``), and only then
  (or from the next reactor turn, when Twisted's buffer is already empty) does the stream
  pass on what is queued. Plain TCP: Twisted holds nothing then, so the stream calls
  ``sendmsg`` on the transport's socket (``getHandle()``) straight from the queued buffers, in
  order, with no copy; what the kernel does not take goes to Twisted as ONE ``bytes`` piece
  of at most :data:`_PIECE` bytes (``transport.write`` rejects ``memoryview``), and the rest
  waits for the ``resumeProducing()`` that says the socket took it. Joining the whole queue
  instead allocated a fresh 1 MiB+ ``bytes`` per flush, page-faulted in each time. A failed
  ``sendmsg`` ends the stream (``StreamLostError``, the OS error chained). TLS: OpenSSL
  encrypts from the queued buffers (small ones joined up to a record), one
  ``transport.write``. ``_on_write_buffer_drained()`` follows a ``sendmsg`` that took
  everything, and each drain that leaves nothing queued. A push
  producer would be resumed only after Twisted paused it, above ``bufferSize`` (64 KiB), so
  a smaller backlog would never re-arm backpressure.
* Reads: ``transport.bufferSize`` (Twisted's recv size, 64 KiB by default) is raised to
  :data:`READ_SIZE`; the bytes Twisted hands ``dataReceived`` go to the base as they are.
* ``disconnect()`` hands what is queued to Twisted, makes ONE non-blocking write attempt
  (``transport.doWrite()``), never waits, aborts the transport (``abortConnection()``: no
  flush wait, unlike ``loseConnection()``) or cancels the connect in progress, and reports
  ``_on_stream_terminated(None)`` from a ``callLater(0)``, never from inside the down-call.
  The protocol is detached first, so Twisted's own ``connectionLost`` for it is ignored.
* A lost stream gives ``StreamLostError`` whose cause is an ``OSError``
  (``ConnectionError`` for Twisted's ``ConnectionDone``/``ConnectionLost``, which themselves
  are chained one level further, as the original Twisted exception).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from typing import Any, Optional, Union

from twisted.internet import error as twisted_error
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IAddress, IPullProducer
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

from amqpbase import exceptions
from amqpbase.connection import Connection

from .._socket_options import apply_socket_options
from .._stream_common import AddressByAddressStream, StreamState
from .._write_queue import WriteQueue
from ._tls import TLSSession

LOGGER = logging.getLogger(f"{__package__}.connection")

#: What ``emit`` accepts and queues by reference.
Buffer = Union[bytes, bytearray, memoryview]
#: A Twisted reactor (IReactorTime, IReactorTCP, IReactorThreads, IReactorFromThreads). zope
#: interfaces are not types for mypy without the mypy-zope plugin, hence ``Any``.
Reactor = Any

_TLS_RECORD = 16 * 1024  # TLS plaintext record size: smaller buffers are joined up to it
#: What the kernel did not take goes to Twisted in pieces of at most this size: a copy small
#: enough to stay off glibc's mmap threshold (128 KiB; larger ones are page-faulted in afresh
#: each time) and under Twisted's SEND_LIMIT (128 KiB), so one doWrite() sends it all.
_PIECE = 64 * 1024
READ_SIZE = 256 * 1024  # recv size asked of Twisted's TCP transport (house rule: >= 128 KiB)
_NO_TIMEOUT = 365 * 24 * 3600.0  # socket_timeout=None; Twisted's connector wants a number
_OPEN = StreamState.OPEN  # emit's check: one lookup instead of two (global + Enum attribute)


@implementer(IPullProducer)
class StreamProtocol(Protocol):
    """The Twisted protocol shim: maps Twisted's events onto the stream that built it.

    Events of a shim the stream has detached (after a disconnect or a failure) are ignored, so
    each stream is reported once. As a pull producer registered on its own transport,
    ``resumeProducing()`` means "Twisted's write buffer is empty".
    """

    def __init__(self, stream: "TwistedStream", attempt: object) -> None:
        self.stream, self.attempt = stream, attempt

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's names
        self.stream.on_tcp_connected(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.stream.protocol is self:
            self.stream.on_bytes(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802
        if self.stream.protocol is self:
            self.stream.on_lost(reason)

    def resumeProducing(self) -> None:  # noqa: N802
        if self.stream.protocol is self:
            self.stream.on_drained()

    def stopProducing(self) -> None:  # noqa: N802 - the loss is reported by connectionLost
        pass


class _ShimFactory(Factory):
    noisy = False  # no "Starting factory" log line per connect attempt

    def __init__(self, stream: "TwistedStream", attempt: object) -> None:
        self.stream, self.attempt = stream, attempt

    def buildProtocol(self, addr: Optional[IAddress]) -> StreamProtocol:  # noqa: N802
        return StreamProtocol(self.stream, self.attempt)


class TwistedStream(AddressByAddressStream):
    """One TCP/TLS stream at a time for ``connection``, on ``reactor`` (module contract).

    ``state`` is a :class:`StreamState` (RESOLVING: ``getaddrinfo`` on the reactor's thread
    pool; CONNECTING: a TCP endpoint, one address after another; HANDSHAKING: over the memory
    BIOs); an event the table does not list for the current state raises ``RuntimeError``.
    """

    def __init__(self, connection: Connection, reactor: Reactor) -> None:
        super().__init__(connection)
        self.reactor = reactor
        self.connecting: Optional[Deferred[Any]] = None  # the endpoint's connect Deferred
        self.protocol: Optional[StreamProtocol] = None  # the attached shim
        self.transport: Any = None  # its ITCPTransport
        self.tls: Optional[TLSSession] = None
        self.timer: Any = None  # TLS handshake deadline (IDelayedCall)
        self.queue = WriteQueue()  # queued, not yet given to Twisted
        self.handed = 0  # bytes given to Twisted since its buffer was last empty
        self.drain_owed = False  # emitted bytes went to Twisted since the last drain report
        self.twisted_wants_data = False  # Twisted's buffer is empty: write without waiting
        self.flush_call: Any = None
        self.sock: Optional[socket.socket] = None  # plain TCP: the transport's socket

    # ------------------------------------------------------------------ down-calls

    def connect(self, params: Any) -> None:
        """Open a stream to ``params.host``/``params.port``; only from ``IDLE``. The outcome
        is reported by an up-call from the reactor, never from inside this call."""
        attempt = self.start_attempt(params)
        try:
            resolving: Deferred[Any] = deferToThreadPool(
                self.reactor, self.reactor.getThreadPool(), socket.getaddrinfo,
                params.host, params.port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - e.g. no thread can start: report it later
            failure = exc
            self.reactor.callLater(0, self.on_resolved, attempt, failure)
            return
        resolving.addBoth(lambda result: self.on_resolved(attempt, result))

    def disconnect(self) -> None:
        """Drop the stream (one last non-blocking write first) and report
        ``_on_stream_terminated(None)`` from the reactor; a no-op when there is none."""
        if not self.can("disconnect"):
            return  # a repeat, or the stream already ended
        if self.state is StreamState.OPEN and self.queue.buffers:
            self.protocol = None  # detach first: nothing below may call the base back
            try:
                self.hand_to_twisted()  # teardown() makes the one last write attempt
            except (OSError, ValueError):  # an SSLError: the stream is going anyway
                LOGGER.debug("%s: could not encrypt the last bytes", self.where(), exc_info=True)
        self.teardown()
        self.transition("disconnect")
        self.reactor.callLater(0, self.notify_disconnected)

    def emit(self, data: Buffer) -> None:
        """Queue ``data`` by reference; it goes to Twisted at the next drain or reactor turn.
        Without an open stream the bytes are dropped (logged at DEBUG)."""
        if self.state is not _OPEN:
            LOGGER.debug("%s: dropped %d bytes emitted without a stream", self.where(), len(data))
            return
        if type(data) is not bytes and isinstance(data, memoryview) and (
            data.ndim != 1 or data.format != "B"
        ):
            data = data.cast("B")  # len() counts bytes from here on
        size = len(data)
        if size:
            # WriteQueue.append, inline: a method call would add ~20% to emit, which runs
            # once per publish (docs/internals.md). By reference: no copy, no syscall.
            queue = self.queue
            queue.buffers.append(data)
            queue.size += size
            if self.twisted_wants_data and self.flush_call is None:
                self.flush_call = self.reactor.callLater(0, self.flush)

    def write_buffer_size(self) -> int:
        """Bytes queued here plus the bytes Twisted holds that the kernel has not taken."""
        size = self.queue.size
        if self.handed:
            transport = self.transport
            try:
                # Twisted 26 abstract.FileDescriptor has no public accessor: unsent bytes are
                # dataBuffer[offset:] plus _tempDataLen bytes still in _tempDataBuffer.
                size += len(transport.dataBuffer) - transport.offset + transport._tempDataLen
            except (AttributeError, TypeError):  # another transport: upper bound
                size += self.handed
        return size

    # ------------------------------------------------------------------ connecting
    # (on_resolved and connect_failed: AddressByAddressStream's, shared with select)

    def on_resolved(self, attempt: object, result: Any) -> None:
        """As on select, with the error out of the thread pool's ``Failure``."""
        super().on_resolved(attempt, result.value if isinstance(result, Failure) else result)

    def connect_next(self) -> None:
        params, attempt = self.params, self.attempt
        timeout = params.socket_timeout if params.socket_timeout is not None else _NO_TIMEOUT
        while self.addresses:
            family, _, _, _, sockaddr = self.addresses.pop(0)
            if family == socket.AF_INET:
                endpoint: Any = TCP4ClientEndpoint(self.reactor, sockaddr[0], sockaddr[1], timeout)
            elif family == socket.AF_INET6:
                endpoint = TCP6ClientEndpoint(  # type: ignore[no-untyped-call]
                    self.reactor, sockaddr[0], sockaddr[1], timeout
                )
            else:
                self.errors.append((sockaddr, OSError(f"address family {family} unsupported")))
                continue
            connecting: Deferred[Any] = endpoint.connect(_ShimFactory(self, attempt))
            self.connecting = connecting
            connecting.addCallbacks(
                self.on_endpoint_connected, self.on_endpoint_failed, errbackArgs=(attempt, sockaddr)
            )
            return
        self.connect_failed()

    def on_endpoint_connected(self, protocol: Any) -> None:
        self.connecting = None  # connectionMade already ran (TCP endpoints call it first)

    def on_endpoint_failed(self, failure: Failure, attempt: object, sockaddr: Any) -> None:
        if attempt is not self.attempt or self.state is not StreamState.CONNECTING:
            return  # cancelled by a disconnect or a failure: already reported
        self.connecting = None
        self.errors.append((sockaddr, self.os_error(failure.value or Exception(failure))))
        self.connect_next()

    def os_error(self, exc: BaseException) -> OSError:
        """The OS-level error for a Twisted connect failure (the select adapter's causes)."""
        if isinstance(exc, OSError):
            return exc
        result: OSError
        if isinstance(exc, twisted_error.TimeoutError):
            result = socket.timeout(
                f"no answer within socket_timeout={self.params.socket_timeout}s"
            )
        elif isinstance(exc, twisted_error.ConnectError) and isinstance(exc.osError, int):
            text = exc.args[0] if exc.args and exc.args[0] else os.strerror(exc.osError)
            result = OSError(exc.osError, text)
        else:
            result = ConnectionError(str(exc))
        result.__cause__ = exc
        return result

    def on_tcp_connected(self, protocol: StreamProtocol) -> None:
        transport = protocol.transport
        assert transport is not None
        if protocol.attempt is not self.attempt or self.state is not StreamState.CONNECTING:
            transport.abortConnection()  # a connect we no longer want
            return
        self.protocol, self.transport = protocol, transport
        self.connecting = None
        sock = transport.getHandle() if hasattr(transport, "getHandle") else None
        if isinstance(sock, socket.socket):  # ITCPTransport.getHandle(): the connected socket
            apply_socket_options(sock, self.params.tcp_options, LOGGER)
            if self.params.ssl_options is None and not isinstance(sock, ssl.SSLSocket):
                self.sock = sock  # direct writes while Twisted's buffer is empty
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = READ_SIZE  # FileDescriptor: the recv size of doRead
        # Pull producer: Twisted calls resumeProducing() now and after each full drain.
        transport.registerProducer(protocol, False)
        ssl_options = self.params.ssl_options
        if ssl_options is None:
            self.stream_up()
            return
        self.transition("tls")
        try:
            self.tls = TLSSession(
                ssl_options.context, ssl_options.server_hostname or self.params.host
            )
        except (OSError, ValueError) as exc:
            self.fail(
                exceptions.TLSHandshakeError(f"{self.where()}: TLS set-up failed: {exc}"), exc
            )
            return
        if self.params.socket_timeout is not None:
            self.timer = self.reactor.callLater(self.params.socket_timeout, self.on_tls_timeout)
        self.handshake()

    def handshake(self) -> None:
        tls = self.tls
        assert tls is not None
        try:
            done = tls.handshake()
        except (OSError, ValueError) as exc:  # SSLError, SSLCertVerificationError, SSLEOFError
            self.send_tls_output()  # the alert: teardown() gives it one write attempt
            self.fail(
                exceptions.TLSHandshakeError(f"{self.where()}: TLS handshake failed: {exc}"), exc
            )
            return
        self.send_tls_output()
        if done:
            self.cancel_timer()
            self.stream_up()
            if self.state is StreamState.OPEN:
                self.decrypt()  # application data that came with the handshake's last flight

    def on_tls_timeout(self) -> None:
        self.timer = None
        if self.state is StreamState.HANDSHAKING:
            cause = socket.timeout(f"no answer within socket_timeout={self.params.socket_timeout}s")
            self.fail(
                exceptions.SocketTimeoutError(f"{self.where()}: TLS handshake timed out"), cause
            )

    def stream_up(self) -> None:
        self.transition("up")
        self.conn._on_stream_connected()

    # ------------------------------------------------------------------ I/O

    def on_bytes(self, data: bytes) -> None:
        if self.tls is None:
            if self.state is StreamState.OPEN:
                self.deliver(data)
            return
        self.tls.feed(data)
        if self.state is StreamState.HANDSHAKING:
            self.handshake()
        elif self.state is StreamState.OPEN:
            self.decrypt()

    def deliver(self, data: bytes) -> None:
        # An exception escaping dataReceived makes Twisted drop the connection; the select
        # loop logs a handler's exception and keeps reading, and so does this adapter.
        try:
            self.conn._on_data_available(data)
        except Exception:  # noqa: BLE001 - rule 7: log with the traceback, keep the stream
            LOGGER.exception("%s: exception while handling received data", self.where())

    def decrypt(self) -> None:
        protocol, tls = self.protocol, self.tls
        assert tls is not None
        while True:
            try:
                plaintext = tls.decrypt()
            except (OSError, ValueError) as exc:  # an alert, a truncated stream
                self.send_tls_output()
                self.lose_stream(exc)
                return
            if plaintext is None:
                self.lose_stream(None)  # close_notify
                return
            if not plaintext:
                break
            self.deliver(plaintext)
            if self.protocol is not protocol:
                return  # the base disconnected while handling the data
        self.send_tls_output()  # post-handshake messages OpenSSL answered while reading

    def send_tls_output(self) -> None:
        output = self.tls.take_output() if self.tls is not None else b""
        if output and self.transport is not None:
            self.transport.write(output)
            self.handed += len(output)
            self.twisted_wants_data = False

    def flush(self) -> None:
        """Next reactor turn after an emit while Twisted's buffer was empty."""
        self.flush_call = None
        if self.state is StreamState.OPEN and self.twisted_wants_data and self.queue.buffers:
            self.write_pending()

    def on_drained(self) -> None:
        """Twisted's buffer is empty (``resumeProducing``): pass on the queue, or report the
        drain when nothing is queued."""
        self.handed = 0
        self.twisted_wants_data = True
        if self.state is not StreamState.OPEN:
            return
        if self.queue.buffers:
            self.write_pending()  # Twisted asked for data: give it all now
        elif self.drain_owed:  # not for TLS handshake bytes: the base never queued those
            self.drain_owed = False
            self.conn._on_write_buffer_drained()

    def write_pending(self) -> None:
        try:
            self.hand_to_twisted()
        except (OSError, ValueError) as exc:  # an SSLError from encrypting, a failed send
            self.lose_stream(exc)
            return
        if self.twisted_wants_data and not self.queue.buffers and self.drain_owed:
            # The kernel took everything: Twisted was never involved, so no resumeProducing()
            # will come for these bytes; report the drain here, as select does after a flush.
            self.drain_owed = False
            self.conn._on_write_buffer_drained()

    def hand_to_twisted(self) -> None:
        """Pass on what is queued. Plain TCP while Twisted holds nothing: ``sendmsg`` on the
        transport's socket (``getHandle()``), straight from the queued buffers, and only what
        the kernel did not take goes to Twisted, as ONE piece of at most :data:`_PIECE` bytes
        (copied: ``transport.write`` takes ``bytes`` only); the rest stays queued until
        Twisted's ``resumeProducing()`` says the socket took that piece. TLS: the plaintext is
        encrypted straight from the queued buffers, small ones joined up to a full record, so
        bodies are not copied before OpenSSL reads them. May raise ``OSError`` (a failed
        send, an ``SSLError``)."""
        queue = self.queue
        self.drain_owed = True
        tls = self.tls
        if tls is None:
            if self.twisted_wants_data and self.sock is not None:
                # In order: Twisted's buffer is empty, so nothing of ours is ahead in it.
                try:
                    queue.send_direct(self.sock)
                except (BlockingIOError, InterruptedError):
                    pass
            if queue.buffers:
                piece = queue.take_bytes(_PIECE)
                self.transport.write(piece)
                self.handed += len(piece)
                self.twisted_wants_data = False
            return
        while queue.buffers:  # a buffer of a record or more as is, smaller ones joined
            tls.encrypt(queue.take_piece(_TLS_RECORD, _TLS_RECORD))
        self.send_tls_output()

    # ------------------------------------------------------------------ ending a stream
    # (lose_stream, fail and notify_disconnected: StreamLifecycle's, the same on every loop)

    def on_lost(self, reason: Failure) -> None:
        cause: BaseException = lost_cause(reason)
        if self.state is StreamState.HANDSHAKING and self.tls is not None:
            self.tls.feed_eof()  # let OpenSSL tell how the handshake ended (an alert, EOF)
            try:
                self.tls.handshake()
            except (OSError, ValueError) as exc:
                cause = exc
            self.fail(
                exceptions.TLSHandshakeError(f"{self.where()}: TLS handshake failed: {cause}"),
                cause,
            )
        else:
            self.lose_stream(cause)

    def teardown(self) -> None:
        """Forget the stream: cancel the connect or abort the transport, drop the queue."""
        self.attempt = None
        self.addresses = []
        self.cancel_timer()
        if self.flush_call is not None:
            if self.flush_call.active():
                self.flush_call.cancel()
            self.flush_call = None
        connecting, self.connecting = self.connecting, None
        if connecting is not None:
            try:  # errback with ConnectingCancelledError: ignored (no attempt any more)
                connecting.cancel()
            except Exception:  # noqa: BLE001 - e.g. NotConnectingError: nothing to stop
                LOGGER.debug("%s: cancelling the connect failed", self.where(), exc_info=True)
        self.protocol = None  # the shim's later events (connectionLost, ...) are ignored
        transport, self.transport = self.transport, None
        if transport is not None:
            if self.handed:
                last_write(transport)
            # abortConnection() drops what Twisted still holds and calls connectionLost from
            # a callLater(0) (tcp.Connection.abortConnection), never synchronously; unlike
            # loseConnection() it does not wait for the buffer to flush.
            transport.abortConnection()
        self.tls = None
        self.sock = None
        self.queue.clear()
        self.handed = 0
        self.twisted_wants_data = self.drain_owed = False

    def cancel_timer(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None and timer.active():
            timer.cancel()


def last_write(transport: Any) -> None:
    """One non-blocking send of what Twisted's transport holds (what its reactor would do on
    the next writable event: ``FileDescriptor.doWrite``), so a Connection.CloseOk or a TLS
    alert queued just before the end has its chance; never a wait for the rest."""
    write_now = getattr(transport, "doWrite", None)
    if write_now is None or getattr(transport, "disconnected", True):
        return
    try:
        write_now()
    except Exception:  # noqa: BLE001 - best effort: the stream is going anyway
        LOGGER.debug("last write before closing failed", exc_info=True)


def lost_cause(reason: Failure) -> OSError:
    """An ``OSError`` for Twisted's reason a connected stream ended (the Twisted exception is
    chained to it: Twisted's TCP transport reports a failed ``recv`` as a bare
    ``ConnectionLost``, without the errno)."""
    value = reason.value
    if isinstance(value, OSError):
        return value
    if isinstance(value, twisted_error.ConnectionDone):
        cause = ConnectionError("end of stream: the peer closed the connection")
    else:
        cause = ConnectionError(f"connection lost: {value}")
    cause.__cause__ = value
    return cause
