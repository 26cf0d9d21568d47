"""Stream queues over AMQP 0-9-1: typed, validated values for RabbitMQ's stream arguments.

This module owns the *values* a stream-queue user passes to the ordinary pika API:
``queue_declare(arguments=stream_queue_arguments(...))``, ``basic_consume(arguments=
stream_consume_arguments(StreamOffset...))``, and reading the ``x-stream-offset`` header of a
delivery (:func:`delivered_offset`). A bad value fails here, at construction, with a precise
``TypeError``/``ValueError``, instead of as a channel close (406) or, for some values, a
connection close (541 INTERNAL_ERROR on RabbitMQ 3.10) later. It knows no connection, channel,
loop or adapter, and sends nothing; it imports only the codec. ``docs/streams.md`` is the
guide (offset forms, pitfalls, the resume-from-a-stored-offset pattern per flavour).

Facts it encodes (RabbitMQ 3.9+, checked against 3.10; ``rabbit_stream_queue``,
``rabbit_amqqueue:check_max_age``):

- ``x-stream-offset`` is ``"first"``, ``"last"``, ``"next"`` (a longstr), an absolute offset
  (any integer type; sent here as a signed 64-bit long, field type ``l``), a timestamp (field
  type ``T``: POSIX *seconds*, UTC), or an interval longstr ``<positive int><unit>`` with unit
  ``Y`` (365 days), ``M`` (30 days), ``D``, ``h``, ``m`` or ``s`` (case-sensitive), read as
  "now minus that interval". A float offset closes the connection (541), as does a string
  without leading digits; ``"0h"`` or ``"1x"`` close the channel (406).
- ``x-max-age`` takes the same interval syntax; ``x-max-length-bytes``,
  ``x-stream-max-segment-size-bytes`` non-negative ints; ``x-initial-cluster-size`` >= 1.
- Each stream delivery carries the ``x-stream-offset`` header (a long).
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Dict, Optional, Union

from amqpbase.fieldtable import Int64

#: The consumer argument and the delivery header (same name).
STREAM_OFFSET = "x-stream-offset"

#: Largest POSIX second a ``datetime`` can hold (9999-12-31T23:59:59Z); a larger "timestamp"
#: is almost always milliseconds or nanoseconds passed where seconds are expected.
_MAX_SECONDS = 253402300799

#: ``<positive int><unit>`` as ``rabbit_amqqueue:check_max_age`` accepts it.
_INTERVAL = re.compile(r"([0-9]+)([YMDhms])")
_UNITS = "Y (365 days), M (30 days), D, h, m, s"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

_MISSING = object()

OffsetValue = Union[str, Int64, datetime.datetime]
"""What goes on the wire as the ``x-stream-offset`` consumer argument."""


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > 0x7FFFFFFFFFFFFFFF:
        raise ValueError(f"{name} = {value} does not fit a signed 64-bit long")
    return int(value)


def _interval(name: str, value: Union[str, datetime.timedelta]) -> str:
    """A validated interval string; a ``timedelta`` becomes whole D, h, m or s (exact)."""
    if isinstance(value, datetime.timedelta):
        if value.microseconds:
            raise ValueError(f"{name}: {value!r} has sub-second precision; RabbitMQ's "
                             "smallest unit is the second (s)")
        seconds = int(value.total_seconds())
        if seconds <= 0:
            raise ValueError(f"{name}: {value!r} must be positive")
        for unit, size in (("D", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str like '7D' or a timedelta, got "
                        f"{type(value).__name__} {value!r}")
    match = _INTERVAL.fullmatch(value)
    if match is None:
        raise ValueError(f"{name}: {value!r} is not <positive int><unit> with unit one of "
                         f"{_UNITS} (case-sensitive: 'd' and 'H' are refused), e.g. '7D'")
    if int(match.group(1)) == 0:
        raise ValueError(f"{name}: {value!r} must be positive (RabbitMQ refuses 0)")
    return value


class StreamOffset:
    """Where a stream consumer starts: one validated ``x-stream-offset`` value.

    Build it with a class method; :attr:`value` is what goes on the wire and :attr:`kind`
    names the form (``"first"``, ``"last"``, ``"next"``, ``"offset"``, ``"timestamp"``,
    ``"interval"``). Immutable, comparable, hashable. Pass it to
    :func:`stream_consume_arguments`.
    """

    __slots__ = ("kind", "value")

    kind: str
    value: OffsetValue

    def __init__(self, kind: str, value: OffsetValue) -> None:
        # Internal: the class methods validate; this only keeps kind and value consistent.
        expected = {"first": str, "last": str, "next": str, "interval": str,
                    "offset": Int64, "timestamp": datetime.datetime}.get(kind)
        if expected is None or type(value) is not expected:
            raise TypeError(f"use StreamOffset.first()/last()/next()/at()/after()/"
                            f"timestamp()/interval(), not StreamOffset({kind!r}, {value!r})")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("StreamOffset is immutable")

    def __repr__(self) -> str:
        if self.kind in ("first", "last", "next"):
            return f"StreamOffset.{self.kind}()"
        if self.kind == "offset":
            return f"StreamOffset.at({self.value:d})"
        return f"StreamOffset.{self.kind}({self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamOffset):
            return NotImplemented
        return self.kind == other.kind and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.kind, self.value))

    @classmethod
    def first(cls) -> "StreamOffset":
        """The first message still in the stream (retention may have removed older ones,
        so its offset need not be 0). Not ``"0"``: a string is read as an interval."""
        return cls("first", "first")

    @classmethod
    def last(cls) -> "StreamOffset":
        """The last *chunk* written (a batch of one or more messages), then new ones: the
        first delivery can be older than the last message."""
        return cls("last", "last")

    @classmethod
    def next(cls) -> "StreamOffset":
        """Only messages written after the consumer attached (RabbitMQ's default)."""
        return cls("next", "next")

    @classmethod
    def at(cls, offset: int) -> "StreamOffset":
        """The message at ``offset`` exactly, then the rest (an ``int`` >= 0, sent as a
        signed 64-bit long). RabbitMQ delivers from this offset on, not from its chunk's
        start; an offset past the end waits for it to be written; one below the first
        message still kept starts at that first message."""
        return cls("offset", Int64(_check_int("StreamOffset.at offset", offset, 0)))

    @classmethod
    def after(cls, processed: int) -> "StreamOffset":
        """Resume after the last offset you *processed*: ``at(processed + 1)``. Store
        ``delivered_offset(properties)`` of each message you finish; pass it here next
        time: no gap, no duplicate."""
        return cls.at(_check_int("StreamOffset.after processed offset", processed, 0) + 1)

    @classmethod
    def timestamp(cls, when: Union[datetime.datetime, int, float]) -> "StreamOffset":
        """The first chunk written at or after ``when``, sent as an AMQP timestamp (``T``,
        whole POSIX seconds).

        ``when`` is an *aware* ``datetime`` (``datetime.now(timezone.utc)``; a naive one is
        refused: ``datetime.now()`` is local time and would be misread as UTC), or POSIX
        seconds (``time.time()``; an int or a float; a value past year 9999 is refused:
        milliseconds). Sub-second precision is dropped towards the past (floor), so nothing
        written in that second is skipped. Chunk granularity: messages written a little
        before ``when`` can arrive first.
        """
        if isinstance(when, datetime.datetime):
            if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
                raise ValueError(
                    f"StreamOffset.timestamp: {when!r} is naive; pass an aware datetime "
                    "(datetime.now(timezone.utc), or .replace(tzinfo=...)) so the instant "
                    "is not guessed")
            seconds = math.floor((when - _EPOCH).total_seconds())
        elif isinstance(when, bool) or not isinstance(when, (int, float)):
            raise TypeError(f"StreamOffset.timestamp takes an aware datetime or POSIX seconds, "
                            f"got {type(when).__name__} {when!r}")
        else:
            if not math.isfinite(when):
                raise ValueError(f"StreamOffset.timestamp: {when!r} is not a finite time")
            seconds = math.floor(when)
        if seconds < 0:
            raise ValueError(f"StreamOffset.timestamp: {when!r} is before 1970 (an AMQP "
                             "timestamp is unsigned POSIX seconds)")
        if seconds > _MAX_SECONDS:
            raise ValueError(f"StreamOffset.timestamp: {when!r} is past year 9999: "
                             "milliseconds? pass POSIX seconds")
        stamp = _EPOCH + datetime.timedelta(seconds=seconds)
        return cls("timestamp", stamp)

    @classmethod
    def interval(cls, ago: Union[str, datetime.timedelta]) -> "StreamOffset":
        """Messages from ``ago`` before now (the broker's clock): ``"30m"``, ``"1h"``,
        ``"7D"``: a positive int and one unit of ``Y`` (365 days), ``M`` (30 days), ``D``,
        ``h``, ``m``, ``s`` (case-sensitive), or a whole-second ``timedelta``. Chunk
        granularity, as :meth:`timestamp`."""
        return cls("interval", _interval("StreamOffset.interval", ago))


def stream_consume_arguments(offset: Optional[StreamOffset] = None) -> Dict[str, Any]:
    """The ``arguments`` for ``basic_consume`` on a stream queue: ``{"x-stream-offset": ...}``
    (``{}`` for None: RabbitMQ then starts at ``next``). Remember the two other rules of a
    stream consumer: a prefetch (``basic_qos(prefetch_count=N)``, else 406) and manual acks
    (``auto_ack=False``, else the broker closes the *connection*, 540)."""
    if offset is None:
        return {}
    if not isinstance(offset, StreamOffset):
        raise TypeError(f"stream_consume_arguments takes a StreamOffset (e.g. StreamOffset.at(5),"
                        f" StreamOffset.first()), got {type(offset).__name__} {offset!r}")
    return {STREAM_OFFSET: offset.value}


def stream_queue_arguments(
    *,
    max_age: Union[str, datetime.timedelta, None] = None,
    max_length_bytes: Optional[int] = None,
    max_segment_size_bytes: Optional[int] = None,
    initial_cluster_size: Optional[int] = None,
) -> Dict[str, Any]:
    """The ``arguments`` for ``queue_declare`` of a stream queue: ``x-queue-type=stream`` and
    the retention settings given. Declare it ``durable=True`` (the default ``False`` is
    refused, 406), not ``exclusive``, not ``auto_delete``.

    - ``max_age``: drop segments older than this (``"7D"``, ``"12h"``, a ``timedelta``);
    - ``max_length_bytes``: keep at most this many bytes (whole segments are dropped);
    - ``max_segment_size_bytes``: segment file size (RabbitMQ's default 500 MB);
    - ``initial_cluster_size``: replicas at declaration (>= 1).

    Retention applies per segment: nothing is dropped before a segment is full.
    """
    arguments: Dict[str, Any] = {"x-queue-type": "stream"}
    if max_age is not None:
        arguments["x-max-age"] = _interval("max_age", max_age)
    if max_length_bytes is not None:
        arguments["x-max-length-bytes"] = _check_int("max_length_bytes", max_length_bytes, 0)
    if max_segment_size_bytes is not None:
        arguments["x-stream-max-segment-size-bytes"] = _check_int(
            "max_segment_size_bytes", max_segment_size_bytes, 1)
    if initial_cluster_size is not None:
        arguments["x-initial-cluster-size"] = _check_int(
            "initial_cluster_size", initial_cluster_size, 1)
    return arguments


def delivered_offset(properties: Any) -> Optional[int]:
    """The stream offset of a delivery: its ``x-stream-offset`` header, or None when there is
    none (not a stream delivery). A header that is there but is not an int >= 0 (a
    publisher's own ``x-stream-offset`` header on a classic queue, say) raises
    ``ValueError``: that is not an offset to resume from.

    ``properties`` is the message's ``BasicProperties`` (anything with ``.headers``).
    """
    headers = properties.headers
    if not headers:
        return None
    value = headers.get(STREAM_OFFSET, _MISSING)
    if value is _MISSING:
        return None
    if type(value) is int and value >= 0:
        return value
    raise ValueError(f"the {STREAM_OFFSET} header holds {type(value).__name__} {value!r}, "
                     "not a stream offset (an int >= 0)")


__all__ = [
    "STREAM_OFFSET",
    "Int64",
    "StreamOffset",
    "delivered_offset",
    "stream_consume_arguments",
    "stream_queue_arguments",
]
