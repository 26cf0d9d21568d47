"""Connection life cycle against the real broker: open, close by either side, states,
capabilities, heartbeats, update_secret, and the adapter hook contract seen through a live
connection (timers, thread-safe callbacks)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Tuple

import pytest

from amqpbase import exceptions, spec
from amqpbase.channel import Channel
from amqpbase.connection import Connection

from .conftest import ChannelEvents, Events, Session

pytestmark = pytest.mark.broker

CAPABILITIES = ("basic_nack", "consumer_cancel_notify", "exchange_exchange_bindings",
                "publisher_confirms")


def states(connection: Connection) -> Tuple[bool, bool, bool]:
    return connection.is_open, connection.is_closing, connection.is_closed


# ---------------------------------------------------------------------------------------------
# Opening and closing
# ---------------------------------------------------------------------------------------------


def test_open_callbacks_states_and_capabilities(session: Session) -> None:
    """on_open_callback and add_on_open_callback each run exactly once with the connection;
    while opening the connection is neither open, closing nor closed; once open every
    capability property (False until the broker announced it) is True for RabbitMQ."""
    connection, events = session.connect()
    added: List[Connection] = []
    connection.add_on_open_callback(added.append)
    assert states(connection) == (False, False, False)
    for name in CAPABILITIES:
        assert getattr(connection, name) is False, name
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.channel()  # not open yet

    session.driver.run_until(lambda: events.settled, what="the connection to open")

    assert events.open_errors == []
    assert events.opened == [connection]
    assert added == [connection]
    assert states(connection) == (True, False, False)
    for name in CAPABILITIES:
        assert getattr(connection, name) is True, name
    assert events.closed == []  # on_close is not part of opening


def test_properties_exchanged_in_the_handshake(session: Session) -> None:
    """The handshake's property tables, both ways: the client sees RabbitMQ's server
    properties (product, version, capabilities as a dict), and the broker sees the client's
    connection_name, product and every capability the client relies on (without
    ``connection.blocked`` RabbitMQ would never send Connection.Blocked)."""
    name = session.name("conn")
    connection, _ = session.open_connection(session.params(connection_name=name))
    assert connection.server_properties["product"] == "RabbitMQ"
    assert isinstance(connection.server_properties["version"], str)
    assert connection.server_capabilities["publisher_confirms"] is True
    (client_properties,) = session.connection_info(name, "client_properties")
    assert '{"product","amqpbase"}' in client_properties
    for capability in ("authentication_failure_close", "basic.nack", "connection.blocked",
                       "consumer_cancel_notify"):
        assert f'{{"{capability}",true}}' in client_properties, capability


def test_client_close_reports_connection_closed_by_client(session: Session) -> None:
    """close() moves the connection to closing at once, then to closed; on_close gets
    ``ConnectionClosedByClient(200, 'Normal shutdown')`` exactly once."""
    connection, events = session.open_connection()

    connection.close()
    assert states(connection) == (False, True, False)
    session.driver.run_until(lambda: events.closed, what="on_close after close()")

    assert len(events.closed) == 1
    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert (reason.reply_code, reason.reply_text) == (200, "Normal shutdown")
    assert states(connection) == (False, False, True)
    session.driver.run_for(0.05)
    assert len(events.closed) == 1  # never reported twice


def test_client_close_with_custom_reply(session: Session) -> None:
    """close(reply_code, reply_text) hands exactly that code and text to on_close."""
    connection, events = session.open_connection()
    connection.close(200, "conformance says bye")
    session.driver.run_until(lambda: events.closed)
    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert (reason.reply_code, reason.reply_text) == (200, "conformance says bye")


def test_close_twice_raises_wrong_state(session: Session) -> None:
    """close() while closing, and close() once closed, raise ConnectionWrongStateError and do
    not disturb the close in progress."""
    connection, events = session.open_connection()
    connection.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()
    session.driver.run_until(lambda: events.closed)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()
    assert len(events.closed) == 1
    assert type(events.closed[0]) is exceptions.ConnectionClosedByClient


def test_close_while_opening_aborts_open(session: Session) -> None:
    """close() before the handshake finished aborts the open: the open-error callback gets
    ``ConnectionOpenAborted``; on_open and on_close never run."""
    connection, events = session.connect()
    connection.close()
    assert connection.is_closing
    session.driver.run_until(lambda: events.settled, what="the aborted open to be reported")
    assert events.opened == []
    assert len(events.open_errors) == 1
    assert type(events.open_errors[0]) is exceptions.ConnectionOpenAborted
    session.driver.run_until(lambda: connection.is_closed)
    assert events.closed == []


def test_close_closes_channels_before_the_connection(session: Session) -> None:
    """Connection.close() closes its open channels first (the broker confirms each), so each
    channel's on_close runs, with ``ChannelClosedByClient``, before the connection's."""
    connection, events = session.open_connection()
    order: List[str] = []
    reasons: List[BaseException] = []
    channels = [session.open_channel(connection) for _ in range(3)]
    queue = session.declare_queue(channels[0])
    session.rpc(channels[0].basic_consume, queue, lambda *a: None)

    def on_channel_close(closed: Channel, reason: BaseException) -> None:
        order.append(f"channel{closed.channel_number}")
        reasons.append(reason)

    for ch in channels:
        ch.add_on_close_callback(on_channel_close)
    connection.add_on_close_callback(lambda c, r: order.append("connection"))

    connection.close()
    session.driver.run_until(lambda: events.closed)

    assert sorted(order[:-1]) == sorted(f"channel{c.channel_number}" for c in channels)
    assert order[-1] == "connection"
    assert all(type(r) is exceptions.ChannelClosedByClient for r in reasons), reasons
    assert all(c.is_closed for c in channels)


def test_close_passes_its_reply_to_the_channels(session: Session) -> None:
    """pika 1.x compatibility: ``Connection.close(code, text)`` closes each open channel with
    the same ``(code, text)`` (pika's ``_close_channels(reply_code, reply_text)``), so the
    channel's on_close gets ``ChannelClosedByClient(code, text)``."""
    connection, events = session.open_connection()
    ch = session.open_channel(connection)
    channel_events = ChannelEvents()
    ch.add_on_close_callback(channel_events.on_close)
    connection.close(200, "closing everything")
    session.driver.run_until(lambda: events.closed)
    assert len(channel_events.closed) == 1
    reason = channel_events.closed[0]
    assert type(reason) is exceptions.ChannelClosedByClient
    assert (reason.reply_code, reason.reply_text) == (200, "closing everything")


def test_close_with_a_channel_still_opening(session: Session) -> None:
    """A channel whose Channel.OpenOk has not arrived when the connection closes never reports
    open, and its on_close gets a reason (nothing is left hanging)."""
    connection, events = session.open_connection()
    opened: List[Channel] = []
    ch = connection.channel(on_open_callback=opened.append)
    channel_events = ChannelEvents()
    ch.add_on_close_callback(channel_events.on_close)
    connection.close()
    session.driver.run_until(lambda: events.closed)
    assert opened == []
    assert len(channel_events.closed) == 1
    assert isinstance(channel_events.closed[0], (exceptions.ChannelClosed,
                                                  exceptions.ConnectionClosed))
    assert ch.is_closed


def test_broker_close_connection(session: Session) -> None:
    """``rabbitmqctl close_connection <pid> 'test reason'``: on_close gets
    ``ConnectionClosedByBroker(320, 'CONNECTION_FORCED - test reason')`` and every channel's
    on_close gets that same reason; afterwards close() raises ConnectionWrongStateError."""
    name = session.name("conn")
    connection, events = session.open_connection(session.params(connection_name=name))
    channels = [session.open_channel(connection) for _ in range(2)]
    channel_events = [ChannelEvents() for _ in channels]
    for ch, ce in zip(channels, channel_events):
        ch.add_on_close_callback(ce.on_close)

    session.broker.ctl("close_connection", session.connection_pid(name), "test reason")
    session.driver.run_until(lambda: events.closed, what="on_close after the broker closed us")

    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert reason.reply_code == 320
    assert "test reason" in reason.reply_text
    assert reason.reply_text.startswith("CONNECTION_FORCED")
    assert states(connection) == (False, False, True)
    for ce in channel_events:
        assert len(ce.closed) == 1
        got = ce.closed[0]
        assert type(got) is exceptions.ConnectionClosedByBroker
        assert (got.reply_code, got.reply_text) == (reason.reply_code, reason.reply_text)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.channel()


# ---------------------------------------------------------------------------------------------
# Heartbeats and update_secret
# ---------------------------------------------------------------------------------------------


def test_heartbeat_negotiated_and_connection_stays_open_when_idle(session: Session) -> None:
    """heartbeat=2: the broker reports a 2 s heartbeat for the connection, and the idle
    connection stays open for 5 s (more than two intervals, after which RabbitMQ would drop a
    client that sent nothing) because heartbeats flow both ways."""
    name = session.name("conn")
    connection, events = session.open_connection(session.params(heartbeat=2,
                                                                 connection_name=name))
    assert session.connection_info(name, "timeout") == ["2"]
    assert connection.machine.heartbeat == 2  # the negotiated value on the client side

    session.driver.run_for(5.0)

    assert connection.is_open, events.closed
    assert events.closed == []
    ch = session.open_channel(connection)  # still usable
    assert ch.is_open


def test_heartbeat_zero_disables_heartbeats(session: Session) -> None:
    """heartbeat=0 is sent in Connection.TuneOk and the broker runs the connection without
    heartbeats (timeout 0)."""
    name = session.name("conn")
    session.open_connection(session.params(heartbeat=0, connection_name=name))
    assert session.connection_info(name, "timeout") == ["0"]


def test_heartbeat_none_and_callable_negotiation(session: Session) -> None:
    """heartbeat=None accepts the broker's proposal (RabbitMQ's default 60 s); a callable is
    called with (connection, broker's proposal) and its answer is what the broker uses."""
    name = session.name("conn")
    session.open_connection(session.params(heartbeat=None, connection_name=name))
    (proposal,) = session.connection_info(name, "timeout")
    assert int(proposal) == 60

    asked: List[Tuple[Connection, int]] = []

    def choose(connection: Connection, broker_value: int) -> int:
        asked.append((connection, broker_value))
        return 7

    name = session.name("conn")
    connection, _ = session.open_connection(session.params(heartbeat=choose,
                                                           connection_name=name))
    assert asked == [(connection, 60)]
    assert session.connection_info(name, "timeout") == ["7"]


def test_update_secret_round_trip(session: Session) -> None:
    """update_secret() sends Connection.UpdateSecret; RabbitMQ 3.10 with the internal auth
    backend answers Connection.UpdateSecretOk (it re-checks nothing for PLAIN users), the
    callback gets that frame and the connection stays usable. On a closed connection
    update_secret() raises ConnectionWrongStateError."""
    connection, events = session.open_connection()
    replies: List[Any] = []
    connection.update_secret("guest", "conformance rotation", callback=replies.append)
    session.driver.run_until(lambda: replies, what="Connection.UpdateSecretOk")
    assert isinstance(replies[0].method, spec.Connection.UpdateSecretOk)
    assert connection.is_open
    session.open_channel(connection)

    connection.close()
    session.driver.run_until(lambda: connection.is_closed)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.update_secret("guest", "too late")


# ---------------------------------------------------------------------------------------------
# The hook contract through a live connection
# ---------------------------------------------------------------------------------------------


def test_adapter_call_later_runs_once_in_delay_order_on_the_loop(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """``_adapter_call_later(delay, cb)``: cb runs later (never inside the call), once, not
    before ``delay``, on the loop thread; timers fire in deadline order whatever the order
    they were scheduled in."""
    conn = connection[0]
    fired: List[Tuple[str, float, int]] = []
    start = time.monotonic()
    delays = {"c": 0.09, "a": 0.03, "b": 0.06, "zero": 0.0}

    def record(label: str) -> Callable[[], None]:
        return lambda: fired.append((label, time.monotonic() - start, threading.get_ident()))

    for label, delay in delays.items():
        conn._adapter_call_later(delay, record(label))
    assert fired == []  # not run synchronously, not even with delay 0

    session.driver.run_until(lambda: len(fired) == 4, what="four timers")
    session.driver.run_for(0.05)

    assert [label for label, _, _ in fired] == ["zero", "a", "b", "c"]
    for label, elapsed, ident in fired:
        assert elapsed >= delays[label] - 0.002, (label, elapsed)
        assert ident == session.driver.loop_thread_ident
    assert len(fired) == 4


def test_adapter_remove_timeout_cancels_and_repeats_are_noops(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """``_adapter_remove_timeout(handle)`` cancels a pending timer; removing it again, or
    removing a timer that already fired, is a no-op (no error, nothing runs twice)."""
    conn = connection[0]
    fired: List[str] = []
    cancelled = conn._adapter_call_later(0.02, lambda: fired.append("cancelled"))
    conn._adapter_remove_timeout(cancelled)
    conn._adapter_remove_timeout(cancelled)
    done = conn._adapter_call_later(0.0, lambda: fired.append("done"))
    marker = conn._adapter_call_later(0.06, lambda: fired.append("marker"))

    session.driver.run_until(lambda: "marker" in fired, what="the marker timer")
    conn._adapter_remove_timeout(done)  # after it fired
    conn._adapter_remove_timeout(done)
    conn._adapter_remove_timeout(marker)
    session.driver.run_for(0.03)

    assert fired == ["done", "marker"]
    assert conn.is_open


def test_adapter_disconnect_stream_terminates_once_later(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """``_adapter_disconnect_stream()``: the stream's end is reported later from the loop,
    never from inside the call, and exactly once; a repeat, and a call after the stream
    ended, are no-ops. A stream that ends without an AMQP close reports
    ``StreamLostError``."""
    conn, events = connection
    channel_events = ChannelEvents()
    session.open_channel(conn).add_on_close_callback(channel_events.on_close)
    conn._adapter_disconnect_stream()
    assert events.closed == []  # not from inside the call
    conn._adapter_disconnect_stream()  # repeat: no-op
    session.driver.run_until(lambda: events.closed, what="the stream's termination")
    session.driver.run_for(0.05)
    assert len(events.closed) == 1
    assert isinstance(events.closed[0], exceptions.StreamLostError)
    assert conn.is_closed
    assert len(channel_events.closed) == 1
    conn._adapter_disconnect_stream()  # after the stream ended: no-op
    session.driver.run_for(0.02)
    assert len(events.closed) == 1


def test_add_callback_threadsafe_runs_on_the_loop_thread(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """``add_callback_threadsafe`` called from another thread runs the callback on the loop's
    thread (not the caller's), exactly once."""
    conn = connection[0]
    ran: List[int] = []
    caller: List[int] = []

    def worker() -> None:
        caller.append(threading.get_ident())
        conn.add_callback_threadsafe(lambda: ran.append(threading.get_ident()))

    thread = threading.Thread(target=worker)
    thread.start()
    session.driver.run_until(lambda: ran, what="the thread-safe callback")
    thread.join(5)
    session.driver.run_for(0.02)
    assert len(ran) == 1
    assert ran[0] == session.driver.loop_thread_ident
    assert ran[0] != caller[0]


def test_publish_from_another_thread_through_add_callback_threadsafe(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """pika's pattern for threads: a worker thread hands 200 publishes to the loop with
    add_callback_threadsafe; every message arrives, in the order the thread queued them."""
    conn = connection[0]
    ch = session.open_channel(conn)
    queue = session.declare_queue(ch)
    received: List[bytes] = []

    def publisher(n: int) -> Callable[[], None]:
        return lambda: ch.basic_publish("", queue, b"%d" % n)

    def worker() -> None:
        for n in range(200):
            conn.add_callback_threadsafe(publisher(n))

    session.rpc(ch.basic_consume, queue,
                lambda c, m, p, body: received.append(bytes(body)), auto_ack=True)
    thread = threading.Thread(target=worker)
    thread.start()
    session.driver.run_until(lambda: len(received) == 200, what="200 messages from a thread")
    thread.join(5)
    assert received == [b"%d" % n for n in range(200)]


def test_add_callback_threadsafe_wakes_an_idle_loop(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """The thread-safe hook wakes a loop that is blocked waiting for I/O: the callback runs
    well before the loop's next timer would have woken it."""
    conn = connection[0]
    called_at: List[float] = []
    ran_at: List[float] = []

    def worker() -> None:
        time.sleep(0.1)  # let the loop go idle first
        called_at.append(time.monotonic())
        conn.add_callback_threadsafe(lambda: ran_at.append(time.monotonic()))

    thread = threading.Thread(target=worker)
    thread.start()
    # The driver checks the predicate only once a second here, so nothing else wakes the loop.
    session.driver.run_until(lambda: ran_at, timeout=5.0, what="the thread-safe callback",
                             check_interval=1.0)
    thread.join(5)
    assert ran_at[0] - called_at[0] < 0.25, ran_at[0] - called_at[0]


def test_add_callback_threadsafe_on_closed_connection_raises(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """Once the connection is closed add_callback_threadsafe raises
    ConnectionWrongStateError instead of queueing work that would never run."""
    conn, events = connection
    conn.close()
    session.driver.run_until(lambda: events.closed)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        conn.add_callback_threadsafe(lambda: None)
