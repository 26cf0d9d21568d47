"""AMQP 0-9-1 frames: frame objects, frame encoding (the publish hot path) and FrameDecoder.

Wire format (AMQP 0-9-1, 2.3.5 and 4.2.3)::

    type:octet  channel:short  size:long  payload:size octets  frame-end:octet (0xCE)

``size`` counts the payload only, so a frame occupies ``size + 8`` bytes; ``frame_max`` (from
Connection.Tune) bounds that total.

Encoding (DESIGN.md rule 5): one publish is handed to the transport as ONE ``bytes`` (method,
content header and body frames) when the body fits one frame; a larger body is a list of a
``bytes`` head, ``memoryview`` slices of the body (never copied) and small ``bytes`` glue
between them.

Decoding: :class:`FrameDecoder` parses every complete frame of one ``bytes`` snapshot per
:meth:`FrameDecoder.feed` call by offset, and keeps only the incomplete rest.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar, Dict, FrozenSet, Iterator, List, Optional, Tuple, Union

from amqpbase import amqp_object, spec
from amqpbase.exceptions import (
    InvalidFrameError,
    InvalidMaximumFrameSize,
    InvalidMinimumFrameSize,
    MethodNotImplemented,
    ProtocolSyntaxError,
)
from amqpbase.fieldtable import ENCODE_FALLBACK

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
"""What the client sends first: ``AMQP`` + protocol id 0 + version 0-9-1 (AMQP 0-9-1, 4.2.2)."""

HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"
"""A heartbeat: type 8 on channel 0 with an empty payload (AMQP 0-9-1, 4.2.7)."""

FRAME_END = b"\xce"
BATCH_SIZE = 64
"""Frames per batch of :meth:`FrameDecoder.feed_batches` (a delivery makes three container
objects; 64 of them stay well below the cyclic GC's 700-allocation threshold)."""
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

_DELIVER_INDEX = spec.Basic.Deliver.INDEX
# Basic.Deliver fast path: delivery tag, redelivered bits and the exchange's length octet.
_S_DELIVER_TAG = struct.Struct("!QBB")
_S_LONGLONG = struct.Struct("!Q")
# A templated delivery's variable parts after its constant tail (S_PUBLISH_TAIL's layout):
# body size, [property flags, header frame end, body frame type and channel], body frame size.
_S_BODY_SIZES = struct.Struct("!Q6xI")
_S_BODY_MIDDLE = struct.Struct("!HBBH")
# See _delivery_template. An empty prefix never matches; max_size -1 is no frame_max.
_Template = Tuple[bytes, bytes, bytes, int, int, int, str, bool, str, str, int]
_NO_TEMPLATE: _Template = (b"", b"", b"", 0, 0, 0, "", False, "", "", -1)
# From the start of the content header frame after a Basic.Deliver: its frame header, class
# id, weight, body size, property flags and (when the flags are 0, so nothing else follows)
# its frame end octet and the body frame's header (type, channel, size).
_S_HEADER_AND_BODY_HEAD = struct.Struct("!BHIHHQHBBHI")
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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _show(data: Union[bytes, bytearray], start: int, count: int = 16) -> str:
    chunk = bytes(data[start : start + count])
    more = "..." if len(data) > start + count else ""
    return chunk.hex(" ") + more


class FrameDecoder:
    """Incremental frame parser (DESIGN.md rule 5).

    :meth:`feed` parses every complete frame of the input (after what was left over) by
    offset, in one ``bytes`` snapshot per call; an incomplete frame is kept in a
    ``bytearray`` for the next call, which parses again only once that frame can be
    complete (so a large frame arriving in many chunks costs linear time).

    ``max_frame_size`` bounds a whole frame (payload + 8 bytes, as ``frame_max`` does); 0
    means no limit. It may be changed at any time (the connection lowers it after
    Connection.Tune). An oversized frame is refused as soon as its 7-byte header is in.

    Errors (each a :class:`ProtocolSyntaxError` subclass with ``reply_code``, except
    :class:`MethodNotImplemented`, 540):

    - bad frame-end octet, unknown frame type, oversized frame, heartbeat that is not empty
      on channel 0, garbage where the stream should start: :class:`InvalidFrameError` (501);
    - method or content header whose fields do not decode, overrun the frame or leave bytes
      unread, or a content header for a class without content: :class:`ProtocolSyntaxError`
      (502, or the field-table subclass);
    - unknown class/method id: :class:`MethodNotImplemented` (540).

    After an error the decoder is dead: every later :meth:`feed` raises the same exception
    class again. The frames completed earlier in the failing call are kept in
    :attr:`frames_before_error` (they were valid; a caller may still act on them).
    """

    __slots__ = (
        "max_frame_size",
        "frames_before_error",
        "_buffer",
        "_need",
        "_need_is_frame",
        "_at_start",
        "_error",
        "_tags",
        "_names",
        "_template",
    )

    def __init__(self, max_frame_size: int) -> None:
        self.max_frame_size = max_frame_size
        self.frames_before_error: List[Frame] = []
        # Bytes left over from the last call: the start of an incomplete frame, which needs
        # ``_need`` bytes in all before it can complete.
        self._buffer = bytearray()
        self._need = 0
        self._need_is_frame = True
        self._at_start = True
        self._error: Optional[BaseException] = None
        # Raw bytes -> decoded strings for the Basic.Deliver fast path (_decode_delivery): a
        # consumer's deliveries repeat the same consumer tag, exchange and routing key message
        # after message. Two dicts, so a tag's bytes never meet an exchange + key's bytes.
        self._tags: Dict[bytes, str] = {}
        self._names: Dict[bytes, Tuple[str, str]] = {}
        # The last delivery template (_delivery_template), kept across calls: RabbitMQ's
        # deliveries come in many small reads (~20 messages each in the benchmarks).
        self._template: _Template = _NO_TEMPLATE

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> List[Frame]:
        """Add ``data``; return the frames now complete, in order (maybe ``[]``)."""
        return self._feed(data, False)

    def feed_deliveries(self, data: Union[bytes, bytearray, memoryview]) -> List[Frame]:
        """:meth:`feed`, except that each Basic.Deliver whose content header and single body
        frame (none for an empty body) are complete in the buffer comes back as ONE
        :class:`Delivery` instead of three frames (the consume hot path: one object and one
        dispatch per message instead of three). ``Delivery.frames()`` is exactly what
        :meth:`feed` returns for those bytes; anything else (a body in several frames, a
        malformed or incomplete header or body, a frame end or size that is off) goes through
        the generic path unchanged, so errors and ``frames_before_error`` are the same."""
        return self._feed(data, True)

    def feed_batches(self, data: Union[bytes, bytearray, memoryview]) -> Iterator[List[Frame]]:
        """:meth:`feed_deliveries` in batches of at most ``BATCH_SIZE`` frames, each parsed
        when the previous one has been taken (what the connection calls: it dispatches each
        batch before the next is parsed).

        Why: one 256 KiB read holds ~1,300 deliveries. Parsed all at once, their objects
        stay alive together, and CPython's cyclic GC (a collection per 700 net allocations
        of container objects) scans and promotes them again and again: 0.27 us per message
        measured. In batches, a delivery's objects die before many others are made.

        A malformed frame raises from the iteration; ``frames_before_error`` then holds the
        frames of that batch completed before it (the earlier batches were yielded). An
        iteration stopped early keeps the unparsed rest for the next call."""
        chunk = self._snapshot(data)
        if chunk is None:
            return
        pos = 0
        while True:
            frames: List[Frame] = []
            pos = self._parse_guarded(chunk, pos, frames, True, BATCH_SIZE)
            if len(frames) < BATCH_SIZE:
                self._keep(chunk, pos)
                if frames:
                    yield frames
                return
            try:
                yield frames
            except GeneratorExit:  # the caller stopped: keep what it did not take
                self._keep(chunk, pos)
                raise

    def _feed(self, data: Union[bytes, bytearray, memoryview], deliveries: bool) -> List[Frame]:
        chunk = self._snapshot(data)
        if chunk is None:
            return []
        frames: List[Frame] = []
        self._keep(chunk, self._parse_guarded(chunk, 0, frames, deliveries, 0))
        return frames

    def _snapshot(self, data: Union[bytes, bytearray, memoryview]) -> Optional[bytes]:
        """The bytes to parse: what was left over plus ``data``, or None while the frame in
        progress cannot be complete yet. Parsing works on an immutable ``bytes`` snapshot:
        its slices are ``bytes`` (a body is one slice, no memoryview; a shortstr slice is
        hashable for the string caches). Each input byte is copied into it once (plus, for
        a leftover, into the bytearray)."""
        if self._error is not None:
            raise type(self._error)(f"frame decoder stopped by an earlier error: {self._error}")
        pending = self._buffer
        if not pending:
            return bytes(data)  # the common case: nothing left over from the last call
        pending += data
        need = self._need
        if len(pending) < need and not (
            self._need_is_frame and self.max_frame_size and need > self.max_frame_size
        ):
            # The frame (or held delivery) in progress is still incomplete: do not copy and
            # re-parse the whole buffer for every chunk of a large frame (quadratic). A frame
            # now over a lowered max_frame_size is parsed at once, to be refused.
            return None
        return bytes(pending)

    def _keep(self, chunk: bytes, consumed: int) -> None:
        """Keep ``chunk[consumed:]`` (the start of an incomplete frame) for the next call."""
        if consumed < len(chunk):
            self._buffer = bytearray(memoryview(chunk)[consumed:])
        elif self._buffer:
            self._buffer = bytearray()

    def _parse_guarded(
        self, chunk: bytes, pos: int, frames: List[Frame], deliveries: bool, limit: int
    ) -> int:
        """:meth:`_parse` (``limit`` set: in batches, holding back an incomplete delivery);
        a malformed frame kills the decoder (see the class docstring)."""
        try:
            return self._parse(chunk, pos, frames, deliveries, limit, limit > 0)
        except (ProtocolSyntaxError, MethodNotImplemented) as exc:
            self._error = exc
            self.frames_before_error = frames
            self._buffer = bytearray()
            raise

    def _start_of_stream(self, buf: bytes, frames: List[Frame]) -> int:
        """Handle the first bytes: a protocol header or a frame. Returns bytes consumed, or -1
        when more bytes are needed to tell."""
        first = buf[0]
        if first in _FRAME_TYPES:
            self._at_start = False
            return 0
        have = bytes(buf[:4])
        if not b"AMQP".startswith(have):
            raise InvalidFrameError(
                f"stream starts with {_show(buf, 0)}: neither a frame type nor b'AMQP'"
            )
        if len(buf) < 8:
            return -1
        self._at_start = False
        frames.append(ProtocolHeader(buf[5], buf[6], buf[7]))
        return 8

    def _parse(
        self,
        buf: bytes,
        pos: int,
        frames: List[Frame],
        deliveries: bool,
        limit: int,
        hold: bool,
        # Bound once at definition time: the loop below runs per frame (rule 5).
        unpack_header: Any = _S_FRAME_HEADER.unpack_from,
        unpack_index: Any = _S_METHOD_INDEX.unpack_from,
        frame_types: FrozenSet[int] = _FRAME_TYPES,
        methods: Dict[int, Any] = spec.METHODS,
        unpack_tag: Any = _S_LONGLONG.unpack_from,
        unpack_body_sizes: Any = _S_BODY_SIZES.unpack_from,
        new: Any = object.__new__,
        deliver_class: Any = spec.Basic.Deliver,
        properties_class: Any = spec.BasicProperties,
    ) -> int:
        """Parse the complete frames of ``buf`` from ``pos`` into ``frames``, at most
        ``limit`` of them (0: no limit); return the position reached. When that is not the
        end, the frame there is incomplete (``_need`` is its size) or the limit was hit.
        ``hold`` (with ``deliveries``): a Basic.Deliver whose content is incomplete is not
        returned as separate frames; parsing stops at its start (``_need``: the bytes it
        takes to get further)."""
        end = len(buf)
        self._need = 0
        if self._at_start and end:
            pos = self._start_of_stream(buf, frames)
            if pos < 0:
                return 0
        max_size = self.max_frame_size
        append = frames.append
        tags = self._tags
        names = self._names
        # The delivery template (see _delivery_template): the constant bytes of the last
        # property-less delivery this call decoded, and its decoded strings.
        body_limit = max_size - 8 if max_size else _MAX_FRAME  # a body frame's payload
        template = self._template
        if template[-1] != max_size:  # made under another max_size: its checks do not hold
            template = _NO_TEMPLATE
        (
            t_prefix,
            t_tail,
            t_middle,
            t_tag_at,
            t_var_at,
            t_channel,
            t_consumer_tag,
            t_redelivered,
            t_exchange,
            t_routing_key,
            _,
        ) = template
        while end - pos >= 7:
            if limit and len(frames) >= limit:
                return pos
            if t_prefix and buf.startswith(t_prefix, pos):
                # Consume hot path: the same method frame head (type, channel, size, ids,
                # consumer tag) as the template; if the bytes after the delivery tag match
                # too (redelivered, exchange, routing key, method frame end, content header
                # head with a 14-byte payload: no property), what remains to check is the
                # body size, then (t_middle) the empty property flags, the header's frame end,
                # the body frame's type and channel, then the body frame's size and end.
                # Each check of the generic path is covered: frame types, channels, sizes
                # (the method and header frames' sizes within max_size as for the
                # template, built in this call), frame end octets.
                at = pos + t_tag_at  # the delivery tag
                var = at + t_var_at  # the body size in the content header
                if (
                    end - var > 18
                    and buf.startswith(t_tail, at + 8)
                    and buf.startswith(t_middle, var + 8)
                ):
                    body_size, body_frame_size = unpack_body_sizes(buf, var)
                    body_end = var + 18 + body_size
                    if (
                        body_frame_size == body_size
                        and 0 < body_size <= body_limit
                        and body_end < end
                        and buf[body_end] == 0xCE
                    ):
                        # The three objects are built field by field: a type call and an
                        # __init__ frame each would cost ~120 ns more per message (measured).
                        # A fresh BasicProperties per message: the user may mutate it.
                        method = new(deliver_class)
                        method.consumer_tag = t_consumer_tag
                        method.delivery_tag = unpack_tag(buf, at)[0]
                        method.redelivered = t_redelivered
                        method.exchange = t_exchange
                        method.routing_key = t_routing_key
                        properties = new(properties_class)  # no property: all 14 are None
                        properties.content_type = properties.content_encoding = None
                        properties.headers = properties.delivery_mode = None
                        properties.priority = properties.correlation_id = None
                        properties.reply_to = properties.expiration = None
                        properties.message_id = properties.timestamp = None
                        properties.type = properties.user_id = None
                        properties.app_id = properties.cluster_id = None
                        message = new(Delivery)
                        message.channel_number = t_channel
                        message.method = method
                        message.properties = properties
                        message.body = buf[var + 18 : body_end]
                        append(message)
                        pos = body_end + 1
                        continue
            frame_type, channel, size = unpack_header(buf, pos)
            if frame_type not in frame_types:
                raise InvalidFrameError(
                    f"unknown frame type {frame_type} (channel {channel}, size {size}); "
                    f"bytes: {_show(buf, pos)}"
                )
            if max_size and size + 8 > max_size:
                raise InvalidFrameError(
                    f"frame of {size + 8} bytes (type {frame_type}, channel {channel}) "
                    f"exceeds frame_max {max_size}"
                )
            start = pos + 7
            pos = start + size  # the frame-end octet
            if pos >= end:
                pos = start - 7
                self._need = size + 8
                self._need_is_frame = True
                break  # incomplete: wait for more
            if buf[pos] != 0xCE:  # FRAME_END
                raise InvalidFrameError(
                    f"frame end octet is 0x{buf[pos]:02x}, not 0xce (type {frame_type}, "
                    f"channel {channel}, size {size})"
                )
            if frame_type == 1:  # FRAME_METHOD
                if size < 4:
                    raise ProtocolSyntaxError(
                        f"method frame on channel {channel} has a {size}-byte payload, "
                        "too short for its class and method ids"
                    )
                index = unpack_index(buf, start)[0]
                if deliveries and index == _DELIVER_INDEX and channel:
                    delivery = _decode_delivery(
                        buf, start, pos, end, channel, max_size, tags, names
                    )
                    decoded = delivery[0] if delivery is not None else None
                    if delivery is not None and decoded is None and hold:
                        # The rest of this delivery is still to come (nothing follows it in
                        # buf): leave it all for the next call, so it comes out as one
                        # Delivery instead of frames the channel must assemble.
                        self._need = delivery[1] - (start - 7)
                        self._need_is_frame = False
                        return start - 7
                    if delivery is not None and decoded is not None:
                        append(decoded)
                        new_template = _delivery_template(buf, start, pos, decoded, max_size)
                        if new_template is not None:
                            self._template = new_template
                            (
                                t_prefix,
                                t_tail,
                                t_middle,
                                t_tag_at,
                                t_var_at,
                                t_channel,
                                t_consumer_tag,
                                t_redelivered,
                                t_exchange,
                                t_routing_key,
                                _,
                            ) = new_template
                        pos = delivery[1]
                        continue
                method_class = methods.get(index)
                if method_class is None:
                    raise MethodNotImplemented(
                        f"unknown method class {index >> 16} method {index & 0xFFFF} "
                        f"on channel {channel}"
                    )
                try:
                    method, after = method_class.decode(buf, start + 4)
                except ProtocolSyntaxError as exc:
                    raise _payload_error(
                        "method", method_class, channel, buf, start + 4, pos, exc
                    ) from exc
                if after != pos:
                    raise _payload_error(
                        "method", method_class, channel, buf, start + 4, pos, None
                    )
                append(Method(channel, method))
            elif frame_type == 3:  # FRAME_BODY: a bytes slice (a copy of the snapshot)
                append(Body(channel, buf[start:pos]))
            elif frame_type == 2:  # FRAME_HEADER
                append(_decode_header(buf, channel, start, pos, size))
            else:  # FRAME_HEARTBEAT
                if channel or size:
                    raise InvalidFrameError(
                        f"heartbeat frame on channel {channel} with {size} payload bytes "
                        "(must be channel 0, empty)"
                    )
                append(Heartbeat())
            pos += 1
        else:
            self._need = 7  # a frame header is not complete yet
            self._need_is_frame = True
        if pos < end and buf[pos] not in frame_types:  # refuse garbage without waiting
            raise InvalidFrameError(f"unknown frame type {buf[pos]}; bytes: {_show(buf, pos)}")
        return pos


def _delivery_template(
    buf: bytes, start: int, method_end: int, delivery: Delivery, max_size: int
) -> Optional[_Template]:
    """The template of a delivery just decoded by :func:`_decode_delivery` (method payload at
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
    (``S_PUBLISH_TAIL``'s layout). The frames' sizes were checked against ``max_size``: the
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
_STRING_CACHE_SIZE = 64


def _decode_delivery(
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
        if len(tags) >= _STRING_CACHE_SIZE:
            tags.clear()
        consumer_tag = tags[raw] = raw.decode("utf-8", "surrogateescape")
    # Exchange and routing key in one lookup: the raw bytes from the exchange's length octet
    # to the method's end (the lengths keep any two pairs apart).
    raw = buf[tag_end + 9 : method_end]
    pair = names.get(raw)
    if pair is None:
        if len(names) >= _STRING_CACHE_SIZE:
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
            and size == _CONTENT_HEADER_FIXED + 2
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
    """The general case of :func:`_decode_delivery`: properties present, an empty body, or
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
        or size < _CONTENT_HEADER_FIXED + 2
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
        properties, after = decode_properties(buf, start + _CONTENT_HEADER_FIXED)
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


def _decode_header(buf: bytes, channel: int, start: int, frame_end: int, size: int) -> Header:
    """Decode a content header frame payload (AMQP 0-9-1, 4.2.6)."""
    if size < _CONTENT_HEADER_FIXED + 2:
        raise ProtocolSyntaxError(
            f"content header frame on channel {channel} has a {size}-byte payload; "
            f"class id, weight, body size and property flags need 14"
        )
    class_id, _weight, body_size = _S_CONTENT_HEADER_PAYLOAD.unpack_from(buf, start)
    # Typed Any: amqp_object.Properties does not declare decode (the generated class does).
    properties_class: Any = spec.PROPERTIES.get(class_id)
    if properties_class is None:
        # Only content classes (Basic) have content headers; the property list of any
        # other class id is unknown, so the payload cannot be parsed: a syntax error.
        raise ProtocolSyntaxError(
            f"content header on channel {channel} names class {class_id}, which has no content"
        )
    start += _CONTENT_HEADER_FIXED
    try:
        properties, after = properties_class.decode(buf, start)
    except ProtocolSyntaxError as exc:
        raise _payload_error(
            "content header", properties_class, channel, buf, start, frame_end, exc
        ) from exc
    if after != frame_end:
        raise _payload_error(
            "content header", properties_class, channel, buf, start, frame_end, None
        )
    return Header(channel, body_size, properties)


def _payload_error(
    kind: str,
    decoder: Any,
    channel: int,
    buf: bytes,
    start: int,
    frame_end: int,
    cause: Optional[BaseException],
) -> ProtocolSyntaxError:
    """Describe a payload that did not decode to exactly its frame's end.

    The fast path reads the decoder's whole buffer, so a bad length may have run on into the
    next frame. The error is found again on a copy of this frame's payload alone (this is
    the error path, the copy costs nothing that matters), so the message describes this
    frame only.
    """
    payload = bytes(buf[start:frame_end])
    shown = f"payload {_show(payload, 0, 24)} ({len(payload)} bytes)"
    name = decoder.NAME
    try:
        _, after = decoder.decode(payload, 0)
    except ProtocolSyntaxError as exc:
        cause = exc
    else:
        if after == len(payload):  # pragma: no cover - only if the fast path disagreed
            cause = cause or ProtocolSyntaxError("decoded differently from the frame buffer")
        else:
            cause = None
    if cause is not None:
        error = type(cause) if isinstance(cause, ProtocolSyntaxError) else ProtocolSyntaxError
        return error(f"{kind} {name} on channel {channel}: {cause}; {shown}")
    return ProtocolSyntaxError(
        f"{kind} {name} on channel {channel} leaves {len(payload) - after} byte(s) of its "
        f"frame unread; {shown}"
    )
