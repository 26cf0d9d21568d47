"""``amqpbase.frame``: the pika-compatible public face of :mod:`amqpbase.wire` (re-exports only).

pika users import ``pika.frame`` (``Method``, ``Header``, ``Body``, ...); the same names, and
every name amqpbase's own modules have imported from here, stay importable from this module.
The code lives in the wire package (frames, encode, packs, decoder; constants and structs in
``wire.formats``). This module must hold no code of its own.
"""

from __future__ import annotations

from amqpbase.wire.decoder import BATCH_SIZE, FrameDecoder
from amqpbase.wire.encode import (
    encode_content_frames,
    encode_method_frame,
    encode_publish_heads,
)
from amqpbase.wire.formats import (
    FRAME_END,
    HEARTBEAT_FRAME,
    PROTOCOL_HEADER,
)
from amqpbase.wire.frames import (
    Body,
    Delivery,
    Frame,
    Header,
    Heartbeat,
    Method,
    ProtocolHeader,
)

__all__ = [
    "BATCH_SIZE",
    "FRAME_END",
    "HEARTBEAT_FRAME",
    "PROTOCOL_HEADER",
    "Body",
    "Delivery",
    "Frame",
    "FrameDecoder",
    "Header",
    "Heartbeat",
    "Method",
    "ProtocolHeader",
    "encode_content_frames",
    "encode_method_frame",
    "encode_publish_heads",
]
