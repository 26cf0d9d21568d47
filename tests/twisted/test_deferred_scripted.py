"""Publisher-confirm orders a live RabbitMQ rarely shows on demand, played by a scripted broker
(``tests/unit/harness.py``: the real base Connection and Channel fed real frames; no sockets,
no mocks). The Deferreds fire synchronously as the frames are fed.

- acks and nacks are coalesced separately, so ``Nack(2, multiple)`` may overtake ``Ack(1)``:
  every publish is settled exactly once, by whichever arrives first;
- Basic.Return precedes the ack of its publish; returns are paired with the right publish.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest
from twisted.internet import defer
from unit.harness import ScriptedBroker, open_connection  # tests/ is on sys.path (rootless)

from amqpbase import exceptions, spec
from amqpbase.adapters.twisted import TwistedChannel


def outcome(deferred: "defer.Deferred[Any]") -> Any:
    """What a fired Deferred holds: its result, or its failure's exception (consumed: call it
    once per Deferred)."""
    results: List[Any] = []
    deferred.addBoth(results.append)
    assert results, "not fired"
    result = results[0]
    return result.value if hasattr(result, "trap") else result


@pytest.fixture
def confirming() -> Tuple[TwistedChannel, ScriptedBroker]:
    connection, broker = open_connection()
    channel = TwistedChannel(broker.open_channel(1))
    selected = channel.confirm_delivery()
    assert any(isinstance(method, spec.Confirm.Select) for method in broker.methods())
    broker.send(1, spec.Confirm.SelectOk())
    assert isinstance(outcome(selected).method, spec.Confirm.SelectOk)
    return channel, broker


def returned(broker: ScriptedBroker, routing_key: str, body: bytes) -> None:
    broker.send_content(
        1,
        spec.Basic.Return(
            reply_code=312, reply_text="NO_ROUTE", exchange="", routing_key=routing_key
        ),
        spec.BasicProperties(),
        body,
    )


def test_nack_overtaking_an_ack_settles_each_publish_once(
    confirming: Tuple[TwistedChannel, ScriptedBroker],
) -> None:
    channel, broker = confirming
    first, second, third = (channel.basic_publish("", "q", b"%d" % n) for n in (1, 2, 3))
    broker.send(1, spec.Basic.Nack(delivery_tag=2, multiple=True, requeue=False))
    nacked = [outcome(first), outcome(second)]  # (outcome() consumes the result)
    assert [type(error) for error in nacked] == [exceptions.NackError] * 2
    assert [error.messages for error in nacked] == [[1], [2]]
    assert not third.called
    broker.send(1, spec.Basic.Ack(delivery_tag=1, multiple=False))  # late: ignored
    assert first.called and not third.called
    broker.send(1, spec.Basic.Ack(delivery_tag=3, multiple=True))
    ack = outcome(third)
    assert isinstance(ack, spec.Basic.Ack) and ack.delivery_tag == 3
    assert channel.is_open


def test_multiple_ack_with_tag_zero_settles_everything(
    confirming: Tuple[TwistedChannel, ScriptedBroker],
) -> None:
    channel, broker = confirming
    confirms = [channel.basic_publish("", "q", b"x") for _ in range(5)]
    broker.send(1, spec.Basic.Ack(delivery_tag=4, multiple=False))
    assert [deferred.called for deferred in confirms] == [False, False, False, True, False]
    broker.send(1, spec.Basic.Ack(delivery_tag=0, multiple=True))
    assert all(isinstance(outcome(deferred), spec.Basic.Ack) for deferred in confirms)


def test_returns_are_paired_with_their_own_publishes(
    confirming: Tuple[TwistedChannel, ScriptedBroker],
) -> None:
    """RabbitMQ's order for routed/unroutable/unroutable/routed mandatory publishes with the
    first one's queue confirm late: Return(2) Ack(2) Return(3) Ack(3) Ack(4, multiple)."""
    channel, broker = confirming
    confirms = [channel.basic_publish("", "rk", b"%d" % n, mandatory=True) for n in (1, 2, 3, 4)]
    returned(broker, "rk", b"2")
    broker.send(1, spec.Basic.Ack(delivery_tag=2, multiple=False))
    returned(broker, "rk", b"3")
    broker.send(1, spec.Basic.Ack(delivery_tag=3, multiple=False))
    broker.send(1, spec.Basic.Ack(delivery_tag=4, multiple=True))
    results = [outcome(deferred) for deferred in confirms]
    assert isinstance(results[0], spec.Basic.Ack) and isinstance(results[3], spec.Basic.Ack)
    for error, body in ((results[1], b"2"), (results[2], b"3")):
        assert type(error) is exceptions.UnroutableError
        assert [message.body for message in error.messages] == [body]
        assert isinstance(error.messages[0].method, spec.Basic.Return)


def test_returns_waiting_for_one_multiple_ack_keep_publish_order(
    confirming: Tuple[TwistedChannel, ScriptedBroker],
) -> None:
    channel, broker = confirming
    confirms = [channel.basic_publish("", "rk", b"%d" % n, mandatory=True) for n in (1, 2, 3)]
    returned(broker, "rk", b"2")
    returned(broker, "rk", b"3")
    broker.send(1, spec.Basic.Ack(delivery_tag=3, multiple=True))
    first, second, third = (outcome(deferred) for deferred in confirms)
    assert isinstance(first, spec.Basic.Ack)
    assert second.messages[0].body == b"2" and third.messages[0].body == b"3"


def test_a_cancelled_publish_still_absorbs_its_own_return(
    confirming: Tuple[TwistedChannel, ScriptedBroker],
) -> None:
    channel, broker = confirming
    lost = channel.basic_publish("", "rk", b"lost", mandatory=True)
    kept = channel.basic_publish("", "rk", b"kept", mandatory=True)
    lost.cancel()
    assert type(outcome(lost)) is defer.CancelledError
    returned(broker, "rk", b"lost")
    broker.send(1, spec.Basic.Ack(delivery_tag=1, multiple=False))
    broker.send(1, spec.Basic.Ack(delivery_tag=2, multiple=False))
    assert isinstance(outcome(kept), spec.Basic.Ack)


def test_channel_close_fails_every_unsettled_publish_once(
    confirming: Tuple[TwistedChannel, ScriptedBroker],
) -> None:
    channel, broker = confirming
    confirms = [channel.basic_publish("", "q", b"x") for _ in range(3)]
    broker.send(1, spec.Basic.Ack(delivery_tag=1, multiple=False))
    broker.send(
        1,
        spec.Channel.Close(
            reply_code=406, reply_text="PRECONDITION_FAILED", class_id=0, method_id=0
        ),
    )
    assert isinstance(outcome(confirms[0]), spec.Basic.Ack)
    reasons = [outcome(deferred) for deferred in confirms[1:]]
    assert all(type(reason) is exceptions.ChannelClosedByBroker for reason in reasons)
    assert reasons[0] is reasons[1] and reasons[0].reply_code == 406
    assert (
        type(outcome(channel.basic_publish("", "q", b"late"))) is exceptions.ChannelClosedByBroker
    )
