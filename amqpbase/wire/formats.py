"""Wire constants and precompiled struct formats of AMQP 0-9-1 frames (no logic here).

Frame layout (AMQP 0-9-1, 2.3.5 and 4.2.3)::

    type:octet  channel:short  size:long  payload:size octets  frame-end:octet (0xCE)

``size`` counts the payload only, so a frame occupies ``size + 8`` bytes; ``frame_max`` (from
Connection.Tune) bounds that total. Every struct here is compiled once at import (internals.md
rule 5) and is public: the encoders, the decoder and the channel's packs share them. This
module must not import anything but ``amqpbase.spec``.
"""

from __future__ import annotations

import struct

from amqpbase import spec

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
"""What the client sends first: ``AMQP`` + protocol id 0 + version 0-9-1 (AMQP 0-9-1, 4.2.2)."""

HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"
"""A heartbeat: type 8 on channel 0 with an empty payload (AMQP 0-9-1, 4.2.7)."""

FRAME_END = b"\xce"
"""The frame-end octet as ``bytes`` (a piece of a join)."""
FRAME_END_OCTET = 0xCE
"""The frame-end octet as an int (a struct field)."""
FRAME_TYPES = frozenset(
    (spec.FRAME_METHOD, spec.FRAME_HEADER, spec.FRAME_BODY, spec.FRAME_HEARTBEAT)
)
CONTENT_HEADER_FIXED = 12
"""Content header payload before the property flags: class id, weight, body size (4.2.6.1)."""
MAX_FRAME = 0xFFFFFFFF
"""frame_max is a long; 0 means "no limit" (AMQP 0-9-1, connection.tune)."""
BASIC_CLASS_ID = spec.Basic.INDEX
"""Class basic (60): the only content class of AMQP 0-9-1."""

# ---- generic frames ------------------------------------------------------------------------

S_FRAME_HEADER = struct.Struct("!BHI")  # type, channel, payload size
# The previous frame's end octet + the next frame's header, in one pack: the glue between
# body slices, and the body frame header after a content header.
S_END_AND_HEADER = struct.Struct("!BBHI")
# Content header frame after a method frame: end octet of the method frame, frame header,
# class id, weight (always 0), body size (AMQP 0-9-1, 4.2.6). Its property flags follow.
S_END_AND_CONTENT_HEADER = struct.Struct("!BBHIHHQ")
S_CONTENT_HEADER_PAYLOAD = struct.Struct("!HHQ")  # class id, weight, body size
S_METHOD_INDEX = struct.Struct("!I")  # class id << 16 | method id == Method.INDEX
S_OCTET = struct.Struct("!B")
S_LONGLONG = struct.Struct("!Q")

# ---- Basic.Publish (encode.encode_content_frames' fast path) ---------------------------------

# Method frame header, class and method ids, ticket, exchange length.
S_PUBLISH_HEAD = struct.Struct("!BHIHHHB")
# Publish bits, method frame end, content header frame header, class id, weight, body size.
S_BITS_END_AND_CONTENT_HEADER = struct.Struct("!BBBHIHHQ")

# ---- the channel's fast packs (packs.py): a per-channel constant prefix + the variable rest --

# Basic.Ack/Nack/Reject: the 11-byte prefix (frame type, channel, payload size 13, class id,
# method id), then the delivery tag, the bits octet and the frame end.
S_DELIVERY_TAG_PREFIX = struct.Struct("!BHIHH")
S_DELIVERY_TAG_FRAME = struct.Struct(f"!{S_DELIVERY_TAG_PREFIX.size}sQBB")
# Publish without properties, after packs' bare head: body size, the 6 constant bytes (empty
# property flags, header frame end, body frame type and channel), body frame size.
S_BARE_PUBLISH_MIDDLE = struct.Struct("!HBBH")
S_BARE_PUBLISH_TAIL = struct.Struct(f"!Q{S_BARE_PUBLISH_MIDDLE.size}sI")
# Publish with properties: the content header's type and channel (in packs' head), then its
# payload size, class id, weight and body size; after the properties, the 4 constant bytes
# (header frame end, body frame type and channel) and the body frame size.
S_CHANNEL_FRAME_START = struct.Struct("!BH")
S_CONTENT_HEADER_REST = struct.Struct("!IHHQ")
S_BODY_GLUE = struct.Struct("!BBH")
S_BODY_FRAME_SIZE = struct.Struct(f"!{S_BODY_GLUE.size}sI")

# ---- decoding ------------------------------------------------------------------------------

# A templated delivery's variable parts after its constant tail (S_BARE_PUBLISH_TAIL's layout):
# body size, [property flags, header frame end, body frame type and channel], body frame size.
S_BODY_SIZES = struct.Struct("!Q6xI")
# Basic.Deliver fast path: delivery tag, redelivered bits and the exchange's length octet.
S_DELIVER_TAG = struct.Struct("!QBB")
# A delivery template's middle: property flags 0, header frame end, body frame type, channel.
S_BODY_MIDDLE = S_BARE_PUBLISH_MIDDLE
# From the start of the content header frame after a Basic.Deliver: its frame header, class
# id, weight, body size, property flags and (when the flags are 0, so nothing else follows)
# its frame end octet and the body frame's header (type, channel, size).
S_HEADER_AND_BODY_HEAD = struct.Struct("!BHIHHQHBBHI")
