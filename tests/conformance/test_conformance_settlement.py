"""Per-publish confirm results on the callback API (``basic_publish(on_confirm=)``), one body
on every loop, against the real broker: each publish settled exactly once, with the Basic.Ack
frame, ``NackError``, ``UnroutableError`` (RabbitMQ returns an unroutable mandatory message
before acking it) or the close reason."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from amqpbase import exceptions, frame, spec
from amqpbase.channel import Channel, ReturnedMessage

from .conftest import Session

pytestmark = pytest.mark.broker


def _recorder(outcomes: Dict[int, List[Any]], index: int) -> Any:
    outcomes[index] = []
    return outcomes[index].append


def test_every_publish_gets_its_ack_once(session: Session, channel: Channel) -> None:
    queue = session.declare_queue(channel)
    session.rpc(channel.confirm_delivery, lambda _frame: None)
    outcomes: Dict[int, List[Any]] = {}
    for n in range(2000):
        channel.basic_publish("", queue, b"%d" % n, on_confirm=_recorder(outcomes, n))
    session.driver.run_until(lambda: all(outcomes.values()), timeout=10.0, what="2000 outcomes")
    session.wait_for_count(channel, queue, 2000)
    for n, got in outcomes.items():
        (outcome,) = got
        assert type(outcome) is frame.Method and type(outcome.method) is spec.Basic.Ack
        assert outcome.method.delivery_tag >= n + 1  # a multiple ack covers it


def test_nack_and_unroutable_outcomes(session: Session, channel: Channel) -> None:
    """A full reject-publish queue nacks; an unroutable mandatory publish is returned, then
    acked: UnroutableError with the returned message; the publishes around them are acked
    and the return callbacks still see the return."""
    full = session.declare_queue(
        channel, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    roomy = session.declare_queue(channel)
    returns: List[Any] = []
    channel.add_on_return_callback(lambda *args: returns.append(args))
    session.rpc(channel.confirm_delivery, lambda _frame: None)
    nowhere = session.name("nowhere")
    outcomes: Dict[int, List[Any]] = {}
    channel.basic_publish("", full, b"nacked", on_confirm=_recorder(outcomes, 1))
    channel.basic_publish("", roomy, b"routed", mandatory=True, on_confirm=_recorder(outcomes, 2))
    channel.basic_publish("", nowhere, b"lost", mandatory=True, on_confirm=_recorder(outcomes, 3))
    channel.basic_publish("", roomy, b"routed", mandatory=True, on_confirm=_recorder(outcomes, 4))
    session.driver.run_until(lambda: all(outcomes.values()), what="four outcomes")
    assert [len(got) for got in outcomes.values()] == [1, 1, 1, 1]
    nack = outcomes[1][0]
    assert type(nack) is exceptions.NackError and nack.messages == [1]
    unroutable = outcomes[3][0]
    assert type(unroutable) is exceptions.UnroutableError
    (message,) = unroutable.messages
    assert isinstance(message, ReturnedMessage) and message.channel is channel
    assert message.method.reply_code == spec.NO_ROUTE and message.method.routing_key == nowhere
    assert message.body == b"lost"
    for index in (2, 4):
        assert type(outcomes[index][0].method) is spec.Basic.Ack
    assert [args[3] for args in returns] == [b"lost"]


def test_a_channel_close_fails_the_waiting_publishes(session: Session, channel: Channel) -> None:
    """A publish to a missing exchange makes RabbitMQ close the channel (404) without
    confirming it: that publish and any later one fail with the ChannelClosedByBroker the
    close callbacks get."""
    session.rpc(channel.confirm_delivery, lambda _frame: None)
    closed: List[Any] = []
    channel.add_on_close_callback(lambda _channel, reason: closed.append(reason))
    outcomes: Dict[int, List[Any]] = {}
    missing = session.name("missing-exchange")
    channel.basic_publish(missing, "k", b"never routed", on_confirm=_recorder(outcomes, 1))
    channel.basic_publish(missing, "k", b"after it", on_confirm=_recorder(outcomes, 2))
    session.driver.run_until(lambda: bool(closed), what="the channel close")
    (reason,) = closed
    assert type(reason) is exceptions.ChannelClosedByBroker and reason.reply_code == 404
    assert outcomes == {1: [reason], 2: [reason]}


def test_outside_confirm_mode_on_confirm_runs_at_once(session: Session,
                                                      channel: Channel) -> None:
    queue = session.declare_queue(channel)
    outcomes: List[Any] = []
    channel.basic_publish("", queue, b"x", on_confirm=outcomes.append)
    assert outcomes == [None]
    session.wait_for_count(channel, queue, 1)


def test_calls_from_another_thread_raise_and_add_callback_threadsafe_gets_in(
    session: Session, channel: Channel
) -> None:
    """Once the loop ran, a call from another thread raises WrongThreadError (nothing is
    sent); ``connection.add_callback_threadsafe`` runs the same call on the loop thread."""
    import threading

    queue = session.declare_queue(channel)
    errors: List[BaseException] = []
    ran: List[bool] = []

    def publish() -> None:
        channel.basic_publish("", queue, b"via the loop")
        ran.append(True)

    def other_thread() -> None:
        for call in (lambda: channel.basic_publish("", queue, b"wrong thread"),
                     lambda: channel.queue_purge(queue),
                     lambda: channel.connection.channel()):
            try:
                call()
            except exceptions.WrongThreadError as error:
                errors.append(error)
        channel.connection.add_callback_threadsafe(publish)

    thread = threading.Thread(target=other_thread)
    thread.start()
    session.driver.run_until(lambda: bool(ran), what="the thread-safe callback")
    thread.join()
    assert len(errors) == 3
    session.wait_for_count(channel, queue, 1)
    assert channel.is_open
