"""The stream resume pattern of ``docs/streams.md`` with ``BlockingConnection``, against the
real broker: the ``consume()`` generator's ``(method, properties, body)`` give the offset
through ``delivered_offset(properties)``; resuming with ``StreamOffset.after(stored)`` on a new
connection delivers exactly the rest."""

from __future__ import annotations

from typing import Iterator, List

import pytest

import amqpbase
from amqpbase.adapters.blocking import BlockingConnection
from amqpbase.streams import (
    StreamOffset,
    delivered_offset,
    stream_consume_arguments,
    stream_queue_arguments,
)

from .conftest import unique

pytestmark = pytest.mark.broker


@pytest.fixture
def stream(params: amqpbase.URLParameters) -> Iterator[str]:
    """A stream queue holding 12 messages b"0".."11" (offsets 0..11); deleted afterwards."""
    name = unique("amqpbase-blocking-stream")
    connection = BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True,
                              arguments=stream_queue_arguments(max_length_bytes=10**7))
        try:
            channel.confirm_delivery()
            for n in range(12):
                channel.basic_publish("", name, b"%d" % n)
            yield name
        finally:
            channel.queue_delete(name)
    finally:
        connection.close()


def test_resume_from_the_stored_offset(params: amqpbase.URLParameters, stream: str) -> None:
    stored: List[int] = []  # the application's store
    first = BlockingConnection(params)
    channel = first.channel()
    channel.basic_qos(prefetch_count=4)
    for method, properties, body in channel.consume(
            stream, arguments=stream_consume_arguments(StreamOffset.first()),
            inactivity_timeout=5.0):
        assert method is not None, "timed out"
        offset = delivered_offset(properties)
        expected = stored[0] + 1 if stored else 0
        assert (offset, body) == (expected, b"%d" % expected)
        channel.basic_ack(method.delivery_tag)
        stored[:] = [expected]  # after the work is done
        if expected == 4:
            break
    first.close()  # the prefetched rest is never processed
    assert stored == [4]

    second = BlockingConnection(params)
    try:
        channel = second.channel()
        channel.basic_qos(prefetch_count=4)
        rest = []
        for method, properties, body in channel.consume(
                stream, arguments=stream_consume_arguments(StreamOffset.after(stored[0])),
                inactivity_timeout=0.5):
            if method is None:
                break  # quiet for 0.5 s: nothing more
            rest.append((delivered_offset(properties), body))
            channel.basic_ack(method.delivery_tag)
        assert rest == [(n, b"%d" % n) for n in range(5, 12)]
        channel.cancel()
    finally:
        second.close()
