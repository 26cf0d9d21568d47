"""A loopback TCP proxy between a client under test and the broker, with link faults that the
test controls from its own thread.

:class:`LinkProxy` listens on ``127.0.0.1:``:attr:`~LinkProxy.port`, connects each client it
accepts to the upstream address and forwards bytes both ways from a background thread (a
``selectors`` loop; the test's event loop keeps the main thread). Controls (``drop``,
``black_hole``, ``slow``, ``truncate_downstream_after``, ``resume``) are thread-safe, apply to
every current link and return once the proxy thread applied them, so a test may time a fault
from the moment the call returns. ``bytes_up``/``bytes_down`` count bytes delivered to the
broker/client. Each direction buffers at most :data:`BUFFER_LIMIT` bytes, then stops reading,
so a slow link pushes back on the sender as a slow network does; an orderly EOF is passed on
once what came before it was sent. A test tool: it trusts its peers, resolves no name.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from typing import List, Optional, Tuple

#: Bytes buffered per direction before the proxy stops reading from the sender.
BUFFER_LIMIT = 64 * 1024
#: A slow link sends at most this many seconds' worth of bytes in one burst.
SLOW_BURST_SECONDS = 0.02


class _Pipe:
    """One direction of a link: bytes read from ``source`` wait in ``buffer`` for ``sink``."""

    def __init__(self, source: socket.socket, sink: socket.socket) -> None:
        self.source, self.sink = source, sink
        self.buffer = bytearray()
        self.tokens = 0.0  # slow mode: bytes that may be sent now
        self.source_open = True  # False after an EOF from ``source``


class _Link:
    """A client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.up, self.down = _Pipe(client, upstream), _Pipe(upstream, client)
        self.truncate_left: Optional[int] = None  # bytes still to pass before the cut


def _abort(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST (SO_LINGER on, zero timeout: the RFC 793 abort)."""
    with contextlib.suppress(OSError):  # OSError: already closed
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class LinkProxy:
    """See the module docstring. ``upstream`` is the broker's ``(host, port)``; clients
    connect to ``127.0.0.1:``:attr:`port`. It serves from construction until :meth:`close`."""

    def __init__(self, upstream: Tuple[str, int]) -> None:
        self.upstream = upstream
        self.bytes_up = self.bytes_down = 0
        self._lock = threading.Condition()
        self._requested = self._applied = 0  # generations of the controls (see _set)
        self._mode = "forward"  # forward | black_hole | drop
        self._read_in_black_hole = True
        self._rate: Optional[float] = None
        self._truncate: Optional[int] = None  # a truncate_downstream_after(n) to apply
        self._truncate_new: Optional[int] = None  # ... and the same for later clients
        self._stopping = False
        self._links: List[_Link] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="link-proxy", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ controls (any thread)

    def drop(self) -> None:
        """Abort every link with a TCP RST on both sides (``SO_LINGER`` on, timeout 0); later
        clients are aborted as soon as they are accepted (until :meth:`resume`)."""
        self._set(mode="drop")

    def black_hole(self, read: bool = True) -> None:
        """Keep the sockets open and forward nothing either way. ``read``: read and discard
        (the client's writes succeed, nothing comes back); else read nothing (the client's
        buffers fill up). An upstream that gives up meanwhile is closed, the client not told."""
        self._set(mode="black_hole", read=read)

    def slow(self, bytes_per_second: float) -> None:
        """Forward at most ``bytes_per_second`` (> 0) each way (a token bucket, bursts of at
        most :data:`SLOW_BURST_SECONDS` worth)."""
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be > 0")
        self._set(rate=float(bytes_per_second), set_rate=True)

    def truncate_downstream_after(self, n: int) -> None:
        """Pass ``n`` (>= 0) more bytes to each client (current ones, and each later one from
        its start until :meth:`resume`), then close its side with an orderly EOF (FIN),
        wherever a frame stands, and reset its upstream."""
        if n < 0:
            raise ValueError("n must be >= 0")
        self._set(truncate=n)

    def resume(self) -> None:
        """Forward normally again, at full speed (bytes a reading black hole discarded stay
        lost; a non-reading one lost none, so a stall can end cleanly)."""
        self._set(mode="forward", set_rate=True)

    def close(self) -> None:
        """Stop and join the proxy thread, then abort every link and close every socket."""
        with self._lock:
            self._stopping = True
            self._wake_w.send(b"x")
        self._thread.join(5.0)
        for link in list(self._links):
            self._remove(link, abort=True)
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    def _set(self, mode: Optional[str] = None, read: bool = True, rate: Optional[float] = None,
             set_rate: bool = False, truncate: Optional[int] = None) -> None:
        with self._lock:
            if mode is not None:
                self._mode, self._read_in_black_hole = mode, read
                if mode == "forward":
                    self._truncate_new = None
            if set_rate:
                self._rate = rate
            if truncate is not None:
                self._truncate = self._truncate_new = truncate
            self._requested += 1
            generation = self._requested
            self._wake_w.send(b"x")
            if not self._lock.wait_for(lambda: self._applied >= generation, 5.0):
                raise RuntimeError("the proxy thread did not apply the control within 5 s")

    # ------------------------------------------------------------------ the proxy thread

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            with self._lock:
                if self._stopping:
                    return
                mode, read_bh, rate = self._mode, self._read_in_black_hole, self._rate
                truncate, self._truncate = self._truncate, None
                generation = self._requested
            now = time.monotonic()
            elapsed, last = now - last, now
            for link in list(self._links):
                if mode == "drop":
                    self._remove(link, abort=True)
                elif truncate is not None:
                    link.truncate_left = truncate
                    if truncate == 0:
                        self._remove(link, abort=True, eof_to_client=True)
            with self._lock:
                self._applied = generation
                self._lock.notify_all()
            # A fresh selector per turn: interests follow the mode, buffers and tokens.
            self._selector.close()
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._wake_r, selectors.EVENT_READ)
            self._selector.register(self._listener, selectors.EVENT_READ)
            for link in self._links:
                for pipe in (link.up, link.down):
                    self._register(link, pipe, mode, read_bh, rate, elapsed)
            for key, events in self._selector.select(0.005 if rate is not None else None):
                if key.fileobj is self._wake_r:
                    self._wake_r.recv(4096)
                elif key.fileobj is self._listener:
                    self._accept(mode)
                else:
                    for pipe in (key.data.up, key.data.down):
                        if key.data not in self._links:
                            break
                        if events & selectors.EVENT_READ and pipe.source is key.fileobj:
                            self._read(key.data, pipe, mode)
                        elif events & selectors.EVENT_WRITE and pipe.sink is key.fileobj:
                            self._write(key.data, pipe, rate)

    def _register(self, link: _Link, pipe: _Pipe, mode: str, read_bh: bool,
                  rate: Optional[float], elapsed: float) -> None:
        """Watch ``pipe.source`` for reading and/or ``pipe.sink`` for writing, as allowed."""
        if rate is not None:
            pipe.tokens = min(pipe.tokens + rate * elapsed, max(rate * SLOW_BURST_SECONDS, 1.0))
        may_read = pipe.source_open and (
            (mode == "black_hole" and read_bh)
            or (mode == "forward" and len(pipe.buffer) < BUFFER_LIMIT)
        )
        may_write = mode == "forward" and bool(pipe.buffer) and (rate is None or pipe.tokens >= 1)
        for sock, event, wanted in ((pipe.source, selectors.EVENT_READ, may_read),
                                    (pipe.sink, selectors.EVENT_WRITE, may_write)):
            if not wanted or sock.fileno() < 0:
                continue
            try:  # one registration per socket: merge the interests of its two pipes
                key = self._selector.get_key(sock)
                self._selector.modify(sock, key.events | event, link)
            except KeyError:
                self._selector.register(sock, event, link)

    def _accept(self, mode: str) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if mode == "drop":
            _abort(client)
            return
        upstream = socket.create_connection(self.upstream, timeout=2.0)
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, upstream)
        link.truncate_left = self._truncate_new
        self._links.append(link)

    def _read(self, link: _Link, pipe: _Pipe, mode: str) -> None:
        try:
            data = pipe.source.recv(BUFFER_LIMIT)
        except BlockingIOError:
            return
        except OSError:  # reset by that peer: reset the other one too
            self._remove(link, abort=True)
            return
        if data:
            if mode == "forward":
                pipe.buffer += data
            return
        pipe.source_open = False  # an orderly EOF
        if mode == "black_hole" and pipe is link.down:
            link.upstream.close()  # the broker gave up on the silent link: keep it hidden
            return
        self._finish_direction(link, pipe)

    def _write(self, link: _Link, pipe: _Pipe, rate: Optional[float]) -> None:
        size = len(pipe.buffer)
        if rate is not None:
            size = min(size, int(pipe.tokens))
        if pipe is link.down and link.truncate_left is not None:
            size = min(size, link.truncate_left)
        try:
            sent = pipe.sink.send(memoryview(pipe.buffer)[:size])
        except BlockingIOError:
            return
        except OSError:
            self._remove(link, abort=True)
            return
        del pipe.buffer[:sent]
        if rate is not None:
            pipe.tokens -= sent
        if pipe is link.up:
            self.bytes_up += sent
        else:
            self.bytes_down += sent
            if link.truncate_left is not None:
                link.truncate_left -= sent
                if link.truncate_left <= 0:
                    self._remove(link, abort=True, eof_to_client=True)
                    return
        self._finish_direction(link, pipe)

    def _finish_direction(self, link: _Link, pipe: _Pipe) -> None:
        """Pass an EOF on once everything read before it was sent; close the link when both
        directions have ended."""
        if pipe.source_open or pipe.buffer:
            return
        with contextlib.suppress(OSError):
            pipe.sink.shutdown(socket.SHUT_WR)
        other = link.down if pipe is link.up else link.up
        if not other.source_open and not other.buffer:
            self._remove(link, abort=False)

    def _remove(self, link: _Link, abort: bool, eof_to_client: bool = False) -> None:
        """Close both sockets of ``link``, with an RST when ``abort``; ``eof_to_client``: the
        client gets an orderly EOF instead (the cut of truncate_downstream_after)."""
        if eof_to_client:
            with contextlib.suppress(OSError):
                link.client.shutdown(socket.SHUT_RDWR)
            link.client.close()
        for sock in (link.client, link.upstream):
            if abort:
                _abort(sock)
            else:
                sock.close()
        if link in self._links:
            self._links.remove(link)
