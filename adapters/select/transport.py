"""SelectTransport: the one TCP/TLS byte stream of a :class:`SelectConnection`, on the select
:class:`IOLoop`: the loop's part of the shared :class:`Transport` (``adapters/_transport/``).

The stream's life, ``emit``, the flush scheduling, the drain accounting, ``disconnect``, the
resolver's answer and every error text are the shared ones; this module does the socket work:

* connect: ``getaddrinfo`` on a worker thread (the only blocking call, off the loop), then each
  address in turn with a non-blocking connect (``socket_timeout`` per address), then a
  non-blocking TLS handshake (``wrap_socket`` with the user's context and SNI,
  ``socket_timeout`` again). Readiness comes from ``IOLoop.add_handler``/``update_handler``.
* writes: the flush (before the next poll) hands every queued buffer to the kernel with one
  ``sendmsg`` (``WriteQueue.send_direct``: at most 1024 buffers and about 4 MiB per call). TLS
  has no ``sendmsg``: one ``send`` per piece, buffers under ``JOIN_BELOW`` joined up to
  ``JOINED_MAX`` and larger ones as they are, and a retry repeats the same bytes. What the
  kernel does not take waits for WRITE readiness (``flush_pending`` stays true meanwhile).
* reads: into one preallocated ``READ_SIZE`` buffer; the view handed to the base is only valid
  during the call (the base copies what it keeps). Plain TCP: one ``recv`` per readiness event;
  TLS: decrypted records are gathered until the buffer is full.
* ``write_last`` (disconnect): one non-blocking write of what is queued, never a wait.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import threading
from typing import Any, Callable, List, Optional, Tuple, Union

from amqpbase.connection import Connection

from .._transport import errors, strategies
from .._transport.limits import JOIN_BELOW, JOINED_MAX, READ_SIZE
from .._transport.sockopts import apply_socket_options
from .._transport.tls import server_hostname
from .._transport.transport import AddressByAddress, StreamState
from .ioloop import IOLoop, _Timeout
from .loop import SelectLoop

# The logger keeps the name it had when the transport lived in connection.py, so logging
# configured for "<package>.select.connection" still sees these records.
LOGGER = logging.getLogger(f"{__package__}.connection")

_AddrInfo = Tuple[Any, ...]  # (family, type, proto, canonname, sockaddr) from getaddrinfo
_IN_PROGRESS = (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)


class SelectTransport(AddressByAddress):
    """One TCP/TLS stream at a time for ``connection`` on ``loop`` (see the module docstring).

    ``socket_class`` makes the sockets (tests substitute a counting subclass).
    """

    logger = LOGGER
    strategies = strategies.SELECT
    socket_class: Callable[..., socket.socket] = socket.socket

    def __init__(self, connection: Connection, loop: SelectLoop) -> None:
        super().__init__(connection, loop)
        self.ioloop = loop.ioloop
        self.fd = -1
        self.sockaddr: Any = None  # address of the connect in progress
        self.timer: Optional[_Timeout] = None
        self.want_write = False  # WRITE interest registered after a partial write
        self.tls_retry: Optional[Any] = None  # OpenSSL wants a retry with the same bytes
        self.rview = memoryview(bytearray(READ_SIZE))

    # ------------------------------------------------------------------ connecting
    # (on_resolved and connect_failed: AddressByAddress's, shared with Twisted)

    def start_connect(self, attempt: object) -> None:
        params, loop = self.params, self.loop
        host, port = params.host, params.port

        def resolve() -> None:  # worker thread: the only blocking call, off the loop
            result: Union[List[_AddrInfo], BaseException]
            try:
                result = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            except Exception as exc:  # noqa: BLE001 - gaierror, UnicodeError, ...
                result = exc
            try:
                loop.call_soon_threadsafe(lambda: self.on_resolved(attempt, result))
            except RuntimeError:
                LOGGER.debug("IOLoop closed before %s:%s was resolved", host, port)

        try:
            threading.Thread(target=resolve, name=f"amqpbase-dns-{host}", daemon=True).start()
        except RuntimeError as error:  # can't start a thread: report it from the loop
            failure = error  # ``error`` is unbound once the except block ends
            loop.call_soon(lambda: self.on_resolved(attempt, failure))

    def connect_next(self) -> None:
        while self.addresses:
            family, type_, proto, _, sockaddr = self.addresses.pop(0)
            sock: Optional[socket.socket] = None
            try:
                sock = self.socket_class(family, type_, proto)
                sock.setblocking(False)
                apply_socket_options(sock, self.params.tcp_options, LOGGER)
                err = sock.connect_ex(sockaddr)
                if err not in _IN_PROGRESS:
                    raise OSError(err, os.strerror(err))
            except OSError as exc:
                if sock is not None:
                    sock.close()
                self.errors.append((sockaddr, exc))
                continue
            self.sock, self.fd, self.sockaddr = sock, sock.fileno(), sockaddr
            self.ioloop.add_handler(self.fd, self.on_socket_events, IOLoop.WRITE)
            self.start_timer()
            return
        self.connect_failed()

    def start_timer(self) -> None:
        timeout = self.params.socket_timeout
        if timeout is not None:
            self.timer = self.ioloop.call_later(timeout, self.on_timeout)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.ioloop.remove_timeout(self.timer)
            self.timer = None

    def on_timeout(self) -> None:
        self.timer = None
        timeout = self.params.socket_timeout
        if self.state is StreamState.CONNECTING:
            self.close_socket()
            self.errors.append((self.sockaddr, errors.timeout_cause(timeout)))
            self.connect_next()
        elif self.state is StreamState.HANDSHAKING:
            error = errors.tls_handshake_timed_out(self.where(), timeout)
            self.fail(error, error.__cause__)

    def on_tcp_connected(self) -> None:
        assert self.sock is not None
        self.cancel_timer()
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.close_socket()
            self.errors.append((self.sockaddr, OSError(err, os.strerror(err))))
            self.connect_next()
            return
        ssl_options = self.params.ssl_options
        if ssl_options is None:
            self.stream_up()
            return
        self.transition("tls")
        try:  # same file descriptor: the I/O handler stays registered
            self.sock = ssl_options.context.wrap_socket(
                self.sock,
                server_hostname=server_hostname(self.params),
                do_handshake_on_connect=False,
            )
        except (OSError, ValueError) as exc:
            self.fail(errors.tls_setup_failed(self.where(), exc), exc)
            return
        self.start_timer()
        self.handshake()

    def handshake(self) -> None:
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.ioloop.update_handler(self.fd, IOLoop.READ)
        except ssl.SSLWantWriteError:
            self.ioloop.update_handler(self.fd, IOLoop.WRITE)
        except (OSError, ValueError) as exc:  # SSLError, CertificateError, reset, EOF
            self.fail(errors.tls_handshake_failed(self.where(), exc), exc)
        else:
            self.cancel_timer()
            self.stream_up()

    def stream_up(self) -> None:
        self.ioloop.update_handler(self.fd, IOLoop.READ)
        super().stream_up()

    # ------------------------------------------------------------------ I/O

    def on_socket_events(self, fd: int, events: int) -> None:
        state = self.state
        if state is StreamState.OPEN:
            if events & IOLoop.WRITE and self.want_write:
                self.write_ready()
            if events & IOLoop.READ and self.state is StreamState.OPEN:
                self.read()
        elif state is StreamState.CONNECTING:
            self.on_tcp_connected()
        elif state is StreamState.HANDSHAKING:
            self.handshake()

    def read(self) -> None:
        sock, view = self.sock, self.rview
        assert sock is not None
        while True:  # TLS: gather decrypted records until the buffer is full
            filled, eof, error = 0, False, None
            try:
                while filled < READ_SIZE:
                    n = sock.recv_into(view[filled:] if filled else view)
                    if not n:
                        eof = True
                        break
                    filled += n
                    if not isinstance(sock, ssl.SSLSocket):
                        break  # plain TCP: one recv per readiness event
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                error = exc
            if filled:
                self.deliver(view[:filled])  # the base copies what it keeps
                if self.sock is not sock:
                    return  # the base disconnected while handling the data
            if eof or error is not None:
                self.lose_stream(error)
                return
            if filled < READ_SIZE or not isinstance(sock, ssl.SSLSocket):
                return

    def flush(self) -> None:
        """Before the next poll, after an emit (not while waiting for WRITE readiness)."""
        self.flush_pending = False
        if self.state is StreamState.OPEN and not self.want_write:
            self.write_ready()

    def write_ready(self) -> None:
        """Write what the kernel takes; wait for WRITE readiness for the rest; report the
        drain when the queue emptied."""
        if not self.queue.buffers:
            return  # nothing queued: no syscall, and no drain notification
        self.drain_owed = True
        try:
            self.write_some()
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.lose_stream(exc)
            return
        if self.queue.buffers:
            if not self.want_write:
                self.want_write = self.flush_pending = True  # the WRITE event flushes
                self.ioloop.update_handler(self.fd, IOLoop.READ | IOLoop.WRITE)
            return
        if self.want_write:
            self.want_write = self.flush_pending = False
            self.ioloop.update_handler(self.fd, IOLoop.READ)
        self.flushed()

    def write_some(self) -> None:
        """Hand queued buffers to the kernel until it takes less than offered; may raise."""
        sock, queue = self.sock, self.queue
        assert sock is not None
        if not isinstance(sock, ssl.SSLSocket):
            queue.send_direct(sock)
            return
        while queue.buffers:
            chunk = self.tls_retry
            if chunk is None:
                chunk = queue.peek_piece(JOIN_BELOW, JOINED_MAX)
            self.tls_retry = chunk  # until accepted: an SSL retry must repeat the same bytes
            sent = sock.send(chunk)
            self.tls_retry = None
            queue.consume(sent)
            if sent < len(chunk):
                return  # the kernel buffer is full: wait for WRITE

    def write_last(self) -> None:
        if self.queue.buffers:
            try:  # one last non-blocking write of what is queued (e.g. Connection.CloseOk)
                self.write_some()
            except OSError:
                pass

    # ------------------------------------------------------------------ ending a stream

    def release(self) -> None:
        self.cancel_timer()
        self.close_socket()
        self.want_write = False
        self.tls_retry = None

    def close_socket(self) -> None:
        if self.sock is not None:
            self.ioloop.remove_handler(self.fd)
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock, self.fd = None, -1


__all__ = ["SelectTransport"]
