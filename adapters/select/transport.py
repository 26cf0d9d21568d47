"""SocketTransport: the one TCP/TLS byte stream of a :class:`SelectConnection`, on the select
:class:`IOLoop`.

The transport does the socket work behind SelectConnection's hooks and reports back through the
base ``Connection``'s up-calls (``_on_stream_connected``, ``_on_data_available``,
``_on_write_buffer_drained``, ``_on_stream_terminated``); it knows nothing of AMQP. It is a
separate object from the connection, so its names can never collide with the base's private
ones.

Contract:

* One stream at a time, driven by one transition table (``STREAM_TRANSITIONS``): ``connect()``
  from ``IDLE`` resolves the host on a worker thread (the only blocking call, off the loop),
  tries each address in turn with a non-blocking connect (``socket_timeout`` per address), then
  does a non-blocking TLS handshake when ``ssl_options`` is set (``socket_timeout`` again) and
  calls ``_on_stream_connected()``. A failure at any step ends in exactly one
  ``_on_stream_terminated(error)`` with an :mod:`amqpbase.exceptions` error whose
  ``__cause__`` is the underlying error. An event the table does not list for the current
  state raises ``RuntimeError``. The table, the resolver's answer (``on_resolved``), the
  connect error once every address failed and the ways a stream ends (``fail``,
  ``lose_stream``) are ``AddressByAddressStream``'s (``adapters/_stream_common.py``), shared
  with the Twisted adapter; this module does the socket work.
* Writes are coalesced: ``emit`` queues buffers by reference (no copy, no syscall) in a
  ``WriteQueue`` (``adapters/_write_queue.py``, shared with the other adapters) and asks the
  loop for one before-poll flush, which hands every queued buffer to the kernel with one
  ``sendmsg`` (``WriteQueue.send_direct``: at most 1024 buffers and about 4 MiB per call). TLS
  has no ``sendmsg``: one ``send`` per piece, buffers under ``_TLS_JOIN_BELOW`` joined up to
  ``_TLS_CHUNK`` and larger ones as they are, and a retry repeats the same bytes. What the
  kernel does not take waits for WRITE readiness; ``_on_write_buffer_drained()`` follows each
  flush that empties the queue.
* Reads go into one preallocated ``_READ_SIZE`` buffer; the view handed to
  ``_on_data_available`` is only valid during the call (the base copies what it keeps).
* ``disconnect()`` makes one last non-blocking write of the bytes already queued, never waits
  for it, closes the socket and reports ``_on_stream_terminated(None)`` from a loop callback
  (never from inside the down-call). A repeat, or a disconnect after the stream ended, does
  nothing.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import threading
from typing import Any, Callable, List, Optional, Tuple, Union

from amqpbase import exceptions
from amqpbase.connection import Connection

from .._socket_options import apply_socket_options
from .._stream_common import AddressByAddressStream, StreamState
from .._write_queue import WriteQueue
from .ioloop import IOLoop, _Timeout

# The logger keeps the name it had when the transport lived in connection.py, so logging
# configured for "<package>.select.connection" still sees these records.
LOGGER = logging.getLogger(f"{__package__}.connection")

#: What ``emit`` accepts and queues by reference.
Buffer = Union[bytes, bytearray, memoryview]
_AddrInfo = Tuple[Any, ...]  # (family, type, proto, canonname, sockaddr) from getaddrinfo

_READ_SIZE = 256 * 1024  # one preallocated receive buffer per connection
#: TLS has no ``sendmsg``: buffers under this size (frame headers, small publishes) are joined
#: into one ``send`` up to ``_TLS_CHUNK`` bytes; larger ones (body slices) go as they are.
_TLS_JOIN_BELOW = 16 * 1024
_TLS_CHUNK = 256 * 1024
_IN_PROGRESS = (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
#: ``emit`` runs once per frame or publish: a module constant is one lookup where
#: ``StreamState.OPEN`` is two (a global, then the Enum class attribute), about half its cost.
_OPEN = StreamState.OPEN


class SocketTransport(AddressByAddressStream):
    """One TCP/TLS stream at a time for ``connection``, on ``ioloop`` (see the module contract).

    ``state`` is a :class:`StreamState`; ``queue`` the :class:`WriteQueue` of what is not yet
    taken by the kernel (``queue.size`` bytes). ``socket_class`` makes the sockets (tests
    substitute a counting subclass).
    """

    socket_class: Callable[..., socket.socket] = socket.socket  # tests count syscalls with it

    def __init__(self, connection: Connection, ioloop: IOLoop) -> None:
        super().__init__(connection)
        self.ioloop = ioloop
        self.sock: Optional[socket.socket] = None
        self.fd = -1
        self.sockaddr: Any = None  # address of the connect in progress
        self.timer: Optional[_Timeout] = None
        self.queue = WriteQueue()
        self.want_write = False  # WRITE interest registered after a partial write
        self.flush_requested = False
        self.tls_retry: Optional[Buffer] = None  # OpenSSL wants a retry with the same bytes
        self.rview = memoryview(bytearray(_READ_SIZE))

    # ------------------------------------------------------------------ down-calls

    def connect(self, params: Any) -> None:
        """Open a stream to ``params.host``/``params.port`` (``ssl_options``, ``tcp_options``,
        ``socket_timeout`` apply). Only from ``IDLE`` (else ``RuntimeError``); the outcome is
        reported by an up-call, never from inside this call."""
        attempt = self.start_attempt(params)
        host, port, loop = params.host, params.port, self.ioloop

        def resolve() -> None:  # worker thread: the only blocking call, off the loop
            result: Union[List[_AddrInfo], BaseException]
            try:
                result = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            except Exception as exc:  # noqa: BLE001 - gaierror, UnicodeError, ...
                result = exc
            try:
                loop.add_callback_threadsafe(lambda: self.on_resolved(attempt, result))
            except RuntimeError:
                LOGGER.debug("IOLoop closed before %s:%s was resolved", host, port)

        try:
            threading.Thread(target=resolve, name=f"amqpbase-dns-{host}", daemon=True).start()
        except RuntimeError as error:  # can't start a thread: report it from the loop
            failure = error  # ``error`` is unbound once the except block ends
            loop.add_callback(lambda: self.on_resolved(attempt, failure))

    def disconnect(self) -> None:
        """Drop the stream (one last non-blocking write first) and report
        ``_on_stream_terminated(None)`` from a loop callback; a no-op when there is none."""
        if not self.can("disconnect"):
            return  # a repeat, or the stream already ended
        if self.state is StreamState.OPEN and self.queue.buffers:
            try:  # one last non-blocking write of what is queued (e.g. Connection.CloseOk)
                self.write_some()
            except OSError:
                pass
        self.teardown()
        self.transition("disconnect")
        self.ioloop.add_callback(self.notify_disconnected)

    def emit(self, data: Buffer) -> None:
        """Queue ``data`` by reference for the next before-poll flush; the caller must not
        modify it afterwards. Without an open stream the bytes are dropped (logged at DEBUG)."""
        if self.state is not _OPEN:
            LOGGER.debug("%s: dropped %d bytes emitted without a stream", self.where(), len(data))
            return
        if type(data) is not bytes and isinstance(data, memoryview) and (
            data.ndim != 1 or data.format != "B"
        ):
            data = data.cast("B")
        size = len(data)
        if size:
            # WriteQueue.append, inline: a method call would add ~20% to emit, which runs
            # once per publish (docs/internals.md). By reference: no copy, no syscall.
            queue = self.queue
            queue.buffers.append(data)
            queue.size += size
            if not self.want_write and not self.flush_requested:
                self.flush_requested = True
                self.ioloop._call_before_poll(self.flush_before_poll)

    # ------------------------------------------------------------------ connecting
    # (on_resolved and connect_failed: AddressByAddressStream's, shared with Twisted)

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
            self.timer = self.ioloop.call_later(timeout, lambda: self.on_timeout(timeout))

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.ioloop.remove_timeout(self.timer)
            self.timer = None

    def on_timeout(self, timeout: float) -> None:
        self.timer = None
        error = socket.timeout(f"no answer within socket_timeout={timeout}s")
        if self.state is StreamState.CONNECTING:
            self.close_socket()
            self.errors.append((self.sockaddr, error))
            self.connect_next()
        elif self.state is StreamState.HANDSHAKING:
            self.fail(
                exceptions.SocketTimeoutError(f"{self.where()}: TLS handshake timed out"), error
            )

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
                server_hostname=ssl_options.server_hostname or self.params.host,
                do_handshake_on_connect=False,
            )
        except (OSError, ValueError) as exc:
            self.fail(
                exceptions.TLSHandshakeError(f"{self.where()}: TLS set-up failed: {exc}"), exc
            )
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
            self.fail(
                exceptions.TLSHandshakeError(f"{self.where()}: TLS handshake failed: {exc}"), exc
            )
        else:
            self.cancel_timer()
            self.stream_up()

    def stream_up(self) -> None:
        self.transition("up")
        self.ioloop.update_handler(self.fd, IOLoop.READ)
        self.conn._on_stream_connected()

    # ------------------------------------------------------------------ I/O

    def on_socket_events(self, fd: int, events: int) -> None:
        state = self.state
        if state is StreamState.OPEN:
            if events & IOLoop.WRITE and self.want_write:
                self.flush()
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
                while filled < _READ_SIZE:
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
                self.conn._on_data_available(view[:filled])  # the base copies what it keeps
                if self.sock is not sock:
                    return  # the base disconnected while handling the data
            if eof or error is not None:
                self.lose_stream(error)
                return
            if filled < _READ_SIZE or not isinstance(sock, ssl.SSLSocket):
                return

    def flush_before_poll(self) -> None:
        self.flush_requested = False
        if self.state is StreamState.OPEN and not self.want_write:
            self.flush()

    def flush(self) -> None:
        if not self.queue.buffers:
            return  # nothing queued: no syscall, and no drain notification
        try:
            self.write_some()
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.lose_stream(exc)
            return
        if self.queue.buffers:
            if not self.want_write:
                self.want_write = True
                self.ioloop.update_handler(self.fd, IOLoop.READ | IOLoop.WRITE)
            return
        if self.want_write:
            self.want_write = False
            self.ioloop.update_handler(self.fd, IOLoop.READ)
        self.conn._on_write_buffer_drained()

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
                chunk = queue.peek_piece(_TLS_JOIN_BELOW, _TLS_CHUNK)
            self.tls_retry = chunk  # until accepted: an SSL retry must repeat the same bytes
            sent = sock.send(chunk)
            self.tls_retry = None
            queue.consume(sent)
            if sent < len(chunk):
                return  # the kernel buffer is full: wait for WRITE

    # ------------------------------------------------------------------ ending a stream
    # (lose_stream, fail and notify_disconnected: StreamLifecycle's, the same on every loop)

    def teardown(self) -> None:
        self.attempt = None
        self.addresses = []
        self.cancel_timer()
        self.close_socket()
        self.queue.clear()
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
