"""The connection's side of the channel seam: the one :class:`ChannelLink` object per
connection (``amqpbase.protocol.seams``), and the send accounting.

Owns: the routing table (channel number -> its registered ``ChannelHandlers``), the byte and
frame totals sent and received (read by the machine for heartbeats and by the backpressure
check), backpressure arming, and the "can send" guard every send goes through. ``open``,
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
from amqpbase.protocol.seams import Body, ChannelHandlers
from amqpbase.wire import encode

LOGGER = logging.getLogger("amqpbase.connection")


class ConnectionLink:
    """Implements ``ChannelLink`` for one connection (see the module docstring).

    ``emit``/``write_buffer_size``: the adapter's ``_adapter_emit_data`` and
    ``_adapter_get_write_buffer_size``; ``state_name()`` names the connection state for
    errors; ``channel_closed(number, closed_by_broker)`` is the facade's."""

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
        self._channel_closed(channel_number, closed_by_broker)

    # ----------------------------------------------------------------------------------------
    # The connection's own sends and the backpressure check
    # ----------------------------------------------------------------------------------------

    def send_control(self, data: bytes, frame_count: int, check_backpressure: bool) -> None:
        """Emit what the connection machine decided to send (always legal: the machine
        knows the stream is up and what 2.2.4 allows)."""
        self.bytes_sent += len(data)
        self.frames_sent += frame_count
        self._emit(data)
        if check_backpressure and self.backpressure_callbacks:
            self.check_backpressure()

    def check_backpressure(self) -> None:
        """Armed and above the threshold: fire, then stay disarmed until the next drain."""
        if not self.backpressure_armed or not self.frames_sent:
            return
        average = self.bytes_sent / self.frames_sent
        if self._write_buffer_size() > self.backpressure_multiplier * average:
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

    def forget_channels(self) -> List[ChannelHandlers]:
        """The connection is gone: drop every route; returns the handlers to tell."""
        handlers = list(self.handlers.values())
        self.routes.clear()
        self.handlers.clear()
        return handlers
