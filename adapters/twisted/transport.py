"""TwistedTransport: the one TCP/TLS byte stream of a :class:`TwistedConnection`, on a reactor:
the loop's part of the shared :class:`Transport` (``adapters/_transport/``).

The stream's life (the select table: resolve, address by address, TLS), ``emit``, the flush
scheduling, the drain accounting, ``disconnect``, the resolver's answer and every error text
are the shared ones. This module does:

* connect: ``getaddrinfo`` on the reactor's thread pool (what Twisted's ``GAIResolver`` does,
  keeping the ``socket.gaierror`` it would swallow), then each address IN ORDER through a
  ``TCP4ClientEndpoint``/``TCP6ClientEndpoint`` (``socket_timeout`` per address), then the TLS
  handshake with the user's context over memory BIOs (``TLSSession``, ``socket_timeout``
  again). ``HostnameEndpoint`` is not used: it drops the resolver's error and reports only the
  last address's failure. Twisted's connect errors become the OS errors select would see
  (``os_error``) before the shared mapping.
* writes: the transport is registered on Twisted's TCP transport as a pull producer
  (``IPullProducer``): ``resumeProducing()`` says Twisted's own buffer drained
  (``abstract.FileDescriptor.doWrite``); a push producer would be resumed only above
  ``bufferSize`` (64 KiB). While Twisted holds nothing, a flush (next reactor turn) applies
  the direct-sendmsg strategy on ``getHandle()``; the fallback hands what the kernel did not
  take to Twisted as ONE ``bytes`` piece of at most :data:`FALLBACK_PIECE` bytes
  (``transport.write`` takes ``bytes`` only), and the rest waits for ``resumeProducing()``.
  TLS: OpenSSL encrypts from the queued buffers (runs under ``JOIN_BELOW`` joined up to a
  record), one ``transport.write``. ``write_buffer_size()`` adds Twisted's unsent bytes.
* reads: Twisted's recv size (``transport.bufferSize``) is raised to ``READ_SIZE``; the bytes
  ``dataReceived`` gets go to the base as they are (decrypted first on TLS).
* ``write_last`` (disconnect): the queue is handed to Twisted, then ONE non-blocking
  ``transport.doWrite()``, and ``abortConnection()`` (no flush wait, unlike
  ``loseConnection()``); the shim is detached first, so Twisted's own ``connectionLost`` for it
  is ignored.
* a lost stream: ``StreamLostError`` whose cause is an ``OSError`` (``ConnectionError`` for
  Twisted's ``ConnectionDone``/``ConnectionLost``, chained one level further).
* an adopted stream (:meth:`TwistedTransport.adopt`): a Twisted transport someone else
  connected (``TwistedProtocolConnection`` used as a protocol: ``ClientCreator``, an
  endpoint's ``connect(factory)``). The next connect takes it instead of resolving and
  connecting, for ONE attempt; the shim then runs on it exactly as on a transport of our own
  (socket options, TLS, writes, the end), and the protocol Twisted calls forwards its events.
"""

from __future__ import annotations

import os
import socket

from typing import Any, Optional

from twisted.internet import error as twisted_error
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IAddress, IPullProducer
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

from amqpbase.connection import Connection

from .._transport import errors, strategies
from .._transport.limits import JOIN_BELOW, READ_SIZE
from .._transport.sockopts import apply_socket_options
from .._transport.tls import TLSSession, server_hostname
from .._transport.transport import StreamState, Transport
from .loop import LOGGER, TwistedLoop

#: What the kernel did not take goes to Twisted in pieces of at most this size: a copy small
#: enough to stay off glibc's mmap threshold (128 KiB; larger ones are page-faulted in afresh
#: each time) and under Twisted's SEND_LIMIT (128 KiB), so one doWrite() sends it all.
FALLBACK_PIECE = 64 * 1024
_NO_TIMEOUT = 365 * 24 * 3600.0  # socket_timeout=None; Twisted's connector wants a number


@implementer(IPullProducer)
class StreamProtocol(Protocol):
    """The Twisted protocol shim: maps Twisted's events onto the stream that built it.

    Events of a shim the stream has detached (after a disconnect or a failure) are ignored, so
    each stream is reported once. As a pull producer registered on its own transport,
    ``resumeProducing()`` means "Twisted's write buffer is empty".
    """

    def __init__(self, stream: "TwistedTransport", attempt: object) -> None:
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

    def __init__(self, stream: "TwistedTransport", attempt: object) -> None:
        self.stream, self.attempt = stream, attempt

    def buildProtocol(self, addr: Optional[IAddress]) -> StreamProtocol:  # noqa: N802
        return StreamProtocol(self.stream, self.attempt)


class TwistedTransport(Transport):
    """One TCP/TLS stream at a time for ``connection``, on ``loop`` (module contract).

    ``state`` is a :class:`StreamState` (RESOLVING: ``getaddrinfo`` on the reactor's thread
    pool; CONNECTING: a TCP endpoint, one address after another; HANDSHAKING: over the memory
    BIOs); an event the table does not list for the current state raises ``RuntimeError``.
    """

    logger = LOGGER
    strategies = strategies.TWISTED

    def __init__(self, connection: Connection, loop: TwistedLoop) -> None:
        super().__init__(connection, loop)
        self.reactor = loop.reactor
        self.connecting: Optional[Deferred[Any]] = None  # the endpoint's connect Deferred
        self.protocol: Optional[StreamProtocol] = None  # the attached shim
        self.transport: Any = None  # its ITCPTransport
        self.tls: Optional[TLSSession] = None
        self.timer: Any = None  # TLS handshake deadline (IDelayedCall)
        self.handed = 0  # bytes given to Twisted since its buffer was last empty
        self.twisted_wants_data = False  # Twisted's buffer is empty: write without waiting
        self.adopted: Any = None  # a connected Twisted transport the next connect takes
        self.adopted_shim: Optional[StreamProtocol] = None  # the shim running on it
        self.adopt_only = False  # a transport was adopted: never connect by ourselves
        self.hold = False  # a connect waits for adopt() or release_hold()
        self.held: Optional[object] = None  # the attempt waiting meanwhile

    def adopt(self, transport: Any) -> None:
        """Use ``transport``, a Twisted ``ITransport`` already connected by someone else, for
        the next (or the held) connect instead of resolving and connecting. One attempt: a
        later connect (a retry) fails at once, reconnecting is not ours to do. Events for it
        come through :meth:`adopted_data` and :meth:`adopted_lost`, called by the protocol
        Twisted gave it to."""
        self.adopted = transport
        self.adopt_only = True
        held, self.held = self.held, None
        if held is not None and held is self.attempt and self.state is StreamState.RESOLVING:
            self.start_connect(held)

    def release_hold(self) -> None:
        """Connect by ourselves after all: a held attempt resolves and connects now (unless
        a transport was adopted)."""
        self.hold = False
        held, self.held = self.held, None
        if self.adopt_only:
            return
        if held is not None and held is self.attempt and self.state is StreamState.RESOLVING:
            self.start_connect(held)

    def adopted_data(self, data: bytes) -> None:
        """Bytes Twisted gave the adopting protocol."""
        shim = self.adopted_shim
        if shim is not None:
            shim.dataReceived(data)

    def adopted_lost(self, reason: Failure) -> None:
        """The adopted transport ended (the adopting protocol's ``connectionLost``)."""
        shim, self.adopted_shim = self.adopted_shim, None
        if shim is None:
            return
        if self.protocol is shim:
            shim.connectionLost(reason)
        elif shim.attempt is self.attempt and self.state in (StreamState.RESOLVING,
                                                               StreamState.CONNECTING):
            # Lost before the shim ran on it (the adoption is a reactor turn away).
            self.addresses = []
            self.errors = [(self.where(), lost_cause(reason))]
            if self.state is StreamState.RESOLVING:
                self.transition("resolved")
            self.connect_next()

    # ------------------------------------------------------------------ down-calls

    def start_connect(self, attempt: object) -> None:
        adopted, self.adopted = self.adopted, None
        if adopted is not None:
            shim = self.adopted_shim = StreamProtocol(self, attempt)
            # The outcome comes from the loop, never from inside the connect down-call.
            self.reactor.callLater(0, self.on_adopted, attempt, shim, adopted)
            return
        if self.adopt_only:  # a retry after the adopted stream: not ours to reconnect
            self.reactor.callLater(0, self.on_no_stream, attempt)
            return
        if self.hold:
            self.held = attempt  # adopt() or release_hold() goes on with it
            return
        params = self.params
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

    def write_last(self) -> None:
        if self.queue.buffers:
            self.protocol = None  # detach first: nothing below may call the base back
            try:
                self.hand_to_twisted()  # release() makes the one last write attempt
            except (OSError, ValueError):  # an SSLError: the stream is going anyway
                LOGGER.debug("%s: could not encrypt the last bytes", self.where(), exc_info=True)

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
    # (on_resolved and connect_failed: Transport's, shared with the socket transport)

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

    def on_no_stream(self, attempt: object) -> None:
        """A connect after the adopted stream ended: fails, as a connect to nowhere would."""
        if attempt is not self.attempt or self.state is not StreamState.RESOLVING:
            return
        self.transition("resolved")
        self.addresses = []
        self.errors = [(self.where(), ConnectionError(
            "the Twisted transport this connection was given has ended; connecting again is "
            "up to the code that connected it"))]
        self.connect_failed()

    def on_adopted(self, attempt: object, shim: StreamProtocol, transport: Any) -> None:
        """Run the stream on the adopted ``transport``: as if the resolver had answered and
        a TCP endpoint had connected (``connectionMade`` of the shim)."""
        if attempt is not self.attempt or self.state is not StreamState.RESOLVING:
            if self.adopted_shim is shim:  # disconnected meanwhile: the transport goes too
                self.adopted_shim = None
                transport.abortConnection()
            return
        if self.adopted_shim is not shim:
            return  # adopted_lost() already reported the loss
        self.transition("resolved")
        self.addresses, self.errors = [], []
        shim.makeConnection(transport)  # type: ignore[no-untyped-call]  # -> on_tcp_connected

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
        # The direct-sendmsg strategy while Twisted's buffer is empty, or None: Twisted's path.
        self.sock = strategies.direct_socket(self.strategies, sock, self.params)
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = READ_SIZE  # FileDescriptor: the recv size of doRead
        # Pull producer: Twisted calls resumeProducing() now and after each full drain; until
        # then an emit needs no flush of its own.
        self.flush_pending = True
        transport.registerProducer(protocol, False)
        ssl_options = self.params.ssl_options
        if ssl_options is None:
            self.stream_up()
            return
        self.transition("tls")
        try:
            self.tls = TLSSession(ssl_options.context, server_hostname(self.params))
        except (OSError, ValueError) as exc:
            self.fail(errors.tls_setup_failed(self.where(), exc), exc)
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
            self.send_tls_output()  # the alert: release() gives it one write attempt
            self.fail(errors.tls_handshake_failed(self.where(), exc), exc)
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
            error = errors.tls_handshake_timed_out(self.where(), self.params.socket_timeout)
            self.fail(error, error.__cause__)

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
            self.flush_pending = True  # resumeProducing() will say when Twisted drained

    def flush(self) -> None:
        """Next reactor turn after an emit while Twisted's buffer was empty."""
        self.flush_pending = not self.twisted_wants_data
        if self.state is StreamState.OPEN and self.twisted_wants_data and self.queue.buffers:
            self.write_pending()

    def on_drained(self) -> None:
        """Twisted's buffer is empty (``resumeProducing``): pass on the queue, or report the
        drain when nothing is queued."""
        self.handed = 0
        self.twisted_wants_data = True
        self.flush_pending = False
        if self.state is not StreamState.OPEN:
            return
        if self.queue.buffers:
            self.write_pending()  # Twisted asked for data: give it all now
        else:  # not for TLS handshake bytes: drain_owed is set by emitted bytes only
            self.flushed()

    def write_pending(self) -> None:
        try:
            self.hand_to_twisted()
        except (OSError, ValueError) as exc:  # an SSLError from encrypting, a failed send
            self.lose_stream(exc)
            return
        if self.twisted_wants_data and not self.queue.buffers:
            # The kernel took everything: Twisted was never involved, so no resumeProducing()
            # will come for these bytes; report the drain here, as select does after a flush.
            self.flushed()

    def hand_to_twisted(self) -> None:
        """Pass on what is queued. Plain TCP while Twisted holds nothing: ``sendmsg`` on the
        transport's socket (``getHandle()``), straight from the queued buffers, and only what
        the kernel did not take goes to Twisted, as ONE piece of at most
        :data:`FALLBACK_PIECE` bytes (copied: ``transport.write`` takes ``bytes`` only); the
        rest stays queued until Twisted's ``resumeProducing()`` says the socket took that
        piece. TLS: the plaintext is
        encrypted straight from the queued buffers, small ones joined up to a full record, so
        bodies are not copied before OpenSSL reads them. May raise ``OSError`` (a failed
        send, an ``SSLError``)."""
        queue = self.queue
        self.drain_owed = True
        tls = self.tls
        if tls is None:
            if self.twisted_wants_data and self.sock is not None:
                # In order: Twisted's buffer is empty, so nothing of ours is ahead in it.
                strategies.send_direct_while_idle(queue, self.sock)
            if queue.buffers:  # the fallback: one piece to Twisted
                piece = queue.take_bytes(FALLBACK_PIECE)
                self.transport.write(piece)
                self.handed += len(piece)
                self.twisted_wants_data = False
                self.flush_pending = True  # resumeProducing() will say when Twisted drained
            return
        while queue.buffers:  # a buffer of a record or more as is, smaller ones joined
            tls.encrypt(queue.take_piece(JOIN_BELOW, JOIN_BELOW))
        self.send_tls_output()

    # ------------------------------------------------------------------ ending a stream
    # (lose_stream, fail and notify_disconnected: Transport's, the same on every loop)

    def on_lost(self, reason: Failure) -> None:
        cause: BaseException = lost_cause(reason)
        if self.state is StreamState.HANDSHAKING and self.tls is not None:
            self.tls.feed_eof()  # let OpenSSL tell how the handshake ended (an alert, EOF)
            try:
                self.tls.handshake()
            except (OSError, ValueError) as exc:
                cause = exc
            self.fail(errors.tls_handshake_failed(self.where(), cause), cause)
        else:
            self.lose_stream(cause)

    def release(self) -> None:
        """Forget the stream: cancel the connect or abort the transport."""
        self.cancel_timer()
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
        self.handed = 0
        self.twisted_wants_data = False

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
