"""The select adapter on real loopback sockets: IOLoop behaviour and SelectConnection's hooks.

No mocks: every test runs a real :class:`IOLoop` and real sockets on 127.0.0.1. The
SelectConnection tests use the real base ``Connection``; a test may subclass SelectConnection to
*observe* an up-call (record it, then call the base), or call a down-call hook itself the way
the base would. Syscalls are counted with ``socket.socket`` / ``ssl.SSLSocket`` subclasses
whose ``sendmsg``/``send`` count and then call the real method.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import pytest

from amqpbase import exceptions
from amqpbase.adapters.select import IOLoop, SelectConnection
from amqpbase.parameters import ConnectionParameters, SSLOptions

from .loopback import Server, params, self_signed, tls_server

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
# A name that getaddrinfo() rejects locally, without a DNS query: its 319 characters exceed the
# 253 a DNS name may have (checked with strace: no packet is sent). ``nonexistent.invalid``
# would send a query to the machine's resolver, and tests send traffic to loopback only.
UNRESOLVABLE_HOST = ".".join(["a" * 63] * 5)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def run_loop(loop: IOLoop, timeout: float = 10.0) -> None:
    """Run ``loop`` until a callback stops it; fail the test if ``timeout`` passes first."""
    expired: List[bool] = []

    def guard() -> None:
        expired.append(True)
        loop.stop()

    handle = loop.call_later(timeout, guard)
    loop.start()
    loop.remove_timeout(handle)
    assert not expired, f"the loop was not stopped within {timeout}s"


def stop_when_drained(loop: IOLoop, conn: "Probe") -> None:
    """Stop ``loop`` once ``conn`` reported its write buffer drained (checked every 20 ms)."""
    if conn.drained:
        loop.stop()
    else:
        loop.call_later(0.02, lambda: stop_when_drained(loop, conn))


@pytest.fixture
def loop() -> Any:
    ioloop = IOLoop()
    yield ioloop
    ioloop.close()


class CountingSocket(socket.socket):
    """A real socket that counts its send system calls and what each one took."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sendmsg_calls: List[Tuple[int, int, int]] = []  # (buffers, offered, sent)

    def sendmsg(self, buffers: Any, *args: Any) -> int:  # type: ignore[override]
        buffers = list(buffers)
        offered = sum(memoryview(b).nbytes for b in buffers)
        try:
            sent = super().sendmsg(buffers, *args)
        except BlockingIOError:
            self.sendmsg_calls.append((len(buffers), offered, -1))
            raise
        self.sendmsg_calls.append((len(buffers), offered, sent))
        return sent


class CountingSSLSocket(ssl.SSLSocket):
    send_calls: List[int]
    sent_objects: List[Any]  # what each send was given, by reference

    def send(self, data: Any, flags: int = 0) -> int:
        if not hasattr(self, "send_calls"):
            self.send_calls, self.sent_objects = [], []
        self.send_calls.append(memoryview(data).nbytes)
        self.sent_objects.append(data)
        return super().send(data, flags)


class Probe(SelectConnection):
    """SelectConnection that records the up-calls it receives, then lets the base act."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: List[str] = []
        self.terminations: List[Optional[BaseException]] = []
        self.in_downcall = False
        self.on_connected: Optional[Callable[["Probe"], None]] = None
        self.drained = 0
        self.sock: Any = None  # the connected socket, kept for inspection after teardown
        # These tests watch the transport, not the open: an open error is recorded here
        # instead of being raised out of ioloop.start() (the default without a callback).
        self.open_errors: List[BaseException] = []
        if len(args) < 3:
            kwargs.setdefault("on_open_error_callback",
                              lambda _conn, exc: self.open_errors.append(exc))
        super().__init__(*args, **kwargs)

    def _on_stream_connected(self) -> None:
        self.events.append("connected")
        self.sock = self.transport.sock
        super()._on_stream_connected()
        if self.on_connected is not None:
            self.on_connected(self)

    def _on_stream_terminated(self, error: Optional[BaseException]) -> None:
        assert not self.in_downcall, "_on_stream_terminated called from inside a down-call"
        self.events.append("terminated")
        self.terminations.append(error)
        super()._on_stream_terminated(error)

    def _on_write_buffer_drained(self) -> None:
        self.drained += 1
        super()._on_write_buffer_drained()

    def _adapter_disconnect_stream(self) -> None:
        self.in_downcall = True
        try:
            super()._adapter_disconnect_stream()
        finally:
            self.in_downcall = False


def open_error(
    loop: IOLoop, parameters: ConnectionParameters, timeout: float = 10.0
) -> Tuple[Probe, BaseException]:
    """Open a Probe that must fail; return it with the error given to on_open_error_callback."""
    errors: List[BaseException] = []

    def on_error(_conn: Any, exc: BaseException) -> None:
        errors.append(exc)
        loop.stop()

    conn = Probe(parameters, on_open_error_callback=on_error, custom_ioloop=loop)
    run_loop(loop, timeout)
    assert len(errors) == 1
    return conn, errors[0]


# ------------------------------------------------------------------------------------------
# IOLoop: timers
# ------------------------------------------------------------------------------------------


def test_timers_fire_in_deadline_order_then_insertion_order(loop: IOLoop) -> None:
    fired: List[str] = []
    loop.call_later(0.03, lambda: fired.append("30ms"))
    loop.call_later(0.01, lambda: fired.append("10ms"))
    loop.call_later(0.02, lambda: fired.append("20ms"))
    loop.call_later(0, lambda: fired.append("now-1"))
    loop.call_later(0, lambda: fired.append("now-2"))
    loop.call_later(0.05, loop.stop)
    run_loop(loop)
    assert fired == ["now-1", "now-2", "10ms", "20ms", "30ms"]


def test_timer_waits_at_least_its_delay(loop: IOLoop) -> None:
    start = time.monotonic()
    at: List[float] = []
    loop.call_later(0.1, lambda: (at.append(time.monotonic()), loop.stop()))
    run_loop(loop)
    assert at[0] - start >= 0.1


def test_remove_timeout_twice_and_after_fire_is_a_noop(loop: IOLoop) -> None:
    fired: List[str] = []
    cancelled = loop.call_later(0.01, lambda: fired.append("cancelled"))
    kept = loop.call_later(0.01, lambda: fired.append("kept"))
    loop.remove_timeout(cancelled)
    loop.remove_timeout(cancelled)
    loop.call_later(0.05, loop.stop)
    run_loop(loop)
    loop.remove_timeout(kept)  # after it fired
    loop.remove_timeout(kept)
    assert fired == ["kept"]


def test_timer_may_remove_itself_and_others_while_running(loop: IOLoop) -> None:
    fired: List[str] = []
    handles: List[Any] = []

    def first() -> None:
        fired.append("first")
        loop.remove_timeout(handles[0])  # itself, already fired
        loop.remove_timeout(handles[1])  # due in the same iteration

    handles.append(loop.call_later(0, first))
    handles.append(loop.call_later(0, lambda: fired.append("second")))
    loop.call_later(0.02, loop.stop)
    run_loop(loop)
    assert fired == ["first"]


def test_cancelled_timers_are_dropped_from_the_heap(loop: IOLoop) -> None:
    fired: List[int] = []
    handles = [loop.call_later(60 + i, lambda i=i: fired.append(i)) for i in range(2000)]
    for handle in handles[:1500]:
        loop.remove_timeout(handle)
    # Compaction keeps the heap from holding mostly dead entries.
    assert loop.timer_entries < 1000
    assert len([h for h in handles if not h.done]) == 500
    for handle in handles[1500:]:
        loop.remove_timeout(handle)
    early = [loop.call_later(0.001 * i, lambda i=i: fired.append(i)) for i in range(5)]
    loop.call_later(0.05, loop.stop)
    run_loop(loop)
    assert fired == [0, 1, 2, 3, 4]
    assert all(h.done for h in early)


def test_call_later_rejects_a_non_callable(loop: IOLoop) -> None:
    with pytest.raises(TypeError):
        loop.call_later(1, "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.add_callback_threadsafe(None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# IOLoop: callbacks, threads, start/stop
# ------------------------------------------------------------------------------------------


def test_add_callback_threadsafe_wakes_a_blocked_loop(loop: IOLoop) -> None:
    ran_on: List[int] = []
    loop_thread = threading.get_ident()

    def from_thread() -> None:
        time.sleep(0.2)  # the loop is blocked in select() with nothing to wait for
        loop.add_callback_threadsafe(lambda: (ran_on.append(threading.get_ident()), loop.stop()))

    thread = threading.Thread(target=from_thread)
    start = time.monotonic()
    thread.start()
    run_loop(loop, timeout=10)
    thread.join()
    assert ran_on == [loop_thread]
    assert time.monotonic() - start < 5


def test_many_threads_add_callbacks_none_lost(loop: IOLoop) -> None:
    count: List[int] = []
    total = 8 * 500

    def worker() -> None:
        for _ in range(500):
            loop.add_callback(lambda: (count.append(1), len(count) == total and loop.stop()))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    run_loop(loop, timeout=20)
    for thread in threads:
        thread.join()
    assert len(count) == total


def test_stop_from_another_thread(loop: IOLoop) -> None:
    timer = threading.Timer(0.2, loop.stop)
    start = time.monotonic()
    timer.start()
    run_loop(loop, timeout=10)
    assert 0.15 < time.monotonic() - start < 5


def test_stop_from_a_callback_returns_after_the_current_iteration(loop: IOLoop) -> None:
    ran: List[str] = []

    def first() -> None:
        ran.append("first")
        loop.stop()
        loop.add_callback(lambda: ran.append("next iteration"))

    loop.add_callback(first)
    loop.add_callback(lambda: ran.append("same iteration"))
    run_loop(loop)
    assert ran == ["first", "same iteration"]
    loop.call_later(0.01, loop.stop)
    run_loop(loop)  # the loop can be started again, and runs what was left
    assert ran[-1] == "next iteration"


def test_stop_before_start_makes_start_return_after_one_iteration(loop: IOLoop) -> None:
    ran: List[str] = []
    loop.add_callback(lambda: ran.append("cb"))
    loop.stop()
    start = time.monotonic()
    loop.start()
    assert ran == ["cb"]
    assert time.monotonic() - start < 1


def test_start_is_not_reentrant_and_close_refuses_a_running_loop(loop: IOLoop) -> None:
    errors: List[BaseException] = []

    def nested() -> None:
        for call in (loop.start, loop.close):
            try:
                call()
            except RuntimeError as exc:
                errors.append(exc)
        loop.stop()

    loop.add_callback(nested)
    run_loop(loop)
    assert len(errors) == 2
    loop.close()
    loop.close()  # idempotent
    with pytest.raises(RuntimeError):
        loop.add_callback_threadsafe(lambda: None)


def test_exceptions_in_callbacks_timers_and_handlers_are_logged_not_fatal(
    loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    ran: List[str] = []
    left, right = socket.socketpair()

    def bad_handler(fd: int, events: int) -> None:
        loop.remove_handler(fd)
        raise ValueError("handler boom")

    def boom(what: str) -> Callable[[], None]:
        def fail() -> None:
            raise ValueError(f"{what} boom")

        return fail

    loop.add_handler(left.fileno(), bad_handler, IOLoop.READ)
    right.send(b"x")
    loop.add_callback(boom("callback"))
    loop.call_later(0, boom("timer"))
    loop.call_later(0.05, lambda: (ran.append("after"), loop.stop()))
    with caplog.at_level(logging.ERROR):
        run_loop(loop)
    left.close()
    right.close()
    assert ran == ["after"]
    messages = [r.getMessage() for r in caplog.records if r.exc_info]
    logged = {str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1]}
    assert {"handler boom", "callback boom", "timer boom"} <= logged, messages


def test_before_poll_callbacks_run_before_the_next_poll(loop: IOLoop) -> None:
    order: List[str] = []

    def requested() -> None:
        order.append("before-poll")
        loop.call_before_poll(chained)  # must not wait for an event

    def chained() -> None:
        order.append("chained")
        loop.stop()

    def cb() -> None:
        order.append("callback")
        loop.call_before_poll(requested)

    loop.add_callback(cb)
    start = time.monotonic()
    run_loop(loop, timeout=10)
    assert order == ["callback", "before-poll", "chained"]
    assert time.monotonic() - start < 2  # the loop did not sleep with work requested


# ------------------------------------------------------------------------------------------
# IOLoop: handlers
# ------------------------------------------------------------------------------------------


def test_handlers_read_write_update_and_remove(loop: IOLoop) -> None:
    left, right = socket.socketpair()
    left.setblocking(False)
    seen: List[int] = []

    def handler(fd: int, events: int) -> None:
        seen.append(events)
        if events & IOLoop.READ:
            assert left.recv(10) == b"ping"
            loop.update_handler(fd, IOLoop.WRITE)
        elif events & IOLoop.WRITE:
            loop.remove_handler(fd)
            loop.remove_handler(fd)  # unknown fd: ignored
            loop.call_later(0.05, loop.stop)

    loop.add_handler(left.fileno(), handler, IOLoop.READ)
    with pytest.raises(ValueError):
        loop.add_handler(left, handler, IOLoop.READ)  # fileno() objects accepted; no duplicates
    right.send(b"ping")
    run_loop(loop)
    assert seen == [IOLoop.READ, IOLoop.WRITE]
    with pytest.raises(KeyError):
        loop.update_handler(left.fileno(), IOLoop.READ)
    left.close()
    right.close()


def test_handler_for_a_closed_peer_sees_read(loop: IOLoop) -> None:
    left, right = socket.socketpair()
    seen: List[bytes] = []

    def handler(fd: int, events: int) -> None:
        seen.append(left.recv(10))
        loop.remove_handler(fd)
        loop.stop()

    loop.add_handler(left.fileno(), handler, IOLoop.READ | IOLoop.ERROR)
    right.close()
    run_loop(loop)
    assert seen == [b""]
    left.close()


# ------------------------------------------------------------------------------------------
# SelectConnection: connecting
# ------------------------------------------------------------------------------------------


def test_name_resolution_failure_gives_name_resolution_error(loop: IOLoop) -> None:
    conn, error = open_error(loop, params(5672, host=UNRESOLVABLE_HOST))
    assert type(error) is exceptions.NameResolutionError
    assert isinstance(error.__cause__, socket.gaierror)
    assert f"{UNRESOLVABLE_HOST}:5672" in str(error)
    assert conn.events == ["terminated"]


def test_tcp_connect_timeout_gives_socket_timeout(loop: IOLoop) -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so the next
    # connect stays pending (loopback only).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    try:
        start = time.monotonic()
        _, error = open_error(loop, params(port, socket_timeout=0.5))
        elapsed = time.monotonic() - start
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert type(error) is exceptions.SocketTimeoutError
    assert isinstance(error.__cause__, socket.timeout)
    assert 0.4 < elapsed < 5


def test_connects_sends_protocol_header_and_sets_socket_options(loop: IOLoop) -> None:
    server = Server(lambda sock: server.read_all(sock, len(PROTOCOL_HEADER)))
    seen: List[Any] = []
    options = {"TCP_KEEPIDLE": 61, "TCP_KEEPINTVL": 11, "TCP_KEEPCNT": 4}

    def on_connected(conn: Probe) -> None:
        sock = conn.transport.sock
        assert sock is not None
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        seen.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL))
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))

    errors: List[BaseException] = []
    conn = Probe(
        params(server.port, tcp_options=options),
        on_open_error_callback=lambda c, e: (errors.append(e), loop.stop()),
        custom_ioloop=loop,
    )
    conn.on_connected = on_connected
    run_loop(loop)  # the server closes after the header: the base reports a lost stream
    server.join()
    assert bytes(server.received) == PROTOCOL_HEADER
    assert bool(seen[0]) and bool(seen[1]) and seen[2:] == [61, 11, 4]
    assert conn.events == ["connected", "terminated"]
    assert isinstance(errors[0], exceptions.StreamLostError)
    lost = conn.terminations[0]
    assert type(lost) is exceptions.StreamLostError
    assert isinstance(lost.__cause__, ConnectionError)  # EOF: the peer closed the stream


# ------------------------------------------------------------------------------------------
# SelectConnection: writes (coalescing, partial writes) and reads
# ------------------------------------------------------------------------------------------


def test_emits_are_coalesced_into_one_sendmsg_per_loop_iteration(loop: IOLoop) -> None:
    payload = [b"%06d;" % i for i in range(1000)]
    expected = PROTOCOL_HEADER + b"".join(payload)
    server = Server(lambda sock: server.read_all(sock, len(expected)))
    calls_before_flush: List[int] = []

    def on_connected(conn: Probe) -> None:
        sock = conn.transport.sock
        assert isinstance(sock, CountingSocket)
        for chunk in payload:  # the base calling the hook 1000 times in one callback
            conn._adapter_emit_data(chunk)
        calls_before_flush.append(len(sock.sendmsg_calls))
        assert conn._adapter_get_write_buffer_size() == len(expected)
        loop.call_later(0.3, loop.stop)

    conn = Probe(params(server.port), custom_ioloop=loop)
    conn.transport.socket_class = CountingSocket
    conn.on_connected = on_connected
    run_loop(loop)
    sock = conn.sock
    assert isinstance(sock, CountingSocket)
    server.join()
    assert bytes(server.received) == expected
    assert calls_before_flush == [0]  # emitting made no system call
    # One sendmsg carried the protocol header and the 1000 buffers together.
    assert sock.sendmsg_calls == [(1001, len(expected), len(expected))]
    assert conn._adapter_get_write_buffer_size() == 0
    assert conn.drained == 1


def test_more_buffers_than_iov_max_take_one_sendmsg_per_1024(loop: IOLoop) -> None:
    payload = [b"%05d" % i for i in range(3000)]
    expected = PROTOCOL_HEADER + b"".join(payload)
    server = Server(lambda sock: server.read_all(sock, len(expected)))

    def on_connected(conn: Probe) -> None:
        views = [memoryview(chunk) for chunk in payload]
        for view in views:
            conn._adapter_emit_data(view)
        queued = list(conn.transport.queue.buffers)
        assert all(a is b for a, b in zip(queued[1:], views))  # kept by reference, not copied
        loop.call_later(0.3, loop.stop)

    conn = Probe(params(server.port), custom_ioloop=loop)
    conn.transport.socket_class = CountingSocket
    conn.on_connected = on_connected
    run_loop(loop)
    server.join()
    sock = conn.sock
    assert isinstance(sock, CountingSocket)
    assert bytes(server.received) == expected
    assert [c[0] for c in sock.sendmsg_calls] == [1024, 1024, 953]


def test_partial_writes_to_a_slow_reader_keep_order_and_drain_once(loop: IOLoop) -> None:
    block = bytes(range(256)) * 512  # 128 KiB
    # 32 MiB, more than any kernel's loopback send + receive buffers; no repeating pattern.
    body = b"".join(block[i:] + block[:i] for i in range(256))
    expected = PROTOCOL_HEADER + body
    start_reading = threading.Event()

    def serve(sock: socket.socket) -> None:
        start_reading.wait(10)
        server.read_all(sock, len(expected))

    server = Server(serve)
    sizes: List[int] = []
    view = memoryview(body)

    def on_connected(conn: Probe) -> None:
        for offset in range(0, len(body), 128 * 1024):  # 256 memoryview slices, by reference
            conn._adapter_emit_data(view[offset : offset + 128 * 1024])
        loop.call_later(0.3, check_blocked)

    def check_blocked() -> None:
        sizes.append(conn._adapter_get_write_buffer_size())
        start_reading.set()
        stop_when_drained(loop, conn)

    conn = Probe(params(server.port), custom_ioloop=loop)
    conn.transport.socket_class = CountingSocket
    conn.on_connected = on_connected
    run_loop(loop, timeout=30)
    server.join()
    sock = conn.sock
    assert isinstance(sock, CountingSocket)
    assert 0 < sizes[0] < len(expected)  # the kernel took part of it, the rest waited
    assert any(0 <= sent < offered for _, offered, sent in sock.sendmsg_calls)
    # A full kernel buffer is not offered the whole 32 MiB backlog each time: about 4 MiB
    # (the default tcp_wmem maximum) per sendmsg, so each call builds a few dozen iovecs.
    assert max(offered for _, offered, _ in sock.sendmsg_calls) <= 4 * 1024 * 1024 + 128 * 1024
    assert hashlib.sha256(server.received).digest() == hashlib.sha256(expected).digest()
    assert conn._adapter_get_write_buffer_size() == 0
    assert conn.drained == 1


def test_reads_deliver_every_byte_in_order(loop: IOLoop) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB from the server
    received = bytearray()

    class Reader(Probe):
        def _on_data_available(self, chunk: Any) -> None:
            assert isinstance(chunk, memoryview)
            received.extend(chunk)  # observe only: these bytes are not AMQP
            if len(received) == len(data):
                loop.stop()

    def serve(sock: socket.socket) -> None:
        sock.sendall(data)
        server.read_all(sock, len(PROTOCOL_HEADER))

    server = Server(serve)
    conn = Reader(params(server.port), custom_ioloop=loop)
    run_loop(loop)
    conn._adapter_disconnect_stream()
    loop.call_later(0.05, loop.stop)
    run_loop(loop)
    server.join()
    assert bytes(received) == data


# ------------------------------------------------------------------------------------------
# SelectConnection: TLS
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, and its key."""
    return self_signed(tmp_path_factory.mktemp("tls"))


def client_context(cafile: Optional[Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.sslsocket_class = CountingSSLSocket
    return context


def test_tls_connect_round_trip_and_coalesced_sends(
    loop: IOLoop, tls_files: Tuple[Path, Path]
) -> None:
    payload = [b"%06d;" % i for i in range(2000)]
    expected = PROTOCOL_HEADER + b"".join(payload)
    reply = b"R" * (1024 * 1024)
    received = bytearray()

    def serve(sock: ssl.SSLSocket) -> None:
        server.read_all(sock, len(expected))
        sock.sendall(reply)

    server = tls_server(tls_files, serve)

    class Reader(Probe):
        def _on_data_available(self, chunk: Any) -> None:
            received.extend(chunk)
            if len(received) == len(reply):
                loop.stop()

    def on_connected(conn: Probe) -> None:
        for chunk in payload:
            conn._adapter_emit_data(chunk)

    options = SSLOptions(client_context(tls_files[0]), server_hostname="localhost")
    conn = Reader(params(server.port, ssl_options=options), custom_ioloop=loop)
    conn.on_connected = on_connected
    run_loop(loop)
    sock = conn.sock
    assert isinstance(sock, CountingSSLSocket)
    assert bytes(server.received) == expected
    assert bytes(received) == reply
    # 2001 small buffers (~14 KiB) went out joined into one SSL write.
    assert sock.send_calls == [len(expected)]
    conn._adapter_disconnect_stream()
    loop.call_later(0.05, loop.stop)
    run_loop(loop)
    server.join()


def send_over_tls(
    loop: IOLoop, tls_files: Tuple[Path, Path], parts: List[Any], **kwargs: Any
) -> CountingSSLSocket:
    """Connect over TLS to a loopback server (``kwargs``: for :func:`params`), emit ``parts``
    once connected and run until the write buffer drained; check that the server received the
    protocol header and the parts, in order. Returns the client's socket."""
    expected = PROTOCOL_HEADER + b"".join(parts)
    server = tls_server(tls_files, lambda sock: server.read_all(sock, len(expected)))

    def on_connected(conn: Probe) -> None:
        for part in parts:
            conn._adapter_emit_data(part)
        stop_when_drained(loop, conn)

    conn = Probe(params(server.port, **kwargs), custom_ioloop=loop)
    conn.on_connected = on_connected
    run_loop(loop, timeout=30)
    server.join()
    assert hashlib.sha256(server.received).digest() == hashlib.sha256(expected).digest()
    assert isinstance(conn.sock, CountingSSLSocket)
    return conn.sock


def test_tls_large_memoryviews_are_sent_without_joining(
    loop: IOLoop, tls_files: Tuple[Path, Path]
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    view = memoryview(body)
    parts = [view[offset : offset + 512 * 1024] for offset in range(0, len(body), 512 * 1024)]
    options = SSLOptions(client_context(tls_files[0]))  # SNI / hostname check: params.host
    sock = send_over_tls(loop, tls_files, parts, host="localhost", ssl_options=options)
    # The 8-byte header is sent alone (the next buffer is a large one), then each
    # 512 KiB view as it is (retries after a full socket repeat the same view).
    assert set(sock.send_calls) <= {len(PROTOCOL_HEADER), 512 * 1024}


def test_tls_body_slices_go_by_reference_between_joined_glue(
    loop: IOLoop, tls_files: Tuple[Path, Path]
) -> None:
    """Frames as the codec makes them for a large body: small glue buffers between 64 KiB
    views of the body. TLS has no sendmsg: each view is one SSL send of the view itself
    (never copied into a joined chunk); the glue between two views is joined into one send."""
    body = bytes(range(256)) * 1024  # 256 KiB
    view = memoryview(body)
    parts: List[Any] = [b"head"]
    for offset in range(0, len(body), 64 * 1024):
        parts += [view[offset : offset + 64 * 1024], b"\xce", b"glue"]
    options = SSLOptions(client_context(tls_files[0]), server_hostname="localhost")
    sock = send_over_tls(loop, tls_files, parts, ssl_options=options)
    # A retry after a full socket repeats the same bytes: count each send once.
    sends = [(size, data) for i, (size, data) in enumerate(zip(sock.send_calls,
             sock.sent_objects)) if i == 0 or data is not sock.sent_objects[i - 1]]
    assert [size for size, _ in sends] == [len(PROTOCOL_HEADER) + 4] + [64 * 1024, 5] * 4
    assert all(data.obj is body for size, data in sends if size == 64 * 1024)
