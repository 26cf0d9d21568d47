"""The channel's fast packs (``amqpbase.wire.packs``) give the generic encoder's bytes.

Basic.Ack / Basic.Nack / Basic.Reject: ``pack_delivery_tag_frame`` with a per-channel prefix
equals ``encode_method_frame(channel, spec.Basic.<Method>(...))`` for every channel number,
delivery tag and bit combination (edge values pinned as examples). Basic.Publish: the pieces
of ``encode_publish_pieces`` joined as its docstring says equal ``encode_content_frames``, with
and without properties.
"""

from __future__ import annotations

import struct
from typing import Optional

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from amqpbase import spec
from amqpbase.exceptions import ShortStringTooLong
from amqpbase.wire.encode import encode_content_frames, encode_method_frame
from amqpbase.wire.formats import (
    BASIC_CLASS_ID,
    CONTENT_HEADER_FIXED,
    FRAME_END,
    FRAME_END_OCTET,
)
from amqpbase.wire.packs import (
    BASIC_ACK_MULTIPLE,
    BASIC_NACK_MULTIPLE,
    BASIC_NACK_REQUEUE,
    BASIC_REJECT_REQUEUE,
    basic_ack_prefix,
    basic_nack_prefix,
    basic_reject_prefix,
    encode_publish_pieces,
    pack_bare_publish_tail,
    pack_body_frame_size,
    pack_content_header_rest,
    pack_delivery_tag_frame,
)

from .test_codec_properties import properties

channels = st.integers(0, 2**16 - 1)
tags = st.integers(0, 2**64 - 1)
FRAME_MAX = 131072


@given(channels, tags, st.booleans())
@example(0, 0, False)
@example(1, 1, True)
@example(2**16 - 1, 2**64 - 1, True)
@example(2**15, 2**63, False)
def test_basic_ack_frame(channel: int, tag: int, multiple: bool) -> None:
    expected = encode_method_frame(channel, spec.Basic.Ack(tag, multiple))
    bits = BASIC_ACK_MULTIPLE if multiple else 0
    assert pack_delivery_tag_frame(basic_ack_prefix(channel), tag, bits, FRAME_END_OCTET) == (
        expected
    )


@given(channels, tags, st.booleans(), st.booleans())
@example(0, 0, False, False)
@example(2**16 - 1, 2**64 - 1, True, True)
@example(7, 2**32, True, False)
@example(7, 2**32 - 1, False, True)
def test_basic_nack_frame(channel: int, tag: int, multiple: bool, requeue: bool) -> None:
    expected = encode_method_frame(channel, spec.Basic.Nack(tag, multiple, requeue))
    bits = (BASIC_NACK_MULTIPLE if multiple else 0) | (BASIC_NACK_REQUEUE if requeue else 0)
    assert pack_delivery_tag_frame(basic_nack_prefix(channel), tag, bits, FRAME_END_OCTET) == (
        expected
    )


@given(channels, tags, st.booleans())
@example(0, 0, False)
@example(2**16 - 1, 2**64 - 1, True)
def test_basic_reject_frame(channel: int, tag: int, requeue: bool) -> None:
    expected = encode_method_frame(channel, spec.Basic.Reject(tag, requeue))
    bits = BASIC_REJECT_REQUEUE if requeue else 0
    assert pack_delivery_tag_frame(
        basic_reject_prefix(channel), tag, bits, FRAME_END_OCTET
    ) == expected


def test_delivery_tag_prefixes_name_their_methods() -> None:
    for prefix, method in ((basic_ack_prefix(5), spec.Basic.Ack),
                           (basic_nack_prefix(5), spec.Basic.Nack),
                           (basic_reject_prefix(5), spec.Basic.Reject)):
        assert len(prefix) == 11
        assert struct.unpack("!BHIHH", prefix) == (
            spec.FRAME_METHOD, 5, 13, method.INDEX >> 16, method.INDEX & 0xFFFF
        )


@pytest.mark.parametrize("tag", [-1, 2**64])
def test_delivery_tag_out_of_range_raises_struct_error(tag: int) -> None:
    with pytest.raises(struct.error):
        pack_delivery_tag_frame(basic_ack_prefix(1), tag, 0, FRAME_END_OCTET)


# A shortstr holds at most 255 UTF-8 bytes; 85 three-byte characters still fit.
shortstr = st.text(max_size=85)


@given(
    channels,
    shortstr,
    shortstr,
    st.booleans(),
    st.binary(min_size=1, max_size=300),
    st.one_of(st.none(), properties()),
)
@example(0, "", "", False, b"x", None)
@example(2**16 - 1, "e" * 255, "k" * 255, True, b"\x00" * 300, spec.BasicProperties())
@example(3, "ex", "rk", False, b"y" * (FRAME_MAX - 8), None)  # a body filling its frame
def test_publish_pieces_give_the_generic_bytes(
    channel: int,
    exchange: str,
    routing_key: str,
    mandatory: bool,
    body: bytes,
    props: Optional[spec.BasicProperties],
) -> None:
    method = spec.Basic.Publish(0, exchange, routing_key, mandatory, False)
    (expected,) = encode_content_frames(channel, method, props, body, FRAME_MAX)
    head, bare_head, bare_middle, body_glue = encode_publish_pieces(
        channel, exchange, routing_key, mandatory
    )
    body_size = len(body)
    if props is None:
        got = b"".join((
            bare_head, pack_bare_publish_tail(body_size, bare_middle, body_size), body, FRAME_END
        ))
    else:
        encoded = props.encode()
        got = b"".join((
            head,
            pack_content_header_rest(
                CONTENT_HEADER_FIXED + len(encoded), BASIC_CLASS_ID, 0, body_size
            ),
            encoded,
            pack_body_frame_size(body_glue, body_size),
            body,
            FRAME_END,
        ))
    assert got == expected


@pytest.mark.parametrize("exchange, routing_key", [("e" * 256, "k"), ("e", "é" * 128)])
def test_publish_pieces_raise_as_the_generic_encoder(exchange: str, routing_key: str) -> None:
    method = spec.Basic.Publish(0, exchange, routing_key, False, False)
    with pytest.raises(ShortStringTooLong):
        encode_content_frames(1, method, None, b"x", FRAME_MAX)
    with pytest.raises(ShortStringTooLong):
        encode_publish_pieces(1, exchange, routing_key, False)
