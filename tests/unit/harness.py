"""Drive the real base Connection with bytes and a fake clock: no sockets, no mocks.

``MemoryConnection`` is a complete adapter whose "stream" is memory: what the connection emits
is collected, timers run on a :class:`FakeClock` the test advances, and every up-call is
delivered the way the hook contract says (later, from the "loop", never re-entrantly).
``ScriptedBroker`` plays the broker's side with the real codec: it decodes what the client
sent and feeds the client frames or raw bytes.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, List, Optional, Tuple

from amqpbase import frame, spec
from amqpbase.connection import Connection
from amqpbase.parameters import ConnectionParameters


class FakeClock:
    """A deterministic timer queue standing in for an event loop."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: List[Tuple[float, int, "_Timer"]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], Any]) -> "_Timer":
        timer = _Timer(self.now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def remove(self, timer: "_Timer") -> None:
        timer.cancelled = True

    remove_timeout = remove  # the IOLoop name (the create_connection workflow's timers use it)

    def pending(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def advance(self, seconds: float = 0.0) -> None:
        """Move time forward, running every timer due by then (including ones they add)."""
        deadline = self.now + seconds
        while self._heap and self._heap[0][0] <= deadline:
            when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self.now = max(self.now, when)
            timer.cancelled = True
            timer.callback()
        self.now = deadline


class _Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False


class MemoryConnection(Connection):
    """A Connection whose adapter hooks work on memory and a fake clock.

    ``connect_error``: when set, each connect attempt fails with it instead of connecting.
    ``write_buffer_size``: what ``_adapter_get_write_buffer_size`` reports (tests set it).
    """

    def __init__(
        self,
        parameters: Optional[ConnectionParameters] = None,
        on_open_callback: Any = None,
        on_open_error_callback: Any = None,
        on_close_callback: Any = None,
        internal_connection_workflow: bool = True,
        custom_ioloop: Optional[FakeClock] = None,
        connect_error: Optional[BaseException] = None,
        recovery: Any = None,
    ) -> None:
        self.clock = custom_ioloop or FakeClock()
        self.connect_error = connect_error
        self.outbound: List[bytes] = []  # every emitted chunk, in order
        self.emit_calls = 0
        self.buffered = 0  # what _adapter_get_write_buffer_size reports
        self.connect_calls = 0
        self.disconnect_calls = 0
        self.stream_open = False
        self.threadsafe_calls: List[Callable[[], Any]] = []
        self._terminating = False
        super().__init__(
            parameters,
            on_open_callback,
            on_open_error_callback,
            on_close_callback,
            internal_connection_workflow,
            recovery=recovery,
        )

    # -- hooks ------------------------------------------------------------------------------
    @classmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        return custom_ioloop if custom_ioloop is not None else FakeClock()

    def _adapter_connect_stream(self) -> None:
        assert not self.stream_open, "connect requested while a stream exists"
        self.connect_calls += 1
        self._terminating = False
        error = self.connect_error
        if error is not None:
            self.clock.call_later(0, lambda: self._on_stream_terminated(error))
        else:
            self.clock.call_later(0, self._connected)

    def _connected(self) -> None:
        if self._terminating:
            return
        self.stream_open = True
        self._on_stream_connected()

    def _adapter_disconnect_stream(self) -> None:
        self.disconnect_calls += 1
        if self._terminating:
            return
        self._terminating = True
        self.clock.call_later(0, self._terminated)

    def _terminated(self) -> None:
        self.stream_open = False
        self._on_stream_terminated(None)

    def _adapter_emit_data(self, data: Any) -> None:
        self.emit_calls += 1
        self.outbound.append(bytes(data))

    def _adapter_get_write_buffer_size(self) -> int:
        return self.buffered

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.clock.call_later(delay, callback)

    def _adapter_remove_timeout(self, handle: Any) -> None:
        self.clock.remove(handle)

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.threadsafe_calls.append(callback)
        self.clock.call_later(0, callback)

    # -- test helpers -----------------------------------------------------------------------
    def feed(self, data: Any) -> None:
        """Bytes from the broker, as the adapter hands them over (the up-call)."""
        self._on_data_available(data)

    def drain(self) -> None:
        """The write buffer emptied, as the adapter reports it (the up-call)."""
        self.buffered = 0
        self._on_write_buffer_drained()

    def average_frame_size(self) -> float:
        """Bytes emitted per frame emitted so far (the protocol header counts as one frame),
        from what the connection handed to the adapter: what the backpressure check uses."""
        decoder = frame.FrameDecoder(2**31 - 1)
        frames = sum(len(decoder.feed(chunk)) for chunk in self.outbound)
        return sum(len(chunk) for chunk in self.outbound) / frames

    def lose_stream(self, error: BaseException) -> None:
        """Simulate the adapter losing the stream with ``error``."""
        self._terminating = True
        self.stream_open = False
        self._on_stream_terminated(error)


class ScriptedBroker:
    """The broker's side of a MemoryConnection, speaking through the real codec."""

    def __init__(self, connection: MemoryConnection) -> None:
        self.connection = connection
        self._decoder = frame.FrameDecoder(2**31 - 1)
        self._read = 0  # index into connection.outbound already decoded

    # -- reading what the client sent -------------------------------------------------------
    def received(self) -> List[Any]:
        """Frames the client sent since the last call (the protocol header included)."""
        chunks = self.connection.outbound[self._read :]
        self._read = len(self.connection.outbound)
        frames: List[Any] = []
        for chunk in chunks:
            frames.extend(self._decoder.feed(chunk))
        return frames

    def methods(self) -> List[Any]:
        """The AMQP methods among :meth:`received` frames."""
        return [f.method for f in self.received() if isinstance(f, frame.Method)]

    def new_stream(self) -> None:
        """The client connected a new stream (a recovery): decode it from its start."""
        self._decoder = frame.FrameDecoder(2**31 - 1)

    # -- writing to the client --------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.connection.feed(data)

    def send(self, channel_number: int, method: Any) -> None:
        self.send_raw(frame.encode_method_frame(channel_number, method))

    def send_content(
        self,
        channel_number: int,
        method: Any,
        properties: Any,
        body: bytes,
        frame_max: int = 131072,
    ) -> None:
        chunks = frame.encode_content_frames(channel_number, method, properties, body, frame_max)
        self.send_raw(b"".join(bytes(c) for c in chunks))

    # -- scripted phases --------------------------------------------------------------------
    def connect(self) -> None:
        """Let the connection's stream come up (runs the scheduled connect)."""
        self.connection.clock.advance(0)

    def start(
        self,
        mechanisms: bytes = b"PLAIN AMQPLAIN",
        capabilities: Optional[dict[str, Any]] = None,
    ) -> None:
        caps = {
            "publisher_confirms": True,
            "exchange_exchange_bindings": True,
            "basic.nack": True,
            "consumer_cancel_notify": True,
            "connection.blocked": True,
            "authentication_failure_close": True,
        }
        if capabilities is not None:
            caps = capabilities
        self.send(
            0,
            spec.Connection.Start(
                version_major=0,
                version_minor=9,
                server_properties={"product": "RabbitMQ", "capabilities": caps},
                mechanisms=mechanisms,
                locales=b"en_US",
            ),
        )

    def tune(self, channel_max: int = 2047, frame_max: int = 131072, heartbeat: int = 60) -> None:
        self.send(
            0,
            spec.Connection.Tune(channel_max=channel_max, frame_max=frame_max, heartbeat=heartbeat),
        )

    def open_ok(self) -> None:
        self.send(0, spec.Connection.OpenOk(known_hosts=""))

    def handshake(self, **tune: int) -> None:
        """Drive the connection from construction to OPEN."""
        self.connect()
        self.start()
        self.tune(**tune)
        self.open_ok()
        assert self.connection.is_open, self.connection.state
        self.received()  # forget the handshake frames

    def open_channel(self, number: int = 1, on_open: Any = None) -> Any:
        """Open a channel on an open connection and answer its Channel.Open."""
        channel = self.connection.channel(number, on_open)
        sent = self.methods()
        assert any(isinstance(m, spec.Channel.Open) for m in sent), sent
        self.send(number, spec.Channel.OpenOk())
        return channel


def open_connection(
    params: Optional[ConnectionParameters] = None, **tune: int
) -> Tuple[MemoryConnection, ScriptedBroker]:
    """A MemoryConnection over ``params`` driven to OPEN (``tune``: the broker's Tune values)."""
    connection = MemoryConnection(params or ConnectionParameters())
    broker = ScriptedBroker(connection)
    broker.handshake(**tune)
    return connection, broker
