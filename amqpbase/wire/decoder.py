"""The frame decoder: bytes from the broker to frame objects (AMQP 0-9-1, 2.3.5 and 4.2.3).

Contract (docs/internals.md, "Codec API"): :class:`FrameDecoder` parses a ``bytes`` copy of
(leftover + data) per call, keeps only the incomplete rest, and does not re-parse while the
pending frame is incomplete. ``feed(data)`` returns every frame now complete;
``feed_deliveries(data)`` returns a complete Basic.Deliver with its content as ONE
:class:`~amqpbase.wire.frames.Delivery`; ``feed_batches(data)``: what the connection calls;
at most 64 frames per batch, dispatched before the next is parsed; a delivery whose content
is incomplete is held back whole. Malformed input raises a ``ProtocolSyntaxError`` subclass
with ``reply_code`` and kills the decoder.

The consume fast path: ``_parse`` takes a run of property-less deliveries from one consumer
through the delivery template (checked and built with two ``startswith`` and one unpack
each); a Basic.Deliver outside such a run goes to :func:`~amqpbase.wire.delivery.
decode_delivery` (the decoder's string caches are passed in).

Owns parsing only: it knows no connection or channel, and never encodes.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Tuple, Union

from amqpbase import spec
from amqpbase.exceptions import (
    InvalidFrameError,
    MethodNotImplemented,
    NotAMQPStreamError,
    ProtocolSyntaxError,
)
from amqpbase.wire import formats
from amqpbase.wire.delivery import NO_TEMPLATE, Template, decode_delivery, delivery_template
from amqpbase.wire.formats import CONTENT_HEADER_FIXED, FRAME_TYPES, MAX_FRAME
from amqpbase.wire.frames import (
    Body,
    Delivery,
    Frame,
    Header,
    Heartbeat,
    Method,
    ProtocolHeader,
)

# Structs are bound here by assignment, not imported by name: CPython (3.11+) compiles
# ``name.pack(...)`` for a name bound by an import as an attribute load that makes a bound
# method object per call (measured +30 % on the publish encoder), else as a method call.
_S_BODY_SIZES = formats.S_BODY_SIZES
_S_CONTENT_HEADER_PAYLOAD = formats.S_CONTENT_HEADER_PAYLOAD
_S_FRAME_HEADER = formats.S_FRAME_HEADER
_S_LONGLONG = formats.S_LONGLONG
_S_METHOD_INDEX = formats.S_METHOD_INDEX

BATCH_SIZE = 64
"""Frames per batch of :meth:`FrameDecoder.feed_batches` (a delivery makes three container
objects; 64 of them stay well below the cyclic GC's 700-allocation threshold)."""
_DELIVER_INDEX = spec.Basic.Deliver.INDEX


def _show(data: Union[bytes, bytearray], start: int, count: int = 16) -> str:
    chunk = bytes(data[start : start + count])
    more = "..." if len(data) > start + count else ""
    return chunk.hex(" ") + more


class FrameDecoder:
    """Incremental frame parser (internals.md rule 5).

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
        # Raw bytes -> decoded strings for the Basic.Deliver fast path (decode_delivery): a
        # consumer's deliveries repeat the same consumer tag, exchange and routing key message
        # after message. Two dicts, so a tag's bytes never meet an exchange + key's bytes.
        self._tags: Dict[bytes, str] = {}
        self._names: Dict[bytes, Tuple[str, str]] = {}
        # The last delivery template (delivery_template), kept across calls: RabbitMQ's
        # deliveries come in many small reads (~20 messages each in the benchmarks).
        self._template: Template = NO_TEMPLATE

    @property
    def string_cache_sizes(self) -> Tuple[int, int]:
        """``(consumer tags, exchange + routing-key pairs)`` the delivery fast path holds
        decoded; each cache starts over at ``STRING_CACHE_SIZE`` entries (for diagnostics)."""
        return len(self._tags), len(self._names)

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
        if first in FRAME_TYPES:
            self._at_start = False
            return 0
        have = bytes(buf[:4])
        if not b"AMQP".startswith(have):
            raise NotAMQPStreamError(
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
        frame_types: FrozenSet[int] = FRAME_TYPES,
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
        # The delivery template (see delivery_template): the constant bytes of the last
        # property-less delivery this call decoded, and its decoded strings.
        body_limit = max_size - 8 if max_size else MAX_FRAME  # a body frame's payload
        template = self._template
        if template[-1] != max_size:  # made under another max_size: its checks do not hold
            template = NO_TEMPLATE
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
                    delivery = decode_delivery(
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
                        new_template = delivery_template(buf, start, pos, decoded, max_size)
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


def _decode_header(buf: bytes, channel: int, start: int, frame_end: int, size: int) -> Header:
    """Decode a content header frame payload (AMQP 0-9-1, 4.2.6)."""
    if size < CONTENT_HEADER_FIXED + 2:
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
    start += CONTENT_HEADER_FIXED
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
