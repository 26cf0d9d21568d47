"""The two interfaces between a connection and its channels, so that neither touches the
other's privates (internals.md, "The picture": a channel talks to its connection through a small Protocol).

- :class:`ChannelLink` is what a channel may use of its connection: send frames, read the
  negotiated ``frame_max``, know whether the connection accepts new channel work, register its
  inbound handlers, and report that it has closed. The connection owns the one object that
  implements it and hands it to every channel it creates.
- :class:`ChannelHandlers` is what the connection calls on a channel: the two bound methods a
  channel registers with :meth:`ChannelLink.attach`.

The per-message paths (publish, ack, delivery) go through these with no extra Python call:
``open``/``frame_max`` are plain attributes and ``send_frames`` emits directly.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Protocol, Tuple, Union

from amqpbase import spec
from amqpbase.amqp_object import Method

Body = Union[bytes, bytearray, memoryview, str]


class ChannelHandlers(NamedTuple):
    """What a channel registers with its link (bound methods of the channel)."""

    #: ``on_inbound(frame_or_delivery)``: one inbound ``frame.Method``/``Header``/``Body`` or
    #: ``frame.Delivery`` for this channel, in stream order. Raises a
    #: ``ProtocolSyntaxError``/``MethodNotImplemented`` subclass (with ``reply_code``) for a
    #: broker protocol violation, having changed no state; the connection then closes.
    on_inbound: Callable[[Any], None]
    #: ``on_connection_closed(reason)``: the connection is gone; become CLOSED without sending
    #: anything, fail every pending RPC/confirm/consumer with ``reason``. Idempotent.
    on_connection_closed: Callable[[BaseException], None]
    #: ``is_opening()``: True while Channel.Open is sent and Channel.OpenOk not yet received
    #: (the connection's stale-channel rule needs it).
    is_opening: Callable[[], bool]


class ChannelLink(Protocol):
    """A channel's view of its connection (implemented once, by the connection side)."""

    #: True while the connection is OPEN, i.e. channels may start new work (read per publish,
    #: so a plain attribute, never a property).
    open: bool
    #: The negotiated frame_max (octets, frame header and end included); 0 means no limit.
    frame_max: int

    def attach(self, channel_number: int, handlers: ChannelHandlers) -> None:
        """Route this number's inbound frames and the connection's end to ``handlers``."""

    def send_method(self, channel_number: int, method: Method) -> None:
        """Encode and emit one method frame. Raises ``ConnectionWrongStateError`` when the
        connection cannot send (stream down, or our Connection.Close already sent)."""

    def send_frames(self, data: bytes, frame_count: int, name: str) -> None:
        """Emit ``data``: ``frame_count`` complete frames the caller encoded (the publish and
        ack/nack/reject fast paths); ``name`` is the AMQP method's, for the error raised as by
        :meth:`send_method`."""

    def send_frame_parts(self, parts: Tuple[bytes, ...], frame_count: int, name: str) -> None:
        """As :meth:`send_frames` for frames the caller encoded as several ``bytes`` (a large
        body kept by reference between its head and its frame end), emitted together, in
        order, with nothing in between; the parts must not be mutated afterwards."""

    def send_content(
        self,
        channel_number: int,
        method: Method,
        properties: Optional[spec.BasicProperties],
        body: Body,
    ) -> None:
        """Encode (everything before emitting anything, so a bad value raises with nothing
        sent) and emit one content-bearing method: method, header and body frames."""

    def channel_closed(self, channel_number: int, closed_by_broker: bool) -> None:
        """The channel reached CLOSED after Channel.CloseOk or the broker's Channel.Close:
        forget its number. ``closed_by_broker``: frames in flight for the number may still
        arrive and are dropped until its next Channel.OpenOk (RabbitMQ behaviour)."""
