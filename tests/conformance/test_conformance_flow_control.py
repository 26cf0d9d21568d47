"""Flow control against the real broker: RabbitMQ's memory alarm (Connection.Blocked /
Unblocked, ``blocked_connection_timeout``) and the client's own write-buffer backpressure
callback (edge-triggered, re-armed once the buffer drains).

The memory alarm is raised with ``rabbitmqctl set_vm_memory_high_watermark absolute 1`` and
always restored by the ``memory_alarm`` fixture, even when a test fails.
"""

from __future__ import annotations

import time
from typing import Any, List, Tuple

import pytest

from amqpbase import exceptions, spec
from amqpbase.connection import Connection

from .conftest import ChannelEvents, Events, MemoryAlarm, Session

pytestmark = pytest.mark.broker


def test_memory_alarm_blocks_then_unblocks(session: Session, memory_alarm: MemoryAlarm) -> None:
    """With the memory alarm up, a publishing connection gets Connection.Blocked (the blocked
    callback receives the method frame; its reason mentions memory); once the alarm clears it
    gets Connection.Unblocked, and the message published while blocked is then delivered
    (confirmed by the broker)."""
    conn, events = session.open_connection()
    blocked: List[Tuple[Connection, Any]] = []
    unblocked: List[Tuple[Connection, Any]] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked.append((c, f)))
    conn.add_on_connection_unblocked_callback(lambda c, f: unblocked.append((c, f)))
    ch = session.open_channel(conn)
    queue = session.declare_queue(ch)
    confirms: List[Any] = []
    session.rpc(ch.confirm_delivery, confirms.append)

    memory_alarm.raise_alarm()
    ch.basic_publish("", queue, b"published while blocked")
    session.driver.run_until(lambda: blocked, what="Connection.Blocked")
    got_conn, frame_value = blocked[0]
    assert got_conn is conn
    assert isinstance(frame_value.method, spec.Connection.Blocked)
    assert "memory" in frame_value.method.reason
    assert conn.is_open and unblocked == []

    memory_alarm.clear()
    session.driver.run_until(lambda: unblocked, what="Connection.Unblocked")
    assert unblocked[0][0] is conn
    assert isinstance(unblocked[0][1].method, spec.Connection.Unblocked)
    session.driver.run_until(lambda: confirms, what="the confirm of the blocked publish")
    assert isinstance(confirms[0].method, spec.Basic.Ack)
    assert session.message_count(ch, queue) == 1
    assert len(blocked) == 1 and events.closed == []


@pytest.mark.allow_error_logs  # the timeout is logged at ERROR
def test_blocked_connection_timeout_closes_the_connection(
    session: Session, memory_alarm: MemoryAlarm
) -> None:
    """blocked_connection_timeout=1.0: a connection kept blocked is torn down about one second
    after Connection.Blocked; on_close (and each channel's on_close) gets
    ``ConnectionBlockedTimeout``."""
    conn, events = session.open_connection(session.params(blocked_connection_timeout=1.0))
    blocked_at: List[float] = []
    closed_at: List[float] = []
    unblocked_at: List[float] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked_at.append(time.monotonic()))
    conn.add_on_connection_unblocked_callback(lambda c, f: unblocked_at.append(time.monotonic()))
    conn.add_on_close_callback(lambda c, r: closed_at.append(time.monotonic()))
    ch = session.open_channel(conn)
    channel_events = ChannelEvents()
    ch.add_on_close_callback(channel_events.on_close)

    memory_alarm.raise_alarm()
    ch.basic_publish("", session.name("nowhere"), b"x")
    session.driver.run_until(lambda: blocked_at, what="Connection.Blocked")
    try:
        session.driver.run_until(lambda: events.closed, what="the blocked-connection timeout")
    except AssertionError as error:
        # An Unblocked cancels the timeout (the broker cleared its alarm): say if one came.
        raise AssertionError(f"{error}; Blocked at {blocked_at}, Unblocked at {unblocked_at}, "
                             f"now {time.monotonic()}") from None

    reason = events.closed[0]
    assert type(reason) is exceptions.ConnectionBlockedTimeout
    assert 0.9 <= closed_at[0] - blocked_at[0] <= 2.0, closed_at[0] - blocked_at[0]
    assert conn.is_closed
    assert len(channel_events.closed) == 1
    assert type(channel_events.closed[0]) is exceptions.ConnectionBlockedTimeout


def test_close_does_not_hang_on_a_blocked_connection(
    session: Session, memory_alarm: MemoryAlarm
) -> None:
    """A blocked broker does not read the connection, so it never answers Connection.Close;
    close() still completes after ``close_timeout`` (set to 1 s on this instance) with
    ``ConnectionClosedByClient``."""
    conn, events = session.open_connection()
    conn.close_timeout = 1.0
    blocked: List[Any] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked.append(f))
    ch = session.open_channel(conn)

    memory_alarm.raise_alarm()
    ch.basic_publish("", session.name("nowhere"), b"x")
    session.driver.run_until(lambda: blocked, what="Connection.Blocked")
    start = time.monotonic()
    conn.close()
    session.driver.run_until(lambda: events.closed, timeout=5.0, what="close() to give up")
    assert time.monotonic() - start < 3.0
    assert type(events.closed[0]) is exceptions.ConnectionClosedByClient
    assert conn.is_closed


def test_unblocked_in_time_cancels_the_blocked_timeout(
    session: Session, memory_alarm: MemoryAlarm
) -> None:
    """blocked_connection_timeout=1.0 but the broker unblocks within it: the timeout is
    cancelled and the connection is still open well after the deadline would have passed."""
    conn, events = session.open_connection(session.params(blocked_connection_timeout=1.0))
    blocked: List[Any] = []
    unblocked: List[Any] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked.append(f))
    conn.add_on_connection_unblocked_callback(lambda c, f: unblocked.append(f))
    ch = session.open_channel(conn)

    memory_alarm.raise_alarm()
    ch.basic_publish("", session.name("nowhere"), b"x")
    session.driver.run_until(lambda: blocked, what="Connection.Blocked")
    memory_alarm.clear()  # takes ~0.3 s (rabbitmqctl), well inside the 1 s timeout
    session.driver.run_until(lambda: unblocked, what="Connection.Unblocked")
    session.driver.run_for(1.2)
    assert conn.is_open and events.closed == []


# ---------------------------------------------------------------------------------------------
# Backpressure
# ---------------------------------------------------------------------------------------------


def test_backpressure_callback_is_edge_triggered_and_rearms(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """Publishing 20 000 messages in one loop callback fills the adapter's write buffer far
    beyond 10x the average frame size (the default multiplier): the backpressure callback
    fires early in the burst, once for that crossing; once the buffer has drained it is
    re-armed, so the next burst fires it again."""
    conn = connection[0]
    ch = session.open_channel(conn)
    fired: List[int] = []
    conn.add_backpressure_callback(lambda: fired.append(conn._adapter_get_write_buffer_size()))
    bursts: List[int] = []
    key = session.name("nowhere")  # unroutable: the broker drops every message
    body = b"x" * 1024

    def burst() -> None:
        for _ in range(20_000):
            ch.basic_publish("", key, body)
        bursts.append(len(fired))

    session.driver.call_later(0, burst)
    session.driver.run_until(lambda: bursts, what="the first burst")
    assert len(fired) == 1, fired  # edge-triggered: once for the whole burst
    # It fired early in the burst, with bytes waiting in the buffer (multiplier 10 times the
    # average frame size, a few KiB here), not after the burst.
    assert 0 < fired[0] < 1000 * len(body), fired

    session.driver.run_until(lambda: conn._adapter_get_write_buffer_size() == 0,
                             timeout=20.0, what="the write buffer to drain")
    assert len(fired) == 1

    session.driver.call_later(0, burst)
    session.driver.run_until(lambda: len(bursts) == 2, what="the second burst")
    assert len(fired) == 2, fired  # re-armed by the drain
    session.driver.run_until(lambda: conn._adapter_get_write_buffer_size() == 0,
                             timeout=20.0, what="the write buffer to drain again")
    session.rpc(ch.basic_qos, prefetch_count=1)  # the broker took all of it
    assert conn.is_open


def test_backpressure_multiplier_moves_the_threshold(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """set_backpressure_multiplier(1000) raises the threshold: the callback fires at a write
    buffer about 100 times larger than with the default multiplier of 10."""
    conn = connection[0]
    ch = session.open_channel(conn)
    fired: List[int] = []
    conn.add_backpressure_callback(lambda: fired.append(conn._adapter_get_write_buffer_size()))
    key = session.name("nowhere")
    done: List[bool] = []

    def burst() -> None:
        for _ in range(5_000):
            ch.basic_publish("", key, b"y" * 1024)
        done.append(True)

    for multiplier in (10, 1000):
        conn.set_backpressure_multiplier(multiplier)
        bursts_before = len(done)
        session.driver.call_later(0, burst)
        session.driver.run_until(lambda: len(done) > bursts_before,  # noqa: B023 (run now)
                                 what="a burst")
        session.driver.run_until(lambda: conn._adapter_get_write_buffer_size() == 0,
                                 timeout=20.0, what="the write buffer to drain")
    assert len(fired) == 2, fired
    assert fired[1] > 30 * fired[0], fired


def test_backpressure_multiplier_validation(connection: Tuple[Connection, Events]) -> None:
    """set_backpressure_multiplier accepts a positive int and rejects 0 (ValueError) and a
    non-int (TypeError)."""
    conn = connection[0]
    conn.set_backpressure_multiplier(20)
    conn.set_backpressure_multiplier()
    with pytest.raises(ValueError):
        conn.set_backpressure_multiplier(0)
    with pytest.raises(TypeError):
        conn.set_backpressure_multiplier(2.5)  # type: ignore[arg-type]
