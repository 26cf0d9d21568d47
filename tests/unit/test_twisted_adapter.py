"""The Twisted adapter's own stream (``adapters/twisted/transport.py``) on the real reactor,
against loopback peers only (no broker): what the conformance suite cannot see from outside.

The stream reports to a :class:`Recorder` standing where the base ``Connection`` would be; it
records every up-call and fails the test when one arrives from inside a down-call (the hook
contract forbids re-entrant up-calls). Tests run in pytest-twisted's reactor greenlet as
``ensureDeferred`` coroutines and wait by polling with ``deferLater``.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("twisted")
pytest_twisted = pytest.importorskip("pytest_twisted")

from twisted.internet import protocol as twisted_protocol  # noqa: E402
from twisted.internet import task  # noqa: E402

from amqpbase.adapters._transport import StreamState  # noqa: E402
from amqpbase.adapters.twisted.loop import TwistedLoop  # noqa: E402
from amqpbase.adapters.twisted.transport import FALLBACK_PIECE, TwistedTransport  # noqa: E402
from amqpbase.parameters import ConnectionParameters  # noqa: E402

from .loopback import Server  # noqa: E402


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class Recorder:
    """Stands in for the base Connection: records the stream's up-calls."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, Any]] = []
        self.received = bytearray()
        self.in_downcall = False

    def _record(self, name: str, value: Any = None) -> None:
        assert not self.in_downcall, f"{name} up-call from inside a down-call"
        self.events.append((name, value))

    def _on_stream_connected(self) -> None:
        self._record("connected")

    def _on_data_available(self, data: Any) -> None:
        assert not self.in_downcall, "data up-call from inside a down-call"
        self.received += data

    def _on_write_buffer_drained(self) -> None:
        self._record("drained")

    def _on_stream_terminated(self, error: Optional[BaseException]) -> None:
        self._record("terminated", error)

    def names(self, name: str) -> List[Any]:
        return [value for event, value in self.events if event == name]


class Harness:
    """A :class:`TwistedTransport` on the session reactor, reporting to a :class:`Recorder`."""

    def __init__(self, recorder: Optional[Recorder] = None, **params: Any) -> None:
        self.recorder = recorder if recorder is not None else Recorder()
        self.stream = TwistedTransport(self.recorder, TwistedLoop(_reactor()))
        self.params = ConnectionParameters(**params)

    def down(self, call: Callable[[], Any]) -> None:
        """Make a down-call the way the base does, flagging re-entrant up-calls."""
        self.recorder.in_downcall = True
        try:
            call()
        finally:
            self.recorder.in_downcall = False

    def connect(self) -> None:
        self.down(lambda: self.stream.connect(self.params))

    def disconnect(self) -> None:
        self.down(self.stream.disconnect)

    def emit(self, data: Any) -> None:
        self.down(lambda: self.stream.emit(data))


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await task.deferLater(_reactor(), 0.005, lambda: None)


async def pause(seconds: float) -> None:
    await task.deferLater(_reactor(), seconds, lambda: None)


class Echo(twisted_protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        assert self.transport is not None
        self.transport.write(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    port = _reactor().listenTCP(
        0, twisted_protocol.Factory.forProtocol(Echo), interface="127.0.0.1"
    )
    try:
        yield port.getHost().port
    finally:
        port.stopListening()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Completes TCP handshakes in the kernel backlog, never accepts, never speaks."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_importing_the_adapter_installs_no_reactor() -> None:
    """DESIGN rule 4: importing the package (and touching TwistedConnection) imports no
    reactor, so an application or ``--reactor=asyncio`` can still install its own."""
    code = (
        "import sys\n"
        "import amqpbase.adapters.twisted as t\n"
        "t.TwistedConnection\n"
        "assert 'twisted.internet.reactor' not in sys.modules, 'reactor imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest_twisted.ensureDeferred
async def test_plain_round_trip_memoryviews_and_drains(echo_port: int) -> None:
    """Bytes and memoryview slices go out in order (no buffer is mutated or lost); each time
    the whole write buffer empties the base hears ``_on_write_buffer_drained()``, also for a
    backlog far below Twisted's 64 KiB pause threshold; the size returns to 0."""
    h = Harness(host="127.0.0.1", port=echo_port)
    h.connect()
    await wait_until(lambda: h.recorder.names("connected"))
    assert h.stream.state is StreamState.OPEN

    body = bytearray(range(256)) * 4096  # 1 MiB
    view = memoryview(body)
    expected = b"head" + bytes(body) + b"tail"
    h.emit(b"head")
    for offset in range(0, len(body), 131072):
        h.emit(view[offset : offset + 131072])
    h.emit(b"tail")
    assert h.stream.write_buffer_size() == len(expected)
    await wait_until(lambda: len(h.recorder.received) >= len(expected))
    assert bytes(h.recorder.received) == expected
    await wait_until(lambda: h.recorder.names("drained"))
    assert h.stream.write_buffer_size() == 0

    drains = len(h.recorder.names("drained"))
    h.emit(b"x" * 100)  # a small backlog: Twisted alone would never resume a push producer
    await wait_until(lambda: len(h.recorder.names("drained")) > drains)
    assert h.stream.write_buffer_size() == 0

    h.disconnect()
    assert h.recorder.names("terminated") == []  # later, from the reactor
    h.disconnect()  # repeat: no-op
    await wait_until(lambda: h.recorder.names("terminated"))
    await pause(0.05)
    assert h.recorder.names("terminated") == [None]
    assert h.stream.state is StreamState.IDLE


@pytest_twisted.ensureDeferred
async def test_a_full_socket_gets_twisted_one_small_piece_at_a_time() -> None:
    """Plain TCP writes go to the socket with ``sendmsg`` while Twisted holds nothing. 32 MiB
    as 256 views to a peer that does not read at first: the kernel takes part, Twisted gets
    at most one copied piece of ``FALLBACK_PIECE`` bytes (its resumeProducing() is the signal that the
    socket has room), the rest stays queued as the caller's own views. Once the peer reads,
    everything arrives in order and the drain is reported once."""
    block = bytes(range(256)) * 512  # 128 KiB
    body = b"".join(block[i:] + block[:i] for i in range(256))  # 32 MiB, no repeating pattern
    start_reading = threading.Event()

    def serve(sock: socket.socket) -> None:
        start_reading.wait(10)
        server.read_all(sock, len(body) + 5)

    server = Server(serve)
    h = Harness(host="127.0.0.1", port=server.port)
    h.connect()
    await wait_until(lambda: h.recorder.names("connected"))
    h.emit(b"hello")
    await wait_until(lambda: h.stream.write_buffer_size() == 0)
    assert h.stream.handed == 0 and h.recorder.names("drained") == [None]  # Twisted not used

    view = memoryview(body)
    for offset in range(0, len(body), 128 * 1024):
        h.emit(view[offset : offset + 128 * 1024])
    await pause(0.3)
    try:
        queued, in_twisted = h.stream.queue.size, h.stream.write_buffer_size()
        assert 0 < queued < len(body)  # the kernel took part of it, the rest waits here
        assert 0 < in_twisted - queued <= FALLBACK_PIECE  # one small piece handed to Twisted
        assert all(isinstance(b, memoryview) and b.obj is body for b in h.stream.queue.buffers)
    finally:
        start_reading.set()
    await wait_until(lambda: len(h.recorder.names("drained")) == 2, timeout=30)
    await wait_until(lambda: not server.thread.is_alive(), timeout=30)
    server.join()
    expected = b"hello" + body
    assert hashlib.sha256(server.received).digest() == hashlib.sha256(expected).digest()
    assert h.stream.write_buffer_size() == 0
    await pause(0.05)
    assert len(h.recorder.names("drained")) == 2  # once per emptied buffer
    h.disconnect()
    await wait_until(lambda: h.recorder.names("terminated"))


@pytest_twisted.ensureDeferred
async def test_tcp_options_reach_the_socket(echo_port: int) -> None:
    """TCP_NODELAY is set, and ``tcp_options`` keepalive settings are applied."""
    h = Harness(host="127.0.0.1", port=echo_port, tcp_options={"TCP_KEEPIDLE": 42})
    h.connect()
    await wait_until(lambda: h.recorder.names("connected"))
    sock = h.stream.transport.getHandle()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 42
    h.disconnect()
    await wait_until(lambda: h.recorder.names("terminated"))


@pytest_twisted.ensureDeferred
async def test_an_exception_handling_data_is_logged_and_reading_goes_on(
    echo_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception escaping ``_on_data_available`` is logged (amqpbase logger, traceback)
    and the stream keeps reading, as on the select loop; Twisted alone would drop it."""

    class FailOnce(Recorder):
        failed = False

        def _on_data_available(self, data: Any) -> None:
            if not self.failed:
                self.failed = True
                raise RuntimeError("boom")
            super()._on_data_available(data)

    recorder = FailOnce()
    h = Harness(recorder, host="127.0.0.1", port=echo_port)
    h.connect()
    await wait_until(lambda: h.recorder.names("connected"))
    h.emit(b"first")
    await wait_until(lambda: recorder.failed)
    await pause(0.05)  # separate reads: the echo of "second" comes on its own
    h.emit(b"second")
    await wait_until(lambda: h.recorder.received == b"second")
    assert h.stream.state is StreamState.OPEN
    assert any(
        r.name.startswith("amqpbase") and r.exc_info and "boom" in str(r.exc_info[1])
        for r in caplog.records
    )
    h.disconnect()
    await wait_until(lambda: h.recorder.names("terminated"))
