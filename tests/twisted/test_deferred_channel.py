"""TwistedChannel against the real broker: RPCs fire with their reply frames, broker channel
errors fail them (and everything queued behind them), consumers deliver through a
ClosableDeferredQueue that closes when the consumer ends, basic_get, and cancellation."""

from __future__ import annotations

from typing import Any, Generator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp, failure_of, within
from twisted.internet import defer

from amqpbase import exceptions, spec
from amqpbase.adapters.twisted import ClosableDeferredQueue
from amqpbase.adapters.twisted.deferred_api import ReceivedMessage

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]


@pytest_twisted.inlineCallbacks
def test_rpcs_fire_with_their_reply_frames(amqp: Amqp) -> Test:
    connection = yield amqp.open()
    channel = yield amqp.open_channel(connection)
    publisher = yield amqp.confirmed_channel(connection)
    exchange, other = amqp.name("x"), amqp.name("x")
    amqp.exchanges += [exchange, other]
    queue = amqp.name("q")
    amqp.queues.append(queue)

    def method_of(reply: Any) -> Any:
        assert reply.channel_number == channel.channel_number
        return reply.method

    declared = method_of((yield within(channel.exchange_declare(exchange, "topic"))))
    assert isinstance(declared, spec.Exchange.DeclareOk)
    yield within(channel.exchange_declare(other, "fanout", auto_delete=False))
    bound = method_of((yield within(channel.exchange_bind(other, exchange, "a.#"))))
    assert isinstance(bound, spec.Exchange.BindOk)
    unbound = method_of((yield within(channel.exchange_unbind(other, exchange, "a.#"))))
    assert isinstance(unbound, spec.Exchange.UnbindOk)

    ok = method_of((yield within(channel.queue_declare(queue, arguments={"x-max-length": 10}))))
    assert isinstance(ok, spec.Queue.DeclareOk)
    assert (ok.queue, ok.message_count, ok.consumer_count) == (queue, 0, 0)
    assert isinstance(
        method_of((yield within(channel.queue_bind(queue, exchange, "a.b")))), spec.Queue.BindOk
    )
    yield within(publisher.basic_publish(exchange, "a.b", b"routed"))
    purged = method_of((yield within(channel.queue_purge(queue))))
    assert isinstance(purged, spec.Queue.PurgeOk) and purged.message_count == 1
    assert isinstance(
        method_of((yield within(channel.queue_unbind(queue, exchange, "a.b")))),
        spec.Queue.UnbindOk,
    )
    assert isinstance(
        method_of((yield within(channel.basic_qos(prefetch_count=5)))), spec.Basic.QosOk
    )
    assert isinstance(
        method_of((yield within(channel.basic_recover(requeue=True)))), spec.Basic.RecoverOk
    )
    assert (yield within(channel.flow(True))) is True  # pika: the broker's answer as a bool
    assert isinstance(method_of((yield within(channel.tx_select()))), spec.Tx.SelectOk)
    assert isinstance(method_of((yield within(channel.tx_commit()))), spec.Tx.CommitOk)
    assert isinstance(method_of((yield within(channel.tx_rollback()))), spec.Tx.RollbackOk)
    deleted = method_of((yield within(channel.queue_delete(queue))))
    assert isinstance(deleted, spec.Queue.DeleteOk) and deleted.message_count == 0
    for name in (other, exchange):
        assert isinstance(
            method_of((yield within(channel.exchange_delete(name)))), spec.Exchange.DeleteOk
        )


@pytest_twisted.inlineCallbacks
def test_passive_declare_of_a_missing_queue_fails_with_channel_closed_by_broker(
    amqp: Amqp,
) -> Test:
    """The 404 fails that RPC, the RPC queued behind it, a consumer's waiting get() and a
    publish confirm (the broker ignores the publish after closing the channel); the channel's
    ``closed`` fails with it and later calls fail with it at once."""
    connection = yield amqp.open()
    channel = yield amqp.open_channel(connection)
    queue = yield amqp.declare_queue(channel)
    messages, _tag = yield within(channel.basic_consume(queue))
    waiting = messages.get()
    yield within(channel.confirm_delivery())
    missing = channel.queue_declare(amqp.name("missing"), passive=True)
    queued = channel.queue_declare(queue, passive=True)  # sent after the 404 only
    publish = channel.basic_publish("", queue, b"ignored by the broker")
    error = yield failure_of(missing)
    assert type(error) is exceptions.ChannelClosedByBroker
    assert error.reply_code == spec.NOT_FOUND
    assert "NOT_FOUND" in error.reply_text
    for deferred in (queued, publish, waiting, messages.get(), channel.closed):
        assert (yield failure_of(deferred)) is error
    assert channel.is_closed
    assert (yield failure_of(channel.basic_qos(prefetch_count=1))) is error
    assert (yield failure_of(channel.basic_publish("", queue, b"x"))) is error
    assert (yield failure_of(channel.close())) is error  # close() of a closed channel: closed
    # The connection is unaffected.
    other = yield within(connection.channel())
    assert (yield within(other.queue_declare(queue, passive=True))).method.message_count == 0


@pytest_twisted.inlineCallbacks
def test_methods_returning_deferreds_report_bad_arguments_through_them(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    assert type((yield failure_of(channel.queue_declare(42)))) is TypeError  # type: ignore[arg-type]
    assert type((yield failure_of(channel.basic_publish("", "q", 3.5)))) is TypeError
    error = yield failure_of(channel.exchange_declare("x" * 300))
    assert isinstance(error, exceptions.ShortStringTooLong)
    assert channel.is_open
    # Direct calls raise like the callback API.
    with pytest.raises(TypeError):
        channel.basic_ack("1")  # type: ignore[arg-type]


@pytest_twisted.inlineCallbacks
def test_close_returns_closed_which_fires_with_channel_closed_by_client(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    watcher = channel.closed
    reason = yield within(channel.close())
    assert type(reason) is exceptions.ChannelClosedByClient
    assert (yield within(watcher)) is reason
    assert (yield within(channel.close())) is reason  # again: same outcome, no error
    assert (yield within(channel.on_closed)) is reason
    assert (yield failure_of(channel.queue_declare("", exclusive=True))) is reason


@pytest_twisted.inlineCallbacks
def test_consume_delivers_in_order_and_ack_empties_the_queue(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    bodies = [b"message %d" % number for number in range(20)]
    properties = spec.BasicProperties(content_type="text/plain", headers={"k": "v"})
    for body in bodies:
        yield channel.basic_publish("", queue, body, properties)
    messages, tag = yield within(channel.basic_consume(queue))
    assert isinstance(messages, ClosableDeferredQueue)
    assert tag in channel.consumer_tags
    received: List[ReceivedMessage] = []
    for _ in bodies:
        message = yield within(messages.get())
        received.append(message)
        channel.basic_ack(message.method.delivery_tag)
    assert [message.body for message in received] == bodies
    first = received[0]
    assert isinstance(first, ReceivedMessage)
    assert first.channel is channel
    assert isinstance(first.method, spec.Basic.Deliver)
    assert first.method.consumer_tag == tag and first.method.routing_key == queue
    assert first.properties.content_type == "text/plain"
    assert first.properties.headers == {"k": "v"}
    cancel_ok = yield within(channel.basic_cancel(tag))
    assert isinstance(cancel_ok.method, spec.Basic.CancelOk)
    assert cancel_ok.method.consumer_tag == tag
    declared = yield within(channel.queue_declare(queue, passive=True))
    assert declared.method.message_count == 0  # every message was acked


@pytest_twisted.inlineCallbacks
def test_our_cancel_closes_the_queue_with_consumer_cancelled(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    messages, tag = yield within(channel.basic_consume(queue, consumer_tag="my-tag"))
    assert tag == "my-tag"
    waiting = messages.get()
    cancelling = channel.basic_cancel(tag)
    again = channel.basic_cancel(tag)  # same outcome as the first call
    error = yield failure_of(waiting)
    assert type(error) is exceptions.ConsumerCancelled
    assert messages.closed is error
    assert (yield failure_of(messages.get())) is error
    first, second = yield within(defer.gatherResults([cancelling, again]))
    assert first is second and isinstance(first.method, spec.Basic.CancelOk)
    assert channel.consumer_tags == []
    # Cancelling a consumer that no longer exists fires with None.
    assert (yield within(channel.basic_cancel(tag))) is None
    # Messages published now stay in the queue.
    yield within(channel.confirm_delivery())
    yield within(channel.basic_publish("", queue, b"after the cancel"))
    declared = yield within(channel.queue_declare(queue, passive=True))
    assert declared.method.message_count == 1


@pytest_twisted.inlineCallbacks
def test_broker_cancel_after_queue_delete_closes_the_queue(amqp: Amqp) -> Test:
    """Deleting the queue (here from another channel) makes RabbitMQ cancel the consumer with
    Basic.Cancel (consumer_cancel_notify): the queue closes with ConsumerCancelled and the
    on-cancel callback gets the frame."""
    connection = yield amqp.open()
    channel = yield amqp.open_channel(connection)
    other = yield amqp.open_channel(connection)
    queue = yield amqp.declare_queue(channel)
    cancelled: "defer.Deferred[Any]" = defer.Deferred()
    channel.add_on_cancel_callback(cancelled.callback)
    messages, tag = yield within(channel.basic_consume(queue))
    waiting = messages.get()
    yield within(other.queue_delete(queue))
    error = yield failure_of(waiting)
    assert type(error) is exceptions.ConsumerCancelled
    notification = yield within(cancelled)
    assert isinstance(notification.method, spec.Basic.Cancel)
    assert notification.method.consumer_tag == tag
    assert channel.is_open and channel.consumer_tags == []


@pytest_twisted.inlineCallbacks
def test_basic_get_with_a_message_then_empty(amqp: Amqp) -> Test:
    channel = yield amqp.confirmed_channel()
    queue = yield amqp.declare_queue(channel)
    yield within(channel.basic_publish("", queue, b"get me", spec.BasicProperties(message_id="m1")))
    message = yield within(channel.basic_get(queue))
    assert isinstance(message, ReceivedMessage)
    assert isinstance(message.method, spec.Basic.GetOk)
    assert message.body == b"get me" and message.properties.message_id == "m1"
    assert message.channel is channel
    channel.basic_ack(message.method.delivery_tag)
    assert (yield within(channel.basic_get(queue))) is None
    # Only one get at a time (the callback API's rule).
    first = channel.basic_get(queue)
    error = yield failure_of(channel.basic_get(queue))
    assert type(error) is exceptions.DuplicateGetOkCallback
    assert (yield within(first)) is None


@pytest_twisted.inlineCallbacks
def test_cancelled_rpc_reply_is_dropped_and_the_channel_goes_on(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    abandoned = channel.queue_declare(queue, passive=True)
    abandoned.cancel()
    assert type((yield failure_of(abandoned))) is defer.CancelledError
    after = yield within(channel.queue_declare(queue, passive=True))
    assert isinstance(after.method, spec.Queue.DeclareOk) and after.method.queue == queue
    assert channel.is_open


@pytest_twisted.inlineCallbacks
def test_cancelled_basic_get_gives_the_message_back(amqp: Amqp) -> Test:
    """A cancelled basic_get's GetOk is rejected with requeue: a consumer gets the message
    again (redelivered)."""
    channel = yield amqp.confirmed_channel()
    queue = yield amqp.declare_queue(channel)
    yield within(channel.basic_publish("", queue, b"boomerang"))
    abandoned = channel.basic_get(queue)
    abandoned.cancel()
    assert type((yield failure_of(abandoned))) is defer.CancelledError
    messages, _tag = yield within(channel.basic_consume(queue, auto_ack=True))
    message = yield within(messages.get())
    assert message.body == b"boomerang"
    assert message.method.redelivered is True


@pytest_twisted.inlineCallbacks
def test_cancelled_consume_cancels_the_consumer(amqp: Amqp) -> Test:
    channel = yield amqp.confirmed_channel()
    queue = yield amqp.declare_queue(channel)
    starting = channel.basic_consume(queue, consumer_tag="abandoned")
    starting.cancel()
    assert type((yield failure_of(starting))) is defer.CancelledError
    yield within(channel.basic_qos(prefetch_count=0))  # Consume and Cancel answered by now
    assert channel.consumer_tags == []
    yield within(channel.basic_publish("", queue, b"nobody consumes this"))
    declared = yield within(channel.queue_declare(queue, passive=True))
    assert (declared.method.message_count, declared.method.consumer_count) == (1, 0)


@pytest_twisted.inlineCallbacks
def test_cancelled_queue_get_leaves_the_message_for_the_next(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    messages, _tag = yield within(channel.basic_consume(queue, auto_ack=True))
    abandoned = messages.get()
    abandoned.cancel()
    assert type((yield failure_of(abandoned))) is defer.CancelledError
    yield channel.basic_publish("", queue, b"for the next get")
    message = yield within(messages.get())
    assert message.body == b"for the next get"


@pytest_twisted.inlineCallbacks
def test_return_callback_gets_received_messages(amqp: Amqp) -> Test:
    """Outside confirm mode a mandatory unroutable message comes back to the return
    callbacks as a ReceivedMessage whose method is the Basic.Return."""
    channel = yield amqp.open_channel()
    returned: "defer.Deferred[Any]" = defer.Deferred()
    channel.add_on_return_callback(returned.callback)
    published = channel.basic_publish("", amqp.name("nowhere"), b"lost", mandatory=True)
    assert published.called  # outside confirm mode: already fired
    assert (yield published) is None
    message = yield within(returned)
    assert isinstance(message, ReceivedMessage)
    assert isinstance(message.method, spec.Basic.Return)
    assert message.method.reply_code == spec.NO_ROUTE
    assert message.body == b"lost" and message.channel is channel


@pytest.mark.allow_errors  # the failing callback is logged (amqpbase.callbacks, ERROR)
@pytest_twisted.inlineCallbacks
def test_exception_in_an_add_on_callback_is_isolated(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    returned: "defer.Deferred[Any]" = defer.Deferred()

    def broken(message: ReceivedMessage) -> None:
        raise RuntimeError("user bug")

    channel.add_on_return_callback(broken)
    channel.add_on_return_callback(returned.callback)
    yield channel.basic_publish("", amqp.name("nowhere"), b"x", mandatory=True)
    message = yield within(returned)  # the next callback still ran
    assert message.body == b"x"
    ok = yield within(channel.queue_declare("", exclusive=True))
    assert isinstance(ok.method, spec.Queue.DeclareOk) and channel.is_open
