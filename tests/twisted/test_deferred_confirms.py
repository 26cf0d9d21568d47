"""Publisher confirms through TwistedChannel against the real broker: one Deferred per publish,
settled exactly once (acked, NackError, UnroutableError, or the close reason), cancellation,
and every pending Deferred failing when the broker closes the connection."""

from __future__ import annotations

from typing import Any, Generator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp, MemoryAlarm, event_deferred, failure_of, within
from twisted.internet import defer

from amqpbase import exceptions, spec
from amqpbase.adapters.twisted.deferred_api import ReceivedMessage

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]


@pytest_twisted.inlineCallbacks
def test_thousand_publishes_thousand_acks(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    select_ok = yield within(channel.confirm_delivery())
    assert isinstance(select_ok.method, spec.Confirm.SelectOk)
    confirms = [channel.basic_publish("", queue, b"%d" % number) for number in range(1000)]
    assert not any(deferred.called for deferred in confirms[-1:])  # nothing acked yet
    acks = yield within(defer.gatherResults(confirms), 15.0)
    assert len(acks) == 1000
    assert all(isinstance(ack, spec.Basic.Ack) for ack in acks)
    # Each ack covers its publish: its tag is at least the publish's (multiple acks).
    assert all(ack.delivery_tag >= number + 1 for number, ack in enumerate(acks))
    declared = yield within(channel.queue_declare(queue, passive=True))
    assert declared.method.message_count == 1000


@pytest_twisted.inlineCallbacks
def test_outside_confirm_mode_publish_returns_a_fired_deferred(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    published = channel.basic_publish("", amqp.name("nowhere"), b"x")
    assert published.called
    assert (yield published) is None


@pytest_twisted.inlineCallbacks
def test_nack_fails_the_publish_with_nack_error(amqp: Amqp) -> Test:
    """A queue that is full (x-max-length 0) with x-overflow reject-publish makes RabbitMQ nack
    the publish; a publish to another queue in between is still acked."""
    channel = yield amqp.open_channel()
    full = yield amqp.declare_queue(
        channel, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    roomy = yield amqp.declare_queue(channel)
    yield within(channel.confirm_delivery())
    first = channel.basic_publish("", full, b"rejected 1")
    middle = channel.basic_publish("", roomy, b"accepted")
    last = channel.basic_publish("", full, b"rejected 2")
    error = yield failure_of(first)
    assert type(error) is exceptions.NackError
    assert error.messages == [1]  # the delivery tag of the nacked publish
    assert isinstance((yield within(middle)), spec.Basic.Ack)
    error = yield failure_of(last)
    assert type(error) is exceptions.NackError and error.messages == [3]


@pytest_twisted.inlineCallbacks
def test_mandatory_unroutable_fails_with_unroutable_error(amqp: Amqp) -> Test:
    """RabbitMQ returns an unroutable mandatory message (Basic.Return), then acks it: that
    publish fails with UnroutableError carrying the returned message, the routable mandatory
    publishes around it are acked, and the return callbacks see the return too."""
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    returns: List[ReceivedMessage] = []
    channel.add_on_return_callback(returns.append)
    yield within(channel.confirm_delivery())
    nowhere = amqp.name("nowhere")
    before = channel.basic_publish("", queue, b"routed 1", mandatory=True)
    lost = channel.basic_publish("", nowhere, b"unroutable", mandatory=True)
    after = channel.basic_publish("", queue, b"routed 2", mandatory=True)
    not_mandatory = channel.basic_publish("", nowhere, b"dropped silently")
    lost_too = channel.basic_publish("", nowhere, b"unroutable 2", mandatory=True)
    error = yield failure_of(lost)
    assert type(error) is exceptions.UnroutableError
    [message] = error.messages
    assert isinstance(message, ReceivedMessage) and message.channel is channel
    assert isinstance(message.method, spec.Basic.Return)
    assert message.method.reply_code == spec.NO_ROUTE and message.method.routing_key == nowhere
    assert message.body == b"unroutable"
    error = yield failure_of(lost_too)
    assert type(error) is exceptions.UnroutableError
    assert error.messages[0].body == b"unroutable 2"
    for deferred in (before, after, not_mandatory):
        assert isinstance((yield within(deferred)), spec.Basic.Ack)
    assert [message.body for message in returns] == [b"unroutable", b"unroutable 2"]


@pytest_twisted.inlineCallbacks
def test_cancelling_one_confirm_leaves_the_others_intact(amqp: Amqp) -> Test:
    channel = yield amqp.open_channel()
    queue = yield amqp.declare_queue(channel)
    yield within(channel.confirm_delivery())
    confirms = [channel.basic_publish("", queue, b"%d" % number) for number in range(10)]
    confirms[3].cancel()
    assert type((yield failure_of(confirms[3]))) is defer.CancelledError
    lost = channel.basic_publish("", amqp.name("nowhere"), b"unroutable", mandatory=True)
    lost.cancel()  # its return must not be pinned on another publish
    assert type((yield failure_of(lost))) is defer.CancelledError
    tail = [channel.basic_publish("", queue, b"tail", mandatory=True) for _ in range(3)]
    acks = yield within(defer.gatherResults(confirms[:3] + confirms[4:] + tail))
    assert len(acks) == 12 and all(isinstance(ack, spec.Basic.Ack) for ack in acks)
    assert channel.is_open


@pytest_twisted.inlineCallbacks
def test_broker_close_fails_pending_confirms_rpcs_and_gets(
    amqp: Amqp, memory_alarm: MemoryAlarm
) -> Test:
    """With the memory alarm up RabbitMQ stops reading a publishing connection, so a confirm,
    an RPC, a basic_get and a consumer get stay pending; ``rabbitmqctl close_connection`` then
    fails every one of them with ConnectionClosedByBroker (320), and the channel's ``closed``."""
    name = amqp.name("conn")
    connection = yield amqp.open(amqp.params(connection_name=name))
    blocked, on_blocked = event_deferred()
    connection.add_on_connection_blocked_callback(on_blocked)
    channel = yield amqp.open_channel(connection)
    getter = yield amqp.open_channel(connection)
    queue = yield amqp.declare_queue(channel)
    messages, _tag = yield within(channel.basic_consume(queue))
    consumer_get = messages.get()
    yield within(channel.confirm_delivery())

    yield memory_alarm.raise_alarm()
    confirm = channel.basic_publish("", queue, b"published while blocked")
    yield within(blocked)
    rpc = channel.queue_declare(queue, passive=True)
    get = getter.basic_get(queue)
    pending = [confirm, rpc, get, consumer_get]
    assert not any(deferred.called for deferred in pending)

    pid = yield amqp.connection_pid(name)
    yield amqp.ctl("close_connection", pid, "closed while blocked")
    reason = yield failure_of(connection.closed)
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert reason.reply_code == spec.CONNECTION_FORCED
    for deferred in pending + [channel.closed, getter.closed]:
        assert (yield failure_of(deferred)) is reason
    yield memory_alarm.clear()
