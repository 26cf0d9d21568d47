"""Property-based tests of the codec (hypothesis): round trips, chunked decoding, fuzzing."""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Dict, List

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from amqpbase import fieldtable as ft
from amqpbase import spec
from amqpbase.exceptions import MethodNotImplemented, ProtocolSyntaxError
from amqpbase.wire.decoder import FrameDecoder
from amqpbase.wire.encode import encode_content_frames
from amqpbase.wire.frames import Body, Header, Heartbeat, Method

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a: Any, b: Any) -> bool:
    """Equality that also requires equal types (True is not 1, b"x" is not "x")."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def same_object(a: Any, b: Any) -> bool:
    return type(a) is type(b) and all(same(getattr(a, n), getattr(b, n)) for n in a.__slots__)


# --------------------------------------------------------------------------------------------
# Strategies derived from the AMQP types
# --------------------------------------------------------------------------------------------


def utf8_at_most(limit: int) -> st.SearchStrategy[str]:
    return st.text(max_size=limit).filter(lambda s: len(s.encode()) <= limit)


# Short strings: any text, plus arbitrary bytes carried as surrogate escapes (lossless).
short_strings = st.one_of(
    utf8_at_most(255),
    st.binary(max_size=255).map(lambda b: b.decode("utf-8", "surrogateescape")),
)

decimals = st.builds(
    lambda value, scale: decimal.Decimal(value).scaleb(-scale),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 255),
)
timestamps = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31)
).map(lambda d: d.replace(microsecond=0))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    decimals,
    st.text(max_size=50),
    st.binary(max_size=50),
    timestamps,
)
field_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(short_strings, children, max_size=5),
    ),
    max_leaves=25,
)
tables = st.dictionaries(short_strings, field_values, max_size=8)

DOMAIN_STRATEGIES: Dict[str, st.SearchStrategy[Any]] = {
    "bit": st.booleans(),
    "octet": st.integers(0, 2**8 - 1),
    "short": st.integers(0, 2**16 - 1),
    "long": st.integers(0, 2**32 - 1),
    "longlong": st.integers(0, 2**64 - 1),
    "timestamp": st.integers(0, 2**64 - 1),
    "shortstr": short_strings,
    "longstr": st.binary(max_size=300),
    "table": tables,
}

method_classes = st.sampled_from(sorted(spec.METHODS.values(), key=lambda m: m.INDEX))


@st.composite
def methods(draw: st.DrawFn) -> Any:
    cls = draw(method_classes)
    values = [draw(DOMAIN_STRATEGIES[t]) for _, t in cls.ARGUMENTS]
    return cls(*values)


@st.composite
def properties(draw: st.DrawFn) -> spec.BasicProperties:
    values = [
        draw(st.none() | DOMAIN_STRATEGIES[t]) for _, t in spec.BasicProperties.ARGUMENTS
    ]
    return spec.BasicProperties(*values)


channels = st.integers(0, 2**16 - 1)
frames = st.one_of(
    st.builds(Method, channels, methods()),
    st.builds(Header, channels, st.integers(0, 2**64 - 1), properties()),
    st.builds(Body, channels, st.binary(max_size=2000)),
    st.just(Heartbeat()),
)


def chunked(data: bytes, cuts: List[int]) -> List[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


# --------------------------------------------------------------------------------------------
# Field tables
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(tables)
def test_field_tables_round_trip(table: Dict[str, Any]) -> None:
    data = ft.encode_table(table)
    decoded, offset = ft.decode_table(data, 0)
    assert offset == len(data)
    assert same(decoded, table)
    assert ft.encode_table(decoded) == data


@SETTINGS
@given(st.lists(field_values, max_size=10), st.binary(max_size=5))
def test_field_arrays_round_trip_at_any_offset(values: List[Any], prefix: bytes) -> None:
    data = prefix + ft.encode_array(values)
    for buf in (data, bytearray(data), memoryview(data)):
        decoded, offset = ft.decode_array(buf, len(prefix))
        assert offset == len(data) and same(decoded, values)


@SETTINGS
@given(st.binary(max_size=200))
def test_decoding_garbage_tables_only_raises_protocol_errors(data: bytes) -> None:
    try:
        ft.decode_table(data, 0)
    except ProtocolSyntaxError:
        pass


# --------------------------------------------------------------------------------------------
# Methods and properties
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(methods(), st.binary(max_size=4))
def test_every_method_round_trips(method: Any, prefix: bytes) -> None:
    data = method.encode()
    assert data[:4] == method.INDEX.to_bytes(4, "big")
    # The straight-line encoder and the generic, validating one agree byte for byte.
    values = [getattr(method, n) for n, _ in method.ARGUMENTS]
    assert data[4:] == ft.encode_arguments(method.ARGUMENTS, values, method.NAME)
    for buf in (prefix + data, bytearray(prefix + data), memoryview(prefix + data)):
        decoded, offset = type(method).decode(buf, len(prefix) + 4)
        assert offset == len(prefix) + len(data)
        assert same_object(decoded, method)
    generic, offset = ft.decode_arguments(method.ARGUMENTS, data, 4, method.NAME)
    assert offset == len(data) and same(generic, values)


@SETTINGS
@given(methods(), st.data())
def test_truncated_method_arguments_raise_protocol_errors(method: Any, data: st.DataObject) -> None:
    encoded = method.encode()
    assume(len(encoded) > 4)
    cut = data.draw(st.integers(4, len(encoded) - 1))
    for buf in (encoded[:cut], bytearray(encoded[:cut])):
        try:
            type(method).decode(buf, 4)
        except ProtocolSyntaxError:
            continue
        raise AssertionError(f"{method.NAME} decoded from {cut} of {len(encoded)} bytes")


@SETTINGS
@given(properties(), st.binary(max_size=4))
def test_basic_properties_round_trip(props: spec.BasicProperties, prefix: bytes) -> None:
    data = props.encode()
    values = [getattr(props, n) for n, _ in props.ARGUMENTS]
    assert data == ft.encode_properties(props.ARGUMENTS, values, props.NAME)
    for buf in (prefix + data, bytearray(prefix + data), memoryview(prefix + data)):
        decoded, offset = spec.BasicProperties.decode(buf, len(prefix))
        assert offset == len(prefix) + len(data)
        assert same_object(decoded, props)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(frames, max_size=12), st.lists(st.integers(0, 10**6), max_size=40))
def test_frame_stream_round_trips_in_any_chunking(sent: List[Any], cuts: List[int]) -> None:
    data = b"".join(f.marshal() for f in sent)
    decoder = FrameDecoder(0)
    got: List[Any] = []
    for chunk in chunked(data, cuts):
        got += decoder.feed(chunk)
    assert len(got) == len(sent)
    for a, b in zip(got, sent):
        assert type(a) is type(b)
        if isinstance(a, Method):
            assert a.channel_number == b.channel_number and same_object(a.method, b.method)
        elif isinstance(a, Header):
            assert (a.channel_number, a.body_size) == (b.channel_number, b.body_size)
            assert same_object(a.properties, b.properties)
        else:
            assert a == b


@settings(max_examples=40, deadline=None)
@given(st.lists(frames, max_size=6))
def test_frame_stream_one_byte_at_a_time(sent: List[Any]) -> None:
    data = b"".join(f.marshal() for f in sent)
    decoder = FrameDecoder(0)
    got: List[Any] = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert [type(f) for f in got] == [type(f) for f in sent]


@SETTINGS
@given(
    channels,
    properties(),
    st.integers(0, 30000),
    st.integers(4096, 20000) | st.just(0),
    st.lists(st.integers(0, 10**6), max_size=20),
)
def test_published_content_decodes_to_the_same_body(
    channel: int, props: spec.BasicProperties, size: int, frame_max: int, cuts: List[int]
) -> None:
    body = bytes(i % 251 for i in range(size))
    publish = spec.Basic.Publish(exchange="ex", routing_key="rk")
    chunks = encode_content_frames(channel, publish, props, body, frame_max)
    data = b"".join(bytes(c) for c in chunks)
    decoder = FrameDecoder(frame_max)
    got: List[Any] = []
    for piece in chunked(data, cuts):
        got += decoder.feed(piece)
    assert isinstance(got[0], Method) and same_object(got[0].method, publish)
    assert isinstance(got[1], Header) and got[1].body_size == size
    assert same_object(got[1].properties, props)
    assert all(isinstance(f, Body) and f.channel_number == channel for f in got[2:])
    assert b"".join(f.fragment for f in got[2:]) == body
    if frame_max:
        assert all(len(f.fragment) <= frame_max - 8 for f in got[2:])
    assert len(got) == 2 + (0 if size == 0 else -(-size // ((frame_max or 2**32) - 8)))


def expect_protocol_errors_only(decoder: FrameDecoder, pieces: List[bytes]) -> None:
    for piece in pieces:
        try:
            decoder.feed(piece)
        except (ProtocolSyntaxError, MethodNotImplemented) as exc:
            assert isinstance(exc.reply_code, int) and exc.reply_code >= 500
            kind = type(exc)
            try:
                decoder.feed(b"\x08")
            except kind:
                return  # dead, and says so with the same class
            raise AssertionError("decoder accepted input after an error") from exc


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0, 10**6), max_size=20))
def test_garbage_only_raises_protocol_errors(data: bytes, cuts: List[int]) -> None:
    expect_protocol_errors_only(FrameDecoder(4096), chunked(data, cuts))


@SETTINGS
@given(
    st.lists(frames, min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    st.lists(st.integers(0, 10**6), max_size=10),
)
def test_corrupted_streams_only_raise_protocol_errors(
    sent: List[Any], flips: List[tuple[int, int]], cuts: List[int]
) -> None:
    data = bytearray(b"".join(f.marshal() for f in sent))
    for position, value in flips:
        data[position % len(data)] = value
    expect_protocol_errors_only(FrameDecoder(8192), chunked(bytes(data), cuts))
