"""The stream resume pattern of ``docs/streams.md`` on the Deferred and the awaitable API, one
body (``flavours.py``), against the real broker: process some messages of a stream storing
each processed offset, lose the connection, resume with ``StreamOffset.after(stored)`` on a
new one: exactly the rest arrive. The awaitable ``ReceivedMessage.stream_offset`` is the
header ``delivered_offset`` reads. Runs on both reactor modes."""

from __future__ import annotations

from typing import Any, Generator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp
from flavours import FLAVOURS, Flavour

from amqpbase import spec
from amqpbase.streams import (
    StreamOffset,
    delivered_offset,
    stream_consume_arguments,
    stream_queue_arguments,
)

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest, amqp: Amqp) -> Flavour:
    return FLAVOURS[request.param](amqp)


def offset_of(message: Any) -> int:
    offset = delivered_offset(message.properties)
    assert type(offset) is int
    if hasattr(message, "stream_offset"):  # the awaitable API's property
        assert message.stream_offset == offset
    return offset


@pytest_twisted.inlineCallbacks
def test_resume_from_the_stored_offset(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        publisher = await f.open_channel()
        queue = f.amqp.name("stream")
        f.amqp.queues.append(queue)  # deleted after the test (a stream is durable)
        ok = await f.wait(publisher.queue_declare(
            queue, durable=True, arguments=stream_queue_arguments(max_length_bytes=10**7)))
        assert type(ok.method) is spec.Queue.DeclareOk
        await f.wait(publisher.confirm_delivery())
        for n in range(12):
            await f.wait(publisher.basic_publish("", queue, b"%d" % n))

        stored: List[int] = []  # the application's store
        first = await f.connect()
        channel = await f.open_channel(first)
        await f.wait(channel.basic_qos(prefetch_count=4))
        messages, _tag = await f.wait(channel.basic_consume(
            queue, arguments=stream_consume_arguments(StreamOffset.first())))
        for n in range(5):
            message = await f.wait(messages.get())
            assert (offset_of(message), message.body) == (n, b"%d" % n)
            channel.basic_ack(message.method.delivery_tag)
            stored[:] = [offset_of(message)]
        await f.close(first)  # prefetched, unprocessed messages are simply not stored

        second = await f.connect()
        channel = await f.open_channel(second)
        await f.wait(channel.basic_qos(prefetch_count=4))
        messages, _tag = await f.wait(channel.basic_consume(
            queue, arguments=stream_consume_arguments(StreamOffset.after(stored[0]))))
        rest = []
        for _ in range(7):
            message = await f.wait(messages.get())
            rest.append((offset_of(message), message.body))
            channel.basic_ack(message.method.delivery_tag)
        assert rest == [(n, b"%d" % n) for n in range(5, 12)]
        await f.sleep(0.3)
        assert f.buffered(messages) == 0  # nothing twice
        await f.close(second)

    yield flavour.run(body)
