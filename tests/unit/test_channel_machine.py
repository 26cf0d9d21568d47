"""The channel machine in pure frames and actions: no connection, no channel facade.

- Every (state, input) pair of ``TABLE`` and every (assembly, piece) pair of ``CONTENT_TABLE``
  exists, and driving the machine into the state and applying the input gives the table's
  outcome (an illegal pair raises its defined error having changed nothing).
- Hypothesis runs random sequences of API calls and broker frames (a broker model answers
  sensibly, sometimes not) and checks the invariants: each RPC answered or failed exactly
  once; each confirm-mode publish settled exactly once (ack, nack or failed at close); no
  frame sent after our Channel.Close except Channel.CloseOk; presented delivery tags and
  publish numbers never repeat across incarnations.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpbase import exceptions, frame, spec
from amqpbase.protocol.channel_machine import TAG_SHIFT, ChannelMachine
from amqpbase.protocol.channel_table import (
    CONTENT_TABLE,
    TABLE,
    Assembly,
    ChannelState,
    Closed,
    Confirmed,
    GotMessage,
    Input,
    Outcome,
    Piece,
    Replied,
    Send,
)

S = ChannelState


def method_frame(method: Any) -> frame.Method:
    return frame.Method(1, method)


def deliver(tag: str = "t", delivery_tag: int = 1) -> Any:
    return spec.Basic.Deliver(tag, delivery_tag, False, "ex", "rk")


def snapshot(m: ChannelMachine) -> Tuple[Any, ...]:
    """Every field of the machine (what an illegal input must leave alone)."""
    return (
        m.state, m.incarnation, m.tag_offset, m.flow_active, m.close_reason,
        id(m.rpc_pending), [id(r) for r in m.rpc_queue], m.content_method, m.content_header,
        m.body_remaining, list(m.body_parts or ()), dict(m.consumers), set(m.cancelling),
        set(m.no_ack), m.get_pending, m.get_token, m.confirming, m.next_publish_tag,
        m.confirm_offset, m.confirms.floor, set(m.confirms.above),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Getting into each state
# ---------------------------------------------------------------------------------------------


def in_state(state: ChannelState) -> ChannelMachine:
    """A machine in ``state`` with a consumer "t" registered where the state allows one."""
    m = ChannelMachine(1)
    if state is S.CLOSED:
        return m
    m.open()
    if state is S.OPENING:
        return m
    m.receive(method_frame(spec.Channel.OpenOk()))
    m.consume(spec.Basic.Consume(0, "q", "t"), "consumer", "consume-token")
    m.receive(method_frame(spec.Basic.ConsumeOk("t")))
    if state is S.OPEN:
        return m
    if state is S.CLOSING:
        m.rpc(spec.Basic.Qos(0, 1, False), True)  # the Close queues behind it
        m.close(200, "bye")
        assert m.state is S.CLOSING
        return m
    m.close(200, "bye")
    actions = m.receive(method_frame(spec.Basic.CancelOk("t")))
    assert any(type(a) is Send and type(a.method) is spec.Channel.Close for a in actions)
    assert m.state is S.CLOSE_SENT
    return m


def reply_for(m: ChannelMachine) -> Any:
    """A reply to the pending RPC (other than CloseOk), else one nothing waits for."""
    rpc = m.rpc_pending
    if rpc is not None and type(rpc.method) is not spec.Channel.Close:
        reply = rpc.replies[0]
        if reply is spec.Basic.ConsumeOk or reply is spec.Basic.CancelOk:
            return reply(rpc.method.consumer_tag)
        return reply()
    return spec.Basic.QosOk()


#: One representative of each input, applied to a machine.
DRIVERS: Dict[Input, Callable[[ChannelMachine], Any]] = {
    Input.OPEN: lambda m: m.open(),
    Input.CLOSE: lambda m: m.close(200, "bye"),
    Input.RPC: lambda m: m.rpc(spec.Basic.Qos(0, 5, False), True, "token"),
    Input.SEND: lambda m: m.check(Input.SEND),
    Input.REPLY: lambda m: m.receive(method_frame(reply_for(m))),
    Input.CLOSE_OK: lambda m: m.receive(method_frame(spec.Channel.CloseOk())),
    Input.CONTENT: lambda m: m.receive(method_frame(deliver())),
    Input.CONFIRM: lambda m: m.receive(method_frame(spec.Basic.Ack(1, False))),
    Input.BROKER_CANCEL: lambda m: m.receive(method_frame(spec.Basic.Cancel("t", False))),
    Input.BROKER_FLOW: lambda m: m.receive(method_frame(spec.Channel.Flow(False))),
    Input.BROKER_CLOSE: lambda m: m.receive(
        method_frame(spec.Channel.Close(406, "PRECONDITION_FAILED", 0, 0))
    ),
    Input.DELIVERY: lambda m: m.delivery(
        frame.Delivery(1, deliver("gone"), spec.BasicProperties(), b"x")
    ),
    Input.CONNECTION_LOST: lambda m: m.connection_closed(exceptions.StreamLostError("lost")),
}


def test_every_pair_is_in_the_tables() -> None:
    assert set(TABLE) == set(itertools.product(ChannelState, Input))
    assert set(CONTENT_TABLE) == set(itertools.product(Assembly, Piece))
    assert set(DRIVERS) == set(Input), "an input without a driver in this test"


@pytest.mark.parametrize("state, what", sorted(TABLE, key=lambda p: (p[0].value, p[1].name)))
def test_each_pair_has_its_defined_outcome(state: ChannelState, what: Input) -> None:
    m = in_state(state)
    before = snapshot(m)
    outcome = TABLE[(state, what)]
    if outcome is Outcome.WRONG_STATE:
        with pytest.raises(exceptions.ChannelWrongStateError):
            DRIVERS[what](m)
        assert snapshot(m) == before
    elif outcome is Outcome.NOT_OPEN:
        with pytest.raises(exceptions.ChannelNotOpenError) as info:
            DRIVERS[what](m)
        assert info.value.reply_code == 504
        assert snapshot(m) == before
    elif outcome in (Outcome.DISCARD, Outcome.IGNORE):
        assert DRIVERS[what](m) == []
        assert snapshot(m) == before
    else:
        assert outcome is Outcome.RUN
        try:
            actions = DRIVERS[what](m)
        except exceptions.CommandInvalidError as exc:
            # The handler ran and found the frame answers nothing (503): still no change.
            assert exc.reply_code == 503
            assert snapshot(m) == before
        else:
            # The handler ran: something was decided (a DELIVERY for an unknown consumer
            # in a live state is dropped, which changes nothing by design).
            assert actions is None or actions or snapshot(m) != before or what is Input.DELIVERY


def at_assembly(stage: Assembly) -> ChannelMachine:
    m = in_state(S.OPEN)
    if stage is not Assembly.IDLE:
        m.receive(method_frame(deliver()))
    if stage is Assembly.BODY_DUE:
        m.receive(frame.Header(1, 10, spec.BasicProperties()))
    assert m.assembly() is stage
    return m


PIECES: Dict[Piece, Callable[[ChannelMachine], Any]] = {
    Piece.METHOD: lambda m: m.receive(method_frame(spec.Basic.QosOk())),
    Piece.HEADER: lambda m: m.receive(frame.Header(1, 3, spec.BasicProperties())),
    Piece.BODY: lambda m: m.receive(frame.Body(1, b"x")),
    Piece.DELIVERY: lambda m: m.receive(
        frame.Delivery(1, deliver(), spec.BasicProperties(), b"x")
    ),
}


CONTENT_PAIRS = sorted(CONTENT_TABLE, key=lambda p: (p[0].value, p[1].name))


@pytest.mark.parametrize("stage, piece", CONTENT_PAIRS)
def test_each_content_pair_has_its_defined_outcome(stage: Assembly, piece: Piece) -> None:
    m = at_assembly(stage)
    before = snapshot(m)
    if CONTENT_TABLE[(stage, piece)] is Outcome.UNEXPECTED:
        with pytest.raises(exceptions.UnexpectedFrameError) as info:
            PIECES[piece](m)
        assert info.value.reply_code == 505
        assert snapshot(m) == before
    else:
        try:
            PIECES[piece](m)
        except exceptions.CommandInvalidError:  # QosOk with nothing pending: ran, 503
            assert piece is Piece.METHOD and snapshot(m) == before


def test_a_frame_of_another_kind_is_unexpected() -> None:
    m = in_state(S.OPEN)
    with pytest.raises(exceptions.UnexpectedFrameError):
        m.receive(frame.Heartbeat())


# ---------------------------------------------------------------------------------------------
# Incarnations (the recovery seam)
# ---------------------------------------------------------------------------------------------


def test_second_incarnation_numbers_on_and_offsets_delivery_tags() -> None:
    m = in_state(S.OPEN)
    m.confirm_select(False, "select")
    m.receive(method_frame(spec.Confirm.SelectOk()))
    for _ in range(3):  # what the channel's publish path does in confirm mode
        m.next_publish_tag += 1
    m.receive(method_frame(spec.Basic.Ack(1, False)))
    assert m.tag_offset == 0 and m.wire_delivery_tag(7) == 7  # first incarnation: unchanged
    (closed,) = m.connection_closed(exceptions.StreamLostError("gone"))
    assert type(closed) is Closed and closed.unconfirmed == [2, 3] and not closed.release
    assert m.unconfirmed() == []

    m.open()
    assert m.incarnation == 2 and m.tag_offset == 1 << TAG_SHIFT
    assert not m.confirming and m.consumers == {}
    m.receive(method_frame(spec.Channel.OpenOk()))
    m.confirm_select(False, "select again")
    m.receive(method_frame(spec.Confirm.SelectOk()))
    assert m.next_publish_tag == 4  # publish numbering never repeats
    m.next_publish_tag += 2  # tags 4 and 5; the broker calls them 1 and 2
    (confirmed,) = m.receive(method_frame(spec.Basic.Ack(1, False)))
    assert type(confirmed) is Confirmed and confirmed.frame.method.delivery_tag == 4
    assert m.unconfirmed() == [5]
    (nacked,) = m.receive(method_frame(spec.Basic.Nack(0, True, False)))  # all outstanding
    assert nacked.frame.method.delivery_tag == 0 and m.unconfirmed() == []

    # Presented delivery tags: broker tag + offset; acks translate back; a tag of the
    # first incarnation is stale (its message was requeued when that channel died).
    presented = (1 << TAG_SHIFT) + 1
    assert m.wire_delivery_tag(presented) == 1
    assert m.wire_delivery_tag(0) == 0  # multiple: everything outstanding
    # issue 12 rule 1: a stale tag raises (before: returned None and was dropped quietly)
    with pytest.raises(exceptions.StaleDeliveryTagError):
        m.wire_delivery_tag(7)
    m.get(spec.Basic.Get(0, "q", False), "get")
    m.receive(method_frame(spec.Basic.GetOk(3, False, "", "q", 0)))
    (got,) = m.receive(frame.Header(1, 0, spec.BasicProperties()))
    assert type(got) is GotMessage and got.frame.method.delivery_tag == (1 << TAG_SHIFT) + 3


def test_reopen_needs_closed() -> None:
    m = in_state(S.OPEN)
    with pytest.raises(exceptions.ChannelWrongStateError):
        m.open()


# ---------------------------------------------------------------------------------------------
# Random sequences (Hypothesis)
# ---------------------------------------------------------------------------------------------

OPS = [
    "open", "close", "qos", "qos_nowait", "consume", "cancel", "cancel_nowait", "get",
    "confirm", "publish", "flow", "broker_reply", "broker_reply", "broker_reply",
    "broker_ack", "broker_nack_multiple", "broker_cancel", "broker_flow", "broker_close",
    "broker_deliver", "broker_deliver_frames", "broker_stray", "connection_lost",
]  # fmt: skip


class Model:
    """Runs ops against a machine, plays the broker, and checks the invariants."""

    def __init__(self) -> None:
        self.m = ChannelMachine(1)
        self.tokens = itertools.count(1)
        self.outstanding: Set[int] = set()  # RPC tokens awaiting their reply
        self.answered: Set[int] = set()
        self.failed: Set[int] = set()
        self.published: List[int] = []  # confirm-mode publish tags (object numbering)
        self.unsettled: List[int] = []
        self.settled: Set[int] = set()
        self.broker_tag_of: Dict[int, int] = {}  # our publish tag -> the broker's number
        self.broker_publishes = 0
        self.close_sent = False
        self.delivery_tag = 0  # broker delivery tags, per incarnation
        self.presented: Set[int] = set()

    # -- applying actions ---------------------------------------------------------------
    def apply(self, actions: Optional[List[Any]]) -> None:
        for action in actions or ():
            kind = type(action)
            if kind is Send:
                method = action.method
                if self.close_sent:
                    assert type(method) is spec.Channel.CloseOk, method
                if type(method) is spec.Channel.Close:
                    self.close_sent = True
            elif kind in (Replied, GotMessage):
                self.settle_token(action.token)
            elif kind is Confirmed:
                method = action.frame.method
                tag = method.delivery_tag
                if method.multiple:
                    done = [t for t in self.unsettled if tag == 0 or t <= tag]
                else:
                    done = [tag]
                for t in done:
                    assert t not in self.settled, f"tag {t} settled twice"
                    self.settled.add(t)
                    self.unsettled.remove(t)
            elif kind is frame.Delivery:
                self.present(action.method.delivery_tag)
            elif kind is Closed:
                for t in action.unconfirmed:
                    assert t not in self.settled, f"tag {t} failed after being settled"
                    self.settled.add(t)
                assert sorted(action.unconfirmed) == sorted(self.unsettled)
                self.unsettled = []
                self.failed |= self.outstanding
                self.outstanding = set()
                self.close_sent = False

    def settle_token(self, token: Any) -> None:
        if isinstance(token, int):
            assert token in self.outstanding, f"RPC {token} answered twice or never asked"
            self.outstanding.discard(token)
            self.answered.add(token)

    def present(self, wire_tag: int) -> None:
        tag = wire_tag + self.m.tag_offset
        assert tag not in self.presented, f"delivery tag {tag} presented twice"
        self.presented.add(tag)

    def call(self, fn: Callable[[], Any], token: Optional[int] = None) -> None:
        before = snapshot(self.m)
        try:
            actions = fn()
        except (exceptions.ChannelWrongStateError, exceptions.DuplicateGetOkCallback,
                exceptions.DuplicateConsumerTag):
            assert snapshot(self.m) == before  # refused: nothing changed
            return
        if token is not None:
            self.outstanding.add(token)
        self.apply(actions)

    def inbound(self, inbound: Any) -> None:
        before = snapshot(self.m)
        try:
            actions = self.m.receive(inbound)
        except (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented) as exc:
            assert snapshot(self.m) == before  # raised having changed nothing
            # What the connection does with it: closes, which closes the channel.
            self.apply(self.m.connection_closed(exc))
            return
        self.apply(actions)

    # -- the ops ------------------------------------------------------------------------
    def run(self, op: str, pick: int) -> None:
        m = self.m
        token = next(self.tokens)
        if op == "open":
            if m.state is S.CLOSED:
                self.delivery_tag = 0
                self.broker_publishes = 0
            self.call(m.open)
        elif op == "close":
            self.call(lambda: m.close(200, "bye"))
        elif op == "qos":
            self.call(lambda: m.rpc(spec.Basic.Qos(0, 1, False), True, token), token)
        elif op == "qos_nowait":  # e.g. Queue.Declare nowait: no reply expected
            self.call(lambda: m.rpc(spec.Queue.Declare(0, "q", nowait=True), False))
        elif op == "consume":
            tag = f"c{pick % 3}"
            self.call(lambda: m.consume(spec.Basic.Consume(0, "q", tag), "cb", token), token)
        elif op in ("cancel", "cancel_nowait"):
            tags = sorted(m.consumers)
            if tags:
                tag = tags[pick % len(tags)]
                if op == "cancel":
                    known = tag not in m.cancelling
                    self.call(lambda: m.cancel(tag, False, token), token if known else None)
                else:
                    self.call(lambda: m.cancel(tag, True))
        elif op == "get":
            self.call(lambda: m.get(spec.Basic.Get(0, "q", False), token), token)
        elif op == "confirm":
            self.call(lambda: m.confirm_select(False, token), token)
        elif op == "publish":
            try:
                m.check(Input.SEND)
            except exceptions.ChannelWrongStateError:
                return
            if m.confirming:  # what the channel facade's publish path does
                tag = m.next_publish_tag
                m.next_publish_tag += 1
                assert tag not in self.published, "publish tag repeated"
                self.published.append(tag)
                self.unsettled.append(tag)
                self.broker_publishes += 1
                self.broker_tag_of[tag] = self.broker_publishes
        elif op == "broker_reply":
            rpc = m.rpc_pending
            if rpc is None:
                return
            if type(rpc.method) is spec.Channel.Close:
                self.inbound(method_frame(spec.Channel.CloseOk()))
            elif type(rpc.method) is spec.Basic.Get:
                if pick % 2:  # a message (its content complete: header, empty body)
                    self.inbound(method_frame(spec.Basic.GetOk(1, False, "", "q", 0)))
                    self.inbound(frame.Header(1, 0, spec.BasicProperties()))
                else:
                    self.inbound(method_frame(spec.Basic.GetEmpty()))
            else:
                self.inbound(method_frame(reply_for(m)))
        elif op in ("broker_ack", "broker_nack_multiple"):
            if not self.unsettled or m.state is S.CLOSED:
                return
            tag = self.unsettled[pick % len(self.unsettled)]
            wire = self.broker_tag_of[tag]
            if op == "broker_ack":
                self.inbound(method_frame(spec.Basic.Ack(wire, False)))
            else:
                self.inbound(method_frame(spec.Basic.Nack(wire, True, False)))
        elif op == "broker_cancel":
            tags = sorted(m.consumers) or ["nobody"]
            self.inbound(method_frame(spec.Basic.Cancel(tags[pick % len(tags)], pick % 2 == 0)))
        elif op == "broker_flow":
            self.inbound(method_frame(spec.Channel.Flow(bool(pick % 2))))
        elif op == "broker_close":
            self.inbound(method_frame(spec.Channel.Close(406, "PRECONDITION_FAILED", 0, 0)))
        elif op in ("broker_deliver", "broker_deliver_frames"):
            if m.state is S.CLOSED:
                return
            tags = sorted(m.consumers) or ["nobody"]
            self.delivery_tag += 1
            method = deliver(tags[pick % len(tags)], self.delivery_tag)
            if op == "broker_deliver":
                delivery = frame.Delivery(1, method, spec.BasicProperties(), b"m")
                before = snapshot(m)
                try:
                    actions = m.delivery(delivery)
                except (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented) as exc:
                    # e.g. a Deliver while other content is incomplete (4.2.6): 505
                    assert snapshot(m) == before  # raised having changed nothing
                    self.apply(m.connection_closed(exc))
                    return
                if actions == [delivery]:
                    assert snapshot(m) == before
                self.apply(actions)
            else:
                self.inbound(method_frame(method))
                self.inbound(frame.Header(1, 2, spec.BasicProperties()))
                self.inbound(frame.Body(1, b"m"))
                self.inbound(frame.Body(1, b"m"))
        elif op == "broker_stray":  # a broker bug: must be a defined error, never a crash
            strays = [
                frame.Header(1, 1, spec.BasicProperties()),
                frame.Body(1, b"z"),
                method_frame(spec.Basic.GetOk(1, False, "", "q", 0)),
                method_frame(spec.Channel.CloseOk()),
            ]
            self.inbound(strays[pick % len(strays)])
        elif op == "connection_lost":
            self.apply(m.connection_closed(exceptions.StreamLostError("lost")))
        # Invariants after every step.
        assert m.unconfirmed() == sorted(self.unsettled) or not m.confirming
        if m.state is not S.CLOSED:
            pending = {m.rpc_pending.token} if m.rpc_pending else set()
            queued = {r.token for r in m.rpc_queue}
            assert {t for t in pending | queued if isinstance(t, int)} <= self.outstanding

    def finish(self) -> None:
        self.apply(self.m.connection_closed(exceptions.StreamLostError("end")))
        assert self.outstanding == set()
        assert not (self.answered & self.failed), "an RPC answered and failed"
        assert self.unsettled == [] and self.settled == set(self.published)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 7)), max_size=80))
def test_random_sequences_keep_the_invariants(ops: List[Tuple[str, int]]) -> None:
    model = Model()
    model.run("open", 0)
    model.run("broker_reply", 0)
    for op, pick in ops:
        model.run(op, pick)
    model.finish()


def test_every_table_key_enum_hashes_by_identity() -> None:
    # The tables are looked up per inbound frame; Enum's own __hash__ is a Python call
    # (protocol/enums.py). A machine enum that stops deriving from TableEnum slows every
    # frame down without failing anything else.
    from amqpbase.protocol import channel_table, connection_actions, connection_table, heartbeat
    from amqpbase.protocol.enums import TableEnum

    enums = [channel_table.ChannelState, channel_table.Input, channel_table.Outcome,
             channel_table.Assembly, channel_table.Piece, connection_table.ConnectionState,
             connection_table.Input, connection_actions.Timer, heartbeat.Tick]
    for enum_class in enums:
        assert issubclass(enum_class, TableEnum), enum_class
        member = next(iter(enum_class))
        assert hash(member) == object.__hash__(member), enum_class
