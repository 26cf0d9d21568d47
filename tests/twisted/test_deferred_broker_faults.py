"""The broker closes a connection of the Deferred API (issue 6 fault suite, Twisted only).

Runs on the fault node of ``tests/faults/fault_node.py`` (its memory alarm keeps work pending:
once a publish blocks the connection RabbitMQ stops reading it, so nothing sent afterwards is
answered), never on the shared test node.
"""

from __future__ import annotations

import time
from typing import Any, Generator, Iterator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp, MemoryAlarm, event_deferred, failure_of, the_reactor, within
from faults import fault_node
from twisted.internet import defer, task

from amqpbase import exceptions, spec

pytestmark = pytest.mark.broker

Test = Generator[Any, Any, None]

# The fault node's fixtures, made visible to this module's tests.
fault_broker = fault_node.fault_broker
fault_node_session = fault_node.fault_node_session


@pytest.fixture
def fault_amqp(fault_broker: fault_node.FaultNode) -> Iterator[Amqp]:
    """Deferred-API helpers bound to the fault node (connections closed, queues deleted)."""
    helper = Amqp(fault_broker)
    try:
        yield helper
    finally:
        pytest_twisted.blockon(helper.cleanup())


@pytest.fixture
def fault_alarm(fault_amqp: Amqp) -> Iterator[MemoryAlarm]:
    """The fault node's memory alarm, cleared after the test (before ``fault_amqp``'s
    cleanup, which needs an unblocked broker)."""
    alarm = MemoryAlarm(fault_amqp)
    try:
        yield alarm
    finally:
        if alarm.raised:
            pytest_twisted.blockon(alarm.clear())


@defer.inlineCallbacks
def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> Test:
    """Let the reactor run until ``predicate()`` holds (checked every 5 ms), or fail."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        yield task.deferLater(the_reactor(), 0.005, lambda: None)


@pytest_twisted.inlineCallbacks
def test_broker_close_fails_every_pending_deferred(fault_amqp: Amqp,
                                                   fault_alarm: MemoryAlarm) -> Test:
    """``rabbitmqctl close_connection`` with two channels' worth of pending work:

    - ``connection.closed`` fails with ``ConnectionClosedByBroker(320, 'CONNECTION_FORCED -
      <text>')``, and EVERY pending Deferred fails with that same object: each of the three
      unconfirmed publishes, the RPC on the wire and the one queued behind it (both channels),
      each consumer's waiting ``get()`` and both channels' ``closed``;
    - publishes acked before the close keep their ``Basic.Ack`` result;
    - consumer queues (docs/api.md): a manual-ack consumer's buffered messages are dropped
      (``get()`` fails at once), an ``auto_ack`` consumer's stay available, then ``get()``
      fails with the reason;
    - the reactor goes on: a new connection to the same node publishes with a confirm."""
    amqp = fault_amqp
    name = amqp.name("conn")
    connection = yield amqp.open(amqp.params(connection_name=name))
    blocked, on_blocked = event_deferred()
    connection.add_on_connection_blocked_callback(on_blocked)
    channel = yield amqp.confirmed_channel(connection)
    other = yield amqp.open_channel(connection)
    queue = yield amqp.declare_queue(channel)
    buffered_queue = yield amqp.declare_queue(channel)
    auto_queue = yield amqp.declare_queue(other)
    messages, _ = yield within(channel.basic_consume(queue))
    buffered, _ = yield within(channel.basic_consume(buffered_queue))
    auto_messages, _ = yield within(other.basic_consume(auto_queue, auto_ack=True))

    early = [channel.basic_publish("", target, b"early")
             for target in (buffered_queue, buffered_queue, auto_queue, auto_queue)]
    acks = yield within(defer.gatherResults(early))
    assert all(isinstance(ack, spec.Basic.Ack) for ack in acks)
    yield wait_for(lambda: len(buffered.pending) == 2 and len(auto_messages.pending) == 2,
                   "the early messages in the consumer queues")

    waiting = messages.get()
    yield fault_alarm.raise_alarm()
    confirms = [channel.basic_publish("", queue, b"blocked %d" % n) for n in range(3)]
    yield within(blocked)
    rpcs = [
        channel.queue_declare(queue, passive=True),  # on the wire
        channel.basic_qos(prefetch_count=2),  # queued behind it
        other.exchange_declare(amqp.name("x"), "direct"),
        other.basic_qos(prefetch_count=3),
    ]
    pending = confirms + rpcs + [waiting]
    assert not any(deferred.called for deferred in pending)

    pid = yield amqp.connection_pid(name)
    yield amqp.ctl("close_connection", pid, "deferred fault test")
    reason = yield failure_of(connection.closed)
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert (reason.reply_code, reason.reply_text) == (
        spec.CONNECTION_FORCED, "CONNECTION_FORCED - deferred fault test")
    failures: List[BaseException] = []
    for deferred in pending + [channel.closed, other.closed, messages.get(), buffered.get()]:
        failures.append((yield failure_of(deferred)))
    assert all(failure is reason for failure in failures), failures
    assert all(isinstance(ack, spec.Basic.Ack) for ack in acks)  # unchanged
    for _ in range(2):
        message = yield within(auto_messages.get())
        assert bytes(message.body) == b"early"
    assert (yield failure_of(auto_messages.get())) is reason
    assert connection.is_closed and channel.is_closed and other.is_closed

    yield fault_alarm.clear()
    again = yield amqp.confirmed_channel()
    fresh = yield amqp.declare_queue(again)
    ack = yield within(again.basic_publish("", fresh, b"after the fault"))
    assert isinstance(ack, spec.Basic.Ack)
