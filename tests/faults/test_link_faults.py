"""Link faults between the client and a healthy broker (issue 6), on every loop: the
connection runs through a loopback :class:`~faults.proxy.LinkProxy` that the test drops
(RST), black-holes, stalls, slows down or truncates mid-frame.

What the tests prove: a silent peer is declared dead by the heartbeat checker within
2 x heartbeat + 1 s (AMQP 0-9-1 section 4.2.7: two missed intervals), while a shorter stall
or a slow trickle is not; a reset link and a link cut mid-frame (also inside the handshake)
end with ``StreamLostError`` whose ``__cause__`` is the OS-level error; a slow link loses
nothing; ``close()`` flushes publishes still buffered behind a slow link before
Connection.Close, and on a black-holed link gives up after ``Connection.close_timeout``.
"""

from __future__ import annotations

import errno
import time
from typing import Any, List, Tuple

import pytest
from conformance.conftest import ChannelEvents, Events, Session

from amqpbase import exceptions
from amqpbase.channel import Channel
from amqpbase.connection import Connection

from .proxy import LinkProxy
from .proxy_fixtures import proxy_fixture, via  # noqa: F401  (the ``proxy`` fixture)

pytestmark = pytest.mark.broker

#: Negotiated heartbeat of these tests, seconds (the broker accepts the client's 1 s).
HEARTBEAT = 1


def open_through(session: Session, proxy: LinkProxy, **overrides: Any
                 ) -> Tuple[Connection, Events, Channel]:
    """A connection through ``proxy`` (with ``overrides``) and an open channel on it."""
    connection, events = session.open_connection(via(proxy, session, **overrides))
    return connection, events, session.open_channel(connection)


def chain(error: BaseException) -> List[BaseException]:
    """``error`` and its ``__cause__`` chain, outermost first."""
    found: List[BaseException] = []
    current: Any = error
    while current is not None:
        found.append(current)
        current = current.__cause__
    return found


@pytest.mark.allow_error_logs  # the heartbeat timeout is logged at ERROR on purpose
@pytest.mark.parametrize("read", [True, False], ids=["discarding", "not-reading"])
def test_black_holed_peer_is_declared_dead_within_two_heartbeats(
    session: Session, proxy: LinkProxy, read: bool
) -> None:
    """heartbeat=1: the proxy forwards nothing either way, either reading and discarding
    what the client sends (its writes succeed) or not reading at all (4 MiB of publishes
    stall in the client's buffers). The connection closes with AMQPHeartbeatTimeout no later
    than 2 x heartbeat + 1 s after the black-holing (two silent intervals are the bound of
    AMQP 0-9-1 section 4.2.7; the checker ticks every half interval), without
    waiting for the stalled writes, and the channel gets the same reason."""
    connection, events, channel = open_through(session, proxy, heartbeat=HEARTBEAT)
    assert connection.machine.heartbeat == HEARTBEAT
    channel_events = ChannelEvents()
    channel.add_on_close_callback(channel_events.on_close)
    proxy.black_hole(read=read)
    start = time.monotonic()
    for _ in range(64):
        channel.basic_publish("", session.name("nowhere"), b"h" * (64 * 1024))
    session.driver.run_until(lambda: events.closed, timeout=2 * HEARTBEAT + 3,
                             what="the heartbeat timeout")
    elapsed = time.monotonic() - start
    print(f"[{session.driver.name}] black hole (read={read}) declared dead after "
          f"{elapsed:.2f}s")
    assert elapsed <= 2 * HEARTBEAT + 1
    # Not early either: four idle half-interval ticks, the first of which may have begun
    # (with nothing received since) up to half an interval before the black-holing.
    assert elapsed >= 2 * HEARTBEAT - HEARTBEAT / 2 - 0.05
    [reason] = events.closed
    assert type(reason) is exceptions.AMQPHeartbeatTimeout
    assert channel_events.closed == [reason]
    assert connection.is_closed


@pytest.mark.parametrize("stalled", [False, True], ids=["idle", "writes-stalled"])
def test_dropped_link_reports_stream_lost_with_the_os_cause(
    session: Session, proxy: LinkProxy, stalled: bool
) -> None:
    """The proxy aborts both sides with an RST, on an idle link or while 4 MiB of publishes
    are stalled in the client's buffers (the proxy stopped reading first). on_close and the
    channel get StreamLostError; its cause is the OS error (ECONNRESET) on select and
    Tornado; Twisted reports a failed recv as its own ConnectionLost without the errno, so
    there the cause is a ConnectionError naming the loss with Twisted's ConnectionLost
    chained under it (docs/internals.md, "Known differences")."""
    connection, events, channel = open_through(session, proxy)
    channel_events = ChannelEvents()
    channel.add_on_close_callback(channel_events.on_close)
    if stalled:
        proxy.black_hole(read=False)
        for _ in range(64):
            channel.basic_publish("", session.name("nowhere"), b"s" * (64 * 1024))
        session.driver.run_for(0.2)  # the loop tries to write; the kernel buffers fill up
        assert connection._adapter_get_write_buffer_size() > 0
    proxy.drop()
    session.driver.run_until(lambda: events.closed, what="the dropped link to be noticed")
    [reason] = events.closed
    print(f"[{session.driver.name}] drop: {[repr(e) for e in chain(reason)]}")
    assert type(reason) is exceptions.StreamLostError
    assert channel_events.closed == [reason]
    causes = chain(reason)[1:]
    if session.driver.name == "twisted":
        from twisted.internet import error as twisted_error

        assert [type(cause) for cause in causes] == [ConnectionError,
                                                     twisted_error.ConnectionLost]
    else:
        assert [type(cause) for cause in causes] == [ConnectionResetError]
        assert causes[0].errno == errno.ECONNRESET


def test_stall_shorter_than_the_heartbeat_bound_is_survived(session: Session,
                                                            proxy: LinkProxy) -> None:
    """heartbeat=1: the proxy stops forwarding (and reading) for 1.2 s, less than the 1.5 s
    of silence the checker needs at the least (four idle half-interval ticks), then resumes:
    nothing was lost (the 8 publishes made during the stall are all queued), and the
    connection is still open a second later: a short stall is not a dead peer."""
    connection, events, channel = open_through(session, proxy, heartbeat=HEARTBEAT)
    queue = session.declare_queue(channel)
    proxy.black_hole(read=False)
    for _ in range(8):
        channel.basic_publish("", queue, b"t" * (64 * 1024))
    session.driver.run_for(1.2)
    proxy.resume()
    session.wait_for_count(channel, queue, 8)
    session.driver.run_for(1.0)
    assert events.closed == [] and connection.is_open and channel.is_open


def test_link_cut_mid_frame_then_eof_reports_stream_lost(session: Session,
                                                         proxy: LinkProxy) -> None:
    """The proxy passes 200 bytes of a Basic.GetOk carrying a 10 KiB body (method and header
    frames, then the cut falls inside the body frame), then closes the client side with an
    orderly EOF. The partial frame is never delivered; on_close gets StreamLostError whose
    cause is a ConnectionError naming the end of stream (on Twisted with its ConnectionDone
    chained one level further), and nothing hangs."""
    connection, events, channel = open_through(session, proxy)
    queue = session.declare_queue(channel)
    channel.basic_publish("", queue, b"b" * 10240)
    session.wait_for_count(channel, queue, 1)
    got: List[Any] = []
    proxy.truncate_downstream_after(200)
    before = proxy.bytes_down
    channel.basic_get(queue, lambda *args: got.append(args))
    session.driver.run_until(lambda: events.closed, what="the cut link to be noticed")
    assert proxy.bytes_down - before == 200  # the cut fell where it was asked to
    assert got == []
    [reason] = events.closed
    print(f"[{session.driver.name}] cut: {[repr(e) for e in chain(reason)]}")
    assert type(reason) is exceptions.StreamLostError
    causes = chain(reason)[1:]
    assert type(causes[0]) is ConnectionError
    assert str(causes[0]) == "end of stream: the peer closed the connection"
    if session.driver.name == "twisted":
        from twisted.internet import error as twisted_error

        assert [type(cause) for cause in causes[1:]] == [twisted_error.ConnectionDone]
    else:
        assert causes[1:] == []


def test_link_cut_inside_connection_start_fails_the_open(session: Session,
                                                         proxy: LinkProxy) -> None:
    """The link is cut 20 bytes into the broker's Connection.Start: the open fails (one
    attempt) with StreamLostError naming the handshake step it was waiting for, the OS-level
    cause chained as everywhere else; on_close is never called for a connection that never
    opened."""
    proxy.truncate_downstream_after(20)
    connection, events = session.connect(via(proxy, session, connection_attempts=1))
    session.driver.run_until(lambda: events.settled, what="the open to fail")
    assert events.opened == [] and events.closed == []
    [error] = events.open_errors
    print(f"[{session.driver.name}] cut in the handshake: {[repr(e) for e in chain(error)]}")
    assert type(error) is exceptions.StreamLostError
    assert "during the AMQP handshake, waiting for Connection.Start" in str(error)
    assert type(error.__cause__) is ConnectionError
    assert str(error.__cause__) == "end of stream: the peer closed the connection"
    assert proxy.bytes_down == 20 and connection.is_closed


def test_slow_link_loses_nothing_and_trips_no_heartbeat(session: Session,
                                                        proxy: LinkProxy) -> None:
    """heartbeat=1 and a link of 32 KB/s each way, for longer than the dead-peer bound
    (2 x heartbeat): 100 confirmed publishes of 900 bytes are all acked, all consumed in
    order and acked back, and the connection is still open: bytes trickling in count as
    life, on both ends."""
    connection, events, channel = open_through(session, proxy, heartbeat=HEARTBEAT)
    queue = session.declare_queue(channel)
    acked: List[int] = []
    session.rpc(channel.confirm_delivery,
                lambda frame: acked.append(frame.method.delivery_tag))
    bodies: List[bytes] = []

    def on_message(ch: Channel, method: Any, properties: Any, body: Any) -> None:
        bodies.append(bytes(body))
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(queue, on_message)
    proxy.slow(32_000)
    start = time.monotonic()
    sent = [b"%04d" % number + b"." * 896 for number in range(100)]
    for body in sent:
        channel.basic_publish("", queue, body)
    session.driver.run_until(lambda: len(bodies) == len(sent) and acked and max(acked) == 100,
                             timeout=10.0, what="every message confirmed and consumed")
    elapsed = time.monotonic() - start
    print(f"[{session.driver.name}] slow link: {len(sent)} messages in {elapsed:.2f}s, "
          f"{proxy.bytes_up} bytes up, {proxy.bytes_down} down")
    assert elapsed > 2 * HEARTBEAT + 0.5  # the heartbeat checker had its chance to misfire
    assert bodies == sent
    assert events.closed == [] and connection.is_open and channel.is_open
    proxy.resume()
    assert session.message_count(channel, queue) == 0  # every delivery was acked back


def test_close_flushes_publishes_buffered_behind_a_slow_link(session: Session,
                                                             proxy: LinkProxy) -> None:
    """1.5 MiB of publishes are still in the client's write buffer behind a 1.5 MB/s link
    when close() is called: all of them reach the queue before Connection.Close (the close
    ends with ConnectionClosedByClient: the broker answered it)."""
    connection, events, channel = open_through(session, proxy)
    queue = session.declare_queue(channel)
    proxy.slow(1_500_000)
    body = b"c" * (64 * 1024)
    for _ in range(24):
        channel.basic_publish("", queue, body)
    buffered = connection._adapter_get_write_buffer_size()
    start = time.monotonic()
    connection.close()
    session.driver.run_until(lambda: events.closed, timeout=8.0, what="the close")
    elapsed = time.monotonic() - start
    print(f"[{session.driver.name}] close behind a slow link: {buffered} bytes buffered, "
          f"closed after {elapsed:.2f}s")
    assert buffered > 0
    assert type(events.closed[0]) is exceptions.ConnectionClosedByClient
    checker = session.open_channel(session.open_connection()[0])
    assert session.message_count(checker, queue) == 24


def test_close_on_a_black_holed_link_gives_up_after_close_timeout(session: Session,
                                                                  proxy: LinkProxy) -> None:
    """The proxy stops reading (so 2 MiB of publishes stay buffered in the client) and never
    answers: close() still ends after ``Connection.close_timeout`` (1 s on this instance; the
    class default is 10 s) with ConnectionClosedByClient, the channel closed too, and
    heartbeats disabled so that no other timer ends it."""
    connection, events, channel = open_through(session, proxy, heartbeat=0)
    channel_events = ChannelEvents()
    channel.add_on_close_callback(channel_events.on_close)
    connection.close_timeout = 1.0
    proxy.black_hole(read=False)
    for _ in range(32):
        channel.basic_publish("", session.name("nowhere"), b"d" * (64 * 1024))
    start = time.monotonic()
    connection.close()
    session.driver.run_until(lambda: events.closed, timeout=5.0, what="close() to give up")
    elapsed = time.monotonic() - start
    print(f"[{session.driver.name}] close on a black hole took {elapsed:.2f}s")
    assert 1.0 - 0.05 <= elapsed <= 1.0 + 0.5
    [reason] = events.closed
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert reason.reply_code == 200
    assert len(channel_events.closed) == 1 and connection.is_closed
