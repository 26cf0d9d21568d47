"""Frame objects, frame encoding (publish hot path) and FrameDecoder."""

from __future__ import annotations

import array
import struct
from typing import Any, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpbase import spec
from amqpbase.exceptions import (
    InvalidFieldTypeException,
    InvalidFrameError,
    InvalidMaximumFrameSize,
    InvalidMinimumFrameSize,
    MethodNotImplemented,
    ProtocolSyntaxError,
)
from amqpbase.wire.decoder import FrameDecoder
from amqpbase.wire.encode import encode_content_frames, encode_method_frame
from amqpbase.wire.formats import HEARTBEAT_FRAME, PROTOCOL_HEADER
from amqpbase.wire.frames import Body, Delivery, Header, Heartbeat, Method, ProtocolHeader

PUBLISH = spec.Basic.Publish(exchange="ex", routing_key="rk")
PROPS = spec.BasicProperties(content_type="text/plain", delivery_mode=2)


def raw_frame(frame_type: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack("!BHI", frame_type, channel, len(payload)) + payload + bytes([end])


def split_frames(data: bytes) -> List[tuple[int, int, bytes]]:
    """Parse a well-formed stream by hand (independent of FrameDecoder)."""
    out = []
    pos = 0
    while pos < len(data):
        frame_type, channel, size = struct.unpack_from("!BHI", data, pos)
        payload = data[pos + 7 : pos + 7 + size]
        assert data[pos + 7 + size] == 0xCE
        out.append((frame_type, channel, payload))
        pos += 8 + size
    return out


def joined(chunks: List[Any]) -> bytes:
    return b"".join(bytes(c) for c in chunks)


# --------------------------------------------------------------------------------------------
# Frame objects and constants
# --------------------------------------------------------------------------------------------


def test_constants() -> None:
    assert PROTOCOL_HEADER == b"AMQP\x00\x00\x09\x01"
    assert HEARTBEAT_FRAME == b"\x08\x00\x00\x00\x00\x00\x00\xce"
    assert Heartbeat().marshal() == HEARTBEAT_FRAME
    assert ProtocolHeader().marshal() == PROTOCOL_HEADER


def test_frame_objects_have_pika_attributes_and_slots() -> None:
    m = Method(3, PUBLISH)
    h = Header(3, 10, PROPS)
    b = Body(3, b"x")
    hb = Heartbeat()
    ph = ProtocolHeader(0, 9, 1)
    assert (m.frame_type, m.channel_number, m.method) == (1, 3, PUBLISH)
    assert (h.frame_type, h.channel_number, h.body_size, h.properties) == (2, 3, 10, PROPS)
    assert (b.frame_type, b.channel_number, b.fragment) == (3, 3, b"x")
    assert (hb.frame_type, hb.channel_number) == (8, 0)
    assert (ph.frame_type, ph.major, ph.minor, ph.revision) == (-1, 0, 9, 1)
    for obj in (m, h, b, hb, ph):
        assert not hasattr(obj, "__dict__")
    assert m == Method(3, spec.Basic.Publish(exchange="ex", routing_key="rk"))
    assert m != Method(4, PUBLISH)
    assert "channel_number=3" in repr(m)


def test_encode_method_frame() -> None:
    ack = spec.Basic.Ack(delivery_tag=7, multiple=True)
    payload = b"\x00\x3c\x00\x50" + struct.pack("!QB", 7, 1)
    assert encode_method_frame(5, ack) == raw_frame(1, 5, payload)
    assert Method(5, ack).marshal() == raw_frame(1, 5, payload)


# --------------------------------------------------------------------------------------------
# encode_content_frames
# --------------------------------------------------------------------------------------------


def test_small_body_is_one_bytes_with_three_frames() -> None:
    out = encode_content_frames(1, PUBLISH, PROPS, b"hello", 4096)
    assert len(out) == 1 and type(out[0]) is bytes
    frames = split_frames(out[0])
    assert frames == [
        (1, 1, PUBLISH.encode()),
        (2, 1, struct.pack("!HHQ", 60, 0, 5) + PROPS.encode()),
        (3, 1, b"hello"),
    ]


def test_matches_pika_byte_for_byte() -> None:
    pika_spec = pytest.importorskip("pika.spec")
    pika_frame = pytest.importorskip("pika.frame")
    body = b"payload" * 10
    method = pika_spec.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True)
    props = pika_spec.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"a": 1})
    expected = (
        pika_frame.Method(9, method).marshal()
        + pika_frame.Header(9, len(body), props).marshal()
        + pika_frame.Body(9, body).marshal()
    )
    ours = encode_content_frames(
        9,
        spec.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True),
        spec.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"a": 1}),
        body,
        131072,
    )
    assert ours == [expected]


def test_empty_body_sends_no_body_frame() -> None:
    (out,) = encode_content_frames(1, PUBLISH, PROPS, b"", 4096)
    assert [f[0] for f in split_frames(out)] == [1, 2]
    assert split_frames(out)[1][2][4:12] == b"\x00" * 8  # body size 0


def test_no_properties_sends_empty_flags() -> None:
    (out,) = encode_content_frames(1, PUBLISH, None, b"x", 4096)
    assert split_frames(out)[1][2] == struct.pack("!HHQ", 60, 0, 1) + b"\x00\x00"


@pytest.mark.parametrize("frame_max", [4096, 5000, 131072])
def test_body_split_at_frame_max_without_copying(frame_max: int) -> None:
    limit = frame_max - 8
    body = bytes(range(256)) * ((3 * limit) // 256 + 1)  # 3+ frames, last one partial
    out = encode_content_frames(2, PUBLISH, PROPS, body, frame_max)
    assert type(out[0]) is bytes
    views = out[1::2]
    glue = out[2::2]
    assert all(type(v) is memoryview and v.obj is body for v in views)
    assert all(type(g) is bytes and len(g) <= 8 for g in glue)
    assert out[-1] == b"\xce"
    frames = split_frames(joined(out))
    assert [f[0] for f in frames[:2]] == [1, 2]
    bodies = [f[2] for f in frames[2:]]
    assert all(f[0] == 3 and f[1] == 2 for f in frames[2:])
    assert all(len(b) <= limit for b in bodies)
    assert all(len(b) == limit for b in bodies[:-1])
    assert b"".join(bodies) == body
    assert all(len(f[2]) + 8 <= frame_max for f in frames)


def test_body_exactly_one_frame_and_one_byte_more() -> None:
    limit = 4096 - 8
    (one,) = encode_content_frames(1, PUBLISH, PROPS, b"x" * limit, 4096)
    assert [len(f[2]) for f in split_frames(one)][2:] == [limit]
    two = encode_content_frames(1, PUBLISH, PROPS, b"x" * (limit + 1), 4096)
    assert [len(f[2]) for f in split_frames(joined(two))][2:] == [limit, 1]
    assert len(two) == 5  # head, view, glue, view, frame end


def test_body_types() -> None:
    (from_str,) = encode_content_frames(1, PUBLISH, PROPS, "héllo", 4096)
    assert split_frames(from_str)[2][2] == "héllo".encode()
    (from_ba,) = encode_content_frames(1, PUBLISH, PROPS, bytearray(b"ab"), 4096)
    assert split_frames(from_ba)[2][2] == b"ab"
    ints = array.array("i", [1, 2, 3])
    (from_array,) = encode_content_frames(1, PUBLISH, PROPS, memoryview(ints), 4096)
    header = split_frames(from_array)[1][2]
    assert struct.unpack_from("!Q", header, 4)[0] == 12  # body size in bytes, not items
    assert split_frames(from_array)[2][2] == ints.tobytes()


def test_frame_max_validation() -> None:
    with pytest.raises(InvalidMinimumFrameSize):
        encode_content_frames(1, PUBLISH, PROPS, b"x", 4095)
    with pytest.raises(InvalidMaximumFrameSize):
        encode_content_frames(1, PUBLISH, PROPS, b"x", 2**32)
    (unlimited,) = encode_content_frames(1, PUBLISH, PROPS, b"x" * 200000, 0)
    assert len(split_frames(unlimited)) == 3


# --------------------------------------------------------------------------------------------
# FrameDecoder: good streams
# --------------------------------------------------------------------------------------------


def sample_stream() -> tuple[bytes, List[Any]]:
    deliver = spec.Basic.Deliver("ctag", 42, True, "ex", "rk")
    props = spec.BasicProperties(headers={"k": [1, "v"]}, priority=3)
    body = bytes(range(256)) * 40
    frames: List[Any] = [
        Method(0, spec.Connection.Tune(2047, 131072, 60)),
        Heartbeat(),
        Method(1, deliver),
        Header(1, len(body), props),
        Body(1, body[:4000]),
        Body(1, body[4000:]),
        Method(1, spec.Basic.Ack(5, False)),
        Body(2, b""),
    ]
    return b"".join(f.marshal() for f in frames), frames


def test_decode_whole_stream() -> None:
    data, frames = sample_stream()
    assert FrameDecoder(131072).feed(data) == frames


def test_decode_at_every_byte_boundary() -> None:
    data, frames = sample_stream()
    for cut in range(len(data) + 1):
        decoder = FrameDecoder(131072)
        got = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert got == frames, cut


def test_decode_one_byte_at_a_time() -> None:
    data, frames = sample_stream()
    decoder = FrameDecoder(131072)
    got: List[Any] = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert got == frames
    assert decoder.feed(b"") == []


def test_decoder_accepts_bytearray_and_memoryview_input() -> None:
    data, frames = sample_stream()
    assert FrameDecoder(0).feed(bytearray(data)) == frames
    assert FrameDecoder(0).feed(memoryview(data)) == frames


def test_body_fragments_are_bytes_copies_and_buffer_stays_resizable() -> None:
    body_frame = raw_frame(3, 1, b"abc")
    decoder = FrameDecoder(4096)
    (first,) = decoder.feed(body_frame + body_frame[:5])
    assert type(first.fragment) is bytes
    (second,) = decoder.feed(body_frame[5:])  # the buffer is resized between calls
    assert second.fragment == b"abc"


def test_protocol_header_at_stream_start() -> None:
    decoder = FrameDecoder(4096)
    assert decoder.feed(b"AMQ") == []
    assert decoder.feed(b"P\x00\x00\x09") == []
    assert decoder.feed(b"\x01" + HEARTBEAT_FRAME) == [
        ProtocolHeader(0, 9, 1),
        Heartbeat(),
    ]


def test_protocol_header_of_another_version() -> None:
    (header,) = FrameDecoder(4096).feed(b"AMQP\x01\x01\x00\x0a")
    assert (header.major, header.minor, header.revision) == (1, 0, 10)


def test_protocol_header_only_at_stream_start() -> None:
    decoder = FrameDecoder(4096)
    decoder.feed(HEARTBEAT_FRAME)
    with pytest.raises(InvalidFrameError, match="unknown frame type 65"):
        decoder.feed(PROTOCOL_HEADER)


def test_max_frame_size_can_be_lowered() -> None:
    decoder = FrameDecoder(0)
    big = raw_frame(3, 1, b"x" * 5000)
    assert len(decoder.feed(big)) == 1
    decoder.max_frame_size = 4096
    with pytest.raises(InvalidFrameError, match="5008 bytes"):
        decoder.feed(big)


def test_frame_exactly_at_max_size() -> None:
    exact = raw_frame(3, 1, b"x" * (4096 - 8))
    assert len(FrameDecoder(4096).feed(exact)) == 1


# --------------------------------------------------------------------------------------------
# FrameDecoder: errors
# --------------------------------------------------------------------------------------------


def fails(
    data: bytes, error: type, match: Optional[str] = None, max_frame_size: int = 4096
) -> BaseException:
    decoder = FrameDecoder(max_frame_size)
    with pytest.raises(error, match=match) as info:
        decoder.feed(data)
    return info.value


def test_garbage_at_stream_start() -> None:
    assert fails(b"HTTP/1.1 400", InvalidFrameError, "48 54 54 50").reply_code == 501
    fails(b"AMQX", InvalidFrameError, "neither a frame type")
    fails(b"\x00", InvalidFrameError)


def test_bad_frame_end() -> None:
    err = fails(raw_frame(8, 0, b"", end=0x00), InvalidFrameError, "0x00, not 0xce")
    assert err.reply_code == 501


def test_unknown_frame_type_detected_early() -> None:
    decoder = FrameDecoder(4096)
    decoder.feed(HEARTBEAT_FRAME)
    with pytest.raises(InvalidFrameError, match="unknown frame type 4"):
        decoder.feed(b"\x04")  # one byte is enough to know


def test_oversized_frame_refused_from_its_header_alone() -> None:
    header_only = struct.pack("!BHI", 3, 1, 10_000_000)
    err = fails(header_only, InvalidFrameError, "10000008 bytes .* exceeds frame_max 4096")
    assert err.reply_code == 501
    fails(struct.pack("!BHI", 3, 1, 4089), InvalidFrameError, "4097 bytes")


@pytest.mark.parametrize(
    "data, match",
    [
        (raw_frame(8, 1, b""), "channel 1"),
        (raw_frame(8, 0, b"x"), "1 payload bytes"),
    ],
)
def test_bad_heartbeats(data: bytes, match: str) -> None:
    fails(data, InvalidFrameError, match)


def test_unknown_method() -> None:
    err = fails(raw_frame(1, 4, b"\x00\x3c\x00\xff"), MethodNotImplemented, "class 60 method 255")
    assert err.reply_code == 540
    assert "channel 4" in str(err)
    fails(raw_frame(1, 4, b"\x00\x0b\x00\x01"), MethodNotImplemented, "class 11 method 1")


def test_method_payload_too_short_for_ids() -> None:
    assert fails(raw_frame(1, 2, b"\x00\x3c"), ProtocolSyntaxError, "channel 2").reply_code == 502


def test_method_arguments_truncated() -> None:
    payload = spec.Basic.Deliver("ctag", 1, False, "ex", "rk").encode()[:-1]
    err = fails(raw_frame(1, 7, payload) + HEARTBEAT_FRAME, ProtocolSyntaxError)
    assert type(err) is ProtocolSyntaxError and err.reply_code == 502
    assert "Basic.Deliver on channel 7" in str(err)


def test_method_arguments_leaving_bytes_unread() -> None:
    payload = spec.Basic.Ack(1, False).encode() + b"\x00"
    fails(raw_frame(1, 1, payload), ProtocolSyntaxError, "leaves 1 byte")


def test_method_with_bad_table() -> None:
    declare = spec.Queue.Declare(queue="q", arguments={"a": 1}).encode()
    bad = declare.replace(b"\x01aI", b"\x01aL")
    err = fails(raw_frame(1, 1, bad), InvalidFieldTypeException, "Queue.Declare on channel 1")
    assert err.reply_code == 502


def test_length_running_into_the_next_frame_is_reported_for_this_frame() -> None:
    ack = spec.Basic.Ack(1, False).encode()
    # Connection.Blocked whose shortstr length (200) overruns its own 5-byte payload while
    # the buffer holds more frames: the error names this frame, not the bytes after it.
    blocked = b"\x00\x0a\x00\x3c\xc8"
    data = raw_frame(1, 0, blocked) + raw_frame(1, 1, ack) * 30
    fails(data, ProtocolSyntaxError, "Connection.Blocked on channel 0: .*truncated")


def test_header_errors() -> None:
    fails(raw_frame(2, 1, b"\x00\x3c" + b"\x00" * 10), ProtocolSyntaxError, "14")
    fails(
        raw_frame(2, 1, struct.pack("!HHQ", 10, 0, 0) + b"\x00\x00"),
        ProtocolSyntaxError,
        "class 10, which has no content",
    )
    truncated = struct.pack("!HHQ", 60, 0, 1) + b"\x80\x00\x05ab"
    fails(raw_frame(2, 1, truncated), ProtocolSyntaxError, "BasicProperties on channel 1")
    trailing = struct.pack("!HHQ", 60, 0, 1) + b"\x00\x00\x00"
    fails(raw_frame(2, 1, trailing), ProtocolSyntaxError, "leaves 1 byte")
    unknown_flag = struct.pack("!HHQ", 60, 0, 1) + b"\x00\x02"
    fails(raw_frame(2, 1, unknown_flag), ProtocolSyntaxError, "property #15")


def test_header_with_empty_continuation_word() -> None:
    payload = struct.pack("!HHQ", 60, 0, 9) + b"\x10\x01\x00\x00\x02"
    (header,) = FrameDecoder(4096).feed(raw_frame(2, 1, payload))
    assert header.body_size == 9
    assert header.properties == spec.BasicProperties(delivery_mode=2)


def test_decoder_stays_dead_and_keeps_earlier_frames() -> None:
    decoder = FrameDecoder(4096)
    with pytest.raises(InvalidFrameError):
        decoder.feed(HEARTBEAT_FRAME * 2 + raw_frame(8, 0, b"", end=1))
    assert decoder.frames_before_error == [Heartbeat(), Heartbeat()]
    with pytest.raises(InvalidFrameError, match="earlier error"):
        decoder.feed(HEARTBEAT_FRAME)
    with pytest.raises(InvalidFrameError):
        decoder.feed(b"")


# --------------------------------------------------------------------------------------------
# FrameDecoder.feed_deliveries: the consume fast path against the generic path
# --------------------------------------------------------------------------------------------

DELIVER = spec.Basic.Deliver("ctag1.abc", 7, True, "ex", "rk")


def deliver_frames(channel: int, body: bytes, props: Any = PROPS) -> bytes:
    return b"".join(f.marshal() for f in Delivery(channel, DELIVER, props, body).frames())


def expanded(frames: List[Any]) -> List[Any]:
    out: List[Any] = []
    for f in frames:
        out.extend(f.frames() if type(f) is Delivery else [f])
    return out


def run_decoder(chunks: List[bytes], fast: bool, max_size: int) -> tuple[List[Any], Any]:
    decoder = FrameDecoder(max_size)
    feed = decoder.feed_deliveries if fast else decoder.feed
    frames: List[Any] = []
    for chunk in chunks:
        try:
            frames.extend(expanded(feed(chunk)))
        except (ProtocolSyntaxError, MethodNotImplemented) as exc:
            frames.extend(expanded(decoder.frames_before_error))
            return frames, (type(exc), str(exc))
    return frames, None


def test_feed_deliveries_gives_one_delivery_per_message() -> None:
    data = deliver_frames(1, b"hello") + deliver_frames(2, b"") + Heartbeat().marshal()
    frames = FrameDecoder(0).feed_deliveries(data)
    assert [type(f) for f in frames] == [Delivery, Delivery, Heartbeat]
    first = frames[0]
    assert isinstance(first, Delivery)
    assert (first.channel_number, first.method, first.properties) == (1, DELIVER, PROPS)
    assert type(first.body) is bytes and first.body == b"hello"
    assert expanded(frames) == FrameDecoder(0).feed(data)


def test_feed_deliveries_leaves_multi_frame_bodies_and_channel_0_to_the_generic_path() -> None:
    method = Method(1, DELIVER).marshal()
    header = Header(1, 6, PROPS).marshal()
    split = method + header + Body(1, b"abc").marshal() + Body(1, b"def").marshal()
    on_zero = deliver_frames(0, b"x")
    for data in (split, on_zero, method, method + header):
        frames = FrameDecoder(0).feed_deliveries(data)
        assert not any(type(f) is Delivery for f in frames)
        assert frames == FrameDecoder(0).feed(data)


_pieces = st.one_of(
    st.builds(
        deliver_frames,
        st.integers(0, 2),
        st.binary(max_size=40),
        st.sampled_from([PROPS, spec.BasicProperties(), spec.BasicProperties(headers={"a": 1})]),
    ),
    st.builds(lambda c, b: Body(c, b).marshal(), st.integers(0, 2), st.binary(max_size=9)),
    st.builds(
        lambda c, n: Header(c, n, PROPS).marshal(), st.integers(0, 2), st.integers(0, 9)
    ),
    st.builds(lambda c: Method(c, DELIVER).marshal(), st.integers(0, 2)),
    st.just(Method(1, spec.Basic.Ack(3, False)).marshal()),
    st.just(Heartbeat().marshal()),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_pieces, max_size=8),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=2),
    st.lists(st.integers(0, 10**6), max_size=4),
    st.sampled_from([0, 4096, 60]),
)
def test_feed_deliveries_equals_feed(
    pieces: List[bytes], flips: List[tuple[int, int]], cuts: List[int], max_size: int
) -> None:
    """Same frames (Deliveries expanded), same error, same frames_before_error, for any
    stream (corrupted bytes included) cut into any chunks."""
    data = bytearray(b"".join(pieces))
    for where, value in flips:
        if data:
            data[where % len(data)] = value
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [bytes(data[a:b]) for a, b in zip([0, *points], [*points, len(data)])]
    assert run_decoder(chunks, True, max_size) == run_decoder(chunks, False, max_size)


# --------------------------------------------------------------------------------------------
# encode_content_frames: the one-frame Basic.Publish fast path against the generic path
# --------------------------------------------------------------------------------------------


def encode_outcome(*args: Any) -> Any:
    try:
        return [bytes(c) for c in encode_content_frames(*args)]
    except Exception as exc:  # the same error, or the same bytes
        return type(exc), str(exc)


_names = st.one_of(
    st.text(max_size=8), st.text(min_size=250, max_size=300), st.just("\udcff"), st.just(b"ex")
)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(-1, 70000),
    _names,
    _names,
    st.one_of(st.booleans(), st.integers(0, 2)),
    st.booleans(),
    st.sampled_from([0, 70000, -1, 2**16]),
    st.one_of(st.none(), st.just(PROPS), st.just(spec.BasicProperties(priority=300))),
    st.binary(max_size=5000),
    st.sampled_from([0, 100, 4096, 131072, 2**32]),
)
def test_one_frame_publish_fast_path_equals_generic_path(
    channel: int,
    exchange: Any,
    routing_key: Any,
    mandatory: Any,
    immediate: bool,
    ticket: int,
    properties: Any,
    body: bytes,
    frame_max: int,
) -> None:
    """A bytes body takes the fast path when it applies; a bytearray body never does. Same
    bytes, or the same exception, for any fields (bad ones included)."""
    method = spec.Basic.Publish(ticket, exchange, routing_key, mandatory, immediate)
    fast = encode_outcome(channel, method, properties, body, frame_max)
    generic = encode_outcome(channel, method, properties, bytearray(body), frame_max)
    assert fast == generic


def test_one_frame_publish_is_one_bytes_with_method_header_and_body_frames() -> None:
    method = spec.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True)
    (data,) = encode_content_frames(3, method, None, b"body", 4096)
    assert type(data) is bytes
    assert data == b"".join(
        (
            encode_method_frame(3, method),
            Header(3, 4, spec.BasicProperties()).marshal(),
            Body(3, b"body").marshal(),
        )
    )
