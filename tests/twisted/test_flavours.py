"""One body per behaviour for the Deferred and the awaitable API (``flavours.py``), against the
real broker: RPC replies, per-publish confirms (ack, NackError, UnroutableError, close reason,
cancellation), consumers and their queues (our cancel, the broker's, a close), ``basic_get``,
and nothing logged for an outcome nobody asked for. Runs on both reactor modes (the awaitable
flavour then shares the reactor's asyncio loop)."""

from __future__ import annotations

import gc
import logging
from typing import Any, Generator, Iterator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp
from flavours import FLAVOURS, Flavour

from amqpbase import exceptions, frame, spec

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest, amqp: Amqp) -> Flavour:
    return FLAVOURS[request.param](amqp)


@pytest.fixture(autouse=True)
def nothing_unretrieved(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """asyncio logs "Future exception was never retrieved" (ERROR, logger ``asyncio``) when a
    failed future nobody awaited is collected: none of ours may."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    yield
    gc.collect()
    errors = [r.getMessage() for r in caplog.get_records("call") + caplog.get_records("teardown")
              if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert errors == []


async def _queue(flavour: Flavour, channel: Any, **arguments: Any) -> str:
    ok = await flavour.wait(channel.queue_declare("", exclusive=True, **arguments))
    assert type(ok) is frame.Method and type(ok.method) is spec.Queue.DeclareOk
    return str(ok.method.queue)


@pytest_twisted.inlineCallbacks
def test_publish_confirms_each_acked_once(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        queue = await _queue(f, channel)
        select_ok = await f.wait(channel.confirm_delivery())
        assert type(select_ok.method) is spec.Confirm.SelectOk
        confirms = [channel.basic_publish("", queue, b"%d" % n) for n in range(500)]
        for n, confirm in enumerate(confirms):
            ack = await f.wait(confirm)
            assert type(ack) is spec.Basic.Ack and ack.delivery_tag >= n + 1
        declared = await f.wait(channel.queue_declare(queue, passive=True))
        assert declared.method.message_count == 500

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_outside_confirm_mode_publish_is_already_done(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        queue = await _queue(f, channel)
        published = channel.basic_publish("", queue, b"x")
        assert (published.called if hasattr(published, "called") else published.done())
        assert await published is None

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_nack_and_unroutable(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        full = await _queue(f, channel, arguments={"x-max-length": 0,
                                                   "x-overflow": "reject-publish"})
        roomy = await _queue(f, channel)
        returns: List[Any] = []
        channel.add_on_return_callback(returns.append)
        await f.wait(channel.confirm_delivery())
        nowhere = f.amqp.name("nowhere")
        nacked = channel.basic_publish("", full, b"rejected")
        routed = channel.basic_publish("", roomy, b"routed", mandatory=True)
        lost = channel.basic_publish("", nowhere, b"lost", mandatory=True)
        error = await f.failure(lambda: nacked)
        assert type(error) is exceptions.NackError and error.messages == [1]
        assert type(await f.wait(routed)) is spec.Basic.Ack
        error = await f.failure(lambda: lost)
        assert type(error) is exceptions.UnroutableError
        (message,) = error.messages
        assert message.channel is channel and message.body == b"lost"
        assert type(message.method) is spec.Basic.Return and message.method.routing_key == nowhere
        assert [m.body for m in returns] == [b"lost"]

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_cancelling_a_confirm_detaches_only_it(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        queue = await _queue(f, channel)
        await f.wait(channel.confirm_delivery())
        confirms = [channel.basic_publish("", queue, b"%d" % n) for n in range(5)]
        f.cancel(confirms[2])
        lost = channel.basic_publish("", f.amqp.name("nowhere"), b"x", mandatory=True)
        f.cancel(lost)  # its return must not be pinned on another publish
        f.forget(lost)
        tail = [channel.basic_publish("", queue, b"tail", mandatory=True) for _ in range(3)]
        assert type(await f.failure(lambda: confirms[2])) is f.cancelled_error
        for confirm in confirms[:2] + confirms[3:] + tail:
            assert type(await f.wait(confirm)) is spec.Basic.Ack
        assert channel.is_open

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_broker_channel_close_fails_pending_work(flavour: Flavour) -> Test:
    """A passive declare of a missing queue: RabbitMQ closes the channel (404); the RPC, a
    publish to a missing exchange awaiting its confirm, and a consumer's waiting get fail
    with that reason, and the channel's end resolves with it."""
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        queue = await _queue(f, channel)
        messages, _tag = await f.wait(channel.basic_consume(queue))
        waiting = messages.get()
        await f.wait(channel.confirm_delivery())
        missing = f.amqp.name("missing")
        publish = channel.basic_publish(missing, "k", b"x")
        reason = await f.failure(lambda: publish)
        assert type(reason) is exceptions.ChannelClosedByBroker and reason.reply_code == 404
        assert await f.failure(lambda: waiting) is reason
        assert messages.closed is reason
        assert await f.wait(f.closed(channel)) is reason
        assert type(await f.failure(lambda: channel.queue_declare(queue, passive=True))) in (
            exceptions.ChannelClosedByBroker, exceptions.ChannelWrongStateError)

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_consumer_queue_ends_on_our_cancel_and_the_brokers(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        queue = await _queue(f, channel)
        other = await _queue(f, channel)
        messages, tag = await f.wait(channel.basic_consume(queue))
        doomed, _ = await f.wait(channel.basic_consume(other))
        for n in range(3):
            channel.basic_publish("", queue, b"%d" % n)
        first = await f.wait(messages.get())
        assert first.body == b"0" and type(first.method) is spec.Basic.Deliver
        await f.until(lambda: f.buffered(messages) == 2)
        channel.basic_ack(first.method.delivery_tag)
        cancel_ok = await f.wait(channel.basic_cancel(tag))
        assert type(cancel_ok.method) is spec.Basic.CancelOk
        assert type(messages.closed) is exceptions.ConsumerCancelled
        rest = [await f.wait(messages.get()) for _ in range(2)]  # delivered before the cancel
        assert [m.body for m in rest] == [b"1", b"2"]
        assert type(await f.failure(messages.get)) is exceptions.ConsumerCancelled
        channel.basic_ack(0, multiple=True)
        await f.wait(channel.queue_delete(other))  # the broker cancels that consumer
        assert type(await f.failure(doomed.get)) is exceptions.ConsumerCancelled
        assert "broker cancelled" in str(doomed.closed)

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_basic_get(flavour: Flavour) -> Test:
    async def body(f: Flavour) -> None:
        channel = await f.open_channel()
        queue = await _queue(f, channel)
        assert await f.wait(channel.basic_get(queue)) is None
        channel.basic_publish("", queue, b"one", spec.BasicProperties(content_type="t"))
        message = None
        while message is None:
            message = await f.wait(channel.basic_get(queue, auto_ack=True))
        assert message.body == b"one" and message.properties.content_type == "t"
        assert type(message.method) is spec.Basic.GetOk and message.channel is channel

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_connection_close_fails_every_pending_confirm(flavour: Flavour) -> Test:
    """Publishes nobody awaits fail with the close reason when the connection closes: their
    outcome is there for whoever asks, and nothing is logged for the others."""
    async def body(f: Flavour) -> None:
        connection = await f.connect()
        channel = await f.open_channel(connection)
        await f.wait(channel.confirm_delivery())
        missing = f.amqp.name("missing")
        ignored = [channel.basic_publish(missing, "k", b"x") for _ in range(3)]
        for publish in ignored:
            f.forget(publish)
        asked = channel.basic_publish(missing, "k", b"x")
        error = await f.failure(lambda: asked)
        assert type(error) is exceptions.ChannelClosedByBroker
        del ignored
        await f.close(connection)

    yield flavour.run(body)


@pytest_twisted.inlineCallbacks
def test_recovery_keeps_channels_and_consumer_queues(flavour: Flavour) -> Test:
    """Automatic recovery (issue 12) under the Deferred and awaitable APIs: the broker cuts
    the link (Connection.Close 320); ``recovering`` is true meanwhile, ``recovered()``
    resolves with the report, the same channel publishes with confirms again, the same
    consumer queue gets the messages, a publish whose confirm was lost fails with
    ``ConfirmLostError``, and an RPC in flight fails with ``OperationInterruptedError``."""
    from amqpbase import Recovery

    async def body(f: Flavour) -> None:
        connection = await f.connect(recovery=Recovery(initial_delay=0.05, max_delay=0.1))
        channel = await connection.channel()
        queue = f.amqp.name("q")
        f.amqp.queues.append(queue)
        await f.wait(channel.queue_declare(queue, durable=True))
        await f.wait(channel.confirm_delivery())
        messages, tag = await f.wait(channel.basic_consume(queue))
        assert type(await f.wait(channel.basic_publish("", queue, b"before"))) is spec.Basic.Ack
        first = await f.wait(messages.get())
        assert first.body == b"before"
        recovered = connection.recovered()
        await f.ctl("close_all_connections", "flavour recovery test")
        report = await f.wait(recovered, 20.0)
        assert report.consumers_resumed == 1 and not connection.recovering
        assert channel.is_open and channel.consumer_tags == [tag]
        assert type(await f.wait(channel.basic_publish("", queue, b"after"))) is spec.Basic.Ack
        got = await f.wait(messages.get())
        while got.body == b"before":  # the unacked first delivery comes back first
            got = await f.wait(messages.get())
        assert got.body == b"after"
        assert got.method.delivery_tag > first.method.delivery_tag
        # a publish and an RPC racing the next cut: each settles once, as success or as
        # ConfirmLostError / OperationInterruptedError (never left pending)
        recovered = connection.recovered()
        pending = channel.basic_publish("", queue, b"maybe")
        declare = channel.queue_declare(queue, passive=True)
        await f.ctl("close_all_connections", "flavour recovery test")
        try:
            assert type(await f.wait(pending)) is spec.Basic.Ack
        except exceptions.ConfirmLostError:
            pass
        try:
            assert type((await f.wait(declare)).method) is spec.Queue.DeclareOk
        except exceptions.OperationInterruptedError:
            pass
        await f.wait(recovered, 20.0)
        assert type(await f.wait(channel.basic_publish("", queue, b"again"))) is spec.Basic.Ack
        await f.close(connection)

    yield flavour.run(body)
