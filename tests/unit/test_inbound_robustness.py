"""Whatever the broker sends, nothing escapes the inbound path and nothing hangs.

An open connection with an open, consuming, confirm-mode channel is fed random bytes, and
valid frame streams with random mutations (flipped, dropped or inserted bytes, truncation),
in random chunk sizes. After every input the connection must either still be open or be
closing/closed with a precise protocol error as its reason, with a Connection.Close carrying
that error's reply code sent where the protocol allows; a clock advance past the close
timeout always finishes the close (no hang). The long run (at least 1,000,000 inputs, a
corpus captured from RabbitMQ) is ``scripts/fuzz.py``; ``test_fuzz_short.py`` runs its engine
on 5,000 inputs. The regressions at the end were found by it.
"""

from __future__ import annotations

import os
from typing import Any, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpbase import exceptions, frame, spec

from .harness import MemoryConnection, open_connection

PROTOCOL_ERRORS = (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented)


def _valid_stream() -> bytes:
    """A realistic inbound stream for channel 1: deliveries, acks, a return, a heartbeat."""
    parts: List[bytes] = []
    props = spec.BasicProperties(content_type="text/plain", headers={"k": [1, "v"]})
    for tag in range(1, 4):
        deliver = spec.Basic.Deliver(
            consumer_tag="ctag", delivery_tag=tag, redelivered=False, exchange="", routing_key="q"
        )
        parts.extend(
            bytes(c) for c in frame.encode_content_frames(1, deliver, props, b"x" * 300, 4096)
        )
        parts.append(frame.encode_method_frame(1, spec.Basic.Ack(delivery_tag=tag)))
    returned = spec.Basic.Return(
        reply_code=312, reply_text="NO_ROUTE", exchange="", routing_key="nowhere"
    )
    parts.extend(bytes(c) for c in frame.encode_content_frames(1, returned, props, b"r", 4096))
    parts.append(frame.HEARTBEAT_FRAME)
    return b"".join(parts)


VALID = _valid_stream()


def _consuming_connection() -> tuple[MemoryConnection, List[Any], List[Any]]:
    connection, broker = open_connection(frame_max=4096)
    closed: List[Any] = []
    connection.add_on_close_callback(lambda c, reason: closed.append(reason))
    messages: List[Any] = []
    channel = broker.open_channel(1)
    channel.confirm_delivery(lambda method_frame: None, callback=lambda f: None)
    broker.send(1, spec.Confirm.SelectOk())
    channel.basic_consume("q", lambda *a: messages.append(a), consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk(consumer_tag="ctag"))
    for _ in range(3):
        channel.basic_publish("", "q", b"m")  # so the broker's acks match real tags
    broker.received()
    return connection, closed, messages


def _feed(connection: MemoryConnection, data: bytes, chunk_sizes: List[int]) -> None:
    position, index = 0, 0
    while position < len(data):
        size = chunk_sizes[index % len(chunk_sizes)] if chunk_sizes else len(data)
        connection.feed(memoryview(data[position : position + size]))
        position += size
        index += 1


def _check_outcome(connection: MemoryConnection, closed: List[Any]) -> None:
    if connection.is_open:
        assert not closed
        return
    connection.clock.advance(connection.close_timeout + 1)
    assert connection.is_closed, connection.state
    (reason,) = closed
    assert isinstance(reason, PROTOCOL_ERRORS), repr(reason)
    assert 500 <= reason.reply_code < 600, reason.reply_code
    sent = [
        f.method
        for f in _decode_all(connection)
        if isinstance(f, frame.Method) and isinstance(f.method, spec.Connection.Close)
    ]
    assert sent and sent[0].reply_code == reason.reply_code


def _decode_all(connection: MemoryConnection) -> List[Any]:
    decoder = frame.FrameDecoder(2**31 - 1)
    frames: List[Any] = []
    for chunk in connection.outbound:
        frames.extend(decoder.feed(chunk))
    return frames


chunks = st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=8)
#: Examples per property; AMQPBASE_FUZZ_EXAMPLES=20000 for a longer local run.
EXAMPLES = int(os.environ.get("AMQPBASE_FUZZ_EXAMPLES", "500"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(data=st.binary(min_size=1, max_size=600), chunk_sizes=chunks)
def test_random_bytes_never_escape(data: bytes, chunk_sizes: List[int]) -> None:
    connection, closed, _ = _consuming_connection()
    _feed(connection, data, chunk_sizes)
    _check_outcome(connection, closed)


@st.composite
def mutated_stream(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
        position = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if kind == "flip":
            data[position] ^= draw(st.integers(min_value=1, max_value=255))
        elif kind == "drop":
            del data[position : position + draw(st.integers(min_value=1, max_value=8))]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[position:]
    return bytes(data)


@SETTINGS
@given(data=mutated_stream(), chunk_sizes=chunks)
def test_mutated_frame_streams_never_escape(data: bytes, chunk_sizes: List[int]) -> None:
    connection, closed, _ = _consuming_connection()
    _feed(connection, data, chunk_sizes)
    _check_outcome(connection, closed)


def test_the_unmutated_stream_is_accepted_whole() -> None:
    """The seed stream itself is valid: three deliveries arrive and the connection stays open."""
    connection, closed, messages = _consuming_connection()
    _feed(connection, VALID, [7])
    assert connection.is_open and not closed
    assert [m[1].delivery_tag for m in messages] == [1, 2, 3]
    assert all(m[3] == b"x" * 300 for m in messages)


# ---------------------------------------------------------------------------------------------
# Regressions found by scripts/fuzz.py
# ---------------------------------------------------------------------------------------------

_START = frame.encode_method_frame(0, spec.Connection.Start(
    version_major=0, version_minor=9, server_properties={}, mechanisms=b"PLAIN",
    locales=b"en_US"))


def _opening() -> tuple[MemoryConnection, List[BaseException]]:
    errors: List[BaseException] = []
    connection = MemoryConnection(on_open_error_callback=lambda c, e: errors.append(e))
    connection.clock.advance(0)  # the stream is up, our protocol header is out
    return connection, errors


def _sent_closes(connection: MemoryConnection) -> List[Any]:
    return [f.method for f in _decode_all(connection)
            if isinstance(f, frame.Method) and isinstance(f.method, spec.Connection.Close)]


def test_bytes_after_a_refused_protocol_header_are_ignored() -> None:
    """An AMQP 0-8 header followed in the same read by a Connection.Start: the client hangs
    up with IncompatibleProtocolError and ignores the Start (it used to parse it in CLOSING,
    fail with 503 and send a Connection.Close to a peer that never accepted 0-9-1)."""
    connection, errors = _opening()
    connection.feed(b"AMQP\x01\x01\x08\x00" + _START)
    connection.clock.advance(0)
    assert [type(e) for e in errors] == [exceptions.IncompatibleProtocolError]
    assert _sent_closes(connection) == []


def test_bytes_after_a_protocol_error_before_start_are_ignored() -> None:
    """A channel frame before Connection.Start (504, no Close possible yet), then a Start
    in a later read: the Start is ignored, no Close is sent (with another error's code), and
    the open error is the first cause."""
    connection, errors = _opening()
    connection.feed(frame.encode_method_frame(1, spec.Confirm.SelectOk()))
    connection.feed(_START)
    connection.clock.advance(0)
    assert [type(e) for e in errors] == [exceptions.ChannelNotOpenError]
    assert _sent_closes(connection) == []
