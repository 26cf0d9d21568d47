"""``Recovery(resubscribe_on_cancel=...)`` against the real test node, on every loop (issue 12).

The broker cancels a consumer (Basic.Cancel, RabbitMQ's ``consumer_cancel_notify``) when its
queue is deleted. With ``resubscribe_on_cancel=True`` recovery re-subscribes it with its
original tag once the queue is back (probing with a passive declare on a private channel, so
the consumer's own channel never sees a 404), and its cancel callbacks hear nothing; with the
flag off (the default) the cancel callbacks get the broker's frame and nothing is
re-subscribed.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest
from conformance.conftest import Session
from conformance.drivers import Driver

from amqpbase import Recovery, exceptions
from amqpbase.channel import Channel

from .test_recovery_broker import _connect


def _consumers_of(session: Session, queue: str) -> List[str]:
    listing = session.broker.ctl("list_consumers", "-q", "--no-table-headers",
                                 "queue_name", "consumer_tag")
    rows = [line.split("\t") for line in listing.splitlines() if line.strip()]
    return sorted(tag.strip() for name, tag in rows if name.strip() == queue)


def _consuming(driver: Driver, session: Session, recovery: Recovery
               ) -> Tuple[Channel, Channel, str, List[Any], List[bytes]]:
    conn, events = _connect(driver, session, recovery)
    driver.run_until(lambda: events["open"], what="the connection to open")
    channel = session.open_channel(conn)
    helper_conn, _ = session.open_connection()  # no recovery: deletes and re-declares
    helper = session.open_channel(helper_conn)
    queue = session.declare_queue(helper)  # declared by the helper: not in conn's topology
    cancels: List[Any] = []
    received: List[bytes] = []
    channel.add_on_cancel_callback(cancels.append)

    def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        received.append(body)
        ch.basic_ack(method.delivery_tag)

    session.rpc(channel.basic_consume, queue, on_message, consumer_tag="resub-consumer")
    helper.basic_publish("", queue, b"before")
    driver.run_until(lambda: received == [b"before"], what="the first delivery")
    return channel, helper, queue, cancels, received


def test_resubscribe_on_cancel_brings_the_consumer_back_with_its_tag(
        driver: Driver, session: Session) -> None:
    channel, helper, queue, cancels, received = _consuming(driver, session, Recovery(
        initial_delay=0.2, max_delay=0.4, max_cycles=100, resubscribe_on_cancel=True))
    session.rpc(helper.queue_delete, queue)
    driver.run_until(lambda: channel.consumer_tags == [], what="the broker's Basic.Cancel")
    driver.run_for(0.6)  # a probe or two finds no queue
    assert channel.consumer_tags == [] and channel.is_open
    session.rpc(helper.queue_declare, queue)  # the queue comes back
    driver.run_until(lambda: channel.consumer_tags == ["resub-consumer"], timeout=15,
                     what="the consumer to be re-subscribed")
    helper.basic_publish("", queue, b"after")
    driver.run_until(lambda: received == [b"before", b"after"], what="a delivery after it")
    assert cancels == []  # taken over: the cancel callbacks heard nothing
    assert channel.is_open
    assert _consumers_of(session, queue) == ["resub-consumer"]


def test_without_resubscribe_on_cancel_nothing_is_resubscribed(
        driver: Driver, session: Session) -> None:
    channel, helper, queue, cancels, received = _consuming(driver, session, Recovery(
        initial_delay=0.05, max_delay=0.1))
    session.rpc(helper.queue_delete, queue)
    driver.run_until(lambda: cancels, what="the broker's Basic.Cancel")
    assert [c.method.consumer_tag for c in cancels] == ["resub-consumer"]
    assert not hasattr(cancels[0], "error")  # the broker's own frame
    session.rpc(helper.queue_declare, queue)
    driver.run_for(1.0)  # several backoff windows: nothing comes back
    helper.basic_publish("", queue, b"after")
    session.wait_for_count(helper, queue, 1)
    assert channel.consumer_tags == [] and received == [b"before"]
    assert _consumers_of(session, queue) == []


@pytest.mark.allow_error_logs
def test_a_consumer_that_cannot_be_resubscribed_gets_the_error_in_its_cancel_callbacks(
        driver: Driver, session: Session) -> None:
    channel, helper, queue, cancels, _ = _consuming(driver, session, Recovery(
        initial_delay=0.05, max_delay=0.1, max_cycles=3, resubscribe_on_cancel=True))
    session.rpc(helper.queue_delete, queue)  # and it never comes back
    driver.run_until(lambda: cancels, timeout=15, what="the resubscription to give up")
    (cancel,) = cancels
    assert cancel.method.consumer_tag == "resub-consumer"  # pika's frame shape
    assert isinstance(cancel.error, exceptions.ConsumerRecoveryFailedError)
    assert cancel.error.consumer_tag == "resub-consumer"
    assert isinstance(cancel.error.__cause__, exceptions.ChannelClosedByBroker)
    assert cancel.error.__cause__.reply_code == 404
    assert channel.is_open and channel.consumer_tags == []
    driver.run_for(0.3)
    assert len(cancels) == 1
