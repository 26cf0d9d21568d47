"""The stream-queue helpers (``amqpbase.streams``) and the codec's ``Int64``: every form of
``x-stream-offset`` with the exact bytes it puts on the wire, every refusal with its error, the
queue arguments, and reading the delivered offset. No broker (the broker side is
``tests/conformance/test_conformance_streams.py``)."""

from __future__ import annotations

import datetime
import struct
from typing import Any

import pytest

import amqpbase
from amqpbase import fieldtable, spec
from amqpbase.adapters._awaitable._tools import ReceivedMessage
from amqpbase.fieldtable import Int64
from amqpbase.streams import (
    STREAM_OFFSET,
    StreamOffset,
    delivered_offset,
    stream_consume_arguments,
    stream_queue_arguments,
)

UTC = datetime.timezone.utc


def wire(offset: StreamOffset) -> bytes:
    """The field value (tag + value) the offset's consumer argument encodes to."""
    (value,) = stream_consume_arguments(offset).values()
    return fieldtable.encode_field_value(value)


def longstr(text: str) -> bytes:
    raw = text.encode()
    return b"S" + struct.pack(">I", len(raw)) + raw


def long_(value: int) -> bytes:
    return b"l" + struct.pack(">q", value)


def stamp(seconds: int) -> bytes:
    return b"T" + struct.pack(">Q", seconds)


# -- Int64 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 5, -1, 2**31 - 1, 2**31, 2**63 - 1, -(2**63)])
def test_int64_always_encodes_as_a_long(value: int) -> None:
    assert fieldtable.encode_field_value(Int64(value)) == long_(value)


def test_a_plain_small_int_still_encodes_as_int32() -> None:
    assert fieldtable.encode_field_value(5) == b"I" + struct.pack(">i", 5)


def test_int64_is_an_int_and_decodes_as_one() -> None:
    value = Int64(7)
    assert value == 7 and hash(value) == hash(7) and repr(value) == "Int64(7)"
    table = fieldtable.encode_table({"a": value, "b": [Int64(1)], "c": {"d": Int64(2)}})
    decoded, end = fieldtable.decode_table(table, 0)
    assert decoded == {"a": 7, "b": [1], "c": {"d": 2}} and end == len(table)
    assert b"\x01al" + struct.pack(">q", 7) in table


@pytest.mark.parametrize("value, error", [
    (2**63, ValueError), (-(2**63) - 1, ValueError), (True, TypeError), (1.0, TypeError),
    ("1", TypeError), (None, TypeError),
])
def test_int64_refuses(value: Any, error: type) -> None:
    with pytest.raises(error, match="Int64"):
        Int64(value)


# -- StreamOffset: the named forms ----------------------------------------------------------------


@pytest.mark.parametrize("make, name", [
    (StreamOffset.first, "first"), (StreamOffset.last, "last"), (StreamOffset.next, "next"),
])
def test_named_offsets_are_longstrs(make: Any, name: str) -> None:
    offset = make()
    assert offset.kind == name and offset.value == name
    assert wire(offset) == longstr(name)
    assert repr(offset) == f"StreamOffset.{name}()"
    assert offset == make() and hash(offset) == hash(make())


# -- absolute offsets -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 5, 2**31, 2**63 - 1])
def test_absolute_offset_goes_out_as_a_signed_long(value: int) -> None:
    offset = StreamOffset.at(value)
    assert offset.kind == "offset" and offset.value == value and type(offset.value) is Int64
    assert wire(offset) == long_(value)  # never 'I', even for 5
    assert repr(offset) == f"StreamOffset.at({value})"


@pytest.mark.parametrize("value, error, text", [
    (-1, ValueError, ">= 0"), (2**63, ValueError, "64-bit"), (True, TypeError, "bool"),
    (1.0, TypeError, "float"), ("5", TypeError, "str"), (None, TypeError, "NoneType"),
])
def test_absolute_offset_refuses(value: Any, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        StreamOffset.at(value)


def test_after_is_the_next_offset() -> None:
    assert StreamOffset.after(0) == StreamOffset.at(1)
    assert StreamOffset.after(41) == StreamOffset.at(42)
    assert wire(StreamOffset.after(9)) == long_(10)
    with pytest.raises(ValueError, match=">= 0"):
        StreamOffset.after(-1)
    with pytest.raises(ValueError, match="64-bit"):
        StreamOffset.after(2**63 - 1)
    with pytest.raises(TypeError):
        StreamOffset.after(False)


# -- timestamps -----------------------------------------------------------------------------------


def test_timestamp_from_an_aware_datetime_is_utc_seconds() -> None:
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    offset = StreamOffset.timestamp(when)
    assert offset.kind == "timestamp" and offset.value == when
    assert wire(offset) == stamp(1714979289)


def test_timestamp_converts_other_timezones() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    when = datetime.datetime(2024, 5, 6, 9, 8, 9, tzinfo=paris)  # 07:08:09 UTC
    assert wire(StreamOffset.timestamp(when)) == stamp(1714979289)


def test_timestamp_drops_sub_seconds_towards_the_past() -> None:
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC)
    assert wire(StreamOffset.timestamp(when)) == stamp(1714979289)
    assert wire(StreamOffset.timestamp(1714979289.999)) == stamp(1714979289)
    assert wire(StreamOffset.timestamp(1714979289)) == stamp(1714979289)
    assert StreamOffset.timestamp(1714979289.5) == StreamOffset.timestamp(1714979289)
    assert wire(StreamOffset.timestamp(0)) == stamp(0)


def test_timestamp_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        StreamOffset.timestamp(datetime.datetime(2024, 5, 6, 7, 8, 9))


@pytest.mark.parametrize("value, error, text", [
    (1714979289000, ValueError, "milliseconds"), (-1, ValueError, "before 1970"),
    (-0.5, ValueError, "before 1970"), (float("nan"), ValueError, "finite"),
    (float("inf"), ValueError, "finite"), (True, TypeError, "bool"),
    ("2024-05-06", TypeError, "str"), (datetime.date(2024, 5, 6), TypeError, "date"),
    (datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), ValueError, "before 1970"),
])
def test_timestamp_refuses(value: Any, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        StreamOffset.timestamp(value)


def test_timestamp_repr_round_trips_the_value() -> None:
    offset = StreamOffset.timestamp(0)
    assert repr(offset) == f"StreamOffset.timestamp({offset.value!r})"


# -- intervals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1h", "30m", "7D", "1Y", "2M", "10s", "01h", "365D"])
def test_interval_strings(text: str) -> None:
    offset = StreamOffset.interval(text)
    assert offset.kind == "interval" and offset.value == text
    assert wire(offset) == longstr(text)


@pytest.mark.parametrize("delta, text", [
    (datetime.timedelta(hours=1), "1h"), (datetime.timedelta(days=7), "7D"),
    (datetime.timedelta(seconds=90), "90s"), (datetime.timedelta(minutes=90), "90m"),
    (datetime.timedelta(hours=36), "36h"), (datetime.timedelta(seconds=1), "1s"),
])
def test_interval_from_a_timedelta_is_exact(delta: datetime.timedelta, text: str) -> None:
    assert StreamOffset.interval(delta).value == text


@pytest.mark.parametrize("text", [
    "1d", "1H", "1S", "0h", "00m", "h", "1", "5", "1.5h", " 1h", "1h ", "1hh", "-1h", "1 h",
    "first ", "", "bogus",
])
def test_interval_refuses_what_the_broker_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        StreamOffset.interval(text)


@pytest.mark.parametrize("value, error", [
    (datetime.timedelta(0), ValueError), (datetime.timedelta(seconds=-60), ValueError),
    (datetime.timedelta(seconds=1.5), ValueError), (3600, TypeError), (None, TypeError),
])
def test_interval_refuses_other_values(value: Any, error: type) -> None:
    with pytest.raises(error, match="interval"):
        StreamOffset.interval(value)


# -- StreamOffset as a value ----------------------------------------------------------------------


def test_stream_offset_is_immutable_and_built_by_its_class_methods() -> None:
    offset = StreamOffset.at(3)
    with pytest.raises(AttributeError):
        offset.value = Int64(4)  # type: ignore[misc]
    with pytest.raises(TypeError, match="StreamOffset.first"):
        StreamOffset("offset", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StreamOffset("sideways", "first")
    assert StreamOffset.at(3) != StreamOffset.at(4)
    assert StreamOffset.first() != StreamOffset.interval("1h")
    assert StreamOffset.at(3) != 3
    assert len({StreamOffset.at(3), StreamOffset.at(3), StreamOffset.first()}) == 2


# -- consume arguments ----------------------------------------------------------------------------


def test_consume_arguments() -> None:
    assert stream_consume_arguments() == {}
    assert stream_consume_arguments(None) == {}
    assert stream_consume_arguments(StreamOffset.first()) == {STREAM_OFFSET: "first"}
    arguments = stream_consume_arguments(StreamOffset.at(5))
    encoded = spec.Basic.Consume(queue="s", arguments=arguments).encode()
    assert encoded.endswith(b"\x0fx-stream-offset" + long_(5))
    table = fieldtable.encode_table(arguments)
    assert table == struct.pack(">I", 1 + 15 + 9) + b"\x0fx-stream-offset" + long_(5)


@pytest.mark.parametrize("value", ["first", 5, Int64(5), datetime.datetime.now(UTC)])
def test_consume_arguments_take_only_a_stream_offset(value: Any) -> None:
    with pytest.raises(TypeError, match="StreamOffset"):
        stream_consume_arguments(value)


# -- queue arguments ------------------------------------------------------------------------------


def test_queue_arguments() -> None:
    assert stream_queue_arguments() == {"x-queue-type": "stream"}
    assert stream_queue_arguments(
        max_age="7D", max_length_bytes=20_000_000_000, max_segment_size_bytes=100_000_000,
        initial_cluster_size=3,
    ) == {
        "x-queue-type": "stream", "x-max-age": "7D", "x-max-length-bytes": 20_000_000_000,
        "x-stream-max-segment-size-bytes": 100_000_000, "x-initial-cluster-size": 3,
    }
    assert stream_queue_arguments(max_age=datetime.timedelta(days=2))["x-max-age"] == "2D"
    assert stream_queue_arguments(max_length_bytes=0)["x-max-length-bytes"] == 0


@pytest.mark.parametrize("kwargs, error, text", [
    ({"max_age": "7d"}, ValueError, "max_age"), ({"max_age": "0D"}, ValueError, "max_age"),
    ({"max_age": 3600}, TypeError, "max_age"),
    ({"max_length_bytes": -1}, ValueError, "max_length_bytes"),
    ({"max_length_bytes": 1.5e9}, TypeError, "max_length_bytes"),
    ({"max_length_bytes": True}, TypeError, "max_length_bytes"),
    ({"max_segment_size_bytes": 0}, ValueError, "max_segment_size_bytes"),
    ({"initial_cluster_size": 0}, ValueError, "initial_cluster_size"),
    ({"initial_cluster_size": "3"}, TypeError, "initial_cluster_size"),
])
def test_queue_arguments_refuse(kwargs: Any, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        stream_queue_arguments(**kwargs)


# -- the delivered offset -------------------------------------------------------------------------


def test_delivered_offset_reads_the_header() -> None:
    assert delivered_offset(spec.BasicProperties(headers={STREAM_OFFSET: 7})) == 7
    assert delivered_offset(spec.BasicProperties(headers={STREAM_OFFSET: 0, "a": 1})) == 0
    assert delivered_offset(spec.BasicProperties(headers={STREAM_OFFSET: 2**40})) == 2**40


def test_delivered_offset_from_the_wire() -> None:
    """As RabbitMQ sends it: a content header whose headers table holds a long."""
    encoded = spec.BasicProperties(headers={STREAM_OFFSET: Int64(12)}).encode()
    assert b"\x0fx-stream-offset" + long_(12) in encoded
    decoded, end = spec.BasicProperties.decode(encoded, 0)
    assert end == len(encoded) and delivered_offset(decoded) == 12


def test_no_header_is_not_a_stream_delivery() -> None:
    assert delivered_offset(spec.BasicProperties()) is None
    assert delivered_offset(spec.BasicProperties(headers={})) is None
    assert delivered_offset(spec.BasicProperties(headers={"x-other": 1})) is None


@pytest.mark.parametrize("value", ["7", -1, True, None, 7.0, [7]])
def test_a_header_that_is_not_an_offset_is_an_error(value: Any) -> None:
    with pytest.raises(ValueError, match="not a stream offset"):
        delivered_offset(spec.BasicProperties(headers={STREAM_OFFSET: value}))


def test_the_awaitable_message_exposes_its_offset() -> None:
    def message(headers: Any) -> ReceivedMessage:
        return ReceivedMessage(None, None, spec.BasicProperties(headers=headers), b"")  # type: ignore[arg-type]

    assert message({STREAM_OFFSET: 3}).stream_offset == 3
    assert message(None).stream_offset is None
    with pytest.raises(ValueError):
        _ = message({STREAM_OFFSET: "3"}).stream_offset


def test_top_level_exports() -> None:
    for name in ("StreamOffset", "delivered_offset", "stream_consume_arguments",
                 "stream_queue_arguments"):
        assert name in amqpbase.__all__
        assert getattr(amqpbase, name) is getattr(amqpbase.streams, name)


# -- cancelling a stream consumer -----------------------------------------------------------------


def test_a_stream_delivery_to_a_cancelling_consumer_is_not_rejected() -> None:
    """RabbitMQ closes the connection (540) on basic.reject for a stream queue: a delivery
    that crosses our Basic.Cancel is handed back with a Reject (pika behaviour) unless it is
    a stream delivery."""
    from amqpbase.protocol.channel_machine import ChannelMachine
    from amqpbase.protocol.channel_table import Send
    from amqpbase.wire import frames

    machine = ChannelMachine(1)
    machine.open()
    machine.receive(frames.Method(1, spec.Channel.OpenOk()))
    machine.consume(spec.Basic.Consume(0, "s", "t"), "consumer")
    machine.receive(frames.Method(1, spec.Basic.ConsumeOk("t")))
    machine.cancel("t", False, None)

    def arrive(tag: int, headers: Any) -> Any:
        return machine.delivery(frames.Delivery(
            1, spec.Basic.Deliver("t", tag, False, "", "s"),
            spec.BasicProperties(headers=headers), b"x"))

    assert arrive(1, {STREAM_OFFSET: 41}) == []
    (reject,) = arrive(2, None)
    assert type(reject) is Send and type(reject.method) is spec.Basic.Reject
    assert reject.method.delivery_tag == 2 and reject.method.requeue
    (reject,) = arrive(3, {"x-other": 1})
    assert type(reject.method) is spec.Basic.Reject
