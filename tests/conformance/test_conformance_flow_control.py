"""Flow control against the real broker: RabbitMQ's memory alarm (Connection.Blocked /
Unblocked, ``blocked_connection_timeout``) and the client's own write-buffer backpressure
callback (edge-triggered, re-armed once the buffer drains), its drained (resume) callback and
``write_buffer_size``.

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
    """blocked_connection_timeout=3.0 but the broker unblocks within it: the timeout is
    cancelled and the connection is still open well after the deadline would have passed.

    The timeout leaves room for ``rabbitmqctl`` clearing the alarm, which takes about 0.3 s
    on a quiet machine but over 1 s on a loaded 2-core one (a 1 s timeout made this flaky)."""
    timeout = 3.0
    conn, events = session.open_connection(session.params(blocked_connection_timeout=timeout))
    blocked_at: List[float] = []
    unblocked: List[Any] = []
    conn.add_on_connection_blocked_callback(lambda c, f: blocked_at.append(time.monotonic()))
    conn.add_on_connection_unblocked_callback(lambda c, f: unblocked.append(f))
    ch = session.open_channel(conn)

    memory_alarm.raise_alarm()
    ch.basic_publish("", session.name("nowhere"), b"x")
    session.driver.run_until(lambda: blocked_at, what="Connection.Blocked")
    memory_alarm.clear()
    session.driver.run_until(lambda: unblocked, what="Connection.Unblocked")
    assert time.monotonic() - blocked_at[0] < timeout, "the alarm took too long to clear"
    session.driver.run_for(max(0.0, blocked_at[0] + timeout + 0.3 - time.monotonic()))
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
    conn.add_backpressure_callback(lambda: fired.append(conn.write_buffer_size))
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

    session.driver.run_until(lambda: conn.write_buffer_size == 0,
                             timeout=20.0, what="the write buffer to drain")
    assert len(fired) == 1

    session.driver.call_later(0, burst)
    session.driver.run_until(lambda: len(bursts) == 2, what="the second burst")
    assert len(fired) == 2, fired  # re-armed by the drain
    session.driver.run_until(lambda: conn.write_buffer_size == 0,
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
    conn.add_backpressure_callback(lambda: fired.append(conn.write_buffer_size))
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
        session.driver.run_until(lambda: conn.write_buffer_size == 0,
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


# ---------------------------------------------------------------------------------------------
# The resume signal: add_backpressure_drained_callback and write_buffer_size
# ---------------------------------------------------------------------------------------------


def test_drained_callback_follows_each_backpressure_crossing_once(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """After the backpressure callback fired, the drained callback runs exactly once, from the
    loop (not inside the burst), when the write buffer has been completely written
    (``write_buffer_size`` is 0 then). Later flushes without a new crossing do not call it
    again; the next crossing fires backpressure again and is followed by one more drain."""
    conn = connection[0]
    ch = session.open_channel(conn)
    order: List[Tuple[str, int]] = []
    conn.add_backpressure_callback(lambda: order.append(("pressure", conn.write_buffer_size)))
    conn.add_backpressure_drained_callback(
        lambda: order.append(("drained", conn.write_buffer_size))
    )
    bursts: List[List[Tuple[str, int]]] = []
    key = session.name("nowhere")  # unroutable: the broker drops every message
    body = b"x" * 1024

    def burst() -> None:
        for _ in range(20_000):
            ch.basic_publish("", key, body)
        bursts.append(list(order))  # what had happened when the burst returned

    for number in (1, 2):
        session.driver.call_later(0, burst)
        session.driver.run_until(lambda: len(bursts) == number,  # noqa: B023 (run now)
                                 what=f"burst {number}")
        assert [kind for kind, _ in bursts[-1]].count("drained") == number - 1, bursts[-1]
        session.driver.run_until(lambda: len(order) == 2 * number,  # noqa: B023 (run now)
                                 timeout=20.0, what=f"the drain after burst {number}")
        # A channel RPC: more flushes (and drains) with no crossing in between.
        session.rpc(ch.basic_qos, prefetch_count=number)
    kinds = [kind for kind, _ in order]
    assert kinds == ["pressure", "drained", "pressure", "drained"], order
    assert order[0][1] > 0 and order[2][1] > 0  # bytes were waiting at each crossing
    assert order[1][1] == 0 and order[3][1] == 0, order  # and none at each drain
    assert conn.is_open


def test_write_buffer_size_counts_queued_bytes_until_written(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """``write_buffer_size`` is 0 on an idle open connection, grows by the frames of each
    publish queued in one loop callback (body plus a few dozen bytes of framing), is 0 again
    once the loop wrote them, and 0 after the connection closed. It is read-only, and a
    non-callable drained callback is refused with TypeError."""
    conn, events = connection
    ch = session.open_channel(conn)
    key = session.name("nowhere")
    body = b"z" * 4096
    sizes: List[int] = []

    def publish() -> None:
        sizes.append(conn.write_buffer_size)
        for _ in range(10):
            ch.basic_publish("", key, body)
            sizes.append(conn.write_buffer_size)

    session.driver.call_later(0, publish)
    session.driver.run_until(lambda: sizes, what="the publishing callback")
    assert sizes[0] == 0, sizes
    steps = [after - before for before, after in zip(sizes, sizes[1:])]
    # method frame (8 + 4 + 2 + 1 + 1 + len(key) + 1) + header frame (8 + 14) + body frame (8 +
    # body): between the body plus 40 and the body plus 150 bytes per publish
    assert all(len(body) + 40 <= step <= len(body) + 150 for step in steps), steps
    session.driver.run_until(lambda: conn.write_buffer_size == 0, what="the buffer written")
    with pytest.raises(AttributeError):
        conn.write_buffer_size = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        conn.add_backpressure_drained_callback("not callable")  # type: ignore[arg-type]
    conn.close()
    session.driver.run_until(lambda: events.closed, what="the connection to close")
    assert conn.write_buffer_size == 0


def test_no_drained_callback_once_the_connection_is_closing(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """A burst crosses the backpressure threshold, then the same callback closes the
    connection: the buffer drains while the connection closes, but the drained callback is not
    called (publishing is over; the close callback is the signal)."""
    conn, events = connection
    ch = session.open_channel(conn)
    fired: List[int] = []
    drained: List[int] = []
    conn.add_backpressure_callback(lambda: fired.append(conn.write_buffer_size))
    conn.add_backpressure_drained_callback(lambda: drained.append(conn.write_buffer_size))
    key = session.name("nowhere")

    def burst_then_close() -> None:
        for _ in range(5_000):
            ch.basic_publish("", key, b"c" * 1024)
        conn.close()

    session.driver.call_later(0, burst_then_close)
    session.driver.run_until(lambda: events.closed, timeout=20.0, what="the close")
    assert type(events.closed[0]) is exceptions.ConnectionClosedByClient
    assert len(fired) == 1 and drained == [], (fired, drained)


# 64 MiB in 64 KiB bodies: enough pause/resume cycles (one per few publishes at the default
# multiplier) to show the bound, short enough for three loops.
PACED_BODY = 64 * 1024
PACED_MESSAGES = 1024


def test_publisher_paused_on_backpressure_and_resumed_on_drain_stays_bounded(
    session: Session, connection: Tuple[Connection, Events]
) -> None:
    """The documented publisher pattern: publish until the backpressure callback fires, stop,
    resume from the drained callback. Publishing 64 MiB this way, the adapter never holds more
    than the threshold (10 x the average frame size: a publish is 3 frames, so at most about
    10/3 of a publish) plus the one publish that crossed it; every pause is followed by exactly
    one drain, and the broker has read everything when a channel RPC returns."""
    conn = connection[0]
    ch = session.open_channel(conn)
    key = session.name("nowhere")  # unroutable: the broker reads and drops every message
    body = b"p" * PACED_BODY
    state = {"published": 0, "paused": False, "pauses": 0, "drains": 0, "peak": 0}

    def on_backpressure() -> None:
        state["paused"] = True
        state["pauses"] += 1

    def on_drained() -> None:
        state["drains"] += 1
        state["paused"] = False
        if state["published"] < PACED_MESSAGES:
            publish()

    def publish() -> None:
        while not state["paused"] and state["published"] < PACED_MESSAGES:
            ch.basic_publish("", key, body)
            state["published"] += 1
            state["peak"] = max(state["peak"], conn.write_buffer_size)

    conn.add_backpressure_callback(on_backpressure)
    conn.add_backpressure_drained_callback(on_drained)
    session.driver.call_later(0, publish)
    session.driver.run_until(
        lambda: state["published"] == PACED_MESSAGES and state["drains"] == state["pauses"],
        timeout=60.0, what="64 MiB published, paced by backpressure and drain",
    )
    session.rpc(ch.basic_qos, prefetch_count=1)  # the broker has read every publish
    publish_size = PACED_BODY + 150  # body frame plus method and header frames, at most
    bound = 10 * publish_size / 3 + publish_size
    assert 0 < state["peak"] <= bound, (state, bound)
    assert state["pauses"] >= PACED_MESSAGES // 8, state  # it really was paced
    assert conn.is_open and conn.write_buffer_size == 0
