"""AMQP 0-9-1 frames: frame objects, wire constants and frame encoding (the publish hot path).

Wire format (AMQP 0-9-1, 2.3.5 and 4.2.3)::

    type:octet  channel:short  size:long  payload:size octets  frame-end:octet (0xCE)

``size`` counts the payload only, so a frame occupies ``size + 8`` bytes; ``frame_max`` (from
Connection.Tune) bounds that total.

Encoding (DESIGN.md rule 5): one publish is handed to the transport as ONE ``bytes`` (method,
content header and body frames) when the body fits one frame; a larger body is a list of a
``bytes`` head, ``memoryview`` slices of the body (never copied) and small ``bytes`` glue
between them.

Publishing: the channel caches the encoded method frame per (exchange, routing key,
mandatory) (:func:`encode_publish_heads`); ack/nack/reject are one struct pack
(``S_DELIVERY_TAG_METHOD_FRAME``).

Decoding lives in :mod:`amqpbase._frame_decoder` (``FrameDecoder``, the generic parse) and
:mod:`amqpbase._delivery_decoder` (the Basic.Deliver fast path); ``FrameDecoder`` and
``BATCH_SIZE`` are re-exported here, the public place to import them from.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar, List, Optional, Tuple, Union

from amqpbase import amqp_object, spec
from amqpbase.exceptions import (
    InvalidMaximumFrameSize,
    InvalidMinimumFrameSize,
)
from amqpbase.fieldtable import ENCODE_FALLBACK

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
"""What the client sends first: ``AMQP`` + protocol id 0 + version 0-9-1 (AMQP 0-9-1, 4.2.2)."""

HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"
"""A heartbeat: type 8 on channel 0 with an empty payload (AMQP 0-9-1, 4.2.7)."""

FRAME_END = b"\xce"
_FRAME_END = 0xCE
_FRAME_TYPES = frozenset(
    (spec.FRAME_METHOD, spec.FRAME_HEADER, spec.FRAME_BODY, spec.FRAME_HEARTBEAT)
)

_S_FRAME_HEADER = struct.Struct("!BHI")  # type, channel, payload size
# The previous frame's end octet + the next frame's header, in one pack: the glue between
# body slices, and the body frame header after a content header.
_S_END_AND_HEADER = struct.Struct("!BBHI")
# Content header frame after a method frame: end octet of the method frame, frame header,
# class id, weight (always 0), body size (AMQP 0-9-1, 4.2.6). Its property flags follow.
_S_END_AND_CONTENT_HEADER = struct.Struct("!BBHIHHQ")
_S_CONTENT_HEADER_PAYLOAD = struct.Struct("!HHQ")
_S_METHOD_INDEX = struct.Struct("!I")  # class id << 16 | method id == Method.INDEX

# Basic.Publish fast path: method frame header, class and method ids, ticket, exchange
# length; then publish bits, method frame end, content header frame header, class id,
# weight and body size.
_S_PUBLISH_HEAD = struct.Struct("!BHIHHHB")
_S_BITS_END_AND_CONTENT_HEADER = struct.Struct("!BBBHIHHQ")
_S_OCTET = struct.Struct("!B")
_PUBLISH = spec.Basic.Publish
_CONTENT_HEADER_FIXED = 12  # class id, weight, body size (before the property flags)
_MAX_FRAME = 0xFFFFFFFF  # frame_max is a long; 0 means "no limit" (AMQP 0-9-1, connection.tune)


# --------------------------------------------------------------------------------------------
# Frame objects (pika's attribute names)
# --------------------------------------------------------------------------------------------


class _Frame(amqp_object.AMQPObject):
    """Base of the frame classes: value semantics over ``__slots__`` (from ``AMQPObject``),
    with each frame class's own name in its repr."""

    __slots__ = ()
    frame_type: ClassVar[int]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.NAME = cls.__name__


class Method(_Frame):
    """A method frame. ``method`` is typed ``Any`` on purpose: receivers dispatch on its type
    and then read that method's own fields (as pika code does)."""

    __slots__ = ("channel_number", "method")
    frame_type = spec.FRAME_METHOD

    def __init__(self, channel_number: int, method: Any) -> None:
        self.channel_number = channel_number
        self.method = method

    def marshal(self) -> bytes:
        return encode_method_frame(self.channel_number, self.method)


class Header(_Frame):
    """A content header frame: ``body_size`` and the properties (``spec.BasicProperties``)."""

    __slots__ = ("channel_number", "body_size", "properties")
    frame_type = spec.FRAME_HEADER

    def __init__(self, channel_number: int, body_size: int, properties: Any) -> None:
        self.channel_number = channel_number
        self.body_size = body_size
        self.properties = properties

    def marshal(self) -> bytes:
        props = self.properties.encode()
        return b"".join((
            _S_FRAME_HEADER.pack(spec.FRAME_HEADER, self.channel_number, 12 + len(props)),
            _S_CONTENT_HEADER_PAYLOAD.pack(self.properties.INDEX, 0, self.body_size),
            props,
            FRAME_END,
        ))


class Body(_Frame):
    """A content body frame; ``fragment`` is ``bytes`` (a copy: the decoder's buffer moves on)."""

    __slots__ = ("channel_number", "fragment")
    frame_type = spec.FRAME_BODY

    def __init__(self, channel_number: int, fragment: bytes) -> None:
        self.channel_number = channel_number
        self.fragment = fragment

    def marshal(self) -> bytes:
        return b"".join((
            _S_FRAME_HEADER.pack(spec.FRAME_BODY, self.channel_number, len(self.fragment)),
            self.fragment,
            FRAME_END,
        ))


class Heartbeat(_Frame):
    """A heartbeat frame (always channel 0)."""

    __slots__ = ()
    frame_type = spec.FRAME_HEARTBEAT
    channel_number: ClassVar[int] = 0

    def marshal(self) -> bytes:
        return HEARTBEAT_FRAME


class ProtocolHeader(_Frame):
    """``AMQP`` + 4 octets. From the server it means "I do not speak your version": it sends
    the version it does speak and closes (AMQP 0-9-1, 4.2.2). ``frame_type`` is -1 (pika)."""

    __slots__ = ("major", "minor", "revision")
    frame_type = -1
    #: Not a real frame, but it belongs to the connection (channel 0), which handles it.
    channel_number = 0

    def __init__(
        self,
        major: int = spec.PROTOCOL_VERSION[0],
        minor: int = spec.PROTOCOL_VERSION[1],
        revision: int = spec.PROTOCOL_VERSION[2],
    ) -> None:
        self.major = major
        self.minor = minor
        self.revision = revision

    def marshal(self) -> bytes:
        return b"AMQP" + bytes((0, self.major, self.minor, self.revision))


class Delivery(_Frame):
    """Not a wire frame: one complete Basic.Deliver (its method frame, its content header and
    its body in at most one body frame), as :meth:`FrameDecoder.feed_deliveries` returns it.

    ``body`` is the ``bytes`` the lone body frame carried (``b""`` when the header announced
    an empty body). :meth:`frames` gives the frames the generic :meth:`FrameDecoder.feed`
    returns for the same bytes."""

    __slots__ = ("channel_number", "method", "properties", "body")
    frame_type = -2  # not a frame type on the wire

    def __init__(self, channel_number: int, method: Any, properties: Any, body: bytes) -> None:
        self.channel_number = channel_number
        self.method = method
        self.properties = properties
        self.body = body

    def frames(self) -> List["Frame"]:
        """The method, header and (for a non-empty body) body frames this stands for."""
        channel = self.channel_number
        out: List[Frame] = [
            Method(channel, self.method),
            Header(channel, len(self.body), self.properties),
        ]
        if self.body:
            out.append(Body(channel, self.body))
        return out

    def marshal(self) -> bytes:
        return b"".join(part.marshal() for part in self.frames())


Frame = Union[Method, Header, Body, Heartbeat, ProtocolHeader, Delivery]


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def encode_method_frame(channel_number: int, method: amqp_object.Method) -> bytes:
    """The complete method frame for ``method`` on ``channel_number``."""
    payload = method.encode()
    header = _S_FRAME_HEADER.pack(spec.FRAME_METHOD, channel_number, len(payload))
    return b"".join((header, payload, FRAME_END))


def _body_payload_limit(frame_max: int) -> int:
    if frame_max == 0:
        return _MAX_FRAME - 8
    if frame_max < spec.FRAME_MIN_SIZE:
        raise InvalidMinimumFrameSize(
            f"frame_max={frame_max} is below the AMQP minimum of {spec.FRAME_MIN_SIZE}"
        )
    if frame_max > _MAX_FRAME:
        raise InvalidMaximumFrameSize(f"frame_max={frame_max} does not fit a long (2**32 - 1)")
    return frame_max - 8


def encode_content_frames(
    channel_number: int,
    method: amqp_object.Method,
    properties: Optional[spec.BasicProperties],
    body: Union[bytes, bytearray, memoryview, str],
    frame_max: int,
) -> List[Union[bytes, memoryview]]:
    """Encode one content-carrying method (Basic.Publish): method + header + body frames.

    ``frame_max`` is the negotiated total frame size (payload + 8 bytes of overhead), any
    int >= 4096 (``InvalidMinimumFrameSize`` below that, ``InvalidMaximumFrameSize`` above
    2**32 - 1); 0 means "no limit" as in Connection.Tune. Body frames carry at most
    ``frame_max - 8`` bytes.

    ``body`` may be ``bytes``, ``bytearray``, ``memoryview`` (any contiguous buffer) or
    ``str`` (encoded UTF-8, as pika does). ``properties`` None sends no properties.

    Returns ONE ``bytes`` holding all frames when the body fits one frame (or is empty, which
    sends no body frame: AMQP 0-9-1, 4.2.6). A larger body gives ``[head, view, glue, view,
    ..., glue, view, frame_end]``: ``head`` is the method frame, the header frame and the
    first body frame's header; each ``view`` is a ``memoryview`` slice of the caller's body
    (not copied, so the caller must not mutate a bytearray body until it has been written);
    each ``glue`` is the previous body frame's end octet plus the next body frame's header.
    """
    if (
        type(body) is bytes
        and type(method) is _PUBLISH
        and spec.FRAME_MIN_SIZE <= frame_max <= _MAX_FRAME
        and 0 < len(body) <= frame_max - 8
    ):
        data = _encode_one_frame_publish(channel_number, method, properties, body)
        if data is not None:
            return [data]
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray)):
        body = memoryview(body)
        if body.format != "B" or body.ndim != 1:
            body = body.cast("B")
    method_payload = method.encode()
    props = properties.encode() if properties is not None else b"\x00\x00"
    body_size = len(body)
    limit = _body_payload_limit(frame_max)
    head = _S_FRAME_HEADER.pack(spec.FRAME_METHOD, channel_number, len(method_payload))
    content_header = _S_END_AND_CONTENT_HEADER.pack(
        _FRAME_END,
        spec.FRAME_HEADER,
        channel_number,
        _CONTENT_HEADER_FIXED + len(props),
        method.INDEX >> 16,  # the content class is the method's class
        0,
        body_size,
    )
    if body_size == 0:
        return [b"".join((head, method_payload, content_header, props, FRAME_END))]
    if body_size <= limit:
        return [
            b"".join((
                head,
                method_payload,
                content_header,
                props,
                _S_END_AND_HEADER.pack(_FRAME_END, spec.FRAME_BODY, channel_number, body_size),
                body,
                FRAME_END,
            ))
        ]
    full_glue = _S_END_AND_HEADER.pack(_FRAME_END, spec.FRAME_BODY, channel_number, limit)
    view = memoryview(body)
    out: List[Union[bytes, memoryview]] = [
        b"".join((head, method_payload, content_header, props, full_glue)),
        view[:limit],
    ]
    append = out.append
    pos = limit
    while pos < body_size:
        chunk = body_size - pos
        if chunk >= limit:
            chunk = limit
            append(full_glue)
        else:
            append(_S_END_AND_HEADER.pack(_FRAME_END, spec.FRAME_BODY, channel_number, chunk))
        append(view[pos : pos + chunk])
        pos += chunk
    append(FRAME_END)
    return out


# Basic.Ack / Basic.Nack / Basic.Reject share one layout (AMQP 0-9-1 basic.ack (60, 80),
# basic.reject (60, 90), RabbitMQ's basic.nack (60, 120)): a delivery-tag longlong and one
# octet of bits. Their whole method frame is one pack: frame type 1, channel, payload size
# 13, class id, method id, delivery tag, bits, frame end.
S_DELIVERY_TAG_METHOD_FRAME = struct.Struct("!BHIHHQBB")

# After a publish head (see encode_publish_heads) for a message without properties: the
# body size and the empty property flags that end the content header, its frame end, and
# the body frame's header (type 3, channel, size).
S_PUBLISH_TAIL = struct.Struct("!QHBBHI")
# After a publish's method frame, for a message with properties: the content header's frame
# header, class id, weight and body size; its property flags and values follow.
S_CONTENT_HEADER = struct.Struct("!BHIHHQ")
# Between the properties and the body: the header's frame end and the body frame's header.
S_END_AND_BODY_HEADER = _S_END_AND_HEADER


def encode_publish_heads(
    channel_number: int, exchange: str, routing_key: str, mandatory: bool
) -> Tuple[bytes, bytes]:
    """The constant parts of a one-body-frame publish, for a per-channel cache.

    Returns ``(method_frame, head)``: the complete Basic.Publish method frame for these
    arguments, and the same followed by the constant start of a content header without
    properties (type 2, channel, payload size 14, class 60, weight 0). A message is then
    ``method_frame + S_CONTENT_HEADER + properties + S_END_AND_BODY_HEADER + body + FRAME_END``
    or ``head + S_PUBLISH_TAIL + body + FRAME_END``: the bytes ``encode_content_frames``
    gives. Encoding errors (``ShortStringTooLong``, a channel number out of range) raise as
    there, since the method frame is encoded by the same code."""
    method_frame = encode_method_frame(
        channel_number, _PUBLISH(0, exchange, routing_key, mandatory, False)
    )
    header_start = _S_FRAME_HEADER.pack(spec.FRAME_HEADER, channel_number, 14)
    return method_frame, b"".join((method_frame, header_start, b"\x00\x3c\x00\x00"))


def _encode_one_frame_publish(
    channel_number: int,
    method: spec.Basic.Publish,
    properties: Optional[spec.BasicProperties],
    body: bytes,
) -> Optional[bytes]:
    """Publish fast path of :func:`encode_content_frames`: a Basic.Publish with a non-empty
    ``bytes`` body that fits one frame, packed in one join of four struct packs (the generic
    path runs ``Publish.encode`` with its own three packs and join, then three frame header
    packs and a second join). Same bytes. Returns None when the method's fields are not what
    ``Publish.encode``'s own fast path takes (not a str, not strict UTF-8, a shortstr over
    255 bytes, a ticket or channel number out of range): the generic path then encodes them or
    raises exactly as before. The properties are encoded after the method, as there."""
    try:
        exchange = method.exchange.encode()
        routing_key = method.routing_key.encode()
        head = _S_PUBLISH_HEAD.pack(
            spec.FRAME_METHOD,
            channel_number,
            9 + len(exchange) + len(routing_key),  # ids 4, ticket 2, lengths 2, bits 1
            60,
            40,
            method.ticket,
            len(exchange),
        )
        routing_key_length = _S_OCTET.pack(len(routing_key))
    except ENCODE_FALLBACK:
        return None
    props = properties.encode() if properties is not None else b"\x00\x00"
    body_size = len(body)
    return b"".join((
        head,
        exchange,
        routing_key_length,
        routing_key,
        _S_BITS_END_AND_CONTENT_HEADER.pack(
            (1 if method.mandatory else 0) | (2 if method.immediate else 0),
            _FRAME_END,
            spec.FRAME_HEADER,
            channel_number,
            _CONTENT_HEADER_FIXED + len(props),
            60,  # Basic
            0,
            body_size,
        ),
        props,
        _S_END_AND_HEADER.pack(_FRAME_END, spec.FRAME_BODY, channel_number, body_size),
        body,
        FRAME_END,
    ))


# The decoder lives in its own module (it needs the frame classes above, so it is imported
# last); its public names stay importable from here, where callers always found them.
from amqpbase._frame_decoder import BATCH_SIZE as BATCH_SIZE  # noqa: E402
from amqpbase._frame_decoder import FrameDecoder as FrameDecoder  # noqa: E402
