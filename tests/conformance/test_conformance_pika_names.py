"""pika's ``ExchangeType`` and ``DeliveryMode`` against the real broker, on every loop: the
broker declares the exchange of the member's type and delivers the message with the
member's delivery mode (the bytes are held to the strings and ints in
``tests/unit/test_pika_enums.py``)."""

from __future__ import annotations

from typing import Any, List

import pytest

from amqpbase import DeliveryMode, ExchangeType, spec
from amqpbase.channel import Channel

from .conftest import Session
from .test_conformance_messages import get_one

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("member", list(ExchangeType), ids=[m.value for m in ExchangeType])
def test_exchange_declare_takes_an_exchange_type(session: Session, channel: Channel,
                                                 member: ExchangeType) -> None:
    exchange = session.declare_exchange(channel, member)
    # The broker has it with that type: a passive declare with the plain string agrees,
    # one with another type would close the channel (406 PRECONDITION_FAILED).
    ok = session.rpc(channel.exchange_declare, exchange, member.value, passive=True)
    assert isinstance(ok.method, spec.Exchange.DeclareOk)


def test_fanout_by_exchange_type_routes_to_every_bound_queue(session: Session,
                                                             channel: Channel) -> None:
    exchange = session.declare_exchange(channel, ExchangeType.fanout)
    queues = [session.declare_queue(channel) for _ in range(2)]
    for queue in queues:
        session.rpc(channel.queue_bind, queue, exchange, routing_key="ignored-by-fanout")
    channel.basic_publish(exchange, "any-key", b"to all")
    for queue in queues:
        session.wait_for_count(channel, queue, 1)
        assert get_one(session, channel, queue, auto_ack=True)[2] == b"to all"


@pytest.mark.parametrize("mode", list(DeliveryMode), ids=[m.name for m in DeliveryMode])
def test_basic_properties_take_a_delivery_mode(session: Session, channel: Channel,
                                               mode: DeliveryMode) -> None:
    queue = session.declare_queue(channel, durable=True)
    properties = spec.BasicProperties(delivery_mode=mode, content_type="text/plain")
    channel.basic_publish("", queue, b"persisted?", properties=properties)
    session.wait_for_count(channel, queue, 1)
    _method, got, body = get_one(session, channel, queue, auto_ack=True)
    assert body == b"persisted?"
    assert got.delivery_mode == mode.value and got.content_type == "text/plain"


def test_consumed_message_keeps_persistent_mode(session: Session, channel: Channel) -> None:
    queue = session.declare_queue(channel, durable=True)
    seen: List[Any] = []
    channel.basic_consume(queue, lambda ch, method, props, body: seen.append(props),
                          auto_ack=True)
    channel.basic_publish("", queue, b"x",
                          properties=spec.BasicProperties(delivery_mode=DeliveryMode.Persistent))
    session.driver.run_until(lambda: seen, what="the delivery")
    assert seen[0].delivery_mode == 2
