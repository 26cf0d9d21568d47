"""Channels against the real broker: open/close, channel numbers, every exchange/queue/tx/qos
RPC with its effect checked on the broker, RPC ordering, and channel errors raised by the
broker."""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest

from amqpbase import exceptions, spec
from amqpbase.channel import Channel
from amqpbase.connection import Connection

from .conftest import ChannelEvents, Events, Session

pytestmark = pytest.mark.broker


def returned_on_mandatory_publish(session: Session, channel: Channel, exchange: str,
                                  routing_key: str) -> List[Any]:
    """Publish one mandatory message and wait until it is either returned (Basic.Return,
    proof it was not routed) or a confirming round trip shows it was routed. Returns the
    Basic.Return methods seen."""
    returned: List[Any] = []
    channel.add_on_return_callback(lambda ch, method, props, body: returned.append(method))
    channel.basic_publish(exchange, routing_key, b"probe", mandatory=True)
    # Basic.Return is sent before the reply to a later synchronous method on the channel.
    session.rpc(channel.basic_qos, prefetch_count=0)
    return returned


# ---------------------------------------------------------------------------------------------
# Open, close, numbers
# ---------------------------------------------------------------------------------------------


def test_channel_open_and_client_close(session: Session,
                                       connection: Tuple[Connection, Events]) -> None:
    """channel() returns the Channel at once (opening), on_open_callback gets it once it is
    open; close() makes it closing, then closed, on_close gets pika's
    ``ChannelClosedByClient(0, 'Normal shutdown')``; a closed channel refuses work with
    ChannelWrongStateError and the connection stays open."""
    conn = connection[0]
    opened: List[Channel] = []
    ch = conn.channel(on_open_callback=opened.append)
    assert isinstance(ch, Channel)
    assert ch.channel_number == 1
    assert not ch.is_open and not ch.is_closed
    session.driver.run_until(lambda: opened, what="Channel.OpenOk")
    assert opened == [ch] and ch.is_open

    events = ChannelEvents()
    ch.add_on_close_callback(events.on_close)
    ch.close()
    assert ch.is_closing
    session.driver.run_until(lambda: events.closed, what="the channel to close")
    reason = events.closed[0]
    assert type(reason) is exceptions.ChannelClosedByClient
    assert (reason.reply_code, reason.reply_text) == (0, "Normal shutdown")
    assert ch.is_closed and not ch.is_closing and not ch.is_open
    with pytest.raises(exceptions.ChannelWrongStateError):
        ch.close()
    with pytest.raises(exceptions.ChannelWrongStateError):
        ch.basic_publish("", "nowhere", b"x")
    with pytest.raises(exceptions.ChannelWrongStateError):
        ch.queue_declare("q", callback=lambda frame: None)
    assert conn.is_open
    assert len(events.closed) == 1


def test_channel_closed_while_opening(session: Session,
                                      connection: Tuple[Connection, Events]) -> None:
    """close() right after channel(), before Channel.OpenOk: on_open never runs, on_close gets
    ``ChannelClosedByClient`` once the broker confirmed, and the connection is unaffected."""
    conn, conn_events = connection
    opened: List[Channel] = []
    ch = conn.channel(on_open_callback=opened.append)
    events = ChannelEvents()
    ch.add_on_close_callback(events.on_close)
    ch.close()
    session.driver.run_until(lambda: events.closed, what="the channel to close")
    session.driver.run_for(0.02)
    assert opened == []
    assert type(events.closed[0]) is exceptions.ChannelClosedByClient
    assert ch.is_closed
    assert conn.is_open and conn_events.closed == []
    assert session.open_channel(conn).is_open


def test_channel_close_with_reply(session: Session,
                                  connection: Tuple[Connection, Events]) -> None:
    """close(reply_code, reply_text) reports exactly that code and text."""
    ch = session.open_channel(connection[0])
    events = ChannelEvents()
    ch.add_on_close_callback(events.on_close)
    ch.close(200, "done here")
    session.driver.run_until(lambda: events.closed)
    assert type(events.closed[0]) is exceptions.ChannelClosedByClient
    assert (events.closed[0].reply_code, events.closed[0].reply_text) == (200, "done here")


def test_explicit_channel_numbers(session: Session) -> None:
    """channel(n) opens channel n; the default is the lowest free number; a number in use, 0,
    or above the negotiated channel_max (10 here) raises InvalidChannelNumber (a ValueError)
    before anything is sent, and the connection stays usable."""
    conn, _ = session.open_connection(session.params(channel_max=10))
    seven = session.open_channel(conn, 7)
    assert seven.channel_number == 7
    first = session.open_channel(conn)
    assert first.channel_number == 1
    ten = session.open_channel(conn, 10)
    assert ten.channel_number == 10
    for bad in (7, 0, 11):
        with pytest.raises(exceptions.InvalidChannelNumber):
            conn.channel(channel_number=bad)
        with pytest.raises(ValueError):
            conn.channel(channel_number=bad)
    assert conn.is_open and seven.is_open and ten.is_open
    session.declare_queue(seven)  # the broker still talks to us on channel 7


def test_channel_max_negotiated_down_to_the_brokers(session: Session) -> None:
    """Default channel_max (65535) against RabbitMQ's 2047: the lower value wins, as the
    broker reports for the connection, and channel(2048) is refused client-side while
    channel(2047) opens."""
    name = session.name("conn")
    conn, _ = session.open_connection(session.params(connection_name=name))
    (broker_max,) = session.connection_info(name, "channel_max")
    limit = int(broker_max)
    assert 0 < limit < 65535
    with pytest.raises(exceptions.InvalidChannelNumber):
        conn.channel(channel_number=limit + 1)
    assert session.open_channel(conn, limit).channel_number == limit


def test_channel_number_reused_after_close(session: Session,
                                           connection: Tuple[Connection, Events]) -> None:
    """Once channel 1 has closed, its number is free again and the broker accepts a new
    channel 1."""
    conn = connection[0]
    ch = session.open_channel(conn)
    events = ChannelEvents()
    ch.add_on_close_callback(events.on_close)
    ch.close()
    session.driver.run_until(lambda: events.closed)
    again = session.open_channel(conn)
    assert again.channel_number == 1
    assert again is not ch
    session.declare_queue(again)


# ---------------------------------------------------------------------------------------------
# Exchanges
# ---------------------------------------------------------------------------------------------


def test_exchange_declare_bind_unbind_delete(session: Session, channel: Channel) -> None:
    """exchange_declare/bind/unbind/delete each get their Ok, and each has its effect on
    routing: a message published to the source reaches a queue behind the bound destination
    exchange; after unbind a mandatory publish comes back NO_ROUTE; after delete a passive
    declare of the exchange fails 404."""
    src = session.name("x")
    ok = session.rpc(channel.exchange_declare, src, "direct")
    assert isinstance(ok.method, spec.Exchange.DeclareOk)
    session.track_exchange(src)
    ok = session.rpc(channel.exchange_declare, src, "direct", passive=True)
    assert isinstance(ok.method, spec.Exchange.DeclareOk)
    dst = session.declare_exchange(channel, "fanout")
    queue = session.declare_queue(channel)
    session.rpc(channel.queue_bind, queue, dst, routing_key="")

    ok = session.rpc(channel.exchange_bind, dst, src, routing_key="k")
    assert isinstance(ok.method, spec.Exchange.BindOk)
    channel.basic_publish(src, "k", b"via e2e binding")
    session.wait_for_count(channel, queue, 1)

    ok = session.rpc(channel.exchange_unbind, dst, src, routing_key="k")
    assert isinstance(ok.method, spec.Exchange.UnbindOk)
    returned = returned_on_mandatory_publish(session, channel, src, "k")
    assert [m.reply_code for m in returned] == [312]

    ok = session.rpc(channel.exchange_delete, dst)
    assert isinstance(ok.method, spec.Exchange.DeleteOk)
    probe = session.open_channel(channel.connection)
    events = ChannelEvents()
    probe.add_on_close_callback(events.on_close)
    probe.exchange_declare(dst, "fanout", passive=True, callback=lambda f: None)
    session.driver.run_until(lambda: events.closed, what="404 for the deleted exchange")
    assert type(events.closed[0]) is exceptions.ChannelClosedByBroker
    assert events.closed[0].reply_code == 404


# ---------------------------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------------------------


def test_queue_declare_server_named(session: Session, channel: Channel) -> None:
    """queue_declare('') lets the broker name the queue: the DeclareOk carries an
    'amq.gen-' name with zero messages and consumers, and that queue exists."""
    ok = session.rpc(channel.queue_declare, "", exclusive=True)
    assert isinstance(ok.method, spec.Queue.DeclareOk)
    name = str(ok.method.queue)
    assert name.startswith("amq.gen-"), name
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)
    session.track_queue(name)
    assert session.message_count(channel, name) == 0


def test_queue_bind_purge_unbind_delete(session: Session, channel: Channel) -> None:
    """queue_bind routes amq.direct messages with the key to the queue; queue_purge reports
    how many it removed; after queue_unbind a mandatory publish comes back NO_ROUTE;
    queue_delete reports the messages it dropped and the queue is gone (passive declare 404)."""
    queue = session.declare_queue(channel, arguments={"x-max-length": 100})
    ok = session.rpc(channel.queue_bind, queue, "amq.direct", routing_key="rk")
    assert isinstance(ok.method, spec.Queue.BindOk)
    for n in range(3):
        channel.basic_publish("amq.direct", "rk", b"m%d" % n)
    session.wait_for_count(channel, queue, 3)

    ok = session.rpc(channel.queue_purge, queue)
    assert isinstance(ok.method, spec.Queue.PurgeOk)
    assert ok.method.message_count == 3
    assert session.message_count(channel, queue) == 0

    channel.basic_publish("amq.direct", "rk", b"kept")
    channel.basic_publish("amq.direct", "rk", b"kept")
    session.wait_for_count(channel, queue, 2)
    ok = session.rpc(channel.queue_unbind, queue, "amq.direct", routing_key="rk")
    assert isinstance(ok.method, spec.Queue.UnbindOk)
    returned = returned_on_mandatory_publish(session, channel, "amq.direct", "rk")
    assert [m.reply_code for m in returned] == [312]

    ok = session.rpc(channel.queue_delete, queue)
    assert isinstance(ok.method, spec.Queue.DeleteOk)
    assert ok.method.message_count == 2
    events = ChannelEvents()
    channel.add_on_close_callback(events.on_close)
    channel.queue_declare(queue, passive=True, callback=lambda f: None)
    session.driver.run_until(lambda: events.closed, what="404 for the deleted queue")
    assert isinstance(events.closed[0], exceptions.ChannelClosedByBroker)
    assert events.closed[0].reply_code == 404


def test_nowait_rpcs_without_callbacks_take_effect(session: Session, channel: Channel) -> None:
    """pika 1.x sends ``nowait`` when no callback is given (exchange_declare/delete,
    queue_declare/bind/purge/delete): the broker sends no reply (an unexpected one would make
    the client close the connection), yet every operation takes effect, in order."""
    exchange = session.name("x")
    queue = session.name("q")
    session.track_exchange(exchange)
    session.track_queue(queue)
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, routing_key="k")
    channel.basic_publish(exchange, "k", b"routed through nowait declarations")
    session.wait_for_count(channel, queue, 1)
    channel.queue_purge(queue)
    assert session.message_count(channel, queue) == 0
    channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    assert channel.is_open and channel.connection.is_open
    probe = session.open_channel(channel.connection)
    events = ChannelEvents()
    probe.add_on_close_callback(events.on_close)
    probe.queue_declare(queue, passive=True, callback=lambda f: None)
    session.driver.run_until(lambda: events.closed, what="404 for the nowait-deleted queue")
    assert isinstance(events.closed[0], exceptions.ChannelClosedByBroker)
    assert events.closed[0].reply_code == 404
    session.driver.run_for(0.05)
    assert channel.is_open and channel.connection.is_open


def test_channel_closing_when_connection_closes(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """channel.close() immediately followed by connection.close(): the connection waits for
    the channel's close to complete; the channel reports its own ChannelClosedByClient, the
    connection ConnectionClosedByClient, each once."""
    conn, events = connection
    ch = session.open_channel(conn)
    channel_events = ChannelEvents()
    ch.add_on_close_callback(channel_events.on_close)
    ch.close(200, "channel first")
    conn.close()
    session.driver.run_until(lambda: events.closed)
    session.driver.run_for(0.02)
    assert len(channel_events.closed) == 1
    assert type(channel_events.closed[0]) is exceptions.ChannelClosedByClient
    assert channel_events.closed[0].reply_text == "channel first"
    assert len(events.closed) == 1
    assert type(events.closed[0]) is exceptions.ConnectionClosedByClient


def test_rpcs_complete_in_call_order(session: Session, channel: Channel) -> None:
    """Synchronous RPCs issued back to back (without running the loop in between) are
    answered and their callbacks run in call order, each with its own reply."""
    names = [session.name("q") for _ in range(6)]
    for name in names:
        session.track_queue(name)
    seen: List[str] = []
    for i, name in enumerate(names):
        channel.queue_declare(name, callback=lambda f: seen.append(f.method.queue))
        if i == 2:  # a different RPC in the middle keeps its place too
            channel.basic_qos(prefetch_count=5, callback=lambda f: seen.append("qos"))
    session.driver.run_until(lambda: len(seen) == 7, what="seven RPC replies")
    assert seen == names[:3] + ["qos"] + names[3:]


def test_passive_declare_of_missing_queue_closes_only_the_channel(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """A broker channel error (passive declare of a missing queue): the channel's on_close
    gets ``ChannelClosedByBroker(404, 'NOT_FOUND - ...')``; the failed RPC's callback and RPCs
    queued behind it never run; the connection and its other channels stay open and usable."""
    conn, conn_events = connection
    bystander = session.open_channel(conn)
    ch = session.open_channel(conn)
    events = ChannelEvents()
    ch.add_on_close_callback(events.on_close)
    replies: List[Any] = []
    missing = session.name("missing")
    ch.queue_declare(missing, passive=True, callback=replies.append)
    ch.queue_declare(session.name("q"), callback=replies.append)  # queued behind it

    session.driver.run_until(lambda: events.closed, what="the broker's Channel.Close")
    reason = events.closed[0]
    assert type(reason) is exceptions.ChannelClosedByBroker
    assert reason.reply_code == 404
    assert reason.reply_text.startswith("NOT_FOUND"), reason.reply_text
    assert missing in reason.reply_text
    session.driver.run_for(0.05)
    assert replies == []
    assert ch.is_closed
    assert conn.is_open and conn_events.closed == []
    assert bystander.is_open
    session.declare_queue(bystander)
    assert session.open_channel(conn).is_open


# ---------------------------------------------------------------------------------------------
# Tx, QoS, Flow
# ---------------------------------------------------------------------------------------------


def test_tx_select_commit_rollback(session: Session, channel: Channel) -> None:
    """tx_select/tx_rollback/tx_commit get SelectOk/RollbackOk/CommitOk; a rolled-back
    publish never reaches the queue, a committed one does."""
    queue = session.declare_queue(channel)
    assert isinstance(session.rpc(channel.tx_select).method, spec.Tx.SelectOk)
    channel.basic_publish("", queue, b"rolled back")
    assert isinstance(session.rpc(channel.tx_rollback).method, spec.Tx.RollbackOk)
    assert session.message_count(channel, queue) == 0
    channel.basic_publish("", queue, b"committed")
    assert isinstance(session.rpc(channel.tx_commit).method, spec.Tx.CommitOk)
    assert session.message_count(channel, queue) == 1


def test_basic_qos_limits_unacked_deliveries(session: Session, channel: Channel) -> None:
    """basic_qos(prefetch_count=1) gets QosOk and the broker then holds back further
    deliveries until the outstanding one is acked."""
    queue = session.declare_queue(channel)
    ok = session.rpc(channel.basic_qos, prefetch_count=1)
    assert isinstance(ok.method, spec.Basic.QosOk)
    for n in range(3):
        channel.basic_publish("", queue, b"%d" % n)
    bodies: List[bytes] = []
    tags: List[int] = []

    def on_message(ch: Channel, method: Any, props: Any, body: bytes) -> None:
        bodies.append(bytes(body))
        tags.append(method.delivery_tag)

    session.rpc(channel.basic_consume, queue, on_message)
    session.driver.run_until(lambda: bodies, what="the first delivery")
    session.driver.run_for(0.15)
    assert bodies == [b"0"]
    channel.basic_ack(tags[0])
    session.driver.run_until(lambda: len(bodies) == 2, what="the second delivery")
    session.driver.run_for(0.1)
    assert bodies == [b"0", b"1"]


def test_flow_active_true_is_confirmed(session: Session, channel: Channel) -> None:
    """flow(True): the broker answers Channel.FlowOk(active=True) and the callback gets the
    bool True (pika)."""
    got = session.rpc(channel.flow, True)
    assert got is True
    assert channel.is_open


def test_flow_active_false_is_refused_by_rabbitmq(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """RabbitMQ does not implement Channel.Flow(active=False) from clients: it closes the
    whole connection with 540 NOT_IMPLEMENTED. The client reports exactly that: on_close gets
    ``ConnectionClosedByBroker(540, 'NOT_IMPLEMENTED - active=false')``, the channel's on_close
    the same reason, and the flow callback never runs."""
    conn, events = connection
    ch = session.open_channel(conn)
    channel_events = ChannelEvents()
    ch.add_on_close_callback(channel_events.on_close)
    answers: List[Any] = []
    ch.flow(False, callback=answers.append)
    session.driver.run_until(lambda: events.closed, what="the broker to refuse flow(False)")
    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert reason.reply_code == 540
    assert reason.reply_text.startswith("NOT_IMPLEMENTED"), reason.reply_text
    assert answers == []
    assert len(channel_events.closed) == 1
    channel_reason = channel_events.closed[0]
    assert type(channel_reason) is exceptions.ConnectionClosedByBroker
    assert (channel_reason.reply_code, channel_reason.reply_text) == (540, reason.reply_text)
