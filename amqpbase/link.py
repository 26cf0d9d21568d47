"""The connection's side of the channel seam: the one :class:`ChannelLink` object per
connection (``amqpbase.protocol.seams``), and the send accounting.

Owns: the routing table (channel number -> its registered ``ChannelHandlers``), the byte and
frame totals sent and received (read by the machine for heartbeats and by the backpressure
check), backpressure arming, the "can send" guard every send goes through, and when a large
message is paced (``pacing.py``): it starts pacing, keeps a paced channel's later frames
behind its message, hands out a slice per drain report, and flushes or drops what is pending
when the connection or the channel closes. ``open``,
``can_send`` and ``frame_max`` are plain attributes the facade refreshes from the connection
machine after each of its steps (the machine owns the state; these are its read-only view,
kept as attributes because they are read per publish).

Must not: decide anything about the protocol (the machine does), call user code other than
the backpressure callbacks, or add a Python call to a publish: :meth:`send_frames` emits
through the adapter's bound hook directly.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from amqpbase import exceptions, spec
from amqpbase._callbacks import invoke
from amqpbase.amqp_object import Method
from amqpbase.pacing import PACED_ABOVE, ContentPacer
from amqpbase.protocol.seams import Body, ChannelHandlers
from amqpbase.wire import encode

LOGGER = logging.getLogger("amqpbase.connection")

_CHANNEL_CLOSE_OK = spec.Channel.CloseOk.INDEX


class ConnectionLink:
    """Implements ``ChannelLink`` for one connection (see the module docstring).

    ``emit``/``write_buffer_size``: the adapter's ``_adapter_emit_data`` and
    ``_adapter_get_write_buffer_size``; ``state_name()`` names the connection state for
    errors; ``channel_closed(number, closed_by_broker)`` is the facade's.

    While a message is paced (``pacer.lanes`` not empty), the instance attributes
    ``send_frames`` and ``send_frame_parts`` shadow the class's methods with versions that
    keep a paced channel's frames in its lane; the publish fast path pays nothing for pacing
    when nothing is paced (no check per publish)."""

    def __init__(
        self,
        emit: Callable[[Any], None],
        write_buffer_size: Callable[[], int],
        state_name: Callable[[], str],
        channel_closed: Callable[[int, bool], None],
        frame_max: int,
    ) -> None:
        #: The connection is OPEN: channels may start new work (read per publish).
        self.open = False
        #: A stream is up and our Connection.Close is not out: anything may be sent.
        self.can_send = False
        self.frame_max = frame_max
        #: Automatic recovery's recorded topology (``amqpbase.protocol.topology.Topology``),
        #: None without recovery: channels record what they declare in it.
        self.topology: Any = None
        #: The connection's instrumentation observer (``amqpbase.instrument``), None without
        #: one: a channel reads it once, when it is made.
        self.observer: Any = None
        #: number -> the channel's ``on_inbound`` (the per-frame lookup) and all its handlers.
        self.routes: Dict[int, Callable[[Any], None]] = {}
        self.handlers: Dict[int, ChannelHandlers] = {}
        self.bytes_sent = 0
        self.frames_sent = 0
        self.bytes_received = 0
        #: The user's backpressure callbacks (the facade's list; fired from here).
        self.backpressure_callbacks: List[Callable[[], Any]] = []
        self.backpressure_multiplier = 10
        self.backpressure_armed = True  # False from a crossing until the buffer has drained
        self._emit = emit
        self._write_buffer_size = write_buffer_size
        #: The large messages going out a slice at a time, and what waits behind them.
        self.pacer = ContentPacer(emit)
        self._state_name = state_name
        self._channel_closed = channel_closed

    # ----------------------------------------------------------------------------------------
    # ChannelLink (amqpbase.protocol.seams)
    # ----------------------------------------------------------------------------------------

    def attach(self, channel_number: int, handlers: ChannelHandlers) -> None:
        self.routes[channel_number] = handlers.on_inbound
        self.handlers[channel_number] = handlers

    def send_method(self, channel_number: int, method: Method) -> None:
        if not self.can_send:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {method.NAME}: connection is {self._state_name()}"
            )
        data = encode.encode_method_frame(channel_number, method)
        self.bytes_sent += len(data)
        self.frames_sent += 1
        if channel_number in self.pacer:
            if method.INDEX == _CHANNEL_CLOSE_OK:
                # The broker closed the channel: it discards the channel's frames until this
                # Close-Ok (AMQP 0-9-1, 1.5.2.5), so the rest of the message is not sent.
                self.pacer.drop(channel_number)
                self.stop_pacing_when_idle()
            else:
                self.pacer.add_after(channel_number, (data,))
                return
        self._emit(data)
        if self.backpressure_callbacks:
            self.check_backpressure()

    def send_frames(self, data: bytes, frame_count: int, name: str) -> None:
        if not self.can_send:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {name}: connection is {self._state_name()}"
            )
        self.bytes_sent += len(data)
        self.frames_sent += frame_count
        self._emit(data)
        if self.backpressure_callbacks:
            self.check_backpressure()

    def send_frame_parts(self, parts: Tuple[bytes, ...], frame_count: int, name: str) -> None:
        if not self.can_send:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {name}: connection is {self._state_name()}"
            )
        emit = self._emit
        for part in parts:
            self.bytes_sent += len(part)
            emit(part)
        self.frames_sent += frame_count
        if self.backpressure_callbacks:  # after all parts: a callback may publish
            self.check_backpressure()

    def send_content(
        self,
        channel_number: int,
        method: Method,
        properties: Optional[spec.BasicProperties],
        body: Body,
    ) -> None:
        if not self.can_send:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {method.NAME}: connection is {self._state_name()}"
            )
        frame_max = self.frame_max
        # encode_content_frames encodes everything before returning: nothing is emitted
        # when a value is bad.
        chunks = encode.encode_content_frames(channel_number, method, properties, body, frame_max)
        pacer = self.pacer
        if len(chunks) > 1 and len(body) > PACED_ABOVE:
            self.start_pacing()
            pacer.add_content(channel_number, chunks)
            pacer.pump()  # the first slice now, the next ones as the adapter drains
            sent = sum(len(chunk) for chunk in chunks)
        elif channel_number in pacer:
            pacer.add_after(channel_number, tuple(chunks))
            sent = sum(len(chunk) for chunk in chunks)
        else:
            emit = self._emit
            sent = 0
            for chunk in chunks:
                sent += len(chunk)
                emit(chunk)
        self.bytes_sent += sent
        # method + header + body frames (ceil division of the body by the frame payload size);
        # for a str body len() counts characters, close enough for an average frame size
        self.frames_sent += 2 + -(-len(body) // (frame_max - 8))
        if self.backpressure_callbacks:
            self.check_backpressure()

    def channel_closed(self, channel_number: int, closed_by_broker: bool) -> None:
        self.routes.pop(channel_number, None)
        self.handlers.pop(channel_number, None)
        if channel_number in self.pacer:
            self.pacer.drop(channel_number)
            self.stop_pacing_when_idle()
        self._channel_closed(channel_number, closed_by_broker)

    # ----------------------------------------------------------------------------------------
    # The connection's own sends and the backpressure check
    # ----------------------------------------------------------------------------------------

    def send_control(self, data: bytes, frame_count: int, name: str) -> None:
        """Emit what the connection machine decided to send (always legal: the machine
        knows the stream is up and what 2.2.4 allows). ``name`` is the frame's
        (``"Connection.Close"``, ``"heartbeat"``...): channel-0 methods count for backpressure
        as channel sends do, the protocol header and heartbeats do not."""
        if self.pacer.lanes:
            if name == "Connection.Close":
                self.pacer.flush()  # what was published before close() goes out first
            elif name == "Connection.CloseOk":
                self.pacer.clear()  # the broker discards everything but this (2.2.4)
            self.stop_pacing_when_idle()
        self.bytes_sent += len(data)
        self.frames_sent += frame_count
        self._emit(data)
        if self.backpressure_callbacks and name.startswith("Connection."):
            self.check_backpressure()

    def check_backpressure(self) -> None:
        """Armed and above the threshold: fire, then stay disarmed until the next drain."""
        if not self.backpressure_armed or not self.frames_sent:
            return
        average = self.bytes_sent / self.frames_sent
        if self.write_buffer_size() > self.backpressure_multiplier * average:
            self.backpressure_armed = False
            LOGGER.debug(
                "Backpressure: write buffer above %dx average frame size",
                self.backpressure_multiplier,
            )
            for callback in list(self.backpressure_callbacks):
                invoke(callback)

    def rearm_backpressure(self) -> bool:
        """The write buffer drained: re-arm; True when a crossing fired since the last."""
        if self.backpressure_armed:
            return False
        self.backpressure_armed = True
        return True

    def write_buffer_size(self) -> int:
        """Bytes emitted and not yet taken by the kernel, paced bytes not yet emitted
        included."""
        return self._write_buffer_size() + self.pacer.pending

    # ----------------------------------------------------------------------------------------
    # Pacing (pacing.py)
    # ----------------------------------------------------------------------------------------

    def start_pacing(self) -> None:
        """Route the fast-path sends through the lane check (see the class docstring)."""
        self.send_frames = self._paced_send_frames  # type: ignore[method-assign]
        self.send_frame_parts = self._paced_send_frame_parts  # type: ignore[method-assign]

    def stop_pacing_when_idle(self) -> None:
        if not self.pacer.lanes:
            self.__dict__.pop("send_frames", None)
            self.__dict__.pop("send_frame_parts", None)

    def pump(self) -> bool:
        """The adapter's write buffer drained: the next slice of the paced messages. True if
        one went out (then the buffer is not really drained: no drain report yet)."""
        if not self.pacer.lanes:
            return False
        sent = self.pacer.pump()
        self.stop_pacing_when_idle()
        return sent

    def _paced_send_frames(self, data: bytes, frame_count: int, name: str) -> None:
        channel_number = (data[1] << 8) | data[2]  # the frame header's channel field
        if channel_number not in self.pacer:
            return ConnectionLink.send_frames(self, data, frame_count, name)
        if not self.can_send:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {name}: connection is {self._state_name()}"
            )
        self.bytes_sent += len(data)
        self.frames_sent += frame_count
        self.pacer.add_after(channel_number, (data,))
        return None

    def _paced_send_frame_parts(self, parts: Tuple[bytes, ...], frame_count: int,
                                name: str) -> None:
        head = parts[0]
        channel_number = (head[1] << 8) | head[2]
        if channel_number not in self.pacer:
            return ConnectionLink.send_frame_parts(self, parts, frame_count, name)
        if not self.can_send:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {name}: connection is {self._state_name()}"
            )
        self.bytes_sent += sum(len(part) for part in parts)
        self.frames_sent += frame_count
        self.pacer.add_after(channel_number, tuple(parts))
        return None

    def forget_channels(self) -> List[ChannelHandlers]:
        """The connection is gone: drop every route; returns the handlers to tell."""
        self.pacer.clear()
        self.stop_pacing_when_idle()
        handlers = list(self.handlers.values())
        self.routes.clear()
        self.handlers.clear()
        return handlers
