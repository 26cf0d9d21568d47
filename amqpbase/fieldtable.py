"""AMQP 0-9-1 field values, field tables and field arrays, plus the generic argument codec.

No dependencies beyond the standard library and :mod:`amqpbase.exceptions`; the generated
:mod:`amqpbase.spec` imports this module (``docs/internals.md``, "Codec API").

Wire types (RabbitMQ's reading of the 0-9-1 field types, which differs from the 0-9-1 PDF
for several tags; see https://www.rabbitmq.com/amqp-0-9-1-errata.html):

tag   wire                 Python
t     octet 0/1            ``bool``
b     int8                 ``int``
B     uint8                ``int``
s     int16                ``int``
u     uint16               ``int``
I     int32                ``int``
i     uint32               ``int``
l     int64                ``int``
f     IEEE-754 float32     ``float``
d     IEEE-754 float64     ``float``
D     scale octet + int32  ``decimal.Decimal`` (value / 10**scale)
S     longstr              ``str`` when the bytes are valid UTF-8, else ``bytes``
x     longstr (binary)     ``bytes``
A     uint32 size + values ``list``
T     uint64 seconds       naive UTC ``datetime.datetime`` (pika's choice); a value past
                           9999-12-31 cannot be a ``datetime`` and decodes to ``int``
F     nested table         ``dict``
V     nothing              ``None``

Encoding picks the tag from the Python type: ``bool`` → t; ``int`` → I (signed 32-bit) when
it fits, else l (signed 64-bit), else :class:`UnsupportedAMQPFieldException`; an
:class:`Int64` → l whatever its value (for arguments whose type is a long, e.g. RabbitMQ's
``x-stream-offset``); ``float`` → d;
``Decimal`` → D; ``str`` → S; ``bytes``/``bytearray``/``memoryview`` → x; ``datetime`` → T
(a naive datetime is taken as UTC, an aware one is converted; sub-second precision is
dropped); ``Mapping`` → F; ``list``/``tuple`` → A; ``None`` → V.

Short strings (table keys, shortstr arguments) decode to ``str``. Bytes that are not valid
UTF-8 are kept losslessly as PEP 383 surrogate escapes (``errors="surrogateescape"``), and a
``str`` is always encoded the same way, so a routing key that some other client published as
arbitrary bytes survives a consume-and-republish unchanged instead of killing the connection.

Every decoder raises a :class:`ProtocolSyntaxError` subclass on truncated or malformed input
(:class:`InvalidFieldTypeException` for an unknown tag); ``struct.error``, ``IndexError`` and
``UnicodeDecodeError`` never escape.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import struct
from enum import Enum
from typing import (
    Any,
    ClassVar,
    Dict,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from amqpbase.exceptions import (
    InvalidFieldTypeException,
    ProtocolSyntaxError,
    ShortStringTooLong,
    UnsupportedAMQPFieldException,
)

Buffer = Union[bytes, bytearray, memoryview]
"""What the decoders accept: any contiguous byte buffer (indexing yields ``int``)."""

#: Nesting limit for tables/arrays, both ways: deeper input is rejected (decode) or refused
#: (encode, which also catches a table that contains itself) instead of hitting RecursionError.
MAX_NESTING = 64

_S_INT8 = struct.Struct(">b")
_S_UINT8 = struct.Struct(">B")
_S_INT16 = struct.Struct(">h")
_S_UINT16 = struct.Struct(">H")
_S_INT32 = struct.Struct(">i")
_S_UINT32 = struct.Struct(">I")
_S_INT64 = struct.Struct(">q")
_S_UINT64 = struct.Struct(">Q")
_S_FLOAT = struct.Struct(">f")
_S_DOUBLE = struct.Struct(">d")
_S_DECIMAL = struct.Struct(">Bi")
# Tag + fixed-size value in one pack (encode side).
_S_TAG_BOOL = struct.Struct(">cB")
_S_TAG_INT32 = struct.Struct(">ci")
_S_TAG_INT64 = struct.Struct(">cq")
_S_TAG_UINT64 = struct.Struct(">cQ")
_S_TAG_DOUBLE = struct.Struct(">cd")
_S_TAG_DECIMAL = struct.Struct(">cBi")
_S_TAG_UINT32 = struct.Struct(">cI")

_EPOCH = datetime.datetime(1970, 1, 1)
_MAX_TIMESTAMP = calendar.timegm(datetime.datetime.max.utctimetuple())

_DECODE_ERRORS = (IndexError, struct.error, OverflowError)


def _truncated(what: str, data: Buffer, offset: int) -> ProtocolSyntaxError:
    return ProtocolSyntaxError(
        f"truncated or malformed {what} at offset {offset} (buffer is {len(data)} bytes)"
    )


# -- Strings ---------------------------------------------------------------------------------


def _utf8(value: Union[str, bytes, bytearray, memoryview], what: str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{what}: {value!r} cannot be encoded as UTF-8: {exc}") from exc
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what}: expected str, got {type(value).__name__} {value!r}")


def encode_short_string(value: Union[str, bytes], what: str = "shortstr") -> bytes:
    """Length octet + UTF-8 bytes. ``bytes`` are taken as-is (pika accepts them too).

    Raises :class:`ShortStringTooLong` past 255 bytes, ``TypeError`` for other types.
    """
    raw = _utf8(value, what)
    if len(raw) > 255:
        raise ShortStringTooLong(f"{what}: {len(raw)} bytes encoded, a shortstr holds 255")
    return _S_UINT8.pack(len(raw)) + raw


def decode_short_string(data: Buffer, offset: int) -> Tuple[str, int]:
    """Read a shortstr at ``offset``; returns ``(str, new_offset)`` (see module doc on UTF-8)."""
    try:
        length = data[offset]
    except IndexError:
        raise _truncated("shortstr length", data, offset) from None
    end = offset + 1 + length
    if end > len(data):
        raise _truncated(f"shortstr of {length} bytes", data, offset)
    return str(data[offset + 1 : end], "utf-8", "surrogateescape"), end


def encode_long_string(
    value: Union[str, bytes, bytearray, memoryview], what: str = "longstr"
) -> bytes:
    """uint32 length + bytes; a ``str`` is encoded UTF-8."""
    raw = _utf8(value, what)
    return _S_UINT32.pack(len(raw)) + raw


def decode_long_string(data: Buffer, offset: int) -> Tuple[bytes, int]:
    """Read a longstr at ``offset``; returns ``(bytes, new_offset)``."""
    try:
        (length,) = _S_UINT32.unpack_from(data, offset)
    except struct.error:
        raise _truncated("longstr length", data, offset) from None
    start = offset + 4
    end = start + length
    if end > len(data):
        raise _truncated(f"longstr of {length} bytes", data, offset)
    return bytes(data[start:end]), end


# -- Encoding field values -------------------------------------------------------------------


class Int64(int):
    """An ``int`` that always goes on the wire as field type ``l`` (signed 64-bit).

    A plain ``int`` is encoded as ``I`` when it fits 32 bits; wrap it when the receiver wants
    the long type whatever the value (RabbitMQ reads an absolute ``x-stream-offset`` as a
    long). Range-checked at construction (``ValueError``); a ``bool`` or a non-integral
    value is a ``TypeError``. It compares, hashes and decodes as the plain ``int``.
    """

    __slots__ = ()

    def __new__(cls, value: int) -> "Int64":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"Int64 takes an int, got {type(value).__name__} {value!r}")
        if not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            raise ValueError(f"Int64: {value} does not fit a signed 64-bit field value")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


def _encode_decimal(value: decimal.Decimal) -> bytes:
    if not value.is_finite():
        raise UnsupportedAMQPFieldException(f"decimal {value!r} is not finite")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    unscaled = int("".join(map(str, digits)) or "0")
    if exponent > 0:  # 1E+2: no negative scale on the wire, so multiply out
        unscaled *= 10**exponent
        exponent = 0
    if sign:
        unscaled = -unscaled
    scale = -exponent
    if scale > 255 or not -0x80000000 <= unscaled <= 0x7FFFFFFF:
        raise UnsupportedAMQPFieldException(
            f"decimal {value!r} needs scale {scale} and value {unscaled}: the AMQP decimal "
            "holds a scale octet and a signed 32-bit value"
        )
    return _S_TAG_DECIMAL.pack(b"D", scale, unscaled)


def _encode_timestamp(value: datetime.datetime) -> bytes:
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    seconds = calendar.timegm(value.utctimetuple())
    if seconds < 0:
        raise UnsupportedAMQPFieldException(f"timestamp {value!r} is before 1970 (uint64 seconds)")
    return _S_TAG_UINT64.pack(b"T", seconds)


def _encode_value(value: Any, pieces: List[bytes], depth: int) -> None:
    """Append tag + value for ``value`` to ``pieces``."""
    kind = type(value)
    # Exact-type checks first: the common header values (str, int, bool) take one test.
    if kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        pieces.append(_S_TAG_UINT32.pack(b"S", len(raw)))
        pieces.append(raw)
    elif kind is bool:
        pieces.append(_S_TAG_BOOL.pack(b"t", 1 if value else 0))
    elif kind is int:
        if -0x80000000 <= value <= 0x7FFFFFFF:
            pieces.append(_S_TAG_INT32.pack(b"I", value))
        elif -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            pieces.append(_S_TAG_INT64.pack(b"l", value))
        else:
            raise UnsupportedAMQPFieldException(
                f"int {value} does not fit a signed 64-bit field value"
            )
    elif kind is dict:
        pieces.append(b"F")
        pieces.append(_encode_table(value, depth + 1))
    elif kind is list or kind is tuple:
        pieces.append(b"A")
        pieces.append(_encode_array(value, depth + 1))
    elif value is None:
        pieces.append(b"V")
    elif kind is float:
        pieces.append(_S_TAG_DOUBLE.pack(b"d", value))
    elif kind is bytes:
        pieces.append(_S_TAG_UINT32.pack(b"x", len(value)))
        pieces.append(value)
    # Subclasses (bool has none) and the rarer types.
    elif kind is Int64:  # range checked at construction
        pieces.append(_S_TAG_INT64.pack(b"l", value))
    elif isinstance(value, int):
        _encode_value(int(value), pieces, depth)
    elif isinstance(value, str):
        _encode_value(str(value), pieces, depth)
    elif isinstance(value, float):
        pieces.append(_S_TAG_DOUBLE.pack(b"d", value))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        pieces.append(_S_TAG_UINT32.pack(b"x", len(raw)))
        pieces.append(raw)
    elif isinstance(value, decimal.Decimal):
        pieces.append(_encode_decimal(value))
    elif isinstance(value, datetime.datetime):
        pieces.append(_encode_timestamp(value))
    elif isinstance(value, Mapping):
        pieces.append(b"F")
        pieces.append(_encode_table(value, depth + 1))
    elif isinstance(value, (list, tuple)):
        pieces.append(b"A")
        pieces.append(_encode_array(value, depth + 1))
    else:
        raise UnsupportedAMQPFieldException(
            f"cannot encode {type(value).__name__} {value!r} as an AMQP field value"
        )


def _at(exc: Exception, where: str) -> Exception:
    """The same error with the key/index path prefixed: ``['headers'][2]: cannot encode...``."""
    message = str(exc)
    return type(exc)(f"[{where}]{'' if message.startswith('[') else ': '}{message}")


def _check_depth(depth: int) -> None:
    if depth > MAX_NESTING:
        raise UnsupportedAMQPFieldException(
            f"field tables/arrays nested deeper than {MAX_NESTING} levels (or self-referencing)"
        )


def _encode_table(table: Mapping[Any, Any], depth: int) -> bytes:
    """uint32 size + entries (a nested table's ``F`` tag is added by _encode_value)."""
    _check_depth(depth)
    pieces: List[bytes] = []
    for key, value in table.items():
        if type(key) is str:
            raw = key.encode("utf-8", "surrogateescape")
            if len(raw) > 255:
                raise ShortStringTooLong(
                    f"field table key {key[:40]!r}...: {len(raw)} bytes, a shortstr holds 255"
                )
            pieces.append(_S_UINT8.pack(len(raw)))
            pieces.append(raw)
        else:
            pieces.append(encode_short_string(key, "field table key"))
        try:
            _encode_value(value, pieces, depth)
        except (UnsupportedAMQPFieldException, ShortStringTooLong) as exc:
            raise _at(exc, repr(key)) from None
    body = b"".join(pieces)
    return _S_UINT32.pack(len(body)) + body


def _encode_array(values: Sequence[Any], depth: int) -> bytes:
    _check_depth(depth)
    pieces: List[bytes] = []
    for index, value in enumerate(values):
        try:
            _encode_value(value, pieces, depth)
        except (UnsupportedAMQPFieldException, ShortStringTooLong) as exc:
            raise _at(exc, str(index)) from None
    body = b"".join(pieces)
    return _S_UINT32.pack(len(body)) + body


def encode_table(table: Optional[Mapping[str, Any]]) -> bytes:
    """Encode a field table with its uint32 size prefix; ``None`` (or ``{}``) → empty table.

    Raises :class:`UnsupportedAMQPFieldException` for a value that has no AMQP field type
    (an out-of-range int, a non-finite Decimal, ...) and :class:`ShortStringTooLong` for a key
    over 255 bytes.
    """
    if not table:
        return b"\x00\x00\x00\x00"
    return _encode_table(table, 0)


def encode_array(values: Optional[Sequence[Any]]) -> bytes:
    """Encode a field array (the ``A`` value, without its tag) with its uint32 size prefix."""
    if not values:
        return b"\x00\x00\x00\x00"
    return _encode_array(values, 1)


def encode_field_value(value: Any) -> bytes:
    """Encode one field value: type tag + value."""
    pieces: List[bytes] = []
    _encode_value(value, pieces, 0)
    return b"".join(pieces)


# -- Decoding field values -------------------------------------------------------------------


def _decode_value(data: Buffer, offset: int, depth: int) -> Tuple[Any, int]:
    """Decode tag + value at ``offset``. May raise the raw _DECODE_ERRORS (wrapped by callers)."""
    tag = data[offset]
    offset += 1
    if tag == 0x53:  # 'S' longstr
        (length,) = _S_UINT32.unpack_from(data, offset)
        start = offset + 4
        end = start + length
        if end > len(data):
            raise IndexError("longstr past the end of the buffer")
        raw = data[start:end]
        try:
            return str(raw, "utf-8"), end
        except UnicodeDecodeError:
            return bytes(raw), end
    if tag == 0x49:  # 'I' int32
        return _S_INT32.unpack_from(data, offset)[0], offset + 4
    if tag == 0x74:  # 't' boolean octet
        return data[offset] != 0, offset + 1
    if tag == 0x6C:  # 'l' int64
        return _S_INT64.unpack_from(data, offset)[0], offset + 8
    if tag == 0x46:  # 'F' nested table
        return _decode_table(data, offset, depth + 1)
    if tag == 0x41:  # 'A' array
        return _decode_array(data, offset, depth + 1)
    if tag == 0x56:  # 'V' void
        return None, offset
    if tag == 0x78:  # 'x' byte array
        (length,) = _S_UINT32.unpack_from(data, offset)
        start = offset + 4
        end = start + length
        if end > len(data):
            raise IndexError("byte array past the end of the buffer")
        return bytes(data[start:end]), end
    if tag == 0x54:  # 'T' timestamp, uint64 seconds since the epoch
        (seconds,) = _S_UINT64.unpack_from(data, offset)
        if seconds > _MAX_TIMESTAMP:
            return seconds, offset + 8  # not representable as a datetime (module doc)
        return _EPOCH + datetime.timedelta(seconds=seconds), offset + 8
    if tag == 0x64:  # 'd' double
        return _S_DOUBLE.unpack_from(data, offset)[0], offset + 8
    if tag == 0x66:  # 'f' float
        return _S_FLOAT.unpack_from(data, offset)[0], offset + 4
    if tag == 0x62:  # 'b' int8
        return _S_INT8.unpack_from(data, offset)[0], offset + 1
    if tag == 0x42:  # 'B' uint8
        return data[offset], offset + 1
    if tag == 0x73:  # 's' int16 (RabbitMQ; the 0-9-1 PDF says uint16)
        return _S_INT16.unpack_from(data, offset)[0], offset + 2
    if tag == 0x75:  # 'u' uint16
        return _S_UINT16.unpack_from(data, offset)[0], offset + 2
    if tag == 0x69:  # 'i' uint32
        return _S_UINT32.unpack_from(data, offset)[0], offset + 4
    if tag == 0x44:  # 'D' decimal: scale octet + signed int32
        scale, unscaled = _S_DECIMAL.unpack_from(data, offset)
        return decimal.Decimal(unscaled).scaleb(-scale), offset + 5
    shown = chr(tag) if 0x20 < tag < 0x7F else "non-printable"
    raise InvalidFieldTypeException(
        f"unknown field value type tag 0x{tag:02x} ({shown}) at offset {offset - 1}"
    )


def _decode_table(data: Buffer, offset: int, depth: int) -> Tuple[Dict[str, Any], int]:
    if depth > MAX_NESTING:
        raise ProtocolSyntaxError(f"field tables nested deeper than {MAX_NESTING} levels")
    (length,) = _S_UINT32.unpack_from(data, offset)
    offset += 4
    end = offset + length
    if end > len(data):
        raise _truncated(f"field table of {length} bytes", data, offset - 4)
    result: Dict[str, Any] = {}
    while offset < end:
        key_len = data[offset]
        key_end = offset + 1 + key_len
        key = str(data[offset + 1 : key_end], "utf-8", "surrogateescape")
        result[key], offset = _decode_value(data, key_end, depth)
    if offset != end:
        raise ProtocolSyntaxError(
            f"field table declared {length} bytes but its last entry ends {offset - end} "
            f"byte(s) beyond that"
        )
    return result, offset


def _decode_array(data: Buffer, offset: int, depth: int) -> Tuple[List[Any], int]:
    if depth > MAX_NESTING:
        raise ProtocolSyntaxError(f"field arrays nested deeper than {MAX_NESTING} levels")
    (length,) = _S_UINT32.unpack_from(data, offset)
    offset += 4
    end = offset + length
    if end > len(data):
        raise _truncated(f"field array of {length} bytes", data, offset - 4)
    result: List[Any] = []
    append = result.append
    while offset < end:
        value, offset = _decode_value(data, offset, depth)
        append(value)
    if offset != end:
        raise ProtocolSyntaxError(
            f"field array declared {length} bytes but its last value ends {offset - end} "
            f"byte(s) beyond that"
        )
    return result, offset


def decode_table(data: Buffer, offset: int) -> Tuple[Dict[str, Any], int]:
    """Decode the field table (uint32 size + entries) at ``offset``: ``(dict, new_offset)``."""
    try:
        return _decode_table(data, offset, 0)
    except _DECODE_ERRORS as exc:
        raise _truncated("field table", data, offset) from exc


def decode_array(data: Buffer, offset: int) -> Tuple[List[Any], int]:
    """Decode the field array (uint32 size + values) at ``offset``: ``(list, new_offset)``."""
    try:
        return _decode_array(data, offset, 1)
    except _DECODE_ERRORS as exc:
        raise _truncated("field array", data, offset) from exc


def decode_field_value(data: Buffer, offset: int) -> Tuple[Any, int]:
    """Decode one field value (type tag + value) at ``offset``: ``(value, new_offset)``."""
    try:
        return _decode_value(data, offset, 0)
    except _DECODE_ERRORS as exc:
        raise _truncated("field value", data, offset) from exc


# --------------------------------------------------------------------------------------------
# Generic (validating) codec for method arguments and content properties. The generated
# spec.py has straight-line code per method; what that fast path does not handle (a bytes
# shortstr, an out-of-range int, a str needing surrogateescape, truncated input, a memoryview)
# it hands to these functions, the reference implementation: they accept every valid input
# and raise the precise error. Tests check both paths give identical bytes and values.
# --------------------------------------------------------------------------------------------

_INT_TYPES = {
    "octet": (_S_UINT8, 0xFF),
    "short": (_S_UINT16, 0xFFFF),
    "long": (_S_UINT32, 0xFFFFFFFF),
    "longlong": (_S_UINT64, 0xFFFFFFFFFFFFFFFF),
    "timestamp": (_S_UINT64, 0xFFFFFFFFFFFFFFFF),
}


def encode_domain_value(domain_type: str, value: Any, what: str) -> bytes:
    """Encode one non-bit argument/property value of ``domain_type``, validating it.

    ``TypeError`` for a wrong type (including ``None`` for a required argument),
    ``ValueError`` for an int out of range, :class:`ShortStringTooLong`, and the field-table
    errors.
    """
    if domain_type == "shortstr":
        if value is None:
            raise TypeError(f"{what} is required (a str), got None")
        return encode_short_string(value, what)
    if domain_type == "longstr":
        if value is None:
            raise TypeError(f"{what} is required (str or bytes), got None")
        return encode_long_string(value, what)
    if domain_type == "table":
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{what} must be a dict or None, got {type(value).__name__}")
        try:
            return encode_table(value)
        except (UnsupportedAMQPFieldException, ShortStringTooLong) as exc:
            raise type(exc)(f"{what}{exc}") from None
    packer, maximum = _INT_TYPES[domain_type]
    if isinstance(value, Enum) and isinstance(value.value, int):
        # An int-valued Enum (pika's DeliveryMode, assigned after construction) is its value;
        # the generated fast path gives such a value to this validating encoder.
        value = value.value
    if not isinstance(value, int):
        raise TypeError(
            f"{what} must be an int ({domain_type}), got {type(value).__name__} {value!r}"
        )
    if not 0 <= value <= maximum:
        raise ValueError(f"{what} = {value} is out of range for {domain_type} (0..{maximum})")
    return packer.pack(value)


def encode_arguments(
    arguments: Sequence[Tuple[str, str]], values: Sequence[Any], owner: str
) -> bytes:
    """Encode method arguments ``values`` described by ``arguments`` ((name, domain type)...).

    Consecutive bit arguments share an octet, first bit in the low bit (AMQP 0-9-1, 4.2.5.2).
    """
    pieces: List[bytes] = []
    bits = 0
    nbits = 0
    for (name, domain_type), value in zip(arguments, values):
        if domain_type == "bit":
            if nbits == 8:
                pieces.append(_S_UINT8.pack(bits))
                bits = nbits = 0
            if value:
                bits |= 1 << nbits
            nbits += 1
            continue
        if nbits:
            pieces.append(_S_UINT8.pack(bits))
            bits = nbits = 0
        pieces.append(encode_domain_value(domain_type, value, f"{owner} argument {name!r}"))
    if nbits:
        pieces.append(_S_UINT8.pack(bits))
    return b"".join(pieces)


def _decode_domain_value(domain_type: str, data: Buffer, offset: int) -> Tuple[Any, int]:
    if domain_type == "shortstr":
        return decode_short_string(data, offset)
    if domain_type == "longstr":
        return decode_long_string(data, offset)
    if domain_type == "table":
        return decode_table(data, offset)
    packer = _INT_TYPES[domain_type][0]
    return packer.unpack_from(data, offset)[0], offset + packer.size


def decode_arguments(
    arguments: Sequence[Tuple[str, str]], data: Buffer, offset: int, owner: str
) -> Tuple[List[Any], int]:
    """Decode method arguments at ``offset``: ``(values in order, new_offset)``."""
    values: List[Any] = []
    bits = 0
    nbits = 8  # "no octet loaded"
    start = offset
    try:
        for _name, domain_type in arguments:
            if domain_type == "bit":
                if nbits == 8:
                    bits = data[offset]
                    offset += 1
                    nbits = 0
                values.append(bool(bits & (1 << nbits)))
                nbits += 1
                continue
            nbits = 8
            value, offset = _decode_domain_value(domain_type, data, offset)
            values.append(value)
    except (IndexError, struct.error) as exc:
        raise _truncated(f"{owner} arguments", data, start) from exc
    except ProtocolSyntaxError as exc:
        raise type(exc)(f"{owner} arguments: {exc}") from exc
    return values, offset


def encode_properties(
    properties: Sequence[Tuple[str, str]], values: Sequence[Any], owner: str
) -> bytes:
    """Encode property flags + the present (non-None) property values.

    Property *i* is flag bit ``15 - i % 15`` of flag word ``i // 15``; bit 0 of a word says
    another flag word follows (AMQP 0-9-1, 4.2.6.1). Bit properties are carried by their flag
    alone (none exist in Basic).
    """
    words = [0] * max(1, (len(properties) + 14) // 15)  # 15 flags per word
    pieces: List[bytes] = []
    for index, ((name, domain_type), value) in enumerate(zip(properties, values)):
        if value is None:
            continue
        if domain_type == "bit":
            if not value:
                continue
        else:
            pieces.append(encode_domain_value(domain_type, value, f"{owner} property {name!r}"))
        words[index // 15] |= 1 << (15 - index % 15)
    for i in range(len(words) - 1):
        words[i] |= 1  # continuation
    return b"".join([_S_UINT16.pack(word) for word in words] + pieces)


def decode_properties(
    properties: Sequence[Tuple[str, str]], data: Buffer, offset: int, owner: str
) -> Tuple[List[Any], int]:
    """Decode property flags + values at ``offset``: ``(values with None for absent, offset)``.

    A flag set for a property that does not exist is a syntax error: the size of its value is
    unknown, so nothing after it could be parsed.
    """
    start = offset
    try:
        flags: List[int] = []
        while True:
            (word,) = _S_UINT16.unpack_from(data, offset)
            offset += 2
            flags.extend((word >> (15 - bit)) & 1 for bit in range(15))
            if not word & 1:
                break
        if any(flags[len(properties) :]):
            raise ProtocolSyntaxError(
                f"{owner}: property flags name property #{flags.index(1, len(properties)) + 1}"
                f" but the class has {len(properties)} properties"
            )
        values: List[Any] = []
        for (_name, domain_type), present in zip(properties, flags):
            if not present:
                values.append(None)
            elif domain_type == "bit":
                values.append(True)
            else:
                value, offset = _decode_domain_value(domain_type, data, offset)
                values.append(value)
    except (IndexError, struct.error) as exc:
        raise _truncated(f"{owner} properties", data, start) from exc
    return values, offset


# The generated spec.py falls back to these when its straight-line code gives up.


class Described(Protocol):
    """A generated method or properties class: its name and ``((name, domain type), ...)``."""

    NAME: ClassVar[str]
    ARGUMENTS: ClassVar[Tuple[Tuple[str, str], ...]]


_D = TypeVar("_D", bound=Described)

#: What the generated encoders give up on: a non-str shortstr (AttributeError), a str that
#: needs surrogateescape (UnicodeEncodeError), wrong types or out-of-range values.
ENCODE_FALLBACK = (AttributeError, TypeError, ValueError, OverflowError, struct.error)
#: What the generated decoders give up on: truncated input (IndexError, struct.error) or a
#: memoryview, which has no ``.decode()`` (AttributeError).
DECODE_FALLBACK = (IndexError, struct.error, AttributeError)


def required_error(obj: Described, names: Tuple[str, ...]) -> TypeError:
    """The error for required arguments (no default in the spec) left at ``None``."""
    missing = ", ".join(n for n in names if getattr(obj, n) is None)
    return TypeError(f"{obj.NAME}: required argument(s) not set: {missing}")


def encode_method_checked(method: Any) -> bytes:
    """Class id, method id and arguments of a generated method, validating every value."""
    values = [getattr(method, name) for name, _ in method.ARGUMENTS]
    return _S_UINT32.pack(method.INDEX) + encode_arguments(method.ARGUMENTS, values, method.NAME)


def encode_properties_checked(properties: Described) -> bytes:
    """Property flags and values of a generated properties object, validating every value."""
    values = [getattr(properties, name) for name, _ in properties.ARGUMENTS]
    return encode_properties(properties.ARGUMENTS, values, properties.NAME)


def _instance(cls: Type[_D], values: List[Any]) -> _D:
    obj = cls.__new__(cls)
    for (name, _), value in zip(cls.ARGUMENTS, values):
        setattr(obj, name, value)
    return obj


def decode_method_checked(cls: Type[_D], data: Buffer, offset: int) -> Tuple[_D, int]:
    """Decode the arguments of method class ``cls`` at ``offset`` (after its ids)."""
    values, offset = decode_arguments(cls.ARGUMENTS, data, offset, cls.NAME)
    return _instance(cls, values), offset


def decode_properties_checked(cls: Type[_D], data: Buffer, offset: int) -> Tuple[_D, int]:
    """Decode property flags and values of properties class ``cls`` at ``offset``."""
    values, offset = decode_properties(cls.ARGUMENTS, data, offset, cls.NAME)
    return _instance(cls, values), offset
