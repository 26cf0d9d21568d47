"""The consume fast path of the frame decoder: a Basic.Deliver and its content as one object.

RabbitMQ sends a consumed message as three frames (Basic.Deliver method, content header,
one body frame when the body fits frame_max). :func:`decode_delivery` checks and decodes the
three at once into ONE :class:`~amqpbase.wire.frames.Delivery` (one object and one dispatch
per message instead of three), with the same checks as the generic path: frame types,
channels, sizes within ``max_size``, frame end octets, arguments and properties ending
exactly at their frame's end. Anything it does not take it hands back (None) to the generic
path in :mod:`amqpbase.wire.decoder`, which then decodes or refuses the frame as ``feed`` does.

Also here: the per-decoder string caches' size, and :func:`delivery_template`, the constant
bytes of a property-less delivery that let ``FrameDecoder._parse`` take the next ones of the
same consumer with two ``startswith`` and one unpack each.

These are plain functions over a ``bytes`` buffer and offsets; they keep no state (the
caches are the decoder's dicts, passed in).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from amqpbase import spec
from amqpbase.exceptions import ProtocolSyntaxError
from amqpbase.wire import formats
from amqpbase.wire.formats import CONTENT_HEADER_FIXED
from amqpbase.wire.frames import Delivery

# Structs are bound here by assignment, not imported by name: CPython (3.11+) compiles
# ``name.pack(...)`` for a name bound by an import as an attribute load that makes a bound
# method object per call (measured +30 % on the publish encoder), else as a method call.
_S_BODY_MIDDLE = formats.S_BODY_MIDDLE
_S_CONTENT_HEADER_PAYLOAD = formats.S_CONTENT_HEADER_PAYLOAD
_S_DELIVER_TAG = formats.S_DELIVER_TAG
_S_FRAME_HEADER = formats.S_FRAME_HEADER
_S_HEADER_AND_BODY_HEAD = formats.S_HEADER_AND_BODY_HEAD

# See delivery_template. An empty prefix never matches; max_size -1 is no frame_max.
Template = Tuple[bytes, bytes, bytes, int, int, int, str, bool, str, str, int]
NO_TEMPLATE: Template = (b"", b"", b"", 0, 0, 0, "", False, "", "", -1)


def delivery_template(
    buf: bytes, start: int, method_end: int, delivery: Delivery, max_size: int
) -> Optional[Template]:
    """The template of a delivery just decoded by :func:`decode_delivery` (method payload at
    ``buf[start:method_end]``), for the next ones in the same buffer: RabbitMQ sends a
    consumer's messages with the same consumer tag, exchange and routing key, and without
    properties when they were published without any, so all their bytes but the delivery
    tag, the body size and the body repeat. None unless the content header has no property
    (a 14-byte payload) and the body is not empty.

    Returns ``(prefix, tail, middle, tag_at, var_at, channel, consumer_tag, redelivered,
    exchange, routing_key, max_size)``: ``prefix`` runs from the method frame's type octet
    to the end of the consumer tag (``tag_at`` octets); ``tail`` from after the delivery tag
    to the content header's weight (redelivered bits, exchange, routing key, method frame
    end, header frame type, channel, payload size 14, class 60, weight); the body size
    follows at ``var_at`` octets after the delivery tag, then ``middle`` (property flags 0,
    header frame end, body frame type and channel) and the body frame's size
    (``formats.S_BODY_SIZES``). The frames' sizes were checked against ``max_size``: the
    template holds under that one only."""
    if not delivery.body or not buf.startswith(b"\x00\x00\x00\x0e", method_end + 4):
        return None
    tag_end = start + 5 + buf[start + 4]
    method = delivery.method
    prefix = buf[start - 7 : tag_end]
    tail = buf[tag_end + 8 : method_end + 12]
    return (
        prefix,
        tail,
        _S_BODY_MIDDLE.pack(0, 0xCE, 3, delivery.channel_number),
        len(prefix),
        8 + len(tail),
        delivery.channel_number,
        method.consumer_tag,
        method.redelivered,
        method.exchange,
        method.routing_key,
        max_size,
    )


# Distinct values each string cache of a decoder remembers; then it starts over, so a stream
# of ever new values (a routing key per message, say) costs a clear now and then, no growth.
STRING_CACHE_SIZE = 64


def decode_delivery(
    buf: bytes,
    start: int,
    method_end: int,
    end: int,
    channel: int,
    max_size: int,
    tags: Dict[bytes, str],
    names: Dict[bytes, Tuple[str, str]],
    unpack_tag: Any = _S_DELIVER_TAG.unpack_from,
    unpack_rest: Any = _S_HEADER_AND_BODY_HEAD.unpack_from,
    new: Any = object.__new__,
    deliver_class: Any = spec.Basic.Deliver,
    properties_class: Any = spec.BasicProperties,
) -> Optional[Tuple[Optional[Delivery], int]]:
    """The consume fast path of :meth:`FrameDecoder.feed_deliveries`.

    ``buf[start:method_end]`` is the payload of a complete, well-framed Basic.Deliver method
    frame on ``channel`` (its frame end checked). Decodes its arguments (AMQP 0-9-1
    basic.deliver: consumer-tag shortstr, delivery-tag longlong, redelivered bit, exchange
    and routing-key shortstrs) and, when a well-formed content header (class Basic, same
    channel) follows, and then either nothing (empty body) or ONE well-formed body frame on
    the same channel carrying exactly the announced size, returns the :class:`Delivery` and
    the position after its last frame. When the buffer ends before the content does, and
    what is there fits such a delivery, returns ``(None, needed)``: the position the buffer
    must reach (see :func:`_delivery_content`). Anything else, including arguments that do
    not end exactly at ``method_end``, returns None: the caller then decodes the frame on the
    generic path from scratch, which decodes (or refuses) it exactly as ``feed`` does.

    What it saves against the generic path (per message, measured): the three shortstr
    decodes become two dict hits (consumer tag; exchange + routing key, which share one
    raw slice), and a header without properties followed by a body frame -- what RabbitMQ
    sends for a message published without properties -- is checked with ONE struct unpack
    instead of four, and its properties are built without a decode call.
    """
    # Method arguments. Every offset is checked against method_end before it is used, so
    # nothing reads into the next frame; a mismatch is left to the generic path.
    tag_end = start + 5 + buf[start + 4]  # after the consumer tag
    if tag_end + 10 > method_end:
        return None
    delivery_tag, bits, exchange_length = unpack_tag(buf, tag_end)
    key_at = tag_end + 10 + exchange_length  # the routing key's length octet
    if key_at >= method_end or key_at + 1 + buf[key_at] != method_end:
        return None
    # Strings decode as in the generated decoders (UTF-8 with surrogate escapes: never fails)
    raw = buf[start + 5 : tag_end]
    consumer_tag = tags.get(raw)
    if consumer_tag is None:
        if len(tags) >= STRING_CACHE_SIZE:
            tags.clear()
        consumer_tag = tags[raw] = raw.decode("utf-8", "surrogateescape")
    # Exchange and routing key in one lookup: the raw bytes from the exchange's length octet
    # to the method's end (the lengths keep any two pairs apart).
    raw = buf[tag_end + 9 : method_end]
    pair = names.get(raw)
    if pair is None:
        if len(names) >= STRING_CACHE_SIZE:
            names.clear()
        pair = names[raw] = (
            buf[tag_end + 10 : key_at].decode("utf-8", "surrogateescape"),
            buf[key_at + 1 : method_end].decode("utf-8", "surrogateescape"),
        )
    method = new(deliver_class)
    method.consumer_tag = consumer_tag
    method.delivery_tag = delivery_tag
    method.redelivered = (bits & 1) != 0
    method.exchange, method.routing_key = pair
    pos = method_end + 1  # the content header frame
    if end - pos >= _S_HEADER_AND_BODY_HEAD.size:
        (
            frame_type,
            frame_channel,
            size,
            class_id,
            _weight,
            body_size,
            flags,
            header_end_octet,
            body_type,
            body_channel,
            body_frame_size,
        ) = unpack_rest(buf, pos)
        # The common shape: no property, then one body frame. Same checks as the generic
        # path: type, channel, size within max_size, frame end octets, properties ending
        # exactly at the header frame's end (flags 0 means a 14-byte payload).
        if (
            flags == 0
            and size == CONTENT_HEADER_FIXED + 2
            and frame_type == 2  # FRAME_HEADER
            and frame_channel == channel
            and class_id == 60  # Basic: the only content class (spec.PROPERTIES)
            and header_end_octet == 0xCE
            and body_size
            and body_type == 3  # FRAME_BODY
            and body_channel == channel
            and body_frame_size == body_size
            and not (max_size and (body_size + 8 > max_size or 22 > max_size))
        ):
            body_start = pos + _S_HEADER_AND_BODY_HEAD.size
            body_end = body_start + body_size
            if body_end < end and buf[body_end] == 0xCE:
                return (
                    Delivery(channel, method, properties_class(), buf[body_start:body_end]),
                    body_end + 1,
                )
    return _delivery_content(buf, channel, method, pos, end, max_size)


def _delivery_content(
    buf: bytes,
    channel: int,
    method: Any,
    pos: int,
    end: int,
    max_size: int,
    unpack_header: Any = _S_FRAME_HEADER.unpack_from,
    unpack_content_header: Any = _S_CONTENT_HEADER_PAYLOAD.unpack_from,
    decode_properties: Any = spec.BasicProperties.decode,
) -> Optional[Tuple[Optional[Delivery], int]]:
    """The general case of :func:`decode_delivery`: properties present, an empty body, or
    the frames not all in ``buf`` yet. ``pos`` is where the content header frame starts.
    Returns the :class:`Delivery` and the position after its last frame; or ``(None,
    needed)`` when what is in ``buf`` fits a delivery the fast path takes but ends before
    position ``needed``; or None (the caller then takes the generic path for the
    Basic.Deliver frame)."""
    if end - pos < 7:
        return None, pos + 7
    frame_type, frame_channel, size = unpack_header(buf, pos)
    start = pos + 7
    frame_end = start + size
    if (
        frame_type != 2  # FRAME_HEADER
        or frame_channel != channel
        or size < CONTENT_HEADER_FIXED + 2
        or (max_size and size + 8 > max_size)
    ):
        return None
    if frame_end >= end:
        return None, frame_end + 1
    if buf[frame_end] != 0xCE:
        return None
    class_id, _weight, body_size = unpack_content_header(buf, start)
    if class_id != 60:  # Basic: the only content class (spec.PROPERTIES)
        return None
    try:
        properties, after = decode_properties(buf, start + CONTENT_HEADER_FIXED)
    except ProtocolSyntaxError:
        return None
    if after != frame_end:
        return None
    pos = frame_end + 1
    if body_size == 0:
        return Delivery(channel, method, properties, b""), pos
    if end - pos < 7:
        return None, pos + 7
    frame_type, frame_channel, size = unpack_header(buf, pos)
    start = pos + 7
    frame_end = start + size
    if (
        frame_type != 3  # FRAME_BODY
        or frame_channel != channel
        or size != body_size
        or (max_size and size + 8 > max_size)
    ):
        return None
    if frame_end >= end:
        return None, frame_end + 1
    if buf[frame_end] != 0xCE:
        return None
    return Delivery(channel, method, properties, buf[start:frame_end]), frame_end + 1
