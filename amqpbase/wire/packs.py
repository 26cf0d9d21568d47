"""The channel's per-message packs: Basic.Ack/Nack/Reject frames and one-frame publishes.

Each per-message frame is split into bytes that are constant for a channel (or for a
channel's (exchange, routing key, mandatory)), computed once by the functions here, and ONE
bound ``struct.pack`` call for the rest (internals.md rule 5: a publish is one cache lookup, one
pack and one emit). The bound packs are module attributes, called directly by the channel:
no Python call of ours per message. The bytes equal the generic encoders' (``encode``), as
``tests/unit/test_wire_packs.py`` checks across edge values.

Owns no state and no checks: the caller validates its arguments (a pack only raises
``struct.error`` on a value out of range).
"""

from __future__ import annotations

from typing import Callable, Tuple, Type

from amqpbase import amqp_object, spec
from amqpbase.wire.encode import encode_publish_heads
from amqpbase.wire.formats import (
    FRAME_END_OCTET,
    S_BARE_PUBLISH_MIDDLE,
    S_BARE_PUBLISH_TAIL,
    S_BODY_FRAME_SIZE,
    S_BODY_GLUE,
    S_CHANNEL_FRAME_START,
    S_CONTENT_HEADER_REST,
    S_DELIVERY_TAG_FRAME,
    S_DELIVERY_TAG_PREFIX,
)

# ---- Basic.Ack / Basic.Nack / Basic.Reject ---------------------------------------------------
#
# The three share one argument layout (AMQP 0-9-1 basic.ack, basic.reject; RabbitMQ's
# basic.nack extension): delivery-tag (longlong), then bit arguments packed into one octet,
# the first bit in the least significant position (AMQP 0-9-1, 4.2.5.2). So each whole
# method frame is a constant 11-byte prefix (frame type 1, channel, payload size 13, class
# id, method id: 4.2.3 and 4.2.5) + delivery tag + bits + frame end: 22 bytes.

BASIC_ACK_MULTIPLE = 1
"""basic.ack bit 0, ``multiple``: acknowledge every delivery up to the tag (0: all)."""
BASIC_NACK_MULTIPLE = 1
"""basic.nack bit 0, ``multiple``: reject every delivery up to the tag."""
BASIC_NACK_REQUEUE = 2
"""basic.nack bit 1, ``requeue``: requeue instead of dead-lettering/dropping."""
BASIC_REJECT_REQUEUE = 1
"""basic.reject bit 0, ``requeue``."""

_TAG_METHOD_PAYLOAD = 13  # class id 2 + method id 2 + delivery tag 8 + bits 1


def _delivery_tag_prefix(channel_number: int, method: Type[amqp_object.Method]) -> bytes:
    index = method.INDEX
    return S_DELIVERY_TAG_PREFIX.pack(
        spec.FRAME_METHOD, channel_number, _TAG_METHOD_PAYLOAD, index >> 16, index & 0xFFFF
    )


def basic_ack_prefix(channel_number: int) -> bytes:
    """The constant first 11 bytes of every Basic.Ack (class 60, method 80) method frame on
    ``channel_number``, for :data:`pack_delivery_tag_frame`."""
    return _delivery_tag_prefix(channel_number, spec.Basic.Ack)


def basic_nack_prefix(channel_number: int) -> bytes:
    """The constant first 11 bytes of every Basic.Nack (class 60, method 120, a RabbitMQ
    extension) method frame on ``channel_number``, for :data:`pack_delivery_tag_frame`."""
    return _delivery_tag_prefix(channel_number, spec.Basic.Nack)


def basic_reject_prefix(channel_number: int) -> bytes:
    """The constant first 11 bytes of every Basic.Reject (class 60, method 90) method frame
    on ``channel_number``, for :data:`pack_delivery_tag_frame`."""
    return _delivery_tag_prefix(channel_number, spec.Basic.Reject)


pack_delivery_tag_frame: Callable[[bytes, int, int, int], bytes] = S_DELIVERY_TAG_FRAME.pack
"""``pack_delivery_tag_frame(prefix, delivery_tag, bits, FRAME_END_OCTET)``: the whole 22-byte
Basic.Ack/Nack/Reject method frame, ``prefix`` from :func:`basic_ack_prefix` (or nack,
reject), ``bits`` an OR of that method's bit constants above (0: none). One C call."""

# ---- Basic.Publish with a body in one frame --------------------------------------------------

PublishPieces = Tuple[bytes, bytes, bytes, bytes]
"""What :func:`encode_publish_pieces` returns (a plain tuple: the channel indexes it)."""


def encode_publish_pieces(
    channel_number: int, exchange: str, routing_key: str, mandatory: bool
) -> PublishPieces:
    """The constant parts of a one-body-frame Basic.Publish (class 60, method 40) on
    ``channel_number`` to (exchange, routing key, mandatory), for a per-channel cache.

    Returns ``(head, bare_head, bare_middle, body_glue)``:

    - ``head``: the Basic.Publish method frame, then the content header frame's type (2) and
      channel (AMQP 0-9-1, 4.2.6);
    - ``bare_head``: the method frame and the whole constant start of a content header
      without properties (type 2, channel, payload size 14, class 60, weight 0);
    - ``bare_middle``: after the body size, the empty property flags, the header's frame end
      and the body frame's type (3) and channel;
    - ``body_glue``: the header's frame end and the body frame's type and channel.

    A message without properties (``props`` None) is then, as ``b"".join`` pieces::

        bare_head, pack_bare_publish_tail(body_size, bare_middle, body_size), body, FRAME_END

    and one with properties (``props = properties.encode()``)::

        head, pack_content_header_rest(CONTENT_HEADER_FIXED + len(props), BASIC_CLASS_ID, 0,
        body_size), props, pack_body_frame_size(body_glue, body_size), body, FRAME_END

    the bytes ``encode.encode_content_frames`` gives (for 0 < body_size <= frame_max - 8).
    Encoding errors (``ShortStringTooLong``, a channel number out of range) raise as there,
    since the method frame is encoded by the same code."""
    method_frame, bare_head = encode_publish_heads(
        channel_number, exchange, routing_key, mandatory
    )
    return (
        method_frame + S_CHANNEL_FRAME_START.pack(spec.FRAME_HEADER, channel_number),
        bare_head,
        S_BARE_PUBLISH_MIDDLE.pack(0, FRAME_END_OCTET, spec.FRAME_BODY, channel_number),
        S_BODY_GLUE.pack(FRAME_END_OCTET, spec.FRAME_BODY, channel_number),
    )


pack_bare_publish_tail: Callable[[int, bytes, int], bytes] = S_BARE_PUBLISH_TAIL.pack
"""``pack_bare_publish_tail(body_size, bare_middle, body_size)``: the content header's body
size, ``bare_middle`` (see :func:`encode_publish_pieces`) and the body frame's size."""

pack_content_header_rest: Callable[[int, int, int, int], bytes] = S_CONTENT_HEADER_REST.pack
"""``pack_content_header_rest(CONTENT_HEADER_FIXED + len(props), BASIC_CLASS_ID, 0,
body_size)``: after ``head``, the content header's payload size, class id, weight (always 0)
and body size; the encoded properties follow (AMQP 0-9-1, 4.2.6.1)."""

pack_body_frame_size: Callable[[bytes, int], bytes] = S_BODY_FRAME_SIZE.pack
"""``pack_body_frame_size(body_glue, body_size)``: after the properties, ``body_glue`` (see
:func:`encode_publish_pieces`) and the body frame's size; the body follows."""
