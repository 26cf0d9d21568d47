"""Automatic recovery (issue 12) on the in-memory adapter: fake clock, scripted broker, the
real Connection and Channel; no mocks.

Covers: ``Recovery`` validation, the pure backoff/order rules, the trigger classification,
cycles and give-up on the fake clock, calls refused while recovering, confirms lost exactly
once and numbering that never repeats, stale delivery tags, topology order and the renaming
of server-named queues, a consumer that cannot be resumed, and the recorder's forgetting.
"""

from __future__ import annotations

import random
from typing import Any, List, Optional, Tuple

import pytest

from amqpbase import ConnectionParameters, Recovery, RecoveryReport, exceptions, frame, spec
from amqpbase.protocol.recovery import backoff_delay, cycle_order, is_recoverable
from amqpbase.protocol.topology import Topology
from amqpbase.recovery import ConsumerLostFrame

from .harness import MemoryConnection, ScriptedBroker

# ---------------------------------------------------------------------------------------------
# Settings and pure rules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error", [
    ({"endpoints": []}, ValueError),
    ({"endpoints": "localhost"}, TypeError),
    ({"endpoints": [object()]}, TypeError),
    ({"endpoint_order": "random"}, ValueError),
    ({"endpoint_order": 3}, TypeError),
    ({"initial_delay": -1}, ValueError),
    ({"initial_delay": "1"}, TypeError),
    ({"multiplier": 0.5}, ValueError),
    ({"max_delay": float("inf")}, ValueError),
    ({"max_cycles": 0}, ValueError),
    ({"max_cycles": 1.5}, TypeError),
    ({"max_cycles": True}, TypeError),
    ({"give_up_after": 0}, ValueError),
    ({"topology": "some"}, ValueError),
    ({"topology": ["queues", "stuff"]}, ValueError),
    ({"topology": 5}, TypeError),
    ({"topology_filter": 5}, TypeError),
    ({"entity_retry_timeout": -2}, ValueError),
    ({"on_entity_failure": "retry"}, ValueError),
    ({"recover_consumers": 1}, TypeError),
    ({"resubscribe_on_cancel": None}, TypeError),
    ({"should_recover": "yes"}, TypeError),
    ({"initial_connect": "no"}, TypeError),
    ({"restore_timeout": 0}, ValueError),
    ({"restore_timeout": "5"}, TypeError),
])
def test_recovery_is_validated_at_construction(kwargs: Any, error: type) -> None:
    with pytest.raises(error):
        Recovery(**kwargs)


def test_recovery_defaults_are_the_issues() -> None:
    recovery = Recovery()
    assert recovery.endpoints is None and recovery.endpoint_order == "shuffle"
    assert (recovery.initial_delay, recovery.multiplier, recovery.max_delay) == (1.0, 2.0, 30.0)
    assert recovery.max_cycles is None and recovery.give_up_after is None
    assert recovery.topology == {"exchanges", "queues", "bindings", "consumers"}
    assert recovery.entity_retry_timeout == 30.0 and recovery.on_entity_failure == "skip"
    assert recovery.recover_consumers and not recovery.resubscribe_on_cancel
    assert not recovery.initial_connect and recovery.restore_timeout == 30.0
    assert Recovery(restore_timeout=None).restore_timeout is None
    assert not Recovery(topology="none").restores("queues")
    assert not Recovery(recover_consumers=False).restores("consumers")


def test_backoff_is_full_jitter_under_the_capped_exponential() -> None:
    recovery = Recovery(initial_delay=0.5, multiplier=3.0, max_delay=10.0)
    ceilings: List[float] = []
    for cycle in range(8):
        backoff_delay(recovery, cycle, lambda low, high: ceilings.append(high) or high)
    assert ceilings == [0.5, 1.5, 4.5, 10.0, 10.0, 10.0, 10.0, 10.0]
    rng = random.Random(3)
    delays = [backoff_delay(recovery, 2, rng.uniform) for _ in range(2000)]
    assert all(0.0 <= d <= 4.5 for d in delays)
    assert min(delays) < 0.2 and max(delays) > 4.3  # spread over the whole window
    assert backoff_delay(Recovery(multiplier=10.0), 10_000, rng.uniform) <= 30.0  # no overflow


def test_endpoint_order_in_order_shuffle_lost_last_and_callable() -> None:
    nodes = [ConnectionParameters(port=port) for port in (1, 2, 3, 4)]
    in_order = Recovery(endpoints=nodes, endpoint_order="in_order")
    assert cycle_order(in_order, nodes, nodes[0], random.Random(1).shuffle) == nodes
    shuffle = Recovery(endpoints=nodes)
    seen = set()
    for seed in range(30):
        order = cycle_order(shuffle, nodes, nodes[1], random.Random(seed).shuffle)
        assert order[-1] is nodes[1] and sorted(p.port for p in order) == [1, 2, 3, 4]
        seen.add(tuple(p.port for p in order))
    assert len(seen) > 1  # shuffled
    # the lost endpoint need not be one of the endpoint objects: its host and port decide
    own = ConnectionParameters(port=3)
    for seed in range(30):
        order = cycle_order(shuffle, nodes, own, random.Random(seed).shuffle)
        assert order[-1] is nodes[2], [p.port for p in order]
    stranger = ConnectionParameters(port=9)  # not among them: a plain shuffle
    assert sorted(p.port for p in cycle_order(shuffle, nodes, stranger, random.shuffle)) == [
        1, 2, 3, 4]
    chooser = Recovery(endpoints=nodes, endpoint_order=lambda eps, lost: [eps[3]])
    assert cycle_order(chooser, nodes, None, random.shuffle) == [nodes[3]]
    broken = Recovery(endpoints=nodes, endpoint_order=lambda eps, lost: [])
    with pytest.raises(TypeError):
        cycle_order(broken, nodes, None, random.shuffle)


@pytest.mark.parametrize("reason, recover", [
    (exceptions.StreamLostError("gone"), True),
    (exceptions.AMQPHeartbeatTimeout("silent"), True),
    (ConnectionResetError(), True),
    (exceptions.ConnectionClosedByBroker(320, "CONNECTION_FORCED"), True),
    (exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED"), False),
    (exceptions.ConnectionClosedByBroker(530, "NOT_ALLOWED"), False),
    (exceptions.ConnectionClosedByBroker(501, "FRAME_ERROR"), False),
    (exceptions.ConnectionClosedByBroker(505, "UNEXPECTED_FRAME"), False),
    (exceptions.UnexpectedFrameError("bad"), False),
    (exceptions.ConnectionClosedByClient(200, "bye"), False),
])
def test_trigger_classification(reason: BaseException, recover: bool) -> None:
    assert is_recoverable(reason, None) is recover
    # should_recover decides every case but a client close
    client = isinstance(reason, exceptions.ConnectionClosedByClient)
    assert is_recoverable(reason, lambda r: True) is (not client)
    assert is_recoverable(reason, lambda r: False) is False


# ---------------------------------------------------------------------------------------------
# The connection on the fake clock
# ---------------------------------------------------------------------------------------------


class Session:
    """A recovering MemoryConnection, its scripted broker, and everything it reported."""

    def __init__(self, recovery: Recovery, params: Optional[ConnectionParameters] = None,
                 seed: int = 1) -> None:
        self.closed: List[BaseException] = []
        self.events: List[Tuple[Any, ...]] = []
        self.conn = MemoryConnection(
            params or ConnectionParameters(),
            on_close_callback=lambda c, r: self.closed.append(r), recovery=recovery)
        self.conn.recovery_random = random.Random(seed)
        conn = self.conn
        conn.add_on_recovery_started_callback(lambda c, r: self.events.append(("started", r)))
        conn.add_on_recovery_attempt_failed_callback(
            lambda c, n, ep, exc, delay: self.events.append(("attempt", n, ep.port, exc, delay)))
        conn.add_on_recovery_succeeded_callback(lambda c, rep: self.events.append(("ok", rep)))
        conn.add_on_recovery_failed_callback(lambda c, exc: self.events.append(("failed", exc)))
        conn.add_on_queue_renamed_callback(lambda c, o, n: self.events.append(("renamed", o, n)))
        self.broker = ScriptedBroker(conn)
        self.broker.handshake()

    def names(self) -> List[Tuple[int, str]]:
        return [(f.channel_number, f.method.NAME) for f in self.broker.received()
                if hasattr(f, "method")]

    def lose(self, error: Optional[BaseException] = None) -> None:
        self.broker.received()
        self.conn.lose_stream(error or exceptions.StreamLostError("link cut"))

    def relink(self) -> None:
        """Let the backoff pass (until the new stream is up) and answer its handshake."""
        self.conn.connect_error = None
        for _ in range(10_000):
            if self.conn.stream_open:
                break
            self.conn.clock.advance(0.01)
        assert self.conn.stream_open
        self.broker.new_stream()
        self.broker.start()
        self.broker.tune()
        self.broker.open_ok()

    def report(self) -> RecoveryReport:
        reports = [e[1] for e in self.events if e[0] == "ok"]
        assert len(reports) == 1, self.events
        return reports[0]


def _confirming_channel(s: Session) -> Any:
    channel = s.broker.open_channel(1)
    channel.confirm_delivery(lambda f: None, callback=lambda f: None)
    s.broker.send(1, spec.Confirm.SelectOk())
    return channel


def test_recovery_off_keeps_todays_close() -> None:
    conn = MemoryConnection(ConnectionParameters())
    closed: List[BaseException] = []
    conn.add_on_close_callback(lambda c, r: closed.append(r))
    broker = ScriptedBroker(conn)
    broker.handshake()
    assert conn.recovery is None and not conn.recovering
    conn.lose_stream(exceptions.StreamLostError("gone"))
    assert len(closed) == 1 and isinstance(closed[0], exceptions.StreamLostError)
    assert conn.is_closed and conn.connect_calls == 1


def test_loss_recovers_confirms_lost_once_numbering_continues_and_stale_tags_raise() -> None:
    s = Session(Recovery(initial_delay=1.0))
    channel = _confirming_channel(s)
    outcomes: List[Any] = []
    lost_reports: List[Any] = []
    channel.add_on_confirms_lost_callback(lambda ch, exc: lost_reports.append(exc))
    for _ in range(3):
        channel.basic_publish("", "q", b"m", on_confirm=outcomes.append)
    s.broker.send(1, spec.Basic.Ack(1, False))
    delivered: List[int] = []
    channel.basic_consume("q", lambda ch, m, p, b: delivered.append(m.delivery_tag),
                          consumer_tag="ct", callback=lambda f: None)
    s.broker.send(1, spec.Basic.ConsumeOk("ct"))
    s.broker.send_content(1, spec.Basic.Deliver("ct", 1, False, "", "q"),
                          spec.BasicProperties(), b"d")
    channel.queue_declare("", callback=None)  # nowait, server-named: nothing to restore
    s.lose()

    assert [e[0] for e in s.events] == ["started"]
    assert s.conn.recovering and not s.conn.is_open and not s.conn.is_closed and not s.closed
    # publishes 2 and 3: exactly once, ConfirmLostError, never ack or nack
    assert type(outcomes[0]).__name__ == "Method"
    assert [type(o) for o in outcomes[1:]] == [exceptions.ConfirmLostError] * 2
    assert outcomes[1] is outcomes[2] and outcomes[1].delivery_tags == [2, 3]
    assert len(lost_reports) == 1 and lost_reports[0].delivery_tags == [2, 3]
    # nothing is buffered meanwhile
    with pytest.raises(exceptions.ChannelRecoveringError):
        channel.basic_publish("", "q", b"m")
    with pytest.raises(exceptions.ChannelRecoveringError):
        channel.basic_ack(delivered[0])
    with pytest.raises(exceptions.ConnectionRecoveringError):
        s.conn.channel()
    assert s.conn.outbound[-1:] and s.names() == []

    s.relink()
    assert s.names() == [(0, "Connection.StartOk"), (0, "Connection.TuneOk"),
                         (0, "Connection.Open"), (1, "Channel.Open")]
    s.broker.send(1, spec.Channel.OpenOk())
    assert s.names() == [(2, "Channel.Open")]  # the restore channel
    s.broker.send(2, spec.Channel.OpenOk())
    assert s.names() == [(1, "Confirm.Select")]
    s.broker.send(1, spec.Confirm.SelectOk())
    assert s.names() == [(2, "Queue.Declare")]  # passive: the consumer's queue must exist
    s.broker.send(2, spec.Queue.DeclareOk("q", 0, 0))
    assert s.names() == [(1, "Basic.Consume")]
    s.broker.send(1, spec.Basic.ConsumeOk("ct"))
    assert s.names() == [(2, "Channel.Close")]
    s.broker.send(2, spec.Channel.CloseOk())
    report = s.report()
    assert (report.cycles, report.confirms_lost, report.consumers_resumed) == (1, 2, 1)
    assert s.conn.is_open and channel.is_open and not channel.recovering

    # rule 1: a stale tag raises and sends nothing, multiple=True too
    for call in (lambda: channel.basic_ack(delivered[0]),
                 lambda: channel.basic_ack(delivered[0], multiple=True),
                 lambda: channel.basic_nack(delivered[0]),
                 lambda: channel.basic_reject(delivered[0])):
        with pytest.raises(exceptions.StaleDeliveryTagError):
            call()
    assert s.names() == []
    s.broker.send_content(1, spec.Basic.Deliver("ct", 1, False, "", "q"),
                          spec.BasicProperties(), b"d")
    assert delivered[1] > delivered[0]  # the new incarnation's tags are above the old ones
    channel.basic_ack(delivered[1], multiple=True)
    assert s.names() == [(1, "Basic.Ack")]
    # rule 2: numbering continues; the broker's new tag 1 is our 4, never an old number
    channel.basic_publish("", "q", b"m", on_confirm=outcomes.append)
    assert channel.next_delivery_tag == 5
    s.broker.send(1, spec.Basic.Ack(1, False))
    assert outcomes[-1].method.delivery_tag == 4 and len(outcomes) == 4


def test_cycles_back_off_over_the_endpoints_then_give_up_after_max_cycles() -> None:
    nodes = [ConnectionParameters(port=p) for p in (5001, 5002)]
    s = Session(Recovery(endpoints=nodes, endpoint_order="in_order", initial_delay=1.0,
                         multiplier=2.0, max_delay=3.0, max_cycles=3), params=nodes[0])
    s.conn.connect_error = exceptions.TCPConnectionRefusedError("refused")
    s.lose()
    s.conn.clock.advance(100)
    attempts = [e for e in s.events if e[0] == "attempt"]
    assert [(a[1], a[2]) for a in attempts] == [(1, 5001), (2, 5002), (3, 5001), (4, 5002),
                                               (5, 5001), (6, 5002)]
    delays = [a[4] for a in attempts]
    assert delays[0] == 0.0 and delays[2] == 0.0 and delays[4] == 0.0  # same cycle: at once
    assert 0.0 <= delays[1] <= 2.0 and 0.0 <= delays[3] <= 3.0  # the next cycle's jitter
    assert delays[5] is None  # gives up
    failed = [e for e in s.events if e[0] == "failed"]
    assert len(failed) == 1 and isinstance(failed[0][1], exceptions.RecoveryFailedError)
    assert isinstance(failed[0][1].__cause__, exceptions.TCPConnectionRefusedError)
    assert s.closed == [failed[0][1]]  # on_close once, with the same error
    assert s.conn.is_closed and not s.conn.recovering
    s.conn.clock.advance(100)
    assert s.conn.connect_calls == 1 + 6 and len(s.closed) == 1


def test_give_up_after_ends_recovery_on_the_clock() -> None:
    s = Session(Recovery(initial_delay=2.0, max_delay=2.0, give_up_after=7.0))
    s.conn.connect_error = exceptions.TCPConnectionRefusedError("refused")
    s.lose()
    s.conn.clock.advance(6.9)
    assert not s.closed
    s.conn.clock.advance(0.2)
    assert len(s.closed) == 1 and isinstance(s.closed[0], exceptions.RecoveryFailedError)
    assert "give_up_after=7.0" in str(s.closed[0])


@pytest.mark.parametrize("reason", [
    exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED"),
    exceptions.ConnectionClosedByBroker(501, "FRAME_ERROR"),
])
def test_broker_close_that_must_not_recover_closes(reason: BaseException) -> None:
    s = Session(Recovery())
    s.broker.send(0, spec.Connection.Close(reason.reply_code, reason.reply_text, 0, 0))
    s.conn.clock.advance(0)
    assert len(s.closed) == 1 and s.closed[0].reply_code == reason.reply_code
    assert s.events == [] and s.conn.connect_calls == 1


def test_broker_close_320_recovers_and_client_close_while_recovering_is_final() -> None:
    s = Session(Recovery(initial_delay=5.0))
    s.broker.send(0, spec.Connection.Close(320, "CONNECTION_FORCED", 0, 0))
    s.conn.clock.advance(0)
    assert [e[0] for e in s.events] == ["started"] and not s.closed
    s.conn.close()
    assert len(s.closed) == 1 and isinstance(s.closed[0], exceptions.ConnectionClosedByClient)
    s.conn.clock.advance(100)
    assert s.conn.connect_calls == 1 and len(s.closed) == 1


def test_login_refused_on_recovery_gives_up() -> None:
    s = Session(Recovery(initial_delay=0.0))
    s.lose()
    s.conn.clock.advance(1)
    s.broker.new_stream()
    s.broker.start()
    s.broker.send(0, spec.Connection.Close(403, "ACCESS_REFUSED", 0, 0))
    s.conn.clock.advance(1)
    assert len(s.closed) == 1 and isinstance(s.closed[0], exceptions.RecoveryFailedError)
    assert isinstance(s.closed[0].__cause__, exceptions.ProbableAuthenticationError)


def test_topology_order_and_server_named_queue_renamed_before_its_binding_and_consumer() -> None:
    s = Session(Recovery(initial_delay=0.0))
    channel = s.broker.open_channel(1)
    answers = iter([spec.Exchange.DeclareOk(), spec.Queue.DeclareOk("amq.gen-old", 0, 0),
                    spec.Queue.DeclareOk("durable-q", 0, 0), spec.Queue.BindOk(),
                    spec.Exchange.BindOk(), spec.Basic.QosOk(), spec.Basic.ConsumeOk("c1")])
    channel.exchange_declare("ex", "topic", callback=lambda f: None)
    channel.queue_declare("", exclusive=True, callback=lambda f: None)
    channel.queue_declare("durable-q", durable=True, callback=lambda f: None)
    channel.queue_bind("amq.gen-old", "ex", "k", callback=lambda f: None)
    channel.exchange_bind("ex", "amq.topic", "#", callback=lambda f: None)
    channel.basic_qos(prefetch_count=10, callback=lambda f: None)
    received: List[Any] = []
    channel.basic_consume("amq.gen-old", lambda *a: received.append(a), consumer_tag="c1",
                          callback=lambda f: None)
    for answer in answers:
        s.broker.send(1, answer)
    s.lose()
    s.relink()
    replies = {
        "Channel.Open": spec.Channel.OpenOk(), "Basic.Qos": spec.Basic.QosOk(),
        "Exchange.Declare": spec.Exchange.DeclareOk(), "Queue.Bind": spec.Queue.BindOk(),
        "Exchange.Bind": spec.Exchange.BindOk(), "Channel.Close": spec.Channel.CloseOk(),
    }
    sent: List[Tuple[int, str, Any]] = []
    for _ in range(20):
        frames = [f for f in s.broker.received() if hasattr(f, "method")]
        if not frames:
            break
        for f in frames:
            method = f.method
            sent.append((f.channel_number, method.NAME, method))
            if method.NAME == "Queue.Declare":
                name = method.queue or "amq.gen-new"
                reply: Any = spec.Queue.DeclareOk(name, 0, 0)
            elif method.NAME == "Basic.Consume":
                reply = spec.Basic.ConsumeOk(method.consumer_tag)
            elif method.NAME in replies:
                reply = replies[method.NAME]
            else:
                continue
            s.broker.send(f.channel_number, reply)
    names = [(n, name) for n, name, _ in sent if n]
    assert names == [
        (1, "Channel.Open"), (2, "Channel.Open"), (1, "Basic.Qos"),
        (2, "Exchange.Declare"), (2, "Queue.Declare"), (2, "Queue.Declare"),
        (2, "Queue.Bind"), (2, "Exchange.Bind"),
        (2, "Queue.Declare"), (1, "Basic.Consume"), (2, "Channel.Close"),
    ]
    declares = [m for _, name, m in sent if name == "Queue.Declare"]
    assert declares[0].queue == "" and declares[0].exclusive  # server-named: re-declared so
    assert declares[1].queue == "durable-q" and declares[1].durable
    assert declares[2].queue == "amq.gen-new" and declares[2].passive
    bind = next(m for _, name, m in sent if name == "Queue.Bind")
    consume = next(m for _, name, m in sent if name == "Basic.Consume")
    assert bind.queue == "amq.gen-new" and consume.queue == "amq.gen-new"
    assert consume.consumer_tag == "c1"  # the original tag
    assert ("renamed", "amq.gen-old", "amq.gen-new") in s.events
    report = s.report()
    assert report.renamed_queues == {"amq.gen-old": "amq.gen-new"}
    assert report.consumers_resumed == 1 and report.skipped == []


def test_a_consumer_whose_queue_is_gone_fails_loudly_and_the_channel_survives() -> None:
    s = Session(Recovery(initial_delay=0.0))
    channel = s.broker.open_channel(1)
    cancels: List[Any] = []
    channel.add_on_cancel_callback(cancels.append)
    channel.basic_consume("gone", lambda *a: None, consumer_tag="c1", callback=lambda f: None)
    s.broker.send(1, spec.Basic.ConsumeOk("c1"))
    s.lose()
    s.relink()
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())
    s.broker.send(2, spec.Channel.OpenOk())
    assert [(f.channel_number, f.method.NAME) for f in s.broker.received()] == [
        (2, "Channel.Open"), (2, "Queue.Declare")]
    s.broker.send(2, spec.Channel.Close(404, "NOT_FOUND - no queue 'gone'", 50, 10))
    names = [(f.channel_number, f.method.NAME) for f in s.broker.received()]
    assert names == [(2, "Channel.CloseOk")]  # nothing left to restore: no new channel
    report = s.report()
    assert len(report.skipped) == 1 and report.consumers_resumed == 0
    error = report.skipped[0][1]
    assert isinstance(error, exceptions.ConsumerRecoveryFailedError)
    assert error.consumer_tag == "c1"
    assert len(cancels) == 1 and cancels[0].method.consumer_tag == "c1"
    assert channel.is_open and channel.consumer_tags == []
    # the cancel callbacks get pika's shape: a Basic.Cancel method frame for the tag ...
    (cancel,) = cancels
    assert isinstance(cancel, frame.Method) and cancel.channel_number == 1
    assert isinstance(cancel.method, spec.Basic.Cancel)
    # ... carrying the error, the same object the report lists
    assert isinstance(cancel, ConsumerLostFrame)
    assert cancel.error is error
    assert isinstance(cancel.error.__cause__, exceptions.ChannelClosedByBroker)


def test_exclusive_queue_still_locked_is_retried() -> None:
    s = Session(Recovery(initial_delay=0.0, entity_retry_timeout=5.0))
    channel = s.broker.open_channel(1)
    channel.queue_declare("mine", exclusive=True, callback=lambda f: None)
    s.broker.send(1, spec.Queue.DeclareOk("mine", 0, 0))
    s.lose()
    s.relink()
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())
    s.broker.send(2, spec.Channel.OpenOk())
    assert [f.method.NAME for f in s.broker.received()] == ["Channel.Open", "Queue.Declare"]
    s.broker.send(2, spec.Channel.Close(405, "RESOURCE_LOCKED", 50, 10))
    s.broker.received()
    s.conn.clock.advance(1.0)  # the retry pause, then a new restore channel
    assert [(f.channel_number, f.method.NAME) for f in s.broker.received()] == [
        (2, "Channel.Open")]
    s.broker.send(2, spec.Channel.OpenOk())
    assert [f.method.NAME for f in s.broker.received()] == ["Queue.Declare"]
    s.broker.send(2, spec.Queue.DeclareOk("mine", 0, 0))
    s.broker.received()
    s.broker.send(2, spec.Channel.CloseOk())
    assert s.report().skipped == []


def test_a_restore_step_without_answer_fails_the_attempt_and_the_next_endpoint_restores() -> None:
    # A live RabbitMQ node holds a declare of a new queue while a frozen peer is not yet
    # declared down (docs/recovery.md, "A frozen node"): the restore must not hang with it.
    nodes = [ConnectionParameters(port=p) for p in (5001, 5002, 5003)]
    s = Session(Recovery(endpoints=nodes, endpoint_order="in_order", initial_delay=0.0,
                         restore_timeout=5.0), params=nodes[0])
    channel = s.broker.open_channel(1)
    channel.queue_declare("", exclusive=True, callback=lambda f: None)
    s.broker.send(1, spec.Queue.DeclareOk("amq.gen-1", 0, 0))
    s.lose()
    s.relink()  # the first endpoint of the cycle: 5001
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())
    s.broker.send(2, spec.Channel.OpenOk())
    assert [f.method.NAME for f in s.broker.received()] == ["Channel.Open", "Queue.Declare"]
    disconnects = s.conn.disconnect_calls
    s.conn.clock.advance(4.9)
    assert s.conn.disconnect_calls == disconnects and s.conn.recovering  # still waiting
    s.conn.clock.advance(0.2)  # no DeclareOk within restore_timeout: the link is dropped
    attempts = [e for e in s.events if e[0] == "attempt"]
    assert len(attempts) == 1 and attempts[0][1:3] == (1, 5001) and attempts[0][4] == 0.0
    assert isinstance(attempts[0][3], exceptions.TopologyRecoveryError)
    assert "restore_timeout=5.0" in str(attempts[0][3]) and "localhost:5001" in str(attempts[0][3])
    assert s.conn.recovering and not s.closed
    assert not [e for e in s.events if e[0] in ("ok", "failed")]
    s.relink()  # at once, the next endpoint of the same cycle
    assert s.conn.params.port == 5002
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())
    s.broker.send(2, spec.Channel.OpenOk())
    assert [f.method.NAME for f in s.broker.received()] == ["Channel.Open", "Queue.Declare"]
    s.broker.send(2, spec.Queue.DeclareOk("amq.gen-2", 0, 0))
    s.broker.received()
    s.broker.send(2, spec.Channel.CloseOk())
    report = s.report()
    assert report.endpoint.port == 5002 and report.renamed_queues == {"amq.gen-1": "amq.gen-2"}
    assert report.cycles == 1 and channel.is_open
    s.conn.clock.advance(60)  # the bound was disarmed with the restore: nothing more happens
    assert len([e for e in s.events if e[0] == "attempt"]) == 1 and s.conn.is_open


def test_rpc_in_flight_is_interrupted() -> None:
    s = Session(Recovery(initial_delay=0.0))
    channel = s.broker.open_channel(1)
    interrupted: List[Any] = []
    channel.add_on_interrupted_callback(lambda ch, exc: interrupted.append(exc))
    replies: List[Any] = []
    channel.queue_declare("q", callback=replies.append)
    s.lose()
    assert len(interrupted) == 1
    assert isinstance(interrupted[0], exceptions.OperationInterruptedError)
    assert "1 request(s)" in str(interrupted[0]) and replies == []


def test_recorder_forgets_deleted_unbound_cancelled_and_auto_deleted() -> None:
    topology = Topology()
    topology.record(1, spec.Exchange.Declare(0, "ad", "fanout", auto_delete=True), None)
    topology.record(1, spec.Exchange.Declare(0, "amq.direct", "direct"), None)
    topology.record(1, spec.Queue.Declare(0, "q", auto_delete=True), spec.Queue.DeclareOk("q"))
    topology.record(1, spec.Queue.Declare(0, "p", passive=True), spec.Queue.DeclareOk("p"))
    topology.record(1, spec.Queue.Bind(0, "q", "ad", "k"), None)
    assert list(topology.exchanges) == ["ad"] and list(topology.queues) == ["q"]
    from amqpbase.protocol.topology import ConsumerRecord

    topology.record_consumer(ConsumerRecord(1, "c", "q", print, False, False, None))
    topology.forget_consumer(1, "c")  # the auto-delete queue's last consumer: the queue goes
    assert topology.queues == {} and topology.bindings == {}
    assert topology.exchanges == {}  # ... and so did the auto-delete exchange's last binding
    topology.record(1, spec.Exchange.Declare(0, "x", "topic"), None)
    topology.record(1, spec.Exchange.Bind(0, "x", "amq.topic", "#"), None)
    topology.record(1, spec.Exchange.Unbind(0, "x", "amq.topic", "#"), None)
    assert topology.bindings == {} and list(topology.exchanges) == ["x"]
    topology.record(1, spec.Exchange.Delete(0, "x"), None)
    assert topology.exchanges == {}
    topology.record(2, spec.Basic.Qos(0, 5, False), None)
    topology.forget_channel(2)
    assert topology.modes == {}


# ---------------------------------------------------------------------------------------------
# The seam, resubscribe_on_cancel and ConsumerRecoveryFailedError to the cancel callbacks
# ---------------------------------------------------------------------------------------------


def _consuming(s: Session, tag: str = "c1", queue: str = "q") -> Tuple[Any, List[Any], List[Any]]:
    channel = s.broker.open_channel(1)
    cancels: List[Any] = []
    delivered: List[Any] = []
    channel.add_on_cancel_callback(cancels.append)
    channel.basic_consume(queue, lambda ch, m, p, b: delivered.append(b), consumer_tag=tag,
                          callback=lambda f: None)
    s.broker.send(1, spec.Basic.ConsumeOk(tag))
    s.broker.received()
    return channel, cancels, delivered


def _advance_until_sent(s: Session, limit: float = 120.0) -> List[Tuple[int, Any]]:
    """Advance the fake clock until the client sends something; what it sent."""
    waited = 0.0
    while waited < limit:
        frames = [(f.channel_number, f.method) for f in s.broker.received()
                  if hasattr(f, "method")]
        if frames:
            return frames
        s.conn.clock.advance(0.05)
        waited += 0.05
    return []


def test_resubscribe_on_cancel_brings_the_consumer_back_with_its_tag() -> None:
    s = Session(Recovery(initial_delay=1.0, resubscribe_on_cancel=True))
    channel, cancels, delivered = _consuming(s)
    s.broker.send(1, spec.Basic.Cancel("c1", True))  # the broker cancels it (queue deleted)
    assert cancels == [] and channel.consumer_tags == []  # taken over, not reported
    # a probe channel checks that the queue is back (passive declare) ...
    sent = _advance_until_sent(s)
    assert [(n, m.NAME) for n, m in sent] == [(2, "Channel.Open")]
    s.broker.send(2, spec.Channel.OpenOk())
    sent = [(f.channel_number, f.method) for f in s.broker.received()]
    assert [(n, m.NAME) for n, m in sent] == [(2, "Queue.Declare")] and sent[0][1].passive
    s.broker.send(2, spec.Queue.DeclareOk("q", 0, 0))
    # ... then the consumer is re-subscribed on its own channel, with its original tag
    sent = [(f.channel_number, f.method) for f in s.broker.received()]
    assert [(n, m.NAME) for n, m in sent] == [(2, "Channel.Close"), (1, "Basic.Consume")]
    assert sent[1][1].consumer_tag == "c1" and sent[1][1].queue == "q"
    s.broker.send(1, spec.Basic.ConsumeOk("c1"))
    s.broker.send(2, spec.Channel.CloseOk())
    assert channel.consumer_tags == ["c1"] and cancels == []
    s.broker.send_content(1, spec.Basic.Deliver("c1", 1, False, "", "q"),
                          spec.BasicProperties(), b"again")
    assert delivered == [b"again"]
    # and it is recorded again: a later recovery resumes it
    s.lose()
    s.relink()
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())
    s.broker.send(2, spec.Channel.OpenOk())
    assert [f.method.NAME for f in s.broker.received()] == ["Channel.Open", "Queue.Declare"]
    s.broker.send(2, spec.Queue.DeclareOk("q", 0, 0))
    consume = [f.method for f in s.broker.received() if f.method.NAME == "Basic.Consume"]
    assert [m.consumer_tag for m in consume] == ["c1"]


def test_resubscribe_gives_up_after_bounded_attempts_with_the_error_to_cancel_callbacks(
) -> None:
    s = Session(Recovery(initial_delay=0.5, max_delay=1.0, max_cycles=3,
                         resubscribe_on_cancel=True))
    channel, cancels, _ = _consuming(s)
    s.broker.send(1, spec.Basic.Cancel("c1", True))
    attempts = 0
    for _ in range(3):
        sent = _advance_until_sent(s)
        assert [(n, m.NAME) for n, m in sent] == [(2, "Channel.Open")]
        s.broker.send(2, spec.Channel.OpenOk())
        s.broker.received()
        assert cancels == []
        s.broker.send(2, spec.Channel.Close(404, "NOT_FOUND - no queue 'q'", 50, 10))
        assert [m.NAME for m in s.broker.methods()] == ["Channel.CloseOk"]
        attempts += 1
    assert len(cancels) == 1 and attempts == 3
    cancel = cancels[0]
    assert cancel.method.consumer_tag == "c1"
    assert isinstance(cancel.error, exceptions.ConsumerRecoveryFailedError)
    assert "3 attempt(s)" in str(cancel.error)
    assert channel.is_open and channel.consumer_tags == []
    s.conn.clock.advance(60.0)
    assert s.broker.methods() == []  # given up: no further attempt


def test_without_resubscribe_on_cancel_a_broker_cancel_is_reported_and_forgotten() -> None:
    s = Session(Recovery(initial_delay=0.0))
    channel, cancels, _ = _consuming(s)
    s.broker.send(1, spec.Basic.Cancel("c1", True))
    assert [c.method.consumer_tag for c in cancels] == ["c1"]
    assert not isinstance(cancels[0], ConsumerLostFrame)
    s.conn.clock.advance(60.0)
    assert s.broker.methods() == []  # nothing re-subscribed
    s.lose()
    s.relink()
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())
    assert [f for f in s.broker.received() if hasattr(f, "method")] == []  # nor resumed


def test_a_consumer_cancelled_by_the_user_while_awaiting_resubscription_stays_cancelled(
) -> None:
    s = Session(Recovery(initial_delay=1.0, resubscribe_on_cancel=True))
    channel, cancels, _ = _consuming(s)
    s.broker.send(1, spec.Basic.Cancel("c1", True))
    channel.basic_cancel("c1")
    s.conn.clock.advance(60.0)
    assert s.broker.methods() == [] and cancels == []


def test_resubscription_waits_for_a_recovery_in_progress() -> None:
    s = Session(Recovery(initial_delay=0.5, max_delay=0.5, resubscribe_on_cancel=True))
    channel, _, _ = _consuming(s)
    s.broker.send(1, spec.Basic.Cancel("c1", True))
    s.lose()  # the link drops before the re-subscription runs
    s.relink()
    s.broker.received()
    s.broker.send(1, spec.Channel.OpenOk())  # nothing to restore: recovered
    assert len([e for e in s.events if e[0] == "ok"]) == 1
    sent = _advance_until_sent(s)
    assert [(n, m.NAME) for n, m in sent] == [(2, "Channel.Open")]
    s.broker.send(2, spec.Channel.OpenOk())
    s.broker.received()
    s.broker.send(2, spec.Queue.DeclareOk("q", 0, 0))
    consume = [f.method for f in s.broker.received() if f.method.NAME == "Basic.Consume"]
    assert [m.consumer_tag for m in consume] == ["c1"]


def test_recovery_reaches_no_private_name_of_the_facades() -> None:
    import ast
    import pathlib

    import amqpbase.recovery as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    private = [ast.unparse(node) for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr.startswith("_")
               and not node.attr.startswith("__")
               and not (isinstance(node.value, ast.Name) and node.value.id == "self")]
    assert private == []


def test_a_pending_resubscription_ends_with_the_connection() -> None:
    s = Session(Recovery(initial_delay=1.0, resubscribe_on_cancel=True))
    _consuming(s)
    s.broker.send(1, spec.Basic.Cancel("c1", True))
    assert s.conn.clock.pending() >= 1  # the re-subscription's timer
    s.conn.close()
    s.broker.received()
    s.broker.send(1, spec.Channel.CloseOk())
    s.broker.send(0, spec.Connection.CloseOk())
    s.conn.clock.advance(0)  # the stream's end
    assert len(s.closed) == 1 and s.conn.is_closed
    assert s.conn.clock.pending() == 0  # nothing left armed


@pytest.mark.parametrize("cancel_first", [True, False])
def test_a_consumer_whose_queue_we_delete_is_not_resubscribed_and_reported(
        cancel_first: bool) -> None:
    """Our Queue.DeleteOk and the broker's Basic.Cancel to the consumer (on another channel)
    come in either order: either way the consumer stays cancelled and its cancel callbacks
    get the broker's frame, once."""
    s = Session(Recovery(initial_delay=1.0, resubscribe_on_cancel=True))
    channel, cancels, _ = _consuming(s)
    helper = s.broker.open_channel(2)
    helper.queue_delete("q", callback=lambda f: None)
    assert [m.NAME for m in s.broker.methods()] == ["Queue.Delete"]
    if cancel_first:
        s.broker.send(1, spec.Basic.Cancel("c1", True))
        assert cancels == []  # taken over for now
    s.broker.send(2, spec.Queue.DeleteOk(0))
    if not cancel_first:
        s.broker.send(1, spec.Basic.Cancel("c1", True))
    assert [c.method.consumer_tag for c in cancels] == ["c1"]
    assert getattr(cancels[0], "error", None) is None  # the broker's cancel, not a failure
    s.conn.clock.advance(60.0)
    assert s.broker.methods() == [] and channel.consumer_tags == []
