"""Frame encoding: method frames, content frames (the one-write publish) and publish heads.

Encoding (internals.md rule 5): one publish is handed to the transport as ONE ``bytes`` (method,
content header and body frames) when the body fits one frame; a larger body is a list of a
``bytes`` head, ``memoryview`` slices of the body (never copied) and small ``bytes`` glue
between them. A Basic.Publish with a ``bytes`` body that fits one frame takes a fast path of
four struct packs and one join (same bytes, same errors).

Owns the encoders only: no frame objects (``frames``), no per-channel packs (``packs``), no
state. Encoding errors are the caller's (``TypeError``/``ValueError``/``ShortStringTooLong``
from ``spec``'s encoders, ``InvalidMinimumFrameSize``/``InvalidMaximumFrameSize``).
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

from amqpbase import amqp_object, spec
from amqpbase.exceptions import InvalidMaximumFrameSize, InvalidMinimumFrameSize
from amqpbase.fieldtable import ENCODE_FALLBACK
from amqpbase.wire import formats
from amqpbase.wire.formats import CONTENT_HEADER_FIXED, FRAME_END, FRAME_END_OCTET, MAX_FRAME

# Structs are bound here by assignment, not imported by name: CPython (3.11+) compiles
# ``name.pack(...)`` for a name bound by an import as an attribute load that makes a bound
# method object per call (measured +30 % on the publish encoder), else as a method call.
_S_BITS_END_AND_CONTENT_HEADER = formats.S_BITS_END_AND_CONTENT_HEADER
_S_END_AND_CONTENT_HEADER = formats.S_END_AND_CONTENT_HEADER
_S_END_AND_HEADER = formats.S_END_AND_HEADER
_S_FRAME_HEADER = formats.S_FRAME_HEADER
_S_OCTET = formats.S_OCTET
_S_PUBLISH_HEAD = formats.S_PUBLISH_HEAD

_PUBLISH = spec.Basic.Publish


def encode_method_frame(channel_number: int, method: amqp_object.Method) -> bytes:
    """The complete method frame for ``method`` on ``channel_number``."""
    payload = method.encode()
    header = _S_FRAME_HEADER.pack(spec.FRAME_METHOD, channel_number, len(payload))
    return b"".join((header, payload, FRAME_END))


def _body_payload_limit(frame_max: int) -> int:
    if frame_max == 0:
        return MAX_FRAME - 8
    if frame_max < spec.FRAME_MIN_SIZE:
        raise InvalidMinimumFrameSize(
            f"frame_max={frame_max} is below the AMQP minimum of {spec.FRAME_MIN_SIZE}"
        )
    if frame_max > MAX_FRAME:
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
        and spec.FRAME_MIN_SIZE <= frame_max <= MAX_FRAME
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
        FRAME_END_OCTET,
        spec.FRAME_HEADER,
        channel_number,
        CONTENT_HEADER_FIXED + len(props),
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
                _S_END_AND_HEADER.pack(FRAME_END_OCTET, spec.FRAME_BODY, channel_number, body_size),
                body,
                FRAME_END,
            ))
        ]
    full_glue = _S_END_AND_HEADER.pack(FRAME_END_OCTET, spec.FRAME_BODY, channel_number, limit)
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
            append(_S_END_AND_HEADER.pack(FRAME_END_OCTET, spec.FRAME_BODY, channel_number, chunk))
        append(view[pos : pos + chunk])
        pos += chunk
    append(FRAME_END)
    return out


def encode_publish_heads(
    channel_number: int, exchange: str, routing_key: str, mandatory: bool
) -> Tuple[bytes, bytes]:
    """The constant parts of a one-body-frame publish, for a per-channel cache.

    Returns ``(method_frame, head)``: the complete Basic.Publish method frame for these
    arguments, and the same followed by the constant start of a content header without
    properties (type 2, channel, payload size 14, class 60, weight 0);
    ``packs.encode_publish_pieces`` builds the channel's cached pieces from them. Encoding errors (``ShortStringTooLong``, a channel number out of range) raise as
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
            FRAME_END_OCTET,
            spec.FRAME_HEADER,
            channel_number,
            CONTENT_HEADER_FIXED + len(props),
            60,  # Basic
            0,
            body_size,
        ),
        props,
        _S_END_AND_HEADER.pack(FRAME_END_OCTET, spec.FRAME_BODY, channel_number, body_size),
        body,
        FRAME_END,
    ))


