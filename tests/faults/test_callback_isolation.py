"""User-callback isolation on every loop (internals.md rule 7, issue 6).

An exception raised by a user callback is logged at ERROR on ``amqpbase.callbacks`` with its
traceback (the record names the callback), and breaks nothing: the other callbacks registered
for the same event still run, later events (deliveries, acks, replies) still arrive, and the
connection stays open (or, for close callbacks, the close still completes).

Covered: connection and channel on_close, channel on_open, connection on_open_error, confirm
callbacks (``confirm_delivery``'s ack_nack_callback), return callbacks, blocked/unblocked
callbacks, ``basic_consume``'s on_message_callback, RPC callbacks (and ``add_callback``
registrations for the same reply). Runs on the fault node (the memory alarm is needed for
the blocked callbacks and is never raised on the shared node).
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable, List, Optional

import pytest
from conformance.conftest import MemoryAlarm, Session

from amqpbase import exceptions, spec
from amqpbase.channel import Channel

from . import fault_node

# The fault node's fixtures, made visible to this module's tests.
fault_broker = fault_node.fault_broker
fault_memory_alarm = fault_node.fault_memory_alarm
fault_node_session = fault_node.fault_node_session
fault_session = fault_node.fault_session

pytestmark = [pytest.mark.broker, pytest.mark.allow_error_logs]


class Boom(Exception):
    """Raised on purpose by a user callback."""


class Raising:
    """A callback that records its calls and raises :class:`Boom` on each of them (or only on
    the first ``limit``). Its repr names it, so the log record can be matched to it."""

    def __init__(self, label: str, limit: int = 1_000_000,
                 before: Optional[Callable[..., None]] = None) -> None:
        self.label = label
        self.limit = limit
        self.before = before
        self.calls: List[Any] = []
        self.raised: List[Boom] = []

    def __repr__(self) -> str:
        return f"<Raising {self.label}>"

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)
        if self.before is not None:
            self.before(*args)
        if len(self.raised) < self.limit:
            error = Boom(f"{self.label} failed on call {len(self.calls)}")
            self.raised.append(error)
            raise error


def assert_logged(caplog: pytest.LogCaptureFixture, callback: Raising) -> None:
    """Each exception ``callback`` raised was logged once, at ERROR on
    ``amqpbase.callbacks``, with its traceback, in a message naming the callback."""
    assert callback.raised, f"{callback!r} never ran"
    for error in callback.raised:
        records = [r for r in caplog.records if r.exc_info and r.exc_info[1] is error]
        assert len(records) == 1, [r.getMessage() for r in caplog.records]
        record = records[0]
        assert record.name == "amqpbase.callbacks" and record.levelno == logging.ERROR
        assert record.exc_info is not None and record.exc_info[2] is not None  # traceback
        assert repr(callback) in record.getMessage(), record.getMessage()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR, logger="amqpbase")
    return caplog


def test_close_callbacks_connection_and_channel(fault_session: Session,
                                                logs: pytest.LogCaptureFixture) -> None:
    """A raising on_close callback on two channels and on the connection: the second callback
    of each still gets the reason, the channels' callbacks all run before the connection's,
    and the close completes (``ConnectionClosedByClient``)."""
    session = fault_session
    conn, events = session.open_connection()
    order: List[str] = []
    channel_raisers = []
    for _ in range(2):
        ch = session.open_channel(conn)
        raiser = Raising(f"channel {ch.channel_number} on_close")
        channel_raisers.append(raiser)
        ch.add_on_close_callback(raiser)
        ch.add_on_close_callback(lambda c, r: order.append(f"channel {c.channel_number}"))
    conn_raiser = Raising("connection on_close")
    conn.add_on_close_callback(conn_raiser)
    conn.add_on_close_callback(lambda c, r: order.append("connection"))

    conn.close()
    session.driver.run_until(lambda: "connection" in order, what="the second close callback")
    assert sorted(order) == ["channel 1", "channel 2", "connection"]
    assert order[-1] == "connection"
    assert conn.is_closed and len(events.closed) == 1
    assert type(events.closed[0]) is exceptions.ConnectionClosedByClient
    for raiser in channel_raisers + [conn_raiser]:
        assert len(raiser.calls) == 1
        assert_logged(logs, raiser)
    assert type(channel_raisers[0].calls[0][1]) is exceptions.ChannelClosedByClient
    assert conn_raiser.calls[0][1] is events.closed[0]


def test_open_and_open_error_callbacks(fault_session: Session,
                                       logs: pytest.LogCaptureFixture) -> None:
    """A raising channel on_open callback leaves the channel open and usable; a raising
    on_open_error callback does not keep a second one from getting the error."""
    session = fault_session
    conn, _ = session.open_connection()
    raiser = Raising("channel on_open")
    ch = conn.channel(on_open_callback=raiser)
    session.driver.run_until(lambda: raiser.calls, what="the channel on_open callback")
    assert ch.is_open
    ok = session.rpc(ch.queue_declare, "", exclusive=True)
    assert isinstance(ok.method, spec.Queue.DeclareOk)
    assert_logged(logs, raiser)

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error_raiser = Raising("on_open_error")
    errors: List[BaseException] = []
    refused = session.driver.connect(session.params(port=port),
                                     on_open_error_callback=error_raiser)
    refused.add_on_open_error_callback(lambda c, e: errors.append(e))
    session.driver.run_until(lambda: errors, what="the second open-error callback")
    assert isinstance(errors[0], exceptions.AMQPConnectionError), repr(errors[0])
    assert error_raiser.calls[0][1] is errors[0]
    assert_logged(logs, error_raiser)
    assert conn.is_open and ch.is_open


def test_confirm_callbacks(fault_session: Session, logs: pytest.LogCaptureFixture) -> None:
    """``confirm_delivery``'s ack_nack_callback raises on every ack: a second ack callback
    (``add_callback`` for Basic.Ack, not one-shot) still sees every ack, later acks keep
    coming, and the channel stays open."""
    session = fault_session
    conn, _ = session.open_connection()
    ch = session.open_channel(conn)
    queue = session.declare_queue(ch, exclusive=True)
    raiser = Raising("ack_nack_callback")
    seen: List[int] = []
    session.rpc(ch.confirm_delivery, raiser)
    ch.add_callback(lambda f: seen.append(f.method.delivery_tag), [spec.Basic.Ack],
                    one_shot=False)
    for n in (1, 2, 3):
        ch.basic_publish("", queue, b"%d" % n)
        session.driver.run_until(lambda: n in seen, what=f"the ack of tag {n}")  # noqa: B023
    assert seen == [1, 2, 3]
    assert [args[0].method.delivery_tag for args in raiser.calls] == [1, 2, 3]
    assert_logged(logs, raiser)
    assert ch.is_open and conn.is_open
    session.wait_for_count(ch, queue, 3)


def test_return_callbacks(fault_session: Session, logs: pytest.LogCaptureFixture) -> None:
    """A raising return callback: the second return callback gets every Basic.Return, and
    the channel goes on (a later RPC is answered)."""
    session = fault_session
    conn, _ = session.open_connection()
    ch = session.open_channel(conn)
    raiser = Raising("on_return")
    returned: List[bytes] = []
    ch.add_on_return_callback(raiser)
    ch.add_on_return_callback(lambda c, m, p, body: returned.append(bytes(body)))
    nowhere = session.name("nowhere")
    ch.basic_publish("", nowhere, b"first", mandatory=True)
    ch.basic_publish("", nowhere, b"second", mandatory=True)
    session.driver.run_until(lambda: len(returned) == 2, what="two returns")
    assert returned == [b"first", b"second"] and len(raiser.calls) == 2
    assert raiser.calls[0][1].reply_code == spec.NO_ROUTE
    assert_logged(logs, raiser)
    ok = session.rpc(ch.queue_declare, "", exclusive=True)
    assert isinstance(ok.method, spec.Queue.DeclareOk) and conn.is_open


def test_blocked_and_unblocked_callbacks(fault_session: Session,
                                         fault_memory_alarm: MemoryAlarm,
                                         logs: pytest.LogCaptureFixture) -> None:
    """Raising blocked and unblocked callbacks: the second of each still runs, the
    connection stays open and the publish made while blocked is confirmed after Unblocked."""
    session = fault_session
    conn, events = session.open_connection()
    blocked_raiser = Raising("on_blocked")
    unblocked_raiser = Raising("on_unblocked")
    log: List[str] = []
    conn.add_on_connection_blocked_callback(blocked_raiser)
    conn.add_on_connection_blocked_callback(lambda c, f: log.append("blocked"))
    conn.add_on_connection_unblocked_callback(unblocked_raiser)
    conn.add_on_connection_unblocked_callback(lambda c, f: log.append("unblocked"))
    ch = session.open_channel(conn)
    queue = session.declare_queue(ch, exclusive=True)
    session.rpc(ch.confirm_delivery, lambda f: log.append(f"ack {f.method.delivery_tag}"))

    fault_memory_alarm.raise_alarm()
    ch.basic_publish("", queue, b"while blocked")
    session.driver.run_until(lambda: "blocked" in log, what="the second blocked callback")
    fault_memory_alarm.clear()
    session.driver.run_until(lambda: "ack 1" in log, what="the ack after Unblocked")
    assert log == ["blocked", "unblocked", "ack 1"]
    assert len(blocked_raiser.calls) == 1 and len(unblocked_raiser.calls) == 1
    assert_logged(logs, blocked_raiser)
    assert_logged(logs, unblocked_raiser)
    assert conn.is_open and events.closed == []


def test_on_message_callbacks(fault_session: Session, logs: pytest.LogCaptureFixture) -> None:
    """Two consumers on one channel, one whose on_message_callback acks then raises on every
    message: both keep getting their messages in order, the other consumer is untouched,
    and the acks sent before the raise took effect (the queues drain)."""
    session = fault_session
    conn, _ = session.open_connection()
    ch = session.open_channel(conn)
    bad_queue = session.declare_queue(ch)
    good_queue = session.declare_queue(ch)
    bad_seen: List[bytes] = []
    good_seen: List[bytes] = []

    def acking(seen: List[bytes]) -> Callable[..., None]:
        def on_message(c: Channel, method: Any, props: Any, body: bytes) -> None:
            seen.append(bytes(body))
            c.basic_ack(method.delivery_tag)
        return on_message

    raiser = Raising("on_message", before=acking(bad_seen))
    session.rpc(ch.basic_consume, bad_queue, raiser)
    session.rpc(ch.basic_consume, good_queue, acking(good_seen))
    for n in range(4):
        ch.basic_publish("", bad_queue, b"bad %d" % n)
        ch.basic_publish("", good_queue, b"good %d" % n)
    session.driver.run_until(lambda: len(bad_seen) == 4 and len(good_seen) == 4,
                             what="every message on both consumers")
    assert bad_seen == [b"bad %d" % n for n in range(4)]
    assert good_seen == [b"good %d" % n for n in range(4)]
    assert len(raiser.calls) == 4
    assert_logged(logs, raiser)
    checker = session.open_channel(conn)  # the consumers' channel keeps its consumers
    for queue in (bad_queue, good_queue):
        session.wait_for_count(checker, queue, 0)
    assert ch.is_open and len(ch.consumer_tags) == 2


def test_rpc_callbacks(fault_session: Session, logs: pytest.LogCaptureFixture) -> None:
    """A raising RPC callback: an ``add_callback`` registration for the same reply still
    gets it, the RPC queued behind it is sent and answered, and the channel stays open."""
    session = fault_session
    conn, _ = session.open_connection()
    ch = session.open_channel(conn)
    raiser = Raising("queue_declare callback")
    registered: List[Any] = []
    qos: List[Any] = []
    ch.add_callback(registered.append, [spec.Queue.DeclareOk])
    ch.queue_declare("", exclusive=True, callback=raiser)
    ch.basic_qos(prefetch_count=3, callback=qos.append)  # queued behind the declare
    session.driver.run_until(lambda: qos, what="the reply to the queued basic_qos")
    assert len(raiser.calls) == 1 and len(registered) == 1
    assert registered[0] is raiser.calls[0][0]
    assert isinstance(registered[0].method, spec.Queue.DeclareOk)
    assert isinstance(qos[0].method, spec.Basic.QosOk)
    assert_logged(logs, raiser)
    assert ch.is_open and conn.is_open


def test_every_raising_callback_leaves_the_connection_usable(
    fault_session: Session, logs: pytest.LogCaptureFixture
) -> None:
    """After an RPC callback, an on_message callback and a confirm callback all raised on one
    connection, it still opens channels and round-trips a message (nothing was poisoned)."""
    session = fault_session
    conn, events = session.open_connection()
    ch = session.open_channel(conn)
    queue = session.declare_queue(ch, exclusive=True)
    raisers = [Raising("rpc"), Raising("message"), Raising("confirm")]
    ch.basic_qos(prefetch_count=10, callback=raisers[0])
    session.rpc(ch.confirm_delivery, raisers[2])
    session.rpc(ch.basic_consume, queue, raisers[1], auto_ack=True)
    ch.basic_publish("", queue, b"x")
    session.driver.run_until(lambda: all(r.calls for r in raisers), what="every raiser")
    for raiser in raisers:
        assert_logged(logs, raiser)
    other = session.open_channel(conn)
    other_queue = session.declare_queue(other, exclusive=True)
    other.basic_publish("", other_queue, b"still fine")
    session.wait_for_count(other, other_queue, 1)
    reply = session.rpc(other.basic_get, other_queue, auto_ack=True)
    assert bytes(reply[3]) == b"still fine"
    assert conn.is_open and events.closed == []

