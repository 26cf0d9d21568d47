"""StreamTransport: the one TCP/TLS byte stream of a :class:`TornadoConnection`, built on
Tornado's own networking (``Resolver``, ``TCPClient``, ``IOStream``/``SSLIOStream``).

The transport does the stream work behind TornadoConnection's hooks and reports back through the
base ``Connection``'s up-calls (``_on_stream_connected``, ``_on_data_available``,
``_on_write_buffer_drained``, ``_on_stream_terminated``); it knows nothing of AMQP. It is a
separate object from the connection, so its names can never collide with the base's private
ones. Everything here runs on the connection's ``IOLoop`` (Tornado 6 loops are asyncio loops).

Contract (``docs/internals.md``, "The hook contract"):

* One stream at a time, driven by one transition table (:data:`_TRANSITIONS`, smaller than
  select's: one task resolves, connects and handshakes, so one ``CONNECTING`` state covers
  it); an event the table does not list for the current state raises ``RuntimeError``. How a
  stream ends (``StreamLifecycle``) and the connect-error mapping (``connect_error``) are
  shared with the other adapters, in ``adapters/_stream_common.py``.
* ``connect()`` starts, from a loop callback (never inside the call), a task that

  1. resolves the host with Tornado's configured ``Resolver`` (the default one calls
     ``getaddrinfo`` in the asyncio loop's executor: never on the loop thread). No timeout of
     its own, as on select: ``stack_timeout`` bounds it.
  2. connects with ``TCPClient`` over every resolved address (Tornado's "happy eyeballs": the
     addresses of the first family in order, the other family in parallel after 0.3 s),
     bounded by ONE ``socket_timeout`` for all of them (select gives each address its own).
  3. applies ``TCP_NODELAY`` and ``tcp_options`` to the connected socket.
  4. with ``ssl_options``: ``IOStream.start_tls`` with the user's ``SSLContext`` and SNI
     ``ssl_options.server_hostname`` or else the host (``TCPClient``'s own TLS always sends the
     host, so it is not used), bounded by a fresh ``socket_timeout``.

  The outcome is exactly one ``_on_stream_connected()`` or ``_on_stream_terminated(error)``,
  with the same classes and message style as the select transport and the underlying error as
  ``__cause__``: ``NameResolutionError``, ``TCPConnectionRefusedError``, ``SocketTimeoutError``,
  ``SocketConnectError``, ``TLSHandshakeError``.
* Writes are coalesced: ``emit`` queues buffers by reference (no copy, no syscall) and asks the
  loop for ONE flush callback (``IOLoop.add_callback``; bytes emitted while received data is
  handled are flushed by the read loop right after ``_on_data_available`` instead). On plain TCP,
  while the ``IOStream`` holds nothing (``writing()`` is false, so nothing of ours is ahead in
  it), the flush calls ``sendmsg`` on ``IOStream.socket`` straight from the queued buffers, as the
  select transport does (``WriteQueue.send_direct``, ``adapters/_write_queue.py``: at most
  1024 buffers and about 4 MiB per call); a failed ``sendmsg`` closes the ``IOStream`` with that
  error, as its own failed writes do. What the kernel does not take, and everything on TLS,
  goes to the ``IOStream`` one piece at a time (``WriteQueue.take_piece``): runs of small
  buffers joined up to :data:`_PIECE_SIZE`, each buffer of :data:`_COALESCE_BELOW` bytes or more
  (a body slice) by reference, never copied.
  ``IOStream.write`` sends at once; while its future resolves inline the kernel took everything
  and the next piece follows. A piece the kernel did not take whole stays "in flight" until its
  write future resolves, and nothing more is handed over meanwhile, so a full socket costs no
  syscall per queued buffer. ``wbuf_size`` is the queue plus the piece in flight (Tornado has no
  public count of what an ``IOStream`` still holds; the piece is counted whole until its future
  says it is sent). ``_on_write_buffer_drained()`` follows the flush that empties both.
* Reads: ``IOStream.read_into`` a preallocated :data:`_READ_SIZE` buffer (``partial=True``:
  Tornado's ``recv_into`` fills it directly, no intermediate copy), at most one read per loop
  iteration. The view handed to ``_on_data_available`` is only valid during the call (the
  base copies what it keeps). A read ending in ``StreamClosedError`` is the one place a lost
  stream is detected (a failed write closes the ``IOStream`` too, which fails the read):
  ``StreamLostError`` with the OS error (``StreamClosedError.real_error``) chained, or a
  ``ConnectionError`` naming the end of stream.
* ``disconnect()`` makes one last non-blocking write of what is queued (so a Connection.CloseOk
  emitted just before it reaches the broker when the socket has room), never waits, cancels a
  connect in progress or closes the stream, and reports ``_on_stream_terminated(None)`` from a
  loop callback. A repeat, or a disconnect after the stream ended, does nothing.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import functools
import logging
import socket
from typing import Any, Dict, List, Optional, Tuple, Union, cast

from tornado import gen
from tornado.concurrent import Future
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.netutil import Resolver
from tornado.tcpclient import TCPClient
from tornado.util import TimeoutError as TornadoTimeoutError

from amqpbase import exceptions
from amqpbase.connection import Connection

from .._socket_options import apply_socket_options
from .._stream_common import StreamLifecycle, connect_error
from .._write_queue import WriteQueue

LOGGER = logging.getLogger(f"{__package__}.connection")

#: What ``emit`` accepts and queues by reference.
Buffer = Union[bytes, bytearray, memoryview]
_Piece = Union[bytes, memoryview]  # what the queue holds (a bytearray is queued as a view)
_Address = Tuple[int, Any]  # (family, sockaddr), as Tornado's Resolver.resolve returns them

_READ_SIZE = 256 * 1024  # one preallocated receive buffer per connection
_COALESCE_BELOW = 16 * 1024  # smaller buffers are joined into one piece; larger ones go as is
_PIECE_SIZE = 256 * 1024  # a joined piece stops growing past this size
#: Both names of a timeout: ``TCPClient`` raises the builtin, ``gen.with_timeout`` Tornado's
#: alias of ``asyncio.TimeoutError`` (the same class from Python 3.11 on).
_TIMEOUTS = (TimeoutError, TornadoTimeoutError)


class TransportState(enum.Enum):
    """Where the transport's one stream is; ``StreamTransport.state`` holds it."""

    IDLE = "idle"  # no stream: connect() may be called
    CONNECTING = "connecting"  # resolving, TCP connecting, TLS handshaking (one task)
    OPEN = "open"  # _on_stream_connected() was called
    CLOSING = "closing"  # disconnected; _on_stream_terminated(None) is scheduled


_S = TransportState
_OPEN = TransportState.OPEN  # emit's check: one lookup instead of two (global + Enum attribute)
#: The one transition table; an event not listed for the current state raises.
_TRANSITIONS: Dict[Tuple[TransportState, str], TransportState] = {
    (_S.IDLE, "connect"): _S.CONNECTING,
    (_S.CONNECTING, "up"): _S.OPEN,
    (_S.CONNECTING, "fail"): _S.IDLE,
    (_S.OPEN, "fail"): _S.IDLE,
    (_S.CONNECTING, "disconnect"): _S.CLOSING,
    (_S.OPEN, "disconnect"): _S.CLOSING,
    (_S.CLOSING, "closed"): _S.IDLE,
}


class _Resolved(Resolver):
    """A ``Resolver`` answering with addresses resolved beforehand, so ``TCPClient`` only
    connects (the resolution is a phase of its own, with its own error class)."""

    def initialize(self, addresses: List[_Address]) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> List[_Address]:
        return self.addresses


class StreamTransport(StreamLifecycle[TransportState]):
    """One TCP/TLS stream at a time for ``connection``, on ``ioloop`` (see the module contract).

    ``state`` is the :class:`TransportState`; ``wbuf_size`` the bytes queued and not yet known
    to be taken by the kernel.
    """

    def __init__(self, connection: Connection, ioloop: IOLoop) -> None:
        super().__init__(connection, _TRANSITIONS, TransportState.IDLE)
        self.ioloop = ioloop
        self.stream: Optional[IOStream] = None
        self.sock: Optional[socket.socket] = None  # plain TCP: the IOStream's socket
        self.connect_task: Optional[asyncio.Task[IOStream]] = None
        self.queue = WriteQueue()  # bytes and views only (a bytearray is queued as a view)
        self.in_flight = 0  # bytes handed to the IOStream, write future not yet resolved
        self.flush_requested = False
        self.delivering = False  # inside _on_data_available: the read loop flushes afterwards
        self.rbuf = bytearray(_READ_SIZE)
        self.rview = memoryview(self.rbuf)

    @property
    def wbuf_size(self) -> int:
        """Bytes queued here or held by the ``IOStream``, not yet known to be sent."""
        return self.queue.size + self.in_flight

    # ------------------------------------------------------------------ down-calls

    def connect(self, params: Any) -> None:
        """Open a stream to ``params.host``/``params.port`` (``ssl_options``, ``tcp_options``,
        ``socket_timeout`` apply). Only from ``IDLE`` (else ``RuntimeError``); the outcome is
        reported by an up-call, never from inside this call."""
        attempt = self.start_attempt(params)
        # Start from the loop: the call may come from outside it (create_connection), and the
        # task, TCPClient and IOStream must find this loop as the running one.
        self.ioloop.add_callback(self.start_connect, attempt)

    def disconnect(self) -> None:
        """Drop the stream (one last non-blocking write first) or abort the connect, and report
        ``_on_stream_terminated(None)`` from a loop callback; a no-op when there is none."""
        if not self.can("disconnect"):
            return  # a repeat, or the stream already ended
        if self.state is TransportState.OPEN:
            self.write_last()
        self.teardown()
        self.transition("disconnect")
        self.ioloop.add_callback(self.notify_disconnected)

    def emit(self, data: Buffer) -> None:
        """Queue ``data`` by reference for the next flush; the caller must not modify it
        afterwards. Without an open stream the bytes are dropped (logged at DEBUG)."""
        if self.state is not _OPEN:
            LOGGER.debug("%s: dropped %d bytes emitted without a stream", self.where(), len(data))
            return
        piece: _Piece
        if type(data) is bytes:
            piece = data
        else:  # a bytearray is queued as a view; a view of other items as bytes
            piece = memoryview(data)
            if piece.ndim != 1 or piece.format != "B":
                piece = piece.cast("B")
        size = len(piece)
        if size:
            # WriteQueue.append, inline: a method call would add ~20% to emit, which runs
            # once per publish (docs/internals.md). By reference: no copy, no syscall.
            queue = self.queue
            queue.buffers.append(piece)
            queue.size += size
            if not self.in_flight and not self.flush_requested:
                self.flush_requested = True  # one flush per loop iteration
                if not self.delivering:  # else the read loop flushes when the handlers return
                    self.ioloop.add_callback(self.flush)

    # ------------------------------------------------------------------ connecting

    def start_connect(self, attempt: object) -> None:
        if attempt is not self.attempt:
            return  # disconnected before the loop got here
        task = asyncio.get_running_loop().create_task(self.open_stream(self.params))
        self.connect_task = task
        self.ioloop.add_future(task, functools.partial(self.on_connect_done, attempt))

    async def open_stream(self, params: Any) -> IOStream:
        """Resolve, connect, set the socket options, do the TLS handshake; raise an
        :mod:`amqpbase.exceptions` connect error (cause chained) on failure."""
        host, port, timeout = params.host, params.port, params.socket_timeout
        where = self.where()
        resolver = Resolver()
        try:
            addresses = await resolver.resolve(host, port, socket.AF_UNSPEC)
        except Exception as exc:  # noqa: BLE001 - gaierror, UnicodeError, ...
            raise exceptions.NameResolutionError(f"{where}: cannot resolve: {exc}") from exc
        finally:
            resolver.close()
        if not addresses:
            raise exceptions.NameResolutionError(f"{where}: cannot resolve: no address")

        client = TCPClient(resolver=_Resolved(addresses))
        try:
            stream = await client.connect(host, port, timeout=timeout)
        except _TIMEOUTS as exc:
            raise exceptions.SocketTimeoutError(f"{where}: connect timed out ({exc})") from exc
        except OSError as exc:  # StreamClosedError carries the OS error as real_error
            cause = exc.real_error if isinstance(exc, StreamClosedError) else None
            cause = cause or exc
            # TCPClient reports the last address's error only; its own timeout is mapped above.
            error, cause = connect_error(where, str(cause), [cause])
            raise error from cause  # the OS error, not Tornado's wrapper
        finally:
            client.close()
        try:
            # IOStream drops its socket when the peer already closed it: nothing to set, and
            # the first read reports the lost stream, as on the other loops.
            if stream.socket is not None:
                apply_socket_options(stream.socket, params.tcp_options, LOGGER)
        except OSError as exc:
            stream.close()
            raise exceptions.SocketConnectError(f"{where}: cannot connect ({exc})") from exc
        if params.ssl_options is None:
            return stream
        return await self.start_tls(stream, params.ssl_options, host, timeout)

    async def start_tls(
        self, stream: IOStream, ssl_options: Any, host: str, timeout: Optional[float]
    ) -> IOStream:
        where = self.where()
        try:
            handshake = stream.start_tls(
                False,
                ssl_options=ssl_options.context,
                server_hostname=ssl_options.server_hostname or host,
            )
        except (OSError, ValueError) as exc:
            stream.close()
            raise exceptions.TLSHandshakeError(f"{where}: TLS set-up failed: {exc}") from exc
        try:
            if timeout is None:
                return await handshake
            secured: IOStream = await gen.with_timeout(
                datetime.timedelta(seconds=timeout), handshake
            )
            return secured
        except _TIMEOUTS:
            error = socket.timeout(f"no answer within socket_timeout={timeout}s")
            raise exceptions.SocketTimeoutError(f"{where}: TLS handshake timed out") from error
        except (OSError, ValueError) as exc:  # SSLError, CertificateError, reset, EOF
            cause = exc.real_error if isinstance(exc, StreamClosedError) else None
            cause = cause or exc
            raise exceptions.TLSHandshakeError(
                f"{where}: TLS handshake failed: {cause}"
            ) from cause
        finally:
            # Tornado >= 6.6 closes the new SSLIOStream when its unfinished handshake is
            # cancelled (timeout, abort); older versions leave that socket to the garbage
            # collector. After success or failure this does nothing.
            handshake.cancel()

    def on_connect_done(self, attempt: object, task: "asyncio.Future[IOStream]") -> None:
        if attempt is not self.attempt:  # aborted: close a stream that made it anyway
            if not task.cancelled() and task.exception() is None:
                task.result().close()
            return
        self.connect_task = None
        if task.cancelled():  # not by us (teardown forgets the attempt): the loop shut down
            self.fail(exceptions.SocketConnectError(f"{self.where()}: connect cancelled"), None)
            return
        error = task.exception()
        if error is None:
            self.stream_up(task.result())
            return
        if isinstance(error, exceptions.AMQPConnectionError):
            self.fail(error, error.__cause__)  # raised by open_stream, cause chained
        else:  # not foreseen: keep it
            wrapped = exceptions.SocketConnectError(f"{self.where()}: cannot connect: {error}")
            self.fail(wrapped, error)

    def stream_up(self, stream: IOStream) -> None:
        self.transition("up")
        self.stream = stream
        if self.params.ssl_options is None and isinstance(stream.socket, socket.socket):
            self.sock = stream.socket  # IOStream.socket is public; TLS keeps IOStream's path
        self.ioloop.add_callback(self.read_loop, stream)
        self.conn._on_stream_connected()

    # ------------------------------------------------------------------ I/O

    async def read_loop(self, stream: IOStream) -> None:
        """Read into the one buffer and hand each chunk to the base until the stream ends."""
        view = self.rview
        while self.stream is stream:
            try:
                reading = stream.read_into(self.rbuf, partial=True)
                # done now: the bytes were there, no loop iteration passed
                inline = isinstance(reading, Future) and reading.done()
                filled = await reading
            except OSError as exc:  # StreamClosedError; or a recv error raised inline
                if self.stream is stream:
                    self.lose_stream(exc)
                return
            if self.stream is not stream:
                return  # disconnected meanwhile
            self.delivering = True
            try:
                self.conn._on_data_available(view[:filled])  # the base copies what it keeps
            except Exception:  # noqa: BLE001 - a bug must not stop the reader (select: same)
                LOGGER.exception("%s: error while handling received data", self.where())
            finally:
                self.delivering = False
            if self.flush_requested and self.stream is stream:
                # What the data's handlers emitted (an ack, the next publish) leaves now, as
                # select's before-poll flush does, without a loop callback of its own.
                self.flush()
            # At most one read per loop iteration (as select's one recv per readiness event):
            # a stream that always has data must not starve timers and the write flush. A read
            # that waited for the loop already let it run once.
            if inline:
                await asyncio.sleep(0)

    def flush(self) -> None:
        self.flush_requested = False
        if self.state is TransportState.OPEN and self.queue.buffers and not self.in_flight:
            self.pump()

    def pump(self, notify: bool = True) -> None:
        """Send the queue: plain TCP with ``sendmsg`` straight from the queued buffers while
        the IOStream holds nothing (so nothing of ours is ahead in it); what the kernel does not
        take goes to the IOStream piece by piece while the kernel takes each one whole. Stop at
        the first piece it does not (its write future resumes the pump)."""
        stream, queue = self.stream, self.queue
        assert stream is not None
        while queue.buffers:
            if self.sock is not None and not stream.writing():
                try:
                    queue.send_direct(self.sock)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as exc:
                    # As IOStream does for its own failed writes: close it with the error, so
                    # the pending read ends with StreamClosedError carrying it (real_error).
                    stream.close(exc_info=exc)
                    self.drop_queue()
                    return
                if not queue.buffers:
                    break
            # One large buffer as is, or a run of small ones joined; never a bytearray (emit
            # queues one as a view), which IOStream.write would refuse.
            piece = cast(_Piece, queue.take_piece(_COALESCE_BELOW, _PIECE_SIZE))
            self.in_flight = len(piece)
            try:
                written = stream.write(piece)
            except StreamClosedError:  # the reader reports the lost stream
                self.drop_queue()
                return
            if not written.done():
                self.ioloop.add_future(written, functools.partial(self.on_written, stream))
                return
            self.in_flight = 0
            if written.exception() is not None:  # the write failed and closed the stream
                self.drop_queue()
                return
        if notify:
            self.conn._on_write_buffer_drained()

    def on_written(self, stream: IOStream, written: "Future[None]") -> None:
        if stream is not self.stream:
            return  # disconnected meanwhile
        self.in_flight = 0
        if written.exception() is not None:
            self.drop_queue()
        elif self.queue.buffers:
            self.pump()
        else:
            self.conn._on_write_buffer_drained()

    def write_last(self) -> None:
        """One last non-blocking attempt to send what is queued or held by the IOStream."""
        stream = self.stream
        if stream is None or stream.closed():
            return
        try:
            if self.in_flight:
                # An empty write makes the IOStream try its own pending bytes once more; its
                # future resolves inline only if they all went out.
                if not stream.write(b"").done():
                    return
                self.in_flight = 0
            if self.queue.buffers:
                self.pump(notify=False)
        except StreamClosedError:
            pass

    def drop_queue(self) -> None:
        self.queue.clear()
        self.in_flight = 0

    # ------------------------------------------------------------------ ending a stream

    # (fail and notify_disconnected: StreamLifecycle's, the same on every loop)

    def lose_stream(self, exc: Optional[BaseException]) -> None:
        """As on the other loops, with the OS error out of Tornado's ``StreamClosedError``."""
        super().lose_stream(exc.real_error if isinstance(exc, StreamClosedError) else exc)

    def teardown(self) -> None:
        self.attempt = None
        if self.connect_task is not None:
            # Cancelling reaches whatever the task awaits: the resolver, TCPClient (which
            # closes its pending sockets) or the TLS handshake (closed in start_tls).
            self.connect_task.cancel()
            self.connect_task = None
        stream, self.stream = self.stream, None
        self.sock = None
        self.flush_requested = False  # no flush may be scheduled (one emitted while delivering)
        if stream is not None:
            stream.close()  # the pending read ends with StreamClosedError, ignored
        self.drop_queue()


__all__ = ["Buffer", "StreamTransport", "TransportState"]
