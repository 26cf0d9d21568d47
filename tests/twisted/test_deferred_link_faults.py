"""Publishing with confirms through the Deferred API when the link dies, or close() is called,
mid-stream (issue 6).

``TwistedProtocolConnection`` runs through a loopback ``LinkProxy`` (``tests/faults/proxy.py``)
slowed to 200 KB/s; 2,000 publishes are made in confirm mode, each with its own Deferred, and
the proxy resets the link (RST both ways) once a quarter of them succeeded. Every publish's
Deferred must fire exactly once: with the broker's Basic.Ack (only if the broker acked it: its
message is in the queue afterwards) or with the connection's ``StreamLostError``. A direct
connection then drains the queue (bodies carry the publish's sequence number).
"""

from __future__ import annotations

from typing import Any, Dict, Generator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp, failure_of, the_reactor, within
from faults.proxy import LinkProxy
from faults.proxy_fixtures import proxy_fixture  # noqa: F401  (the ``proxy`` fixture)
from twisted.internet import defer, task

from amqpbase import exceptions, spec

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]

#: Confirmed publishes in the test.
PUBLISHES = 2000


@defer.inlineCallbacks
def stable_count(channel: Any, queue: str) -> Generator[Any, Any, int]:
    """The ready count of ``queue`` once two reads 0.1 s apart agree (the broker may still be
    routing what it read before the link died)."""
    counts: List[int] = []
    while len(counts) < 2 or counts[-1] != counts[-2]:
        if counts:
            yield task.deferLater(the_reactor(), 0.1, lambda: None)
        declared = yield within(channel.queue_declare(queue, passive=True))
        counts.append(declared.method.message_count)
    return counts[-1]


@pytest.mark.parametrize("fault", ["drop", "close"])
@pytest_twisted.inlineCallbacks
def test_each_publish_deferred_fires_once(amqp: Amqp, proxy: LinkProxy, fault: str) -> Test:
    """``drop``: see the module docstring. ``close``: ``connection.close()`` mid-stream
    instead: every publish reaches the queue, the acks the broker sends after our
    Channel.Close are discarded (AMQP 0-9-1), so the rest fail with the channel's
    ChannelClosedByClient, each Deferred still firing exactly once."""
    connection = yield amqp.open(amqp.params(host="127.0.0.1", port=proxy.port))
    channel = yield amqp.confirmed_channel(connection)
    queue = yield amqp.declare_queue(channel)
    outcomes: Dict[int, List[Any]] = {sequence: [] for sequence in range(1, PUBLISHES + 1)}
    quarter: "defer.Deferred[None]" = defer.Deferred()
    settled: List["defer.Deferred[Any]"] = []
    successes: List[int] = []

    def record(result: Any, sequence: int) -> None:
        outcomes[sequence].append(result)
        successes.append(sequence)
        if len(successes) >= PUBLISHES // 4 and not quarter.called:
            quarter.callback(None)

    def record_failure(failure: Any, sequence: int) -> None:
        outcomes[sequence].append(failure.value)  # consumed: no "Unhandled error" is logged

    proxy.slow(200_000)
    for sequence in range(1, PUBLISHES + 1):
        published = channel.basic_publish("", queue, b"%d" % sequence)
        settled.append(published.addCallbacks(record, record_failure, callbackArgs=(sequence,),
                                              errbackArgs=(sequence,)))
    yield within(quarter, 10.0)
    if fault == "drop":
        proxy.drop()
        reason = yield failure_of(connection.closed)
        assert type(reason) is exceptions.StreamLostError
    else:
        ended = yield within(connection.close(), 10.0)
        assert type(ended) is exceptions.ConnectionClosedByClient
        reason = yield within(channel.closed)
        assert type(reason) is exceptions.ChannelClosedByClient
    yield within(defer.DeferredList(settled), 5.0)

    acked = {sequence for sequence, got in outcomes.items()
             if got and isinstance(got[0], spec.Basic.Ack)}
    failed = {sequence for sequence, got in outcomes.items()
              if got and isinstance(got[0], BaseException)}
    direct = yield amqp.open_channel()
    expected = yield stable_count(direct, queue)
    messages, _tag = yield within(direct.basic_consume(queue, auto_ack=True))
    found: List[int] = []
    for _ in range(expected):
        message = yield within(messages.get())
        found.append(int(message.body))
    print(f"[deferred] {fault}: {PUBLISHES} published: {len(acked)} acked, {len(failed)} "
          f"failed with {type(reason).__name__}; {len(found)} found in the queue "
          f"({len(set(found) & failed)} of them failed)")
    assert all(len(got) == 1 for got in outcomes.values())  # each Deferred fired exactly once
    assert acked | failed == set(outcomes) and not acked & failed
    assert acked and failed  # the fault really hit mid-stream
    for sequence in acked:  # a multiple ack covers its publish: tag >= the publish's own
        assert outcomes[sequence][0].delivery_tag >= sequence
    assert all(outcomes[sequence][0] is reason for sequence in failed)
    assert acked <= set(found)  # succeeded only if the broker really has it
    assert len(found) == len(set(found)) and set(found) <= set(outcomes)
    if fault == "close":
        assert set(found) == set(outcomes)  # close() flushed every publish
