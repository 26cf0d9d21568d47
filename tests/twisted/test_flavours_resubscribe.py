"""``resubscribe_on_cancel`` and a consumer recovery gives up, under the Deferred and the
awaitable API (issue 12), against the real broker: one body per behaviour for both flavours.

A consumer the broker cancels (its queue deleted by someone else: ``rabbitmqctl
delete_queue``) is taken over by recovery: its consumer
queue stays open and gets the messages once the queue is back; when recovery cannot bring it
back, the queue ends with the ``ConsumerRecoveryFailedError`` (a ``ConsumerCancelled``).
"""

from __future__ import annotations

from typing import Any, Generator

import pytest
import pytest_twisted
from deferred_helpers import Amqp
from flavours import FLAVOURS, Flavour

from amqpbase import Recovery, exceptions

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest, amqp: Amqp) -> Flavour:
    return FLAVOURS[request.param](amqp)


@pytest_twisted.inlineCallbacks
def test_resubscribe_on_cancel_keeps_the_consumer_queue(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        connection = await f.connect(recovery=Recovery(
            initial_delay=0.2, max_delay=0.4, max_cycles=100, resubscribe_on_cancel=True))
        channel = await connection.channel()
        helper = await connection.channel()
        queue = f.amqp.name("q")
        f.amqp.queues.append(queue)
        await f.wait(helper.queue_declare(queue))
        messages, tag = await f.wait(channel.basic_consume(queue))
        helper.basic_publish("", queue, b"before")
        first = await f.wait(messages.get())
        assert first.body == b"before"
        channel.basic_ack(first.method.delivery_tag)
        # deleted by someone else (our own delete would end the consumer for good)
        await f.ctl("delete_queue", queue)  # the broker cancels the consumer
        await f.until(lambda: channel.consumer_tags == [])
        await f.wait(helper.queue_declare(queue))  # the queue comes back
        await f.until(lambda: channel.consumer_tags == [tag])
        helper.basic_publish("", queue, b"after")
        got = await f.wait(messages.get())  # the same consumer queue
        assert got.body == b"after" and messages.closed is None
        await f.close(connection)

    yield flavour.run(body)


@pytest.mark.allow_errors  # the consumer given up is logged at ERROR
@pytest_twisted.inlineCallbacks
def test_a_consumer_recovery_gives_up_ends_its_queue_with_the_error(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        connection = await f.connect(recovery=Recovery(
            initial_delay=0.05, max_delay=0.1, max_cycles=2, resubscribe_on_cancel=True))
        channel = await connection.channel()
        helper = await connection.channel()
        queue = f.amqp.name("q")
        await f.wait(helper.queue_declare(queue))
        messages, tag = await f.wait(channel.basic_consume(queue))
        await f.ctl("delete_queue", queue)  # and it never comes back
        error = await f.failure(messages.get)
        assert type(error) is exceptions.ConsumerRecoveryFailedError
        assert isinstance(error, exceptions.ConsumerCancelled) and error.consumer_tag == tag
        assert messages.closed is error and channel.is_open
        await f.close(connection)

    yield flavour.run(body)
