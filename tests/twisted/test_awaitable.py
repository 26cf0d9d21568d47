"""What only the awaitable API has (``amqpbase.adapters.tornado.connect``), against the real
broker, on both reactor modes (with ``--reactor=asyncio`` on the reactor's own asyncio loop):
``connect``'s real open errors, ``async with`` and ``closed``, ``async for`` over a consumer
queue, and cancellation never corrupting the channel (``docs/api.md``, "Cancellation")."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Generator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp
from flavours import AsyncioAwaitableFlavour, AwaitableFlavour

from amqpbase import exceptions, spec
from amqpbase.adapters.tornado import (
    FutureChannel,
    FutureConnection,
    MessageQueue,
    PublishFuture,
    connect,
)
from amqpbase.credentials import PlainCredentials

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]


@pytest.fixture
def aio(amqp: Amqp) -> AwaitableFlavour:
    return AwaitableFlavour(amqp)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_twisted.inlineCallbacks
def test_connect_raises_the_real_open_error(aio: AwaitableFlavour) -> Test:
    async def body(f: AwaitableFlavour) -> None:
        with pytest.raises(exceptions.ProbableAuthenticationError):
            await connect(f.amqp.params(credentials=PlainCredentials("guest", "wrong")))
        with pytest.raises(exceptions.AMQPConnectionError) as refused:
            await connect(f.amqp.params(host="127.0.0.1", port=_free_port(),
                                        connection_attempts=1))
        assert isinstance(refused.value, exceptions.TCPConnectionRefusedError)

    yield aio.run(body)


@pytest_twisted.inlineCallbacks
def test_async_with_closes_and_closed_gives_the_reason(aio: AwaitableFlavour) -> Test:
    async def body(f: AwaitableFlavour) -> None:
        async with await connect(f.amqp.params()) as connection:
            assert isinstance(connection, FutureConnection) and connection.is_open
            channel = await connection.channel()
            assert isinstance(channel, FutureChannel)
            ok = await channel.queue_declare("", exclusive=True)
            assert type(ok.method) is spec.Queue.DeclareOk
            reason = await channel.close()
            assert type(reason) is exceptions.ChannelClosedByClient
            assert await channel.closed is reason
        reason = await connection.closed
        assert type(reason) is exceptions.ConnectionClosedByClient
        assert await connection.close() is reason  # again: just the reason

    yield aio.run(body)


@pytest_twisted.inlineCallbacks
def test_async_for_ends_on_cancel_and_raises_on_close(aio: AwaitableFlavour) -> Test:
    async def body(f: AwaitableFlavour) -> None:
        channel = await f.open_channel()
        ok = await channel.queue_declare("", exclusive=True)
        queue = ok.method.queue
        messages, tag = await channel.basic_consume(queue)
        assert isinstance(messages, MessageQueue)
        for n in range(3):
            channel.basic_publish("", queue, b"%d" % n)
        seen: List[bytes] = []
        async for message in messages:
            await message.ack()
            seen.append(message.body)
            if len(seen) == 3:
                await channel.basic_cancel(tag)
        assert seen == [b"0", b"1", b"2"]  # the loop ended: the consumer was cancelled

        again, _ = await channel.basic_consume(queue)
        failing = asyncio.ensure_future(channel.queue_declare(f.amqp.name("x"), passive=True))
        with pytest.raises(exceptions.ChannelClosedByBroker) as closed:
            async for _message in again:
                pass
        assert closed.value.reply_code == 404
        with pytest.raises(exceptions.ChannelClosedByBroker):
            await failing

    yield aio.run(body)


@pytest_twisted.inlineCallbacks
def test_cancelling_never_corrupts_the_channel(aio: AwaitableFlavour) -> Test:
    """A cancelled RPC's reply is dropped and the next RPC gets its own; a cancelled
    basic_get's message goes back to the queue; a cancelled basic_consume cancels the
    consumer; a cancelled ``await channel.closed`` leaves the channel's end to others."""
    async def body(f: AwaitableFlavour) -> None:
        channel = await f.open_channel()
        first = channel.queue_declare("", exclusive=True)
        first.cancel()
        ok = await channel.queue_declare("", exclusive=True, arguments={"x-max-length": 5})
        queue = ok.method.queue
        assert (await channel.queue_declare(queue, passive=True)).method.queue == queue

        channel.basic_publish("", queue, b"kept")
        await channel.basic_qos(prefetch_count=10)  # a round trip: the message is in
        get = channel.basic_get(queue)
        get.cancel()
        # One get at a time per channel (as on every flavour): a round trip lets its answer
        # come (and the message it brings go back to the queue).
        await channel.basic_qos(prefetch_count=10)
        message = None
        while message is None:
            message = await channel.basic_get(queue)
        assert message.body == b"kept"
        await message.ack()

        consume = channel.basic_consume(queue)
        consume.cancel()
        await channel.basic_qos(prefetch_count=10)
        assert channel.consumer_tags == []

        waiting = asyncio.ensure_future(channel.closed)
        await asyncio.sleep(0)
        waiting.cancel()
        assert channel.is_open
        reason = await channel.close()
        assert await channel.closed is reason

    yield aio.run(body)


@pytest.mark.parametrize("adapter", ["tornado", "asyncio"])
@pytest_twisted.inlineCallbacks
def test_confirmed_publishes_are_futures_batched_per_ack_frame(amqp: Amqp, adapter: str) -> Test:
    """A window of 1,000 confirmed publishes on the real broker (RabbitMQ acks with
    ``multiple``): each is a ``PublishFuture`` (an ``asyncio.Future``), every done-callback runs
    once, in publish order; a task awaiting one and cancelled,
    and one cut off by ``wait_for``, are only detached; ``gather`` and ``shield`` take them."""
    flavour = AwaitableFlavour(amqp) if adapter == "tornado" else AsyncioAwaitableFlavour(amqp)

    async def body(f: AwaitableFlavour) -> None:
        channel = await f.open_channel()
        ok = await channel.queue_declare("", exclusive=True)
        queue = ok.method.queue
        await channel.confirm_delivery()
        order: List[int] = []
        futures = [channel.basic_publish("", queue, b"%d" % n) for n in range(1000)]
        for n, future in enumerate(futures):
            assert type(future) is PublishFuture and asyncio.isfuture(future)
            future.add_done_callback(lambda done, n=n: order.append(n) if done.result() else None)

        async def waits(future: Any) -> Any:
            return await future

        waiting = asyncio.ensure_future(waits(channel.basic_publish("", queue, b"task")))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(channel.basic_publish("", queue, b"cut off"), 0)
        shielded = asyncio.shield(channel.basic_publish("", queue, b"shielded"))
        acks = await asyncio.gather(*futures)
        assert all(type(ack) is spec.Basic.Ack for ack in acks)
        assert type(await shielded) is spec.Basic.Ack and waiting.cancelled()
        assert order == list(range(1000))
        declared = await channel.queue_declare(queue, passive=True)
        assert declared.method.message_count == 1003 and channel.is_open

    yield flavour.run(body)
