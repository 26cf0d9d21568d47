"""TornadoTransport: the one TCP/TLS byte stream of a :class:`TornadoConnection`, built on
Tornado's own networking (``Resolver``, ``TCPClient``, ``IOStream``/``SSLIOStream``): the loop's
part of the shared :class:`Transport` (``adapters/_transport/``).

The stream's life (the one-task table: resolve, connect and handshake are one ``CONNECTING``),
``emit``, the flush scheduling, the drain accounting, ``disconnect`` and every error text are
the shared ones. Everything here runs on the connection's ``IOLoop``. This module does:

* connect, in a task started from a loop callback (never inside the call):

  1. resolve with Tornado's configured ``Resolver`` (the default one calls ``getaddrinfo`` in
     the asyncio loop's executor). No timeout of its own, as on select: ``stack_timeout``
     bounds it.
  2. ``TCPClient`` over every resolved address (Tornado's "happy eyeballs"), bounded by ONE
     ``socket_timeout`` for all of them (select gives each address its own).
  3. ``TCP_NODELAY`` and ``tcp_options`` on the connected socket.
  4. with ``ssl_options``: ``IOStream.start_tls`` with the user's context and the shared SNI
     name (``TCPClient``'s own TLS always sends the host), bounded by a fresh ``socket_timeout``.
* writes, with the two strategies of ``strategies.TORNADO``: direct sendmsg on
  ``IOStream.socket`` while the ``IOStream`` holds nothing (``writing()`` false); a failed
  ``sendmsg`` closes the ``IOStream`` with that error, as its own failed writes do. The
  fallback (what the kernel does not take, and everything on TLS) goes to the ``IOStream`` one
  piece at a time (``WriteQueue.take_piece``: runs under ``JOIN_BELOW`` joined up to
  ``JOINED_MAX``, larger buffers by reference). A piece the kernel did not take whole stays in
  flight until its write future resolves, and nothing more is handed over meanwhile
  (``flush_pending`` stays true), so a full socket costs no syscall per queued buffer.
  ``write_buffer_size()`` is the queue plus the piece in flight (Tornado has no public count
  of what an ``IOStream`` holds). Flush after read: what the handlers of received data emit
  leaves right after ``_on_data_available`` returns.
* reads: ``IOStream.read_into`` the one ``READ_SIZE`` buffer (``partial=True``: no intermediate
  copy), at most one read per loop iteration. A read ending in ``StreamClosedError`` is the one
  place a lost stream is detected (a failed write closes the ``IOStream`` too): the OS error
  (``real_error``) is chained.
* ``write_last`` (disconnect): ``write(b"")`` retries the ``IOStream``'s own pending bytes once,
  then the queue without waiting.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import socket
from typing import Any, List, Optional, Tuple, Union, cast

from tornado import gen
from tornado.concurrent import Future
from tornado.iostream import IOStream, StreamClosedError
from tornado.netutil import Resolver
from tornado.tcpclient import TCPClient
from tornado.util import TimeoutError as TornadoTimeoutError

from amqpbase import exceptions
from amqpbase.connection import Connection

from .._transport import errors, strategies
from .._transport.limits import JOIN_BELOW, JOINED_MAX, READ_SIZE
from .._transport.sockopts import apply_socket_options
from .._transport.tls import server_hostname
from .._transport.transport import ONE_TASK_TRANSITIONS, StreamState, Transport
from .loop import TornadoLoop

LOGGER = logging.getLogger(f"{__package__}.connection")

_Piece = Union[bytes, memoryview]  # what the queue holds (emit queues a bytearray as a view)
_Address = Tuple[int, Any]  # (family, sockaddr), as Tornado's Resolver.resolve returns them
#: Both names of a timeout: ``TCPClient`` raises the builtin, ``gen.with_timeout`` Tornado's
#: alias of ``asyncio.TimeoutError`` (the same class from Python 3.11 on).
_TIMEOUTS = (TimeoutError, TornadoTimeoutError)


class _Resolved(Resolver):
    """A ``Resolver`` answering with addresses resolved beforehand, so ``TCPClient`` only
    connects (the resolution is a phase of its own, with its own error class)."""

    def initialize(self, addresses: List[_Address]) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> List[_Address]:
        return self.addresses


class TornadoTransport(Transport):
    """One TCP/TLS stream at a time for ``connection`` on ``loop`` (see the module docstring).

    ``stream`` is the ``IOStream`` while there is one; ``sock`` its socket while the direct
    sendmsg strategy applies (plain TCP), else ``None``.
    """

    logger = LOGGER
    strategies = strategies.TORNADO

    def __init__(self, connection: Connection, loop: TornadoLoop) -> None:
        super().__init__(connection, loop, ONE_TASK_TRANSITIONS)
        self.ioloop = loop.ioloop
        self.stream: Optional[IOStream] = None
        self.connect_task: Optional[asyncio.Task[IOStream]] = None
        self.in_flight = 0  # bytes handed to the IOStream, write future not yet resolved
        self.rbuf = bytearray(READ_SIZE)
        self.rview = memoryview(self.rbuf)

    def write_buffer_size(self) -> int:
        """Bytes queued here or held by the ``IOStream``, not yet known to be sent."""
        return self.queue.size + self.in_flight

    # ------------------------------------------------------------------ connecting

    def start_connect(self, attempt: object) -> None:
        # Start from the loop: the call may come from outside it (create_connection), and the
        # task, TCPClient and IOStream must find this loop as the running one.
        self.ioloop.add_callback(self.start_task, attempt)

    def start_task(self, attempt: object) -> None:
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
            raise errors.resolve_failed(where, exc) from exc
        finally:
            resolver.close()
        if not addresses:
            raise errors.resolve_failed(where, "no address")

        client = TCPClient(resolver=_Resolved(addresses))
        try:
            stream = await client.connect(host, port, timeout=timeout)
        except _TIMEOUTS as exc:
            raise errors.connect_timed_out(where, exc) from exc
        except OSError as exc:  # StreamClosedError carries the OS error as real_error
            cause = exc.real_error if isinstance(exc, StreamClosedError) else None
            cause = cause or exc
            # TCPClient reports the last address's error only; its own timeout is mapped above.
            error, cause = errors.connect_error(where, str(cause), [cause])
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
            raise errors.cannot_connect(where, exc) from exc
        if params.ssl_options is None:
            return stream
        return await self.start_tls(stream, params, timeout)

    async def start_tls(self, stream: IOStream, params: Any, timeout: Optional[float]) -> IOStream:
        where = self.where()
        try:
            handshake = stream.start_tls(
                False,
                ssl_options=params.ssl_options.context,
                server_hostname=server_hostname(params),
            )
        except (OSError, ValueError) as exc:
            stream.close()
            raise errors.tls_setup_failed(where, exc) from exc
        try:
            if timeout is None:
                return await handshake
            secured: IOStream = await gen.with_timeout(
                datetime.timedelta(seconds=timeout), handshake
            )
            return secured
        except _TIMEOUTS:
            timed_out = errors.tls_handshake_timed_out(where, timeout)
            raise timed_out from timed_out.__cause__
        except (OSError, ValueError) as exc:  # SSLError, CertificateError, reset, EOF
            cause = exc.real_error if isinstance(exc, StreamClosedError) else None
            cause = cause or exc
            raise errors.tls_handshake_failed(where, cause) from cause
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
            self.stream_open(task.result())
            return
        if isinstance(error, exceptions.AMQPConnectionError):
            self.fail(error, error.__cause__)  # raised by open_stream, cause chained
        else:  # not foreseen: keep it
            wrapped = exceptions.SocketConnectError(f"{self.where()}: cannot connect: {error}")
            self.fail(wrapped, error)

    def stream_open(self, stream: IOStream) -> None:
        self.stream = stream
        # The direct-sendmsg strategy (IOStream.socket is public), or None: IOStream's path.
        self.sock = strategies.direct_socket(self.strategies, stream.socket, self.params)
        self.ioloop.add_callback(self.read_loop, stream)
        self.stream_up()

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
            self.deliver(view[:filled])  # the base copies what it keeps; flush after read
            # At most one read per loop iteration (as select's one recv per readiness event):
            # a stream that always has data must not starve timers and the write flush. A read
            # that waited for the loop already let it run once.
            if inline:
                await asyncio.sleep(0)

    def flush(self) -> None:
        if self.in_flight:
            return  # the write future resumes the pump (flush_pending stays true)
        self.flush_pending = False
        if self.state is StreamState.OPEN and self.queue.buffers:
            self.pump()

    def pump(self, notify: bool = True) -> None:
        """Send the queue: the direct-sendmsg strategy while the IOStream holds nothing (so
        nothing of ours is ahead in it); the fallback, the IOStream, piece by piece while the
        kernel takes each one whole. Stop at the first piece it does not (its write future
        resumes the pump; ``flush_pending`` stays true meanwhile)."""
        stream, queue = self.stream, self.queue
        assert stream is not None
        self.drain_owed = True
        while queue.buffers:
            if self.sock is not None and not stream.writing():
                try:
                    strategies.send_direct_while_idle(queue, self.sock)
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
            piece = cast(_Piece, queue.take_piece(JOIN_BELOW, JOINED_MAX))
            self.in_flight = len(piece)
            try:
                written = stream.write(piece)
            except StreamClosedError:  # the reader reports the lost stream
                self.drop_queue()
                return
            if not written.done():
                self.flush_pending = True
                self.ioloop.add_future(written, functools.partial(self.on_written, stream))
                return
            self.in_flight = 0
            if written.exception() is not None:  # the write failed and closed the stream
                self.drop_queue()
                return
        if notify:
            self.flushed()

    def on_written(self, stream: IOStream, written: "Future[None]") -> None:
        if stream is not self.stream:
            return  # disconnected meanwhile
        self.in_flight = 0
        self.flush_pending = False
        if written.exception() is not None:
            self.drop_queue()
        elif self.queue.buffers:
            self.pump()
        else:
            self.flushed()

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
        self.flush_pending = False

    # ------------------------------------------------------------------ ending a stream
    # (fail, lose_stream and notify_disconnected: Transport's, the same on every loop)

    def lose_stream(self, exc: Optional[BaseException]) -> None:
        """As on the other loops, with the OS error out of Tornado's ``StreamClosedError``."""
        super().lose_stream(exc.real_error if isinstance(exc, StreamClosedError) else exc)

    def release(self) -> None:
        if self.connect_task is not None:
            # Cancelling reaches whatever the task awaits: the resolver, TCPClient (which
            # closes its pending sockets) or the TLS handshake (closed in start_tls).
            self.connect_task.cancel()
            self.connect_task = None
        stream, self.stream = self.stream, None
        self.sock = None
        if stream is not None:
            stream.close()  # the pending read ends with StreamClosedError, ignored
        self.in_flight = 0


__all__ = ["TornadoTransport"]
