"""Publishing with confirms when the link dies, or when close() is called, mid-stream (issue 6),
on every loop.

2,000 confirmed publishes go through a :class:`~faults.proxy.LinkProxy` slowed to 200 KB/s
(so the stream is still flowing when the fault hits); once a quarter of them are acked the
proxy resets the link. Every publish must then be reported exactly once: acked (each tag once,
``multiple`` acks expanded over the tags still outstanding), or, for the rest, failed by the
channel's on_close reason (the connection's ``StreamLostError``); nothing is acked after the
channel closed. A direct connection then drains the queue (bodies carry the publish's
sequence number): every acked publish is in it, nothing is in it twice and nothing that was
never published. Publishes that reached the broker but whose ack was lost with the link are
in the queue too: confirms give at-least-once, not exactly-once, and the counts show it.
"""

from __future__ import annotations

from typing import Any, List, Set

import pytest
from conformance.conftest import ChannelEvents, Session

from amqpbase import exceptions, spec
from amqpbase.channel import Channel

from .proxy import LinkProxy
from .proxy_fixtures import proxy_fixture, via  # noqa: F401  (the ``proxy`` fixture)

pytestmark = pytest.mark.broker

#: Confirmed publishes per test.
PUBLISHES = 2000


class ConfirmLedger:
    """Settles delivery tags 1..``published`` from Basic.Ack/Nack frames and counts what must
    never happen (a tag settled twice, a confirm for a tag never published, a confirm after
    the channel closed)."""

    def __init__(self) -> None:
        self.outstanding: Set[int] = set()
        self.acked: Set[int] = set()
        self.nacked: Set[int] = set()
        self.settled_twice = 0
        self.unknown = 0
        self.after_close = 0
        self.channel_closed = False

    def published(self, tag: int) -> None:
        self.outstanding.add(tag)

    def on_confirm(self, reply: Any) -> None:
        method = reply.method
        if self.channel_closed:
            self.after_close += 1
        into = self.acked if isinstance(method, spec.Basic.Ack) else self.nacked
        tag = method.delivery_tag
        if method.multiple:  # AMQP 0-9-1 / RabbitMQ: every outstanding tag up to this one
            tags = {t for t in self.outstanding if t <= tag}
            if not tags:
                self.settled_twice += 1  # a multiple confirm that settles nothing new
        else:
            tags = {tag}
        for one in tags:
            if one in self.acked or one in self.nacked:
                self.settled_twice += 1
            elif one not in self.outstanding:
                self.unknown += 1
            else:
                self.outstanding.discard(one)
                into.add(one)


def drain(session: Session, channel: Channel, queue: str) -> List[int]:
    """Consume everything in ``queue`` (auto-ack); return the sequence numbers in the bodies.
    The count to expect is read once it is stable (the broker may still be routing what it
    read before the link died)."""
    counts = [session.message_count(channel, queue)]
    while True:
        session.driver.run_for(0.1)
        counts.append(session.message_count(channel, queue))
        if counts[-1] == counts[-2]:
            break
    numbers: List[int] = []
    channel.basic_consume(queue, lambda ch, method, props, body: numbers.append(int(body)),
                          auto_ack=True)
    session.driver.run_until(lambda: len(numbers) >= counts[-1], timeout=10.0,
                             what=f"{counts[-1]} messages drained from {queue}")
    return numbers


@pytest.mark.parametrize("fault", ["drop", "close"])
def test_every_confirmed_publish_is_reported_once(session: Session, proxy: LinkProxy,
                                                  fault: str) -> None:
    """``drop``: the link is reset mid-stream (see the module docstring). ``close``: the user
    calls ``close()`` mid-stream instead; every publish reaches the queue (they precede
    Connection.Close on the wire), yet only those acked before the channel's Channel.Close
    are reported acked: AMQP 0-9-1 (Channel.Close) makes the client discard every method
    but Close/CloseOk after sending it, so the broker's later acks are dropped and the rest
    are reported by on_close (ChannelClosedByClient): failed, though in the queue."""
    connection, events = session.open_connection(via(proxy, session))
    channel = session.open_channel(connection)
    channel_events = ChannelEvents()
    ledger = ConfirmLedger()

    def on_channel_close(ch: Channel, reason: BaseException) -> None:
        ledger.channel_closed = True
        channel_events.on_close(ch, reason)

    channel.add_on_close_callback(on_channel_close)
    queue = session.declare_queue(channel)
    session.rpc(channel.confirm_delivery, ledger.on_confirm)
    proxy.slow(200_000)
    for tag in range(1, PUBLISHES + 1):
        channel.basic_publish("", queue, b"%d" % tag)
        ledger.published(tag)
    session.driver.run_until(lambda: len(ledger.acked) >= PUBLISHES // 4, timeout=10.0,
                             what="a quarter of the publishes acked")
    if fault == "drop":
        proxy.drop()
    else:
        connection.close()
    session.driver.run_until(lambda: events.closed, timeout=10.0,
                             what=f"the connection to close ({fault})")

    [reason] = events.closed
    [channel_reason] = channel_events.closed  # how the unconfirmed publishes learn they failed
    if fault == "drop":
        assert type(reason) is exceptions.StreamLostError and channel_reason is reason
    else:
        assert type(reason) is exceptions.ConnectionClosedByClient
        assert type(channel_reason) is exceptions.ChannelClosedByClient
    unconfirmed = set(ledger.outstanding)
    other, _ = session.open_connection()
    found = drain(session, session.open_channel(other), queue)
    found_set = set(found)
    print(f"[{session.driver.name}] {fault}: {PUBLISHES} published, {len(ledger.acked)} acked, "
          f"{len(ledger.nacked)} nacked, {len(unconfirmed)} unconfirmed; {len(found)} found "
          f"in the queue ({len(found_set & unconfirmed)} of them unconfirmed); "
          f"{len(ledger.acked - found_set)} acked but missing, {ledger.settled_twice} settled "
          f"twice, {ledger.after_close} confirms after close")
    assert ledger.settled_twice == 0 and ledger.unknown == 0 and ledger.after_close == 0
    assert len(ledger.acked) + len(ledger.nacked) + len(unconfirmed) == PUBLISHES
    assert ledger.nacked == set()  # a healthy broker had no reason to refuse any
    assert ledger.acked and unconfirmed  # the fault really hit mid-stream
    assert ledger.acked <= found_set  # an ack means the message is in the queue
    assert len(found) == len(found_set)  # nothing enqueued twice
    assert found_set <= set(range(1, PUBLISHES + 1))
    if fault == "close":
        assert found_set == set(range(1, PUBLISHES + 1))  # close() flushed every publish
