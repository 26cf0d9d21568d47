"""The Tornado adapter on real loopback sockets: TornadoConnection's hooks and its transport.

What the conformance suite cannot see from the outside is checked here: the default loop (and
the clear error without one), Tornado's configured ``Resolver``, write coalescing (send system
calls counted), buffers kept by reference, a full socket waiting for write readiness, reads,
flush after read, the one last write of ``disconnect``, and the exact adapter-level errors. No mocks: a real Tornado ``IOLoop`` on its own asyncio loop, real sockets
on 127.0.0.1 and the real base ``Connection``. A test may subclass TornadoConnection to
*observe* an up-call (record it, then call the base), or call a down-call hook itself the way
the base would. Send system calls are counted by switching the connected socket's class to a
``socket.socket`` subclass whose ``send`` records the call, then makes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import threading
import time
from typing import Any, Callable, ClassVar, Iterator, List, Optional, Tuple

import pytest
from tornado.netutil import Resolver
from tornado.platform.asyncio import AsyncIOLoop

from amqpbase import exceptions
from amqpbase.adapters.tornado import TornadoConnection
from amqpbase.parameters import ConnectionParameters

from .loopback import Server, free_port, params

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


class Loop:
    """A fresh asyncio loop wrapped by a Tornado IOLoop, run until a condition holds."""

    def __init__(self) -> None:
        self.asyncio_loop = asyncio.new_event_loop()
        self.ioloop = AsyncIOLoop(asyncio_loop=self.asyncio_loop, make_current=False)

    def run_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
        async def wait() -> None:
            deadline = time.monotonic() + timeout
            while not predicate():
                assert time.monotonic() < deadline, f"not true within {timeout}s: {predicate}"
                await asyncio.sleep(0.005)

        self.asyncio_loop.run_until_complete(wait())

    def run_for(self, seconds: float) -> None:
        self.asyncio_loop.run_until_complete(asyncio.sleep(seconds))

    def close(self) -> None:
        self.ioloop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


class CountingSocket(socket.socket):
    """A connected socket's class is switched to this one (same slots, so Python allows it):
    ``send`` (TLS-less fallbacks; none expected) and ``sendmsg`` record (bytes offered,
    bytes sent or -1 for EAGAIN, the owners of the buffers: one for ``send``, a tuple for
    ``sendmsg``), then make the real system call."""

    __slots__ = ()
    calls: ClassVar[List[Tuple[int, int, Any]]] = []

    def send(self, data: Any, flags: int = 0) -> int:
        view = memoryview(data)
        try:
            sent = super().send(data, flags)
        except BlockingIOError:
            CountingSocket.calls.append((view.nbytes, -1, view.obj))
            raise
        CountingSocket.calls.append((view.nbytes, sent, view.obj))
        return sent

    def sendmsg(self, buffers: Any, *args: Any) -> int:  # type: ignore[override]
        views = [memoryview(b) for b in buffers]
        offered = sum(v.nbytes for v in views)
        owners = tuple(v.obj for v in views)
        try:
            sent = super().sendmsg(views, *args)
        except BlockingIOError:
            CountingSocket.calls.append((offered, -1, owners))
            raise
        CountingSocket.calls.append((offered, sent, owners))
        return sent


class Probe(TornadoConnection):
    """TornadoConnection that records the up-calls it receives, then lets the base act."""

    def __init__(self, *args: Any, count_sends: bool = False, **kwargs: Any) -> None:
        self.terminations: List[Optional[BaseException]] = []
        self.in_downcall = False
        self.on_connected: Optional[Callable[["Probe"], None]] = None
        self.drained = 0
        self.count_sends = count_sends
        self.sock: Any = None  # the connected socket, kept for inspection after teardown
        super().__init__(*args, **kwargs)

    def _on_stream_connected(self) -> None:
        self.sock = self.transport.sock
        assert self.sock is not None
        if self.count_sends:
            CountingSocket.calls = []
            self.sock.__class__ = CountingSocket
        super()._on_stream_connected()  # queues the protocol header
        if self.on_connected is not None:
            self.on_connected(self)

    def _on_stream_terminated(self, error: Optional[BaseException]) -> None:
        assert not self.in_downcall, "_on_stream_terminated called from inside a down-call"
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


# ------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------


def test_default_loop_is_the_current_one_when_the_connection_is_built(loop: Loop) -> None:
    """Without ``custom_ioloop`` the connection takes ``IOLoop.current()`` at construction (the
    running loop here); ``create_connection`` without a loop runs its attempts on it too."""
    seen: List[Any] = []
    results: List[Any] = []

    async def main() -> None:
        connection = TornadoConnection(params(free_port()), on_open_error_callback=lambda *a: None)
        seen.append(connection.ioloop)
        TornadoConnection.create_connection([params(free_port())], results.append)

    loop.asyncio_loop.run_until_complete(main())
    loop.run_until(lambda: results)
    assert seen == [loop.ioloop]
    assert type(results[0]) is exceptions.AMQPConnectionWorkflowFailed
    assert type(results[0].exceptions[0]) is exceptions.TCPConnectionRefusedError


def test_built_with_no_running_loop_and_no_custom_ioloop_it_raises_at_once() -> None:
    """At module level, before ``asyncio.run``: the IOLoop ``IOLoop.current()`` would make up
    is not the one ``asyncio.run`` runs, so the connection would never open. It says so."""
    with pytest.raises(RuntimeError, match="no event loop is running.*custom_ioloop"):
        TornadoConnection(params(free_port()))
    with pytest.raises(TypeError, match="custom_ioloop must be a tornado IOLoop"):
        TornadoConnection(params(free_port()), custom_ioloop=asyncio.new_event_loop())


def test_timers_remove_twice_or_after_firing_and_threadsafe_callbacks(loop: Loop) -> None:
    conn = TornadoConnection(params(free_port()), custom_ioloop=loop.ioloop,
                             internal_connection_workflow=False)
    fired: List[str] = []
    fires = conn._adapter_call_later(0.01, lambda: fired.append("fires"))
    cancelled = conn._adapter_call_later(0.02, lambda: fired.append("cancelled"))
    conn._adapter_remove_timeout(cancelled)
    conn._adapter_remove_timeout(cancelled)  # twice: no-op
    loop.run_for(0.1)
    conn._adapter_remove_timeout(fires)  # after it fired: no-op
    assert fired == ["fires"]

    threads: List[int] = []
    loop_thread: List[int] = []
    conn._adapter_call_later(0, lambda: loop_thread.append(threading.get_ident()))
    worker = threading.Thread(target=lambda: conn._adapter_add_callback_threadsafe(
        lambda: threads.append(threading.get_ident())))
    worker.start()
    loop.run_until(lambda: threads and loop_thread)
    worker.join(5)
    assert threads == loop_thread


# ------------------------------------------------------------------------------------------
# connecting
# ------------------------------------------------------------------------------------------


def test_socket_options_are_applied_to_the_connected_socket(loop: Loop) -> None:
    server = Server(lambda sock: server.read_all(sock, len(PROTOCOL_HEADER)))
    options: List[int] = []

    def on_connected(conn: Probe) -> None:
        sock = conn.sock
        options.extend([sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
                        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)])
        conn._adapter_disconnect_stream()

    conn = Probe(params(server.port, tcp_options={"TCP_KEEPIDLE": 7, "TCP_USER_TIMEOUT": 1234}),
                 custom_ioloop=loop.ioloop)
    conn.on_connected = on_connected
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert options[0] and options[1] and options[2:] == [7, 1234]


class TwoAddresses(Resolver):
    """A resolver (Tornado's extension point, set with ``Resolver.configure``) giving
    ``amqp.test`` two loopback addresses: one that refuses, then ``LIVE_PORT``."""

    DEAD_PORT = LIVE_PORT = 0

    async def resolve(self, host: str, port: int, family: Any = socket.AF_UNSPEC) -> Any:
        assert host == "amqp.test"
        return [(socket.AF_INET, ("127.0.0.1", self.DEAD_PORT)),
                (socket.AF_INET, ("127.0.0.1", self.LIVE_PORT))]


@pytest.fixture
def two_addresses() -> Iterator[type]:
    Resolver.configure(TwoAddresses)
    try:
        yield TwoAddresses
    finally:
        Resolver.configure(None)


def test_every_address_is_tried_in_order(loop: Loop, two_addresses: Any) -> None:
    server = Server(lambda sock: server.read_all(sock, len(PROTOCOL_HEADER)))
    two_addresses.DEAD_PORT, two_addresses.LIVE_PORT = free_port(), server.port
    peers: List[Any] = []

    def on_connected(conn: Probe) -> None:
        peers.append(conn.sock.getpeername())
        conn._adapter_disconnect_stream()

    conn = Probe(ConnectionParameters(host="amqp.test", port=1, socket_timeout=5,
                                      stack_timeout=None), custom_ioloop=loop.ioloop)
    conn.on_connected = on_connected
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert peers == [("127.0.0.1", server.port)] and conn.terminations == [None]

    two_addresses.LIVE_PORT = free_port()  # now both refuse
    errors: List[BaseException] = []
    TornadoConnection(ConnectionParameters(host="amqp.test", port=1, socket_timeout=5),
                      custom_ioloop=loop.ioloop,
                      on_open_error_callback=lambda c, e: errors.append(e))
    loop.run_until(lambda: errors)
    assert type(errors[0]) is exceptions.TCPConnectionRefusedError
    assert isinstance(errors[0].__cause__, ConnectionRefusedError)


def test_close_during_a_hanging_tcp_connect_drops_it_at_once(loop: Loop) -> None:
    """A listener whose accept queue is full leaves our SYN unanswered: close() aborts the
    connect promptly (not after socket_timeout) and closes the pending socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    errors: List[BaseException] = []
    try:
        conn = Probe(params(port, socket_timeout=5.0), custom_ioloop=loop.ioloop,
                     on_open_error_callback=lambda c, e: errors.append(e))
        loop.run_until(lambda: conn.transport.state.name == "CONNECTING")
        loop.run_for(0.1)
        start = time.monotonic()
        conn.close()
        loop.run_until(lambda: errors)
        assert time.monotonic() - start < 0.5
        loop.run_for(0.05)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert [type(e) for e in errors] == [exceptions.ConnectionOpenAborted]
    assert conn.terminations == [None]


# ------------------------------------------------------------------------------------------
# writes
# ------------------------------------------------------------------------------------------


def test_emits_are_coalesced_into_one_sendmsg_per_loop_iteration(loop: Loop) -> None:
    payload = [b"%06d;" % i for i in range(1000)]
    expected = PROTOCOL_HEADER + b"".join(payload)
    server = Server(lambda sock: server.read_all(sock, len(expected)))
    before_flush: List[Any] = []

    def on_connected(conn: Probe) -> None:
        for chunk in payload:  # the base calling the hook 1000 times in one callback
            conn._adapter_emit_data(chunk)
        before_flush.extend([len(CountingSocket.calls), conn._adapter_get_write_buffer_size(),
                             conn.transport.writing])

    conn = Probe(params(server.port), custom_ioloop=loop.ioloop, count_sends=True)
    conn.on_connected = on_connected
    loop.run_until(lambda: len(server.received) == len(expected))
    assert before_flush == [0, len(expected), False]  # emitting made no system call
    # One sendmsg, straight from the 1001 queued buffers (no join, no copy).
    assert [(offered, sent, len(owners)) for offered, sent, owners in CountingSocket.calls] == [
        (len(expected), len(expected), 1001)
    ]
    assert conn._adapter_get_write_buffer_size() == 0 and conn.drained == 1
    conn._adapter_disconnect_stream()
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert bytes(server.received) == expected


def test_large_buffers_are_sent_by_reference(loop: Loop) -> None:
    """Frames as the codec makes them for a large body: small bytes glue between 16 KiB
    memoryview slices of one body. The slices reach the one sendmsg as views of the body
    itself (never copied), between the glue buffers, in order."""
    body = bytearray(bytes(range(256)) * 256)  # 64 KiB
    view = memoryview(body)
    parts: List[Any] = [b"head"]
    for offset in range(0, len(body), 16 * 1024):
        parts += [view[offset:offset + 16 * 1024], b"\xce", b"glue"]
    expected = PROTOCOL_HEADER + b"".join(parts)
    server = Server(lambda sock: server.read_all(sock, len(expected)))

    def on_connected(conn: Probe) -> None:
        for part in parts:
            conn._adapter_emit_data(part)
        queued = list(conn.transport.queue.buffers)
        assert all(a is b for a, b in zip(queued[1:], parts))  # queued by reference

    conn = Probe(params(server.port), custom_ioloop=loop.ioloop, count_sends=True)
    conn.on_connected = on_connected
    loop.run_until(lambda: len(server.received) == len(expected))
    calls = CountingSocket.calls
    assert [(offered, sent) for offered, sent, _ in calls] == [(len(expected), len(expected))]
    owners = calls[0][2]
    assert len(owners) == 1 + len(parts)  # the protocol header, then every part as queued
    assert all(owners[i] is body for i in range(2, len(owners), 3))  # the slices: not copied
    conn._adapter_disconnect_stream()
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert bytes(server.received) == expected


def test_a_full_socket_waits_for_write_readiness_without_a_send_per_buffer(
    loop: Loop,
) -> None:
    """32 MiB as 256 views to a peer that does not read at first: the kernel takes part, the
    rest waits for write readiness (no EAGAIN per queued buffer, about 4 MiB offered per
    sendmsg); once the peer reads, everything arrives in order and the drain is reported
    once."""
    block = bytes(range(256)) * 512  # 128 KiB
    body = b"".join(block[i:] + block[:i] for i in range(256))  # 32 MiB, no repeating pattern
    expected = PROTOCOL_HEADER + body
    start_reading = threading.Event()

    def serve(sock: socket.socket) -> None:
        start_reading.wait(10)
        server.read_all(sock, len(expected))

    server = Server(serve)
    view = memoryview(body)
    blocked: List[Tuple[int, int]] = []

    def on_connected(conn: Probe) -> None:
        for offset in range(0, len(body), 128 * 1024):
            conn._adapter_emit_data(view[offset:offset + 128 * 1024])

    conn = Probe(params(server.port), custom_ioloop=loop.ioloop, count_sends=True)
    conn.on_connected = on_connected
    loop.run_until(lambda: conn.sock is not None)
    loop.run_for(0.3)
    eagain = sum(1 for _, sent, _ in CountingSocket.calls if sent == -1)
    blocked.append((conn._adapter_get_write_buffer_size(), eagain))
    start_reading.set()
    loop.run_until(lambda: conn.drained, timeout=30)
    server.join()
    size, eagain = blocked[0]
    assert 0 < size < len(expected)  # the kernel took part of it, the rest waited
    assert eagain <= 2, CountingSocket.calls  # not one EAGAIN per queued buffer
    # Every write was a sendmsg straight from the queue, none offered the whole backlog; the
    # digest shows the order was kept.
    assert all(type(owners) is tuple for _, _, owners in CountingSocket.calls)
    assert any(0 <= sent < offered for offered, sent, _ in CountingSocket.calls)
    assert max(offered for offered, _, _ in CountingSocket.calls) <= 4 * 1024 * 1024 + 128 * 1024
    assert hashlib.sha256(server.received).digest() == hashlib.sha256(expected).digest()
    assert conn._adapter_get_write_buffer_size() == 0 and conn.drained == 1
    conn._adapter_disconnect_stream()
    loop.run_until(lambda: conn.terminations)


def test_disconnect_makes_one_last_write_of_what_is_queued(loop: Loop) -> None:
    """Bytes emitted just before disconnect (a Connection.CloseOk, say) still go out."""
    last_words = b"\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x33\xce"
    expected = PROTOCOL_HEADER + last_words
    server = Server(lambda sock: server.read_all(sock, len(expected)))

    def on_connected(conn: Probe) -> None:
        conn._adapter_emit_data(last_words)
        conn._adapter_disconnect_stream()

    conn = Probe(params(server.port), custom_ioloop=loop.ioloop)
    conn.on_connected = on_connected
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert bytes(server.received) == expected
    assert conn.terminations == [None]


# ------------------------------------------------------------------------------------------
# reads and lost streams
# ------------------------------------------------------------------------------------------


def test_reads_deliver_every_byte_in_order_in_large_chunks(loop: Loop) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB from the server
    received = bytearray()
    chunks: List[int] = []

    class Reader(Probe):
        def _on_data_available(self, chunk: Any) -> None:
            assert isinstance(chunk, memoryview)
            chunks.append(len(chunk))
            received.extend(chunk)  # observe only: these bytes are not AMQP

    def serve(sock: socket.socket) -> None:
        server.read_all(sock, len(PROTOCOL_HEADER))
        sock.sendall(data)
        time.sleep(0.2)

    server = Server(serve)
    conn = Reader(params(server.port), custom_ioloop=loop.ioloop)
    loop.run_until(lambda: len(received) == len(data))
    conn._adapter_disconnect_stream()
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert bytes(received) == data
    assert max(chunks) <= 256 * 1024 and len(chunks) < 200


def test_bytes_emitted_while_handling_data_leave_before_other_callbacks(loop: Loop) -> None:
    """What the handlers of received data emit (an ack, the next publish) is sent by the read
    loop as soon as ``_on_data_available`` returns, before a loop callback scheduled earlier
    in that handler runs (select flushes before its next poll the same way)."""
    sends_seen: List[int] = []

    class Replier(Probe):
        def _on_data_available(self, chunk: Any) -> None:
            self.ioloop.add_callback(lambda: sends_seen.append(len(CountingSocket.calls)))
            self._adapter_emit_data(b"reply:" + bytes(chunk))  # observe only: not AMQP

    def serve(sock: socket.socket) -> None:
        server.read_all(sock, len(PROTOCOL_HEADER))
        sock.sendall(b"ping")
        server.read_all(sock, len(PROTOCOL_HEADER) + len(b"reply:ping"))

    server = Server(serve)
    conn = Replier(params(server.port), custom_ioloop=loop.ioloop, count_sends=True)
    loop.run_until(lambda: sends_seen)
    assert sends_seen == [2]  # the protocol header, then the reply: already sent
    loop.run_until(lambda: len(server.received) == len(PROTOCOL_HEADER) + 10)
    conn._adapter_disconnect_stream()
    loop.run_until(lambda: conn.terminations)
    server.join()
    assert bytes(server.received) == PROTOCOL_HEADER + b"reply:ping"


def test_an_error_while_handling_data_is_logged_and_reading_goes_on(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    received = bytearray()
    second_part = threading.Event()

    class Clumsy(Probe):
        def _on_data_available(self, chunk: Any) -> None:
            if not received:
                received.extend(chunk)
                second_part.set()
                raise RuntimeError("a bug while handling data")
            received.extend(chunk)

    def serve(sock: socket.socket) -> None:
        server.read_all(sock, len(PROTOCOL_HEADER))
        sock.sendall(b"first")
        second_part.wait(5)
        sock.sendall(b"second")
        time.sleep(0.2)

    server = Server(serve)
    with caplog.at_level(logging.ERROR, logger="amqpbase"):
        conn = Clumsy(params(server.port), custom_ioloop=loop.ioloop)
        loop.run_until(lambda: bytes(received) == b"firstsecond")
    conn._adapter_disconnect_stream()
    loop.run_until(lambda: conn.terminations)
    server.join()
    records = [r for r in caplog.records if "error while handling received data" in r.message]
    assert len(records) == 1 and records[0].exc_info is not None


# ------------------------------------------------------------------------------------------
# TLS
# ------------------------------------------------------------------------------------------
