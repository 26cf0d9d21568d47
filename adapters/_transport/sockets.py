"""SocketTransport: the one TCP/TLS byte stream of a connection on a readiness loop (select,
Tornado, asyncio): the socket work of the shared :class:`~.transport.Transport`.

The stream's life, ``emit``, the flush scheduling, the drain accounting, ``disconnect``, the
resolver's answer and every error text are ``transport.py``'s; this module owns a non-blocking
socket and drives it through the readiness part of the loop interface (``loop.py``:
``add_reader``/``remove_reader``/``add_writer``/``remove_writer`` and ``resolve``). It never
imports a loop. What it does:

* connect: ``loop.resolve`` (off the loop thread: a worker thread on select, Tornado's
  configured ``Resolver``, asyncio's ``getaddrinfo``), then each address in turn with a
  non-blocking connect, then a non-blocking TLS handshake (``wrap_socket`` with the user's
  context and SNI). ``socket_timeout`` bounds each address's connect and then the handshake. A
  connect that completes after its deadline counts as timed out even if the loop saw it ready
  first (on loopback a connect is ready on the very next poll, before any timer runs).
* writes: the flush hands every queued buffer to the kernel with one ``sendmsg``
  (``WriteQueue.send_direct``: at most 1024 buffers and about 4 MiB per call). TLS has no
  ``sendmsg``: one ``send`` per piece, buffers under ``JOIN_BELOW`` joined up to
  ``JOINED_MAX`` and larger ones as they are, and a retry repeats the same bytes. What the
  kernel does not take waits for write readiness (``flush_pending`` stays true meanwhile).
* reads: into the loop thread's one ``READ_SIZE`` buffer (:func:`read_view`), shared by every
  connection read on that thread: reads on one thread never overlap, and the base copies what
  it keeps, so a connection costs no receive buffer of its own (500 idle connections used to
  hold 125 MiB). Plain TCP: one ``recv`` per readiness event (a busy stream cannot starve the
  loop); TLS: decrypted records are gathered until the buffer is full.
* ``write_last`` (disconnect): one non-blocking write of what is queued, never a wait.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import threading
import time
from typing import Any, Callable, Optional

from . import errors
from .limits import JOIN_BELOW, JOINED_MAX, READ_SIZE
from .loop import ReadinessLoop, Resolved
from .sockopts import apply_socket_options
from .strategies import Strategies
from .tls import server_hostname
from .transport import StreamState, Transport

_IN_PROGRESS = (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
_S = StreamState


class _ThreadBuffer(threading.local):
    """The receive buffer of the current thread, made on its first read."""

    view: Optional[memoryview] = None


_THREAD_BUFFER = _ThreadBuffer()


def read_view() -> memoryview:
    """The calling thread's ``READ_SIZE`` receive buffer (one per thread, not per connection).

    A view of it handed to the base is valid only during that call: the next read on this
    thread, of any connection, overwrites it."""
    view = _THREAD_BUFFER.view
    if view is None:
        view = _THREAD_BUFFER.view = memoryview(bytearray(READ_SIZE))
    return view


class SocketTransport(Transport):
    """One TCP/TLS stream at a time for ``connection`` on ``loop`` (see the module docstring).

    The adapter gives its loop's write ``strategies`` (``strategies.py``) and its ``logger``
    (records keep the adapter's ``<package>.connection`` name). ``socket_class`` makes the
    sockets (tests substitute a counting subclass). ``sock`` is the socket (an ``SSLSocket``
    once TLS is set up) while there is one, else ``None``.
    """

    socket_class: Callable[..., socket.socket] = socket.socket

    def __init__(self, connection: Any, loop: ReadinessLoop, strategies: Strategies,
                 logger: logging.Logger) -> None:
        super().__init__(connection, loop)
        self.loop: ReadinessLoop = loop
        self.strategies = strategies
        self.logger = logger
        self.fd = -1
        self.sockaddr: Any = None  # address of the connect in progress
        self.timer: Any = None  # socket_timeout of the connect or handshake in progress
        self.deadline = 0.0  # when that timer is due (time.monotonic())
        self.reading = False  # add_reader is in effect for fd
        self.writing = False  # add_writer is in effect for fd
        self.tls_retry: Optional[Any] = None  # OpenSSL wants a retry with the same bytes

    # ------------------------------------------------------------------ connecting
    # (on_resolved and connect_failed: Transport's, shared with Twisted)

    def start_connect(self, attempt: object) -> None:
        self.loop.resolve(self.params.host, self.params.port,
                          lambda result: self.on_resolved(attempt, result))

    def connect_next(self) -> None:
        while self.addresses:
            family, type_, proto, _, sockaddr = self.addresses.pop(0)
            sock: Optional[socket.socket] = None
            try:
                sock = self.socket_class(family, type_, proto)
                sock.setblocking(False)
                apply_socket_options(sock, self.params.tcp_options, self.logger)
                err = sock.connect_ex(sockaddr)
                if err not in _IN_PROGRESS:
                    raise OSError(err, os.strerror(err))
            except OSError as exc:
                if sock is not None:
                    sock.close()
                self.errors.append((sockaddr, exc))
                continue
            self.sock, self.fd, self.sockaddr = sock, sock.fileno(), sockaddr
            self.want(read=False, write=True)  # writable: the connect finished
            self.start_timer()
            return
        self.connect_failed()

    def start_timer(self) -> None:
        timeout = self.params.socket_timeout
        if timeout is not None:
            self.deadline = time.monotonic() + timeout
            self.timer = self.loop.call_later(timeout, self.on_timeout)

    def cancel_timer(self) -> bool:
        """Stop the connect/handshake timer; False if its deadline had passed already."""
        if self.timer is None:
            return True
        self.loop.cancel(self.timer)
        self.timer = None
        return time.monotonic() < self.deadline

    def on_timeout(self) -> None:
        self.timer = None
        timeout = self.params.socket_timeout
        if self.state is _S.CONNECTING:
            self.close_socket()
            self.errors.append((self.sockaddr, errors.timeout_cause(timeout)))
            self.connect_next()
        elif self.state is _S.HANDSHAKING:
            error = errors.tls_handshake_timed_out(self.where(), timeout)
            self.fail(error, error.__cause__)

    def on_tcp_connected(self) -> None:
        assert self.sock is not None
        if not self.cancel_timer():
            self.on_timeout()  # ready, but later than socket_timeout allows
            return
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
        try:  # same file descriptor: the readiness callbacks stay registered
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
            self.want(read=True, write=False)
        except ssl.SSLWantWriteError:
            self.want(read=False, write=True)
        except (OSError, ValueError) as exc:  # SSLError, CertificateError, reset, EOF
            self.fail(errors.tls_handshake_failed(self.where(), exc), exc)
        else:
            if not self.cancel_timer():
                self.on_timeout()
                return
            self.stream_up()

    def stream_up(self) -> None:
        self.want(read=True, write=False)
        super().stream_up()

    # ------------------------------------------------------------------ readiness

    def want(self, read: bool, write: bool) -> None:
        """Register exactly the readiness callbacks asked for on ``fd``."""
        loop, fd = self.loop, self.fd
        if read != self.reading:
            self.reading = read
            if read:
                loop.add_reader(fd, self.on_readable)
            else:
                loop.remove_reader(fd)
        if write != self.writing:
            self.writing = write
            if write:
                loop.add_writer(fd, self.on_writable)
            else:
                loop.remove_writer(fd)

    def on_readable(self) -> None:
        state = self.state
        if state is _S.OPEN:
            self.read()
        elif state is _S.HANDSHAKING:
            self.handshake()

    def on_writable(self) -> None:
        state = self.state
        if state is _S.OPEN:
            self.write_ready()
        elif state is _S.CONNECTING:
            self.on_tcp_connected()
        elif state is _S.HANDSHAKING:
            self.handshake()

    # ------------------------------------------------------------------ I/O

    def read(self) -> None:
        sock, view = self.sock, read_view()
        assert sock is not None
        tls = isinstance(sock, ssl.SSLSocket)
        while True:  # TLS: gather decrypted records until the buffer is full
            filled, eof, error = 0, False, None
            try:
                while filled < READ_SIZE:
                    n = sock.recv_into(view[filled:] if filled else view)
                    if not n:
                        eof = True
                        break
                    filled += n
                    if not tls:
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
            if filled < READ_SIZE or not tls:
                return

    def flush(self) -> None:
        """After an emit (not while waiting for write readiness)."""
        self.flush_pending = False
        if self.state is _S.OPEN and not self.writing:
            self.write_ready()

    def write_ready(self) -> None:
        """Write what the kernel takes; wait for write readiness for the rest; report the
        drain when the queue emptied."""
        if not self.queue.buffers:
            if self.writing:
                self.flush_pending = False
                self.want(read=True, write=False)
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
            if not self.writing:
                self.flush_pending = True  # write readiness flushes
                self.want(read=True, write=True)
            return
        if self.writing:
            self.flush_pending = False
            self.want(read=True, write=False)
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
                return  # the kernel buffer is full: wait for write readiness

    def write_last(self) -> None:
        if self.queue.buffers:
            try:  # one last non-blocking write of what is queued (e.g. Connection.CloseOk)
                self.write_some()
            except OSError:
                pass

    # ------------------------------------------------------------------ ending a stream

    def release(self) -> None:
        if self.timer is not None:
            self.loop.cancel(self.timer)
            self.timer = None
        self.close_socket()
        self.tls_retry = None

    def close_socket(self) -> None:
        if self.sock is not None:
            self.want(read=False, write=False)
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock, self.fd = None, -1


def resolve_on_thread(loop: Any, host: str, port: int,
                      on_done: Callable[[Resolved], Any]) -> None:
    """``getaddrinfo`` on a worker thread (the only blocking call, off the loop), its entries
    or its error handed to ``on_done`` on the loop thread (``loop.call_soon_threadsafe``)."""

    def resolve() -> None:
        result: Resolved
        try:
            result = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        except Exception as exc:  # noqa: BLE001 - gaierror, UnicodeError, ...
            result = exc
        try:
            loop.call_soon_threadsafe(lambda: on_done(result))
        except RuntimeError:
            pass  # the loop was closed before the answer came: nobody is waiting

    try:
        threading.Thread(target=resolve, name=f"amqpbase-dns-{host}", daemon=True).start()
    except RuntimeError as error:  # can't start a thread: report it from the loop
        failure = error  # ``error`` is unbound once the except block ends
        loop.call_soon(lambda: on_done(failure))


__all__ = ["SocketTransport", "read_view", "resolve_on_thread"]
