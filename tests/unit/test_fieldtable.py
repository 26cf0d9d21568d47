"""Field values, tables, arrays, strings and the generic argument/property codec."""

from __future__ import annotations

import datetime
import decimal
import struct
from typing import Any

import pytest

from amqpbase import fieldtable as ft
from amqpbase.exceptions import (
    InvalidFieldTypeException,
    ProtocolSyntaxError,
    ShortStringTooLong,
    UnsupportedAMQPFieldException,
)


def table_bytes(entries: bytes) -> bytes:
    return struct.pack(">I", len(entries)) + entries


def entry(key: bytes, tag: bytes, value: bytes) -> bytes:
    return bytes([len(key)]) + key + tag + value


# --------------------------------------------------------------------------------------------
# Encoding: the tag is chosen from the Python type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, wire",
    [
        (True, b"t\x01"),
        (False, b"t\x00"),
        (0, b"I\x00\x00\x00\x00"),
        (-1, b"I\xff\xff\xff\xff"),
        (2**31 - 1, b"I\x7f\xff\xff\xff"),
        (-(2**31), b"I\x80\x00\x00\x00"),
        (2**31, b"l\x00\x00\x00\x00\x80\x00\x00\x00"),
        (-(2**31) - 1, b"l\xff\xff\xff\xff\x7f\xff\xff\xff"),
        (2**63 - 1, b"l\x7f\xff\xff\xff\xff\xff\xff\xff"),
        (-(2**63), b"l\x80\x00\x00\x00\x00\x00\x00\x00"),
        (1.5, b"d" + struct.pack(">d", 1.5)),
        (decimal.Decimal("1.23"), b"D\x02" + struct.pack(">i", 123)),
        (decimal.Decimal("-1.23"), b"D\x02" + struct.pack(">i", -123)),
        (decimal.Decimal("7"), b"D\x00" + struct.pack(">i", 7)),
        (decimal.Decimal("1E+2"), b"D\x00" + struct.pack(">i", 100)),
        ("héllo", b"S\x00\x00\x00\x06h\xc3\xa9llo"),
        (b"\x00\xff", b"x\x00\x00\x00\x02\x00\xff"),
        (bytearray(b"ab"), b"x\x00\x00\x00\x02ab"),
        (memoryview(b"ab"), b"x\x00\x00\x00\x02ab"),
        (datetime.datetime(2020, 1, 2, 3, 4, 5), b"T" + struct.pack(">Q", 1577934245)),
        ({"a": None}, b"F" + table_bytes(entry(b"a", b"V", b""))),
        ([1, "x"], b"A" + table_bytes(b"I\x00\x00\x00\x01" + b"S\x00\x00\x00\x01x")),
        ((1,), b"A" + table_bytes(b"I\x00\x00\x00\x01")),
        (None, b"V"),
    ],
)
def test_encode_field_value(value: Any, wire: bytes) -> None:
    assert ft.encode_field_value(value) == wire


def test_aware_datetime_is_converted_to_utc() -> None:
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    aware = datetime.datetime(2020, 1, 2, 5, 4, 5, tzinfo=plus2)
    assert ft.encode_field_value(aware) == b"T" + struct.pack(">Q", 1577934245)


def test_subclasses_encode_as_their_base() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 7

    class Name(str):
        pass

    assert ft.encode_field_value(Level.HIGH) == b"I\x00\x00\x00\x07"
    assert ft.encode_field_value(Name("a")) == b"S\x00\x00\x00\x01a"
    from collections import OrderedDict

    assert ft.encode_table(OrderedDict(a=1)) == ft.encode_table({"a": 1})


@pytest.mark.parametrize(
    "value",
    [
        2**63,
        -(2**63) - 1,
        object(),
        {1, 2},
        decimal.Decimal("NaN"),
        decimal.Decimal("Infinity"),
        decimal.Decimal("1." + "0" * 300),  # scale 300 > 255
        decimal.Decimal(2**31),  # value does not fit int32
        datetime.datetime(1969, 12, 31),
    ],
)
def test_unencodable_values(value: Any) -> None:
    with pytest.raises(UnsupportedAMQPFieldException):
        ft.encode_table({"k": value})


def test_unsupported_field_is_a_502() -> None:
    assert UnsupportedAMQPFieldException.reply_code == 502


def test_self_referencing_table_is_refused_not_a_recursion_error() -> None:
    table: dict[str, Any] = {}
    table["me"] = table
    with pytest.raises(UnsupportedAMQPFieldException, match="nested"):
        ft.encode_table(table)


def test_encode_table_none_and_empty() -> None:
    assert ft.encode_table(None) == b"\x00\x00\x00\x00"
    assert ft.encode_table({}) == b"\x00\x00\x00\x00"
    assert ft.encode_array(None) == b"\x00\x00\x00\x00"


def test_table_key_limits() -> None:
    ok = "k" * 255
    assert ft.decode_table(ft.encode_table({ok: 1}), 0)[0] == {ok: 1}
    with pytest.raises(ShortStringTooLong):
        ft.encode_table({"k" * 256: 1})
    with pytest.raises(ShortStringTooLong):
        ft.encode_table({"é" * 128: 1})  # 256 bytes in UTF-8
    with pytest.raises(TypeError):
        ft.encode_table({1: 1})  # type: ignore[dict-item]


# --------------------------------------------------------------------------------------------
# Decoding every tag (RabbitMQ signedness)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag, raw, expected",
    [
        (b"t", b"\x01", True),
        (b"t", b"\x00", False),
        (b"t", b"\x02", True),
        (b"b", b"\xff", -1),
        (b"B", b"\xff", 255),
        (b"s", b"\xff\xfe", -2),
        (b"u", b"\xff\xfe", 65534),
        (b"I", b"\xff\xff\xff\xfe", -2),
        (b"i", b"\xff\xff\xff\xfe", 2**32 - 2),
        (b"l", b"\xff" * 8, -1),
        (b"f", struct.pack(">f", 0.5), 0.5),
        (b"d", struct.pack(">d", -2.25), -2.25),
        (b"D", b"\x03" + struct.pack(">i", -12345), decimal.Decimal("-12.345")),
        (b"S", b"\x00\x00\x00\x02ok", "ok"),
        (b"S", b"\x00\x00\x00\x02\xff\xfe", b"\xff\xfe"),  # not UTF-8 → bytes
        (b"x", b"\x00\x00\x00\x02ok", b"ok"),
        (b"A", b"\x00\x00\x00\x02t\x01", [True]),
        (b"T", struct.pack(">Q", 0), datetime.datetime(1970, 1, 1)),
        (b"T", struct.pack(">Q", 253402300799), datetime.datetime(9999, 12, 31, 23, 59, 59)),
        (b"T", struct.pack(">Q", 253402300800), 253402300800),  # past datetime.max → int
        (b"T", b"\xff" * 8, 2**64 - 1),
        (b"F", b"\x00\x00\x00\x03\x01aV", {"a": None}),
        (b"V", b"", None),
    ],
)
def test_decode_every_tag(tag: bytes, raw: bytes, expected: Any) -> None:
    data = table_bytes(entry(b"key", tag, raw))
    table, offset = ft.decode_table(data, 0)
    assert table == {"key": expected}
    assert type(table["key"]) is type(expected)
    assert offset == len(data)
    value, offset = ft.decode_field_value(tag + raw, 0)
    assert value == expected and offset == len(tag) + len(raw)


def test_decoded_timestamp_is_naive_utc_and_round_trips() -> None:
    value, _ = ft.decode_field_value(b"T" + struct.pack(">Q", 1577934245), 0)
    assert value == datetime.datetime(2020, 1, 2, 3, 4, 5) and value.tzinfo is None
    assert ft.encode_field_value(value) == b"T" + struct.pack(">Q", 1577934245)


def test_decoders_accept_bytearray_and_memoryview_and_offsets() -> None:
    data = b"junk" + ft.encode_table({"a": [1, {"b": b"x"}], "s": "é"})
    for buf in (data, bytearray(data), memoryview(data)):
        table, offset = ft.decode_table(buf, 4)
        assert table == {"a": [1, {"b": b"x"}], "s": "é"}
        assert offset == len(data)
        assert type(table["a"][1]["b"]) is bytes


def test_unknown_tag() -> None:
    data = table_bytes(entry(b"k", b"L", b"\x00" * 8))  # 'L' is not a RabbitMQ type
    with pytest.raises(InvalidFieldTypeException) as info:
        ft.decode_table(data, 0)
    assert info.value.reply_code == 502
    assert "0x4c" in str(info.value)
    with pytest.raises(InvalidFieldTypeException):
        ft.decode_field_value(b"\x00", 0)


def test_every_truncation_raises_protocol_syntax_error() -> None:
    data = ft.encode_table(
        {
            "s": "str",
            "i": 1,
            "l": 2**40,
            "t": True,
            "d": 1.0,
            "D": decimal.Decimal("1.5"),
            "T": datetime.datetime(2020, 1, 1),
            "x": b"b",
            "A": [1, [2]],
            "F": {"n": {"m": None}},
        }
    )
    for cut in range(len(data)):
        with pytest.raises(ProtocolSyntaxError):
            ft.decode_table(data[:cut], 0)


def test_entry_overrunning_the_declared_table_size() -> None:
    inner = entry(b"k", b"I", b"\x00\x00\x00\x01")
    # Declared one byte short: the last entry runs past the table's end.
    data = struct.pack(">I", len(inner) - 1) + inner + b"\x00" * 8
    with pytest.raises(ProtocolSyntaxError, match="beyond"):
        ft.decode_table(data, 0)
    array = struct.pack(">I", 3) + b"I\x00\x00\x00\x01" + b"\x00" * 8
    with pytest.raises(ProtocolSyntaxError, match="beyond"):
        ft.decode_array(array, 0)


def test_table_size_past_the_buffer() -> None:
    with pytest.raises(ProtocolSyntaxError, match="truncated"):
        ft.decode_table(b"\x00\x00\x10\x00\x01kV", 0)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    data = b"V"
    for _ in range(1000):
        data = b"A" + struct.pack(">I", len(data)) + data
    with pytest.raises(ProtocolSyntaxError, match="nested"):
        ft.decode_field_value(data, 0)
    ok: Any = None
    for _ in range(ft.MAX_NESTING - 1):
        ok = [ok]
    assert ft.decode_table(ft.encode_table({"k": ok}), 0)[0] == {"k": ok}


def test_table_keys_that_are_not_utf8_survive() -> None:
    data = table_bytes(entry(b"\xff", b"V", b""))
    table, _ = ft.decode_table(data, 0)
    assert table == {"\udcff": None}
    assert ft.encode_table(table) == data


# --------------------------------------------------------------------------------------------
# Short and long strings
# --------------------------------------------------------------------------------------------


def test_short_string() -> None:
    assert ft.encode_short_string("é") == b"\x02\xc3\xa9"
    assert ft.encode_short_string(b"\xff") == b"\x01\xff"
    assert ft.decode_short_string(b"\x02\xc3\xa9", 0) == ("é", 3)
    assert ft.decode_short_string(bytearray(b"x\x00"), 1) == ("", 2)
    with pytest.raises(ShortStringTooLong):
        ft.encode_short_string("x" * 256)
    with pytest.raises(TypeError):
        ft.encode_short_string(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ft.encode_short_string("\ud800")  # a lone surrogate that is not an escape
    for bad in (b"", b"\x03ab"):
        with pytest.raises(ProtocolSyntaxError):
            ft.decode_short_string(bad, 0)


def test_short_string_invalid_utf8_round_trips_losslessly() -> None:
    text, _ = ft.decode_short_string(b"\x03a\xffb", 0)
    assert text == "a\udcffb"
    assert ft.encode_short_string(text) == b"\x03a\xffb"


def test_long_string() -> None:
    assert ft.encode_long_string("é") == b"\x00\x00\x00\x02\xc3\xa9"
    assert ft.encode_long_string(bytearray(b"ab")) == b"\x00\x00\x00\x02ab"
    assert ft.decode_long_string(b"\x00\x00\x00\x01z", 0) == (b"z", 5)
    for bad in (b"\x00\x00", b"\x00\x00\x00\x02z"):
        with pytest.raises(ProtocolSyntaxError):
            ft.decode_long_string(bad, 0)


# --------------------------------------------------------------------------------------------
# Generic argument / property codec
# --------------------------------------------------------------------------------------------

ARGS = (
    ("a", "octet"),
    ("b", "bit"),
    ("c", "bit"),
    ("s", "shortstr"),
    ("d", "bit"),
)


def test_bits_share_an_octet_until_another_type() -> None:
    wire = ft.encode_arguments(ARGS, [7, True, True, "x", True], "T")
    assert wire == b"\x07\x03\x01x\x01"
    assert ft.decode_arguments(ARGS, wire, 0, "T") == ([7, True, True, "x", True], 5)


def test_nine_bits_take_two_octets() -> None:
    args = tuple((f"b{i}", "bit") for i in range(9))
    values = [i % 2 == 0 for i in range(9)]
    wire = ft.encode_arguments(args, values, "T")
    assert wire == b"\x55\x01"
    assert ft.decode_arguments(args, wire, 0, "T") == (values, 2)


@pytest.mark.parametrize(
    "domain_type, value, error",
    [
        ("octet", 256, ValueError),
        ("octet", -1, ValueError),
        ("short", 65536, ValueError),
        ("long", 2**32, ValueError),
        ("longlong", 2**64, ValueError),
        ("timestamp", -1, ValueError),
        ("short", "1", TypeError),
        ("short", None, TypeError),
        ("shortstr", None, TypeError),
        ("shortstr", 1, TypeError),
        ("shortstr", "x" * 256, ShortStringTooLong),
        ("longstr", None, TypeError),
        ("table", [1], TypeError),
        ("table", {"k": object()}, UnsupportedAMQPFieldException),
    ],
)
def test_argument_validation(domain_type: str, value: Any, error: type) -> None:
    with pytest.raises(error, match="'f'"):
        ft.encode_arguments((("f", domain_type),), [value], "Owner.Method")


def test_properties_flags_and_continuation() -> None:
    props = tuple((f"p{i}", "octet") for i in range(3))
    wire = ft.encode_properties(props, [None, 5, None], "P")
    assert wire == b"\x40\x00\x05"
    assert ft.decode_properties(props, wire, 0, "P") == ([None, 5, None], 3)
    # A continuation flag word with no flags set is legal (AMQP 0-9-1, 4.2.6.1).
    assert ft.decode_properties(props, b"\x40\x01\x00\x00\x05", 0, "P") == ([None, 5, None], 5)
    with pytest.raises(ProtocolSyntaxError, match="property #4"):
        ft.decode_properties(props, b"\x10\x00\x05", 0, "P")
    with pytest.raises(ProtocolSyntaxError, match="property #16"):
        ft.decode_properties(props, b"\x00\x01\x80\x00", 0, "P")
    with pytest.raises(ProtocolSyntaxError):
        ft.decode_properties(props, b"\x40\x00", 0, "P")
    with pytest.raises(ProtocolSyntaxError):
        ft.decode_properties(props, b"\x40\x01", 0, "P")


def test_sixteen_properties_need_two_flag_words() -> None:
    props = tuple((f"p{i}", "octet") for i in range(16))
    values: list[Any] = [None] * 16
    values[0] = 1
    values[15] = 2
    wire = ft.encode_properties(props, values, "P")
    assert wire == b"\x80\x01\x80\x00\x01\x02"
    assert ft.decode_properties(props, wire, 0, "P") == (values, 6)
