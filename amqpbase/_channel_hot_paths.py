"""The channel's per-message methods: ``basic_publish``, ``basic_ack``, ``basic_nack`` and
``basic_reject`` (the hot paths, DESIGN.md rule 5), inherited by :class:`~amqpbase.channel.Channel`.

Contract: same arguments, checks, errors and bytes as the generic path (``Basic.*`` objects
through ``frame.encode_*``). The channel caches the encoded method frame per (exchange,
routing key, mandatory), filled only after a fully checked publish, so a cache hit means
valid strings; a hit with a ``bytes`` body that fits one frame is one or two struct packs
and one join. ack/nack/reject are one struct pack each (no method object). Cheap exact checks
come first; on a miss the full checks run and raise the usual ``TypeError``/``ValueError``/
``ChannelWrongStateError`` with nothing sent. In confirm mode each publish takes the next
delivery tag. These are methods on a base class of ``Channel`` (not helpers it calls), so a
publish or an ack costs no extra Python call.
"""

from __future__ import annotations

from typing import Optional, Union

from amqpbase import exceptions, frame, spec
from amqpbase._channel_core import ChannelCore
from amqpbase._channel_parts import ChannelState, require_str, require_uint

_OPEN = ChannelState.OPEN
_CLOSING = ChannelState.CLOSING
_Publish = spec.Basic.Publish
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF
# TEMP-SHIM (conn branch only): the hot paths read/send through the ChannelLink

_pack_tag_method = frame.S_DELIVERY_TAG_METHOD_FRAME.pack
_pack_publish_tail = frame.S_PUBLISH_TAIL.pack
_pack_content_header = frame.S_CONTENT_HEADER.pack
_pack_end_and_body_header = frame.S_END_AND_BODY_HEADER.pack
_FRAME_END = frame.FRAME_END
_PUBLISH_HEADS_MAX = 128  # (exchange, routing key, mandatory) heads cached per channel
_BasicProperties = spec.BasicProperties
_BODY_TYPES = (bytes, bytearray, memoryview)


class ChannelHotPaths(ChannelCore):
    """Base of ``Channel``: the per-message methods and the open-state guard they share."""

    def _raise_if_not_open(self) -> None:
        if self._state is not _OPEN:
            if self._state is ChannelState.OPENING:
                raise exceptions.ChannelWrongStateError(
                    "Channel is opening, but is not usable yet."
                )
            if self._state is _CLOSING:
                raise exceptions.ChannelWrongStateError("Channel is closing.")
            raise exceptions.ChannelWrongStateError("Channel is closed.")
        if not self.connection.is_open:
            raise exceptions.ConnectionWrongStateError("Connection is not open.")

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge delivery ``delivery_tag`` (``multiple``: all up to it; 0 + multiple:
        everything outstanding)."""
        # Hot path (consume with an ack per message): cheap exact checks first, the full
        # checks (which raise the errors) only on a miss; then the whole frame in one pack
        # (no Basic.Ack object, no encode/join: ~0.5 us less per ack). The checks bound
        # every packed value, so the pack cannot fail.
        connection = self._link
        if self._state is not _OPEN or not connection.open:
            self._raise_if_not_open()
        if type(delivery_tag) is not int or not 0 <= delivery_tag <= _UINT64_MAX:
            require_uint(delivery_tag, "delivery_tag", 64)
        connection.send_frames(
            _pack_tag_method(
                1, self.channel_number, 13, 60, 80, delivery_tag, 1 if multiple else 0, 0xCE
            ),
            1,
            "Basic.Ack",
        )

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Negatively acknowledge (RabbitMQ extension); ``requeue=False`` dead-letters/drops."""
        self._raise_if_not_open()
        require_uint(delivery_tag, "delivery_tag", 64)
        # basic.nack (60, 120): bit 0 multiple, bit 1 requeue (as basic_ack, one pack).
        bits = (1 if multiple else 0) | (2 if requeue else 0)
        self._link.send_frames(
            _pack_tag_method(1, self.channel_number, 13, 60, 120, delivery_tag, bits, 0xCE),
            1,
            "Basic.Nack",
        )

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Reject one delivery."""
        self._raise_if_not_open()
        require_uint(delivery_tag, "delivery_tag", 64)
        # basic.reject (60, 90): bit 0 requeue (as basic_ack, one pack).
        self._link.send_frames(
            _pack_tag_method(
                1, self.channel_number, 13, 60, 90, delivery_tag, 1 if requeue else 0, 0xCE
            ),
            1,
            "Basic.Reject",
        )

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
    ) -> None:
        """Publish one message: method, header and body frames go to the transport in one
        write. ``str`` bodies are encoded UTF-8; other bodies are sent without copying. In
        confirm mode the message gets delivery tag ``_next_delivery_tag`` (then incremented).
        """
        connection = self._link
        if self._state is not _OPEN or not connection.open:
            self._raise_if_not_open()
        mandatory = True if mandatory else False
        # Hot path (DESIGN.md rule 5): a bytes body in one frame, to an (exchange, routing
        # key, mandatory) this channel has published to before: its method frame comes from
        # the cache (filled below only after a checked publish, so a hit means the exchange
        # and routing key are valid strs) and the rest is one or two packs and one join.
        # Same bytes as encode_content_frames; properties are encoded before anything is
        # emitted, so a bad property value still raises with nothing sent.
        if type(body) is bytes and 0 < len(body) <= connection.frame_max - 8:
            try:
                heads = self._publish_heads.get((exchange, routing_key, mandatory))
            except TypeError:  # unhashable: not a str; the checked path says what is wrong
                heads = None
            if heads is not None:
                body_size = len(body)
                channel_number = self.channel_number
                if properties is None:
                    data = b"".join((
                        heads[1],
                        _pack_publish_tail(body_size, 0, 0xCE, 3, channel_number, body_size),
                        body,
                        _FRAME_END,
                    ))
                elif type(properties) is _BasicProperties:
                    props = properties.encode()
                    data = b"".join((
                        heads[0],
                        _pack_content_header(
                            2, channel_number, 12 + len(props), 60, 0, body_size
                        ),
                        props,
                        _pack_end_and_body_header(0xCE, 3, channel_number, body_size),
                        body,
                        _FRAME_END,
                    ))
                else:
                    data = b""
                if data:
                    connection.send_frames(data, 3, "Basic.Publish")
                    if self._confirming:
                        self._next_delivery_tag += 1
                    return
        self._publish_checked(exchange, routing_key, body, properties, mandatory)

    def _publish_checked(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties],
        mandatory: bool,
    ) -> None:
        """basic_publish with every check, through the generic encoder; then caches the
        method frame for the next publish with the same arguments (see basic_publish)."""
        if type(exchange) is not str or type(routing_key) is not str:
            require_str(exchange, "exchange")
            require_str(routing_key, "routing_key")
        if type(body) is not bytes:
            if isinstance(body, str):
                body = body.encode("utf-8")
            elif not isinstance(body, _BODY_TYPES):
                raise TypeError(
                    f"body must be bytes, bytearray, memoryview or str, got {type(body)!r}"
                )
        # None is sent as empty property flags (the bytes BasicProperties() encodes to).
        if properties is not None and not isinstance(properties, _BasicProperties):
            raise TypeError(f"properties must be BasicProperties or None, got {properties!r}")
        # The connection encodes everything before emitting anything, so a shortstr over
        # 255 bytes (ShortStringTooLong) or a bad header value raises here with nothing sent.
        self._link.send_content(
            self.channel_number,
            _Publish(0, exchange, routing_key, mandatory, False),
            properties,
            body,
        )
        if self._confirming:
            self._next_delivery_tag += 1
        key = (exchange, routing_key, mandatory)
        heads = self._publish_heads
        if key not in heads and type(exchange) is str and type(routing_key) is str:
            if len(heads) >= _PUBLISH_HEADS_MAX:
                heads.clear()
            heads[key] = frame.encode_publish_heads(
                self.channel_number, exchange, routing_key, mandatory
            )
