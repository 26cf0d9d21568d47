"""Broker-side faults on every loop (issue 6), against a node the tests may break.

- The broker closes the connection (``rabbitmqctl close_connection``) while channels have an
  RPC on the wire, one queued behind it, unconfirmed publishes and consumers: everything
  learns the reason, nothing pending is answered afterwards, and the loop goes on.
- ``rabbitmqctl stop_app``/``start_app`` and SIGKILL of the node's Erlang VM: the close is
  reported within the heartbeat bound (heartbeat=1: at most 2 x 1 s + 1 s after the fault)
  with a precise exception, and a new connection with the same parameters works once the node
  is back.
- The memory alarm: Blocked with RabbitMQ's reason, Unblocked when cleared, and
  ``blocked_connection_timeout`` on time.

All of it runs on the fault node (``fault_node.py``), never on the shared test node.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, List, Tuple

import pytest
from conformance.conftest import ChannelEvents, Events, MemoryAlarm, Session

from amqpbase import exceptions, spec
from amqpbase.channel import Channel
from amqpbase.connection import Connection

from . import fault_node
from .fault_node import FaultNode

# The fault node's fixtures, made visible to this module's tests.
fault_broker = fault_node.fault_broker
fault_memory_alarm = fault_node.fault_memory_alarm
fault_node_session = fault_node.fault_node_session
fault_session = fault_node.fault_session

pytestmark = pytest.mark.broker

#: Heartbeat of the stop/kill tests, seconds; a dead broker must be noticed within
#: ``2 * HEARTBEAT + 1`` seconds of the fault (two missed heartbeats, plus a margin).
HEARTBEAT = 1
NOTICE_BOUND = 2 * HEARTBEAT + 1.0


class Timed:
    """Close callbacks with the time each ran."""

    def __init__(self) -> None:
        self.reasons: List[BaseException] = []
        self.times: List[float] = []

    def on_close(self, _owner: Any, reason: BaseException) -> None:
        self.reasons.append(reason)
        self.times.append(time.monotonic())


class Confirms:
    """Publisher confirms expanded to one entry per delivery tag (a ``multiple`` ack settles
    every unsettled tag up to its own, AMQP 0-9-1 basic.ack); confirms that arrive once
    ``closed()`` is true are kept apart in ``late``."""

    def __init__(self, closed: Any) -> None:
        self.closed = closed
        self.acked: List[int] = []
        self.nacked: List[int] = []
        self.late: List[Any] = []

    def on_confirm(self, frame_value: Any) -> None:
        method = frame_value.method
        if self.closed():
            self.late.append(method)
            return
        settled = set(self.acked) | set(self.nacked)
        first = max(settled, default=0) + 1 if method.multiple else method.delivery_tag
        tags = [tag for tag in range(first, method.delivery_tag + 1) if tag not in settled]
        target = self.acked if isinstance(method, spec.Basic.Ack) else self.nacked
        target.extend(tags)


def in_thread(action: Any) -> Tuple[threading.Thread, List[BaseException]]:
    """Run ``action()`` in a thread (so the test's loop keeps running meanwhile); the list
    collects the exception it raised, if any."""
    errors: List[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def open_watched(
    session: Session, params: Any
) -> Tuple[Connection, Events, Timed, Channel, ChannelEvents]:
    """Open a connection and one channel with ``params``, recording when the connection's
    on_close ran (``Timed``) and what the channel's on_close got (``ChannelEvents``)."""
    conn, events = session.open_connection(params)
    timed = Timed()
    conn.add_on_close_callback(timed.on_close)
    ch = session.open_channel(conn)
    channel_events = ChannelEvents()
    ch.add_on_close_callback(channel_events.on_close)
    return conn, events, timed, ch, channel_events


def prove_loop_alive(session: Session) -> None:
    """A timer scheduled now still fires: the loop was not broken by what just happened."""
    fired: List[bool] = []
    session.driver.call_later(0.01, lambda: fired.append(True))
    session.driver.run_until(lambda: fired, what="a timer scheduled after the fault")


def round_trip(session: Session, connection: Connection) -> None:
    """A channel on ``connection`` declares a queue, publishes to it with a confirm and gets
    the message back: the connection is fully usable."""
    ch = session.open_channel(connection)
    queue = session.declare_queue(ch, exclusive=True)
    acks: List[Any] = []
    session.rpc(ch.confirm_delivery, acks.append)
    ch.basic_publish("", queue, b"after the fault")
    session.driver.run_until(lambda: acks, what="the confirm of a publish after the fault")
    assert isinstance(acks[0].method, spec.Basic.Ack)
    got = session.rpc(ch.basic_get, queue, auto_ack=True)
    assert bytes(got[3]) == b"after the fault"


# ---------------------------------------------------------------------------------------------
# The broker closes the connection
# ---------------------------------------------------------------------------------------------


def test_broker_close_reaches_every_channel_rpc_confirm_and_consumer(
    fault_session: Session, fault_memory_alarm: MemoryAlarm, caplog: pytest.LogCaptureFixture
) -> None:
    """``rabbitmqctl close_connection`` while work is pending everywhere. The memory alarm
    keeps it pending: once a publish blocks the connection RabbitMQ stops reading it, so RPCs
    and confirms sent after that are never answered.

    - every connection close callback gets the same ``ConnectionClosedByBroker(320,
      'CONNECTION_FORCED - <text>')``, after every channel's close callbacks got that same
      object (docs/api.md, ``add_on_close_callback``);
    - the RPC on the wire and the one queued behind it never get their callbacks;
    - publishes acked before the close (tags 1-3) were reported once each, the two sent while
      blocked (tags 4, 5) are never acked nor nacked, and the channel's warning names them;
    - consumers are dropped with their channel (``consumer_tags`` empty, no broker-cancel
      callback, no delivery afterwards);
    - the loop goes on: a timer still fires, and another connection on the same loop (opened
      before the fault) still works."""
    session = fault_session
    caplog.set_level(logging.WARNING, logger="amqpbase")
    name = session.name("conn")
    conn, events = session.open_connection(session.params(connection_name=name))
    order: List[str] = []
    second = Timed()
    conn.add_on_close_callback(second.on_close)
    conn.add_on_close_callback(lambda c, r: order.append("connection"))
    bystander, bystander_events = session.open_connection()

    publisher = session.open_channel(conn)
    other = session.open_channel(conn)
    channel_events = [ChannelEvents(), ChannelEvents()]
    for ch, recorder in zip((publisher, other), channel_events):
        ch.add_on_close_callback(recorder.on_close)
        ch.add_on_close_callback(
            lambda c, r: order.append(f"channel{c.channel_number}"))
    queue = session.declare_queue(publisher)
    other_queue = session.declare_queue(other)
    delivered: List[bytes] = []
    cancels: List[Any] = []

    def on_message(ch: Channel, method: Any, props: Any, body: bytes) -> None:
        delivered.append(bytes(body))
        ch.basic_ack(method.delivery_tag)

    for ch, q in ((publisher, queue), (other, other_queue)):
        ch.add_on_cancel_callback(cancels.append)
        session.rpc(ch.basic_consume, q, on_message)
    confirms = Confirms(lambda: bool(events.closed))
    publisher.add_on_close_callback(lambda c, r: order.append("publisher closed"))
    session.rpc(publisher.confirm_delivery, confirms.on_confirm)
    for n in (1, 2, 3):
        publisher.basic_publish("", queue, b"%d" % n)
    session.driver.run_until(lambda: len(delivered) == 3 and confirms.acked == [1, 2, 3],
                             what="three deliveries and the acks of tags 1-3")

    blocked: List[Any] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked.append(f))
    fault_memory_alarm.raise_alarm()
    publisher.basic_publish("", queue, b"4")
    publisher.basic_publish("", queue, b"5")
    session.driver.run_until(lambda: blocked, what="Connection.Blocked")
    rpc_replies: List[Any] = []
    publisher.queue_declare(queue, passive=True, callback=rpc_replies.append)  # on the wire
    other.basic_qos(prefetch_count=5, callback=rpc_replies.append)  # on the wire
    other.exchange_declare(session.name("x"), "direct",
                           callback=rpc_replies.append)  # queued behind basic_qos
    session.driver.run_for(0.1)
    assert rpc_replies == [] and conn.is_open  # the broker is not reading us

    session.broker.ctl("close_connection", session.connection_pid(name), "fault test")
    session.driver.run_until(lambda: events.closed, what="on_close after close_connection")

    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert (reason.reply_code, reason.reply_text) == (
        spec.CONNECTION_FORCED, "CONNECTION_FORCED - fault test")
    assert second.reasons == [reason]  # the same object for every callback
    for ch, recorder in zip((publisher, other), channel_events):
        assert recorder.closed == [reason] and recorder.closed[0] is reason
        assert ch.is_closed and ch.consumer_tags == []
    assert order[-1] == "connection"
    assert sorted(order[:-1]) == sorted([f"channel{publisher.channel_number}",
                                         f"channel{other.channel_number}", "publisher closed"])
    assert confirms.acked == [1, 2, 3] and confirms.nacked == [] and confirms.late == []
    unsettled = [r for r in caplog.records
                 if "unconfirmed" in r.getMessage() and r.name == "amqpbase.channel"]
    assert len(unsettled) == 1 and "2 publish(es) unconfirmed (tags 4..5)" in \
        unsettled[0].getMessage(), [r.getMessage() for r in unsettled]

    prove_loop_alive(session)
    fault_memory_alarm.clear()
    session.driver.run_for(0.2)  # anything late would arrive now
    assert confirms.acked == [1, 2, 3] and confirms.nacked == [] and confirms.late == []
    assert rpc_replies == [] and cancels == [] and delivered == [b"1", b"2", b"3"]
    assert len(events.closed) == 1 and len(second.reasons) == 1
    assert bystander.is_open and bystander_events.closed == []
    round_trip(session, bystander)


# ---------------------------------------------------------------------------------------------
# The node goes away: stop_app / start_app, SIGKILL / restart
# ---------------------------------------------------------------------------------------------


def test_stop_app_is_reported_within_the_heartbeat_bound_then_start_app(
    fault_session: Session, fault_broker: FaultNode, record_property: Any
) -> None:
    """``rabbitmqctl stop_app`` with heartbeat=1: RabbitMQ closes every client connection with
    ``Connection.Close(320, "CONNECTION_FORCED - broker forced connection closure with reason
    'shutdown'")``, which on_close and each channel's on_close get as
    ``ConnectionClosedByBroker`` within 2 x heartbeat + 1 s of the command; after
    ``start_app`` a connection with the very same parameters opens and works."""
    session = fault_session
    params = session.params(heartbeat=HEARTBEAT)
    conn, events, timed, ch, channel_events = open_watched(session, params)
    session.rpc(ch.basic_consume, session.declare_queue(ch), lambda *a: None)

    started = time.monotonic()
    thread, errors = in_thread(fault_broker.stop_app)
    session.driver.run_until(lambda: events.closed, timeout=NOTICE_BOUND + 2.0,
                             what="the close after stop_app")
    noticed = timed.times[0] - started
    record_property("noticed_after_stop_app_s", round(noticed, 3))
    session.driver.run_until(lambda: not thread.is_alive(), timeout=30.0,
                             what="rabbitmqctl stop_app to return")
    assert errors == []

    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionClosedByBroker, repr(reason)
    assert reason.reply_code == spec.CONNECTION_FORCED
    assert reason.reply_text.startswith("CONNECTION_FORCED") and "shutdown" in reason.reply_text
    assert noticed <= NOTICE_BOUND, noticed
    assert channel_events.closed == [reason]
    assert conn.is_closed and not ch.is_open

    fault_broker.start_app()
    again, again_events = session.open_connection(params)
    round_trip(session, again)
    assert again_events.closed == [] and len(events.closed) == 1


def test_killed_node_is_stream_lost_within_the_heartbeat_bound_then_restart(
    fault_session: Session, fault_broker: FaultNode, record_property: Any
) -> None:
    """SIGKILL of the node's Erlang VM with heartbeat=1: no AMQP close ever comes; on_close
    (and the channel's on_close) gets ``StreamLostError`` within 2 x heartbeat + 1 s, with the
    OS-level cause chained as ``__cause__`` (an ``OSError``: ECONNRESET, or a
    ``ConnectionError`` for the end of stream; on Twisted that one is itself chained to
    Twisted's ``ConnectionLost``/``ConnectionDone``, docs/internals.md). A pending RPC never
    gets its callback. After ``scripts/broker start`` (same port) a connection with the same
    parameters works."""
    session = fault_session
    params = session.params(heartbeat=HEARTBEAT)
    conn, events, timed, ch, channel_events = open_watched(session, params)

    started = time.monotonic()
    fault_broker.kill()
    replies: List[Any] = []
    if ch.is_open:  # the loop has not run yet: the channel cannot know
        ch.queue_declare(session.name("q"), callback=replies.append)
    session.driver.run_until(lambda: events.closed, timeout=NOTICE_BOUND + 2.0,
                             what="the close after SIGKILL")
    noticed = timed.times[0] - started
    record_property("noticed_after_kill_s", round(noticed, 3))

    reason = events.closed[0]
    record_property("kill_cause", repr(reason.__cause__))
    assert type(reason) is exceptions.StreamLostError, repr(reason)
    cause = reason.__cause__
    assert isinstance(cause, OSError), repr(cause)
    if session.driver.name == "twisted" and not isinstance(cause, ConnectionResetError):
        from twisted.internet import error as twisted_error

        assert isinstance(cause.__cause__, (twisted_error.ConnectionLost,
                                            twisted_error.ConnectionDone)), repr(cause.__cause__)
    assert noticed <= NOTICE_BOUND, noticed
    assert channel_events.closed == [reason]
    session.driver.run_for(0.05)
    assert replies == [] and len(events.closed) == 1

    fault_broker.restart()
    assert (fault_broker.host, fault_broker.port) == (params.host, params.port)
    again, again_events = session.open_connection(params)
    round_trip(session, again)
    assert again_events.closed == []


# ---------------------------------------------------------------------------------------------
# Memory alarm
# ---------------------------------------------------------------------------------------------


def test_memory_alarm_blocks_publishers_with_reason_then_unblocks(
    fault_session: Session, fault_memory_alarm: MemoryAlarm
) -> None:
    """Memory alarm on the fault node: a publishing connection gets exactly one
    Connection.Blocked whose reason is RabbitMQ's ``"low on memory"``; a connection that only
    consumes is not blocked and keeps receiving and acking messages queued before the alarm;
    when the alarm clears the publisher gets one Connection.Unblocked, and only then the
    confirm of its publish made while blocked."""
    session = fault_session
    publisher_conn, publisher_events = session.open_connection()
    consumer_conn, consumer_events = session.open_connection()
    log: List[str] = []
    reasons: List[str] = []
    publisher_conn.add_on_connection_blocked_callback(
        lambda c, f: (log.append("blocked"), reasons.append(f.method.reason)))
    publisher_conn.add_on_connection_unblocked_callback(lambda c, f: log.append("unblocked"))
    consumer_conn.add_on_connection_blocked_callback(lambda c, f: log.append("consumer blocked"))
    pub = session.open_channel(publisher_conn)
    queue = session.declare_queue(pub)
    session.rpc(pub.confirm_delivery, lambda f: log.append(f"ack {f.method.delivery_tag}"))
    for n in range(3):
        pub.basic_publish("", queue, b"early %d" % n)
    session.driver.run_until(lambda: "ack 3" in log, what="the acks of the early publishes")

    fault_memory_alarm.raise_alarm()
    pub.basic_publish("", queue, b"while blocked")
    session.driver.run_until(lambda: "blocked" in log, what="Connection.Blocked")
    assert reasons == ["low on memory"]

    consumer = session.open_channel(consumer_conn)
    got: List[bytes] = []

    def on_message(ch: Channel, method: Any, props: Any, body: bytes) -> None:
        got.append(bytes(body))
        ch.basic_ack(method.delivery_tag)

    session.rpc(consumer.basic_consume, queue, on_message)
    session.driver.run_until(lambda: len(got) == 3, what="the early messages under the alarm")
    assert got == [b"early 0", b"early 1", b"early 2"]
    assert "ack 4" not in log and "consumer blocked" not in log

    fault_memory_alarm.clear()
    session.driver.run_until(lambda: "ack 4" in log, what="the ack of the blocked publish")
    session.driver.run_until(lambda: len(got) == 4, what="the message published while blocked")
    assert log[log.index("blocked"):] == ["blocked", "unblocked", "ack 4"], log
    assert got[3] == b"while blocked"
    assert publisher_events.closed == [] and consumer_events.closed == []
    assert "consumer blocked" not in log


@pytest.mark.allow_error_logs  # the blocked-connection timeout is logged at ERROR
def test_blocked_connection_timeout_is_on_time(
    fault_session: Session, fault_memory_alarm: MemoryAlarm, record_property: Any
) -> None:
    """``blocked_connection_timeout=1.0``: the connection is torn down 1.0 s (+-0.5 s) after
    Connection.Blocked arrived; on_close and the channel's on_close get
    ``ConnectionBlockedTimeout``; the RPC left pending never gets its callback and the
    blocked publish is never confirmed; the loop goes on."""
    session = fault_session
    conn, events, timed, ch, channel_events = open_watched(
        session, session.params(blocked_connection_timeout=1.0)
    )
    blocked_at: List[float] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked_at.append(time.monotonic()))
    acks: List[Any] = []
    session.rpc(ch.confirm_delivery, acks.append)

    fault_memory_alarm.raise_alarm()
    ch.basic_publish("", session.name("nowhere"), b"x")
    session.driver.run_until(lambda: blocked_at, what="Connection.Blocked")
    replies: List[Any] = []
    ch.basic_qos(prefetch_count=1, callback=replies.append)
    session.driver.run_until(lambda: events.closed, timeout=3.0,
                             what="the blocked-connection timeout")

    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionBlockedTimeout, repr(reason)
    delay = timed.times[0] - blocked_at[0]
    record_property("blocked_to_close_s", round(delay, 3))
    assert 0.5 <= delay <= 1.5, delay
    assert channel_events.closed == [reason]
    assert conn.is_closed and ch.is_closed
    prove_loop_alive(session)
    assert replies == [] and acks == [] and len(events.closed) == 1
