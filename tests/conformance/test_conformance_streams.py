"""Stream queues over AMQP 0-9-1 with ``amqpbase.streams``, one body on every loop, against the
real broker (RabbitMQ 3.10 here): each ``x-stream-offset`` form starts where it says and every
delivery carries its offset; a consumer resumes from its stored offset on a new connection
with no gap and no duplicate; and the broker's rules the helpers document (a prefetch is
required; a stream is durable) are what the broker enforces. ``docs/streams.md`` is the
guide."""

from __future__ import annotations

import datetime
import time
from typing import Any, List, Optional, Tuple

import pytest

from amqpbase import exceptions, spec
from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.streams import (
    StreamOffset,
    delivered_offset,
    stream_consume_arguments,
    stream_queue_arguments,
)

from .conftest import Session

pytestmark = pytest.mark.broker

#: Seconds a consumer is given to prove nothing more arrives.
QUIET = 0.3

Received = List[Tuple[int, bytes]]


def declare_stream(session: Session, channel: Channel) -> str:
    return session.declare_queue(
        channel, durable=True, arguments=stream_queue_arguments(max_length_bytes=10_000_000)
    )


def publish(session: Session, channel: Channel, queue: str, bodies: List[bytes]) -> None:
    """Publish ``bodies`` on a channel in confirm mode (:func:`fill` set it) and wait until
    the broker confirmed each (written to the stream)."""
    outcomes: List[Any] = []
    for body in bodies:
        channel.basic_publish("", queue, body, on_confirm=outcomes.append)
    session.driver.run_until(lambda: len(outcomes) == len(bodies), timeout=10.0,
                             what=f"{len(bodies)} confirms")
    assert all(type(outcome.method) is spec.Basic.Ack for outcome in outcomes)


class StreamConsumer:
    """A manual-ack stream consumer on its own channel recording ``(offset, body)``."""

    def __init__(self, session: Session, connection: Connection, queue: str,
                 offset: Optional[StreamOffset], prefetch: int = 50) -> None:
        self.session = session
        self.received: Received = []
        self.channel = session.open_channel(connection)
        session.rpc(self.channel.basic_qos, prefetch_count=prefetch)  # required for a stream
        self.tag = self.channel.basic_consume(queue, self.on_message,
                                              arguments=stream_consume_arguments(offset))

    def on_message(self, channel: Channel, method: Any, properties: spec.BasicProperties,
                   body: bytes) -> None:
        offset = delivered_offset(properties)
        assert type(offset) is int, properties.headers
        self.received.append((offset, body))
        channel.basic_ack(method.delivery_tag)

    def take(self, count: int) -> Received:
        """Wait for ``count`` deliveries in all, then QUIET seconds more: returns all (so a
        caller sees an extra one)."""
        self.session.driver.run_until(lambda: len(self.received) >= count, timeout=10.0,
                                      what=f"{count} stream deliveries")
        self.session.driver.run_for(QUIET)
        return list(self.received)

    def close(self) -> None:
        self.channel.close()
        self.session.driver.run_until(lambda: self.channel.is_closed, what="channel close")


def expected(offsets: range) -> Received:
    """In a fresh stream the message published n-th (from 0) has offset n and body b"n"."""
    return [(n, b"%d" % n) for n in offsets]


def fill(session: Session, channel: Channel, count: int) -> str:
    """A fresh stream holding ``count`` messages; ``channel`` is left in confirm mode."""
    queue = declare_stream(session, channel)
    session.rpc(channel.confirm_delivery, lambda _frame: None)
    publish(session, channel, queue, [b"%d" % n for n in range(count)])
    return queue


def test_first_absolute_and_after_start_where_they_say(
    session: Session, connection: Tuple[Connection, Any], channel: Channel
) -> None:
    queue = fill(session, channel, 10)
    conn = connection[0]
    assert StreamConsumer(session, conn, queue, StreamOffset.first()).take(10) == \
        expected(range(10))
    # An absolute offset starts at that message, not at the start of its chunk.
    assert StreamConsumer(session, conn, queue, StreamOffset.at(4)).take(6) == \
        expected(range(4, 10))
    assert StreamConsumer(session, conn, queue, StreamOffset.after(6)).take(3) == \
        expected(range(7, 10))
    assert StreamConsumer(session, conn, queue, StreamOffset.at(0)).take(10) == \
        expected(range(10))


def test_next_last_and_a_future_offset(
    session: Session, connection: Tuple[Connection, Any], channel: Channel
) -> None:
    queue = fill(session, channel, 10)
    conn = connection[0]
    following = StreamConsumer(session, conn, queue, StreamOffset.next())
    last = StreamConsumer(session, conn, queue, StreamOffset.last())
    ahead = StreamConsumer(session, conn, queue, StreamOffset.at(11))
    default = StreamConsumer(session, conn, queue, None)  # RabbitMQ's default: next
    # "last" is the last chunk: a run of the newest messages ending with offset 9.
    tail = last.take(1)
    assert tail and tail == expected(range(tail[0][0], 10))
    assert following.received == [] and ahead.received == [] and default.received == []
    publish(session, channel, queue, [b"10", b"11", b"12"])
    assert following.take(3) == expected(range(10, 13))
    assert default.take(3) == expected(range(10, 13))
    assert ahead.take(2) == expected(range(11, 13))
    assert last.take(len(tail) + 3) == tail + expected(range(10, 13))


def test_timestamp_and_interval(
    session: Session, connection: Tuple[Connection, Any], channel: Channel
) -> None:
    queue = fill(session, channel, 5)  # written (confirmed) before `mark`
    # The next whole second: every chunk of the first batch has an earlier timestamp.
    mark = int(time.time()) + 1
    session.driver.run_until(lambda: time.time() >= mark + 0.05, timeout=3.0,
                             what="the next second")
    publish(session, channel, queue, [b"%d" % n for n in range(5, 8)])
    conn = connection[0]
    by_seconds = StreamConsumer(session, conn, queue, StreamOffset.timestamp(mark))
    aware = datetime.datetime.fromtimestamp(mark + 0.9, datetime.timezone.utc)
    by_datetime = StreamConsumer(session, conn, queue, StreamOffset.timestamp(aware))
    assert by_seconds.take(3) == expected(range(5, 8))
    assert by_datetime.take(3) == expected(range(5, 8))
    # "1h" before now: everything written in the last hour, the whole stream here.
    assert StreamConsumer(session, conn, queue, StreamOffset.interval("1h")).take(8) == \
        expected(range(8))


def test_resume_from_the_stored_offset_on_a_new_connection(session: Session) -> None:
    """The pattern of docs/streams.md: process K messages storing each processed offset,
    lose the connection, reconnect, consume ``StreamOffset.after(stored)``: exactly the
    rest arrive, then new ones, with no gap and no duplicate."""
    setup, _ = session.open_connection()
    channel = session.open_channel(setup)
    queue = fill(session, channel, 20)
    stored: List[int] = []  # the application's store of the last processed offset

    first, _ = session.open_connection()
    worker = session.open_channel(first)
    session.rpc(worker.basic_qos, prefetch_count=5)
    processed: Received = []

    def process(ch: Channel, method: Any, properties: spec.BasicProperties, body: bytes) -> None:
        if len(processed) == 7:
            return  # "crashed": the rest of the prefetched window is never processed
        offset = delivered_offset(properties)
        assert offset is not None
        processed.append((offset, body))
        ch.basic_ack(method.delivery_tag)
        stored[:] = [offset]  # after the work is done

    worker.basic_consume(queue, process,
                         arguments=stream_consume_arguments(StreamOffset.first()))
    session.driver.run_until(lambda: len(processed) == 7, what="7 processed")
    first.close()
    session.driver.run_until(lambda: first.is_closed, what="the first connection to close")
    assert processed == expected(range(7)) and stored == [6]

    second, _ = session.open_connection()
    resumed = StreamConsumer(session, second, queue, StreamOffset.after(stored[0]))
    assert resumed.take(13) == expected(range(7, 20))
    publish(session, channel, queue, [b"20", b"21"])
    assert resumed.take(15) == expected(range(7, 22))
    offsets = [offset for offset, _ in processed + resumed.received]
    assert offsets == list(range(22))  # no gap, no duplicate


def test_the_broker_rules_the_helpers_document(
    session: Session, connection: Tuple[Connection, Any], channel: Channel
) -> None:
    """A stream consumer needs a prefetch (else 406 closes its channel); a stream queue must
    be durable (406). (auto_ack=True closes the whole connection, 540: docs/streams.md.)"""
    queue = declare_stream(session, channel)
    closed: List[BaseException] = []
    bare = session.open_channel(connection[0])
    bare.add_on_close_callback(lambda _channel, reason: closed.append(reason))
    bare.basic_consume(queue, lambda *args: None,
                       arguments=stream_consume_arguments(StreamOffset.first()))
    session.driver.run_until(lambda: closed, what="the 406 for a consumer without prefetch")
    assert isinstance(closed[0], exceptions.ChannelClosedByBroker)
    assert closed[0].reply_code == 406 and "prefetch" in closed[0].reply_text

    other = session.open_channel(connection[0])
    other.add_on_close_callback(lambda _channel, reason: closed.append(reason))
    transient = session.name("transient-stream")
    other.queue_declare(transient, arguments=stream_queue_arguments())
    session.driver.run_until(lambda: len(closed) == 2, what="the 406 for a transient stream")
    assert isinstance(closed[1], exceptions.ChannelClosedByBroker)
    assert closed[1].reply_code == 406 and "non-durable" in closed[1].reply_text


def test_cancelling_a_stream_consumer_mid_flow_keeps_the_connection(
    session: Session, connection: Tuple[Connection, Any], channel: Channel
) -> None:
    """Deliveries that cross our Basic.Cancel are not rejected on a stream (RabbitMQ would
    close the connection, 540): the consumer ends, the connection and channel stay open."""
    queue = fill(session, channel, 300)
    conn, events = connection
    consumer = StreamConsumer(session, conn, queue, StreamOffset.first(), prefetch=100)
    session.driver.run_until(lambda: len(consumer.received) >= 10, what="10 deliveries")
    cancelled: List[Any] = []
    consumer.channel.basic_cancel(consumer.tag, callback=cancelled.append)
    session.driver.run_until(lambda: cancelled, what="Basic.CancelOk")
    session.driver.run_for(QUIET)
    assert conn.is_open and consumer.channel.is_open and not events.closed
    got = [offset for offset, _ in consumer.received]
    assert got == list(range(len(got)))
    # The channel still works: a new consumer on it resumes after what was processed.
    resumed: Received = []

    def on_message(ch: Channel, method: Any, properties: spec.BasicProperties,
                   body: bytes) -> None:
        resumed.append((delivered_offset(properties) or 0, body))
        ch.basic_ack(method.delivery_tag)

    consumer.channel.basic_consume(queue, on_message, arguments=stream_consume_arguments(
        StreamOffset.after(got[-1])))
    session.driver.run_until(lambda: len(resumed) >= 300 - len(got), what="the rest")
    assert resumed == expected(range(len(got), 300))
