"""The connection machine driven in pure frames and events (no facade, no adapter, no clock),
and the facade's hook contract checked at class creation.

- Every (state, input) pair of ``TABLE`` is driven and gives its declared outcome; the test
  enumerates the table and fails if a pair is missing.
- Random input sequences (Hypothesis) keep the invariants: exactly one Opened-or-OpenFailed
  per start, Closed at most once and only after Opened, no method sent after our
  Connection.Close/CloseOk, nothing sent without a stream.
- Stale stream events and timer expiries (another incarnation) are ignored.
- Streams fed to the facade (tests/unit/harness.py) one byte at a time, or in random chunks,
  give what the whole stream gives.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpbase import exceptions, frame, spec
from amqpbase.connection import Connection
from amqpbase.parameters import ConnectionParameters
from amqpbase.protocol import connection_actions as act
from amqpbase.protocol.connection_machine import ConnectionMachine
from amqpbase.protocol.connection_table import (
    COMMAND_INVALID,
    IGNORE,
    REFUSE,
    TABLE,
    TIMER_INPUTS,
    UNEXPECTED_FRAME,
    ConnectionState,
    Input,
)

from .harness import MemoryConnection, ScriptedBroker

S = ConnectionState
PROTOCOL_ERRORS = (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented)


def method(m: Any, channel: int = 0) -> frame.Method:
    return frame.Method(channel, m)


START = method(spec.Connection.Start(version_major=0, version_minor=9,
                                     server_properties={"capabilities": {"basic.nack": True}},
                                     mechanisms=b"PLAIN", locales=b"en_US"))
TUNE = method(spec.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=10))
OPEN_OK = method(spec.Connection.OpenOk(known_hosts=""))
CLOSE = method(spec.Connection.Close(reply_code=320, reply_text="CONNECTION_FORCED",
                                     class_id=0, method_id=0))
CLOSE_OK = method(spec.Connection.CloseOk())

#: A representative channel-0 frame for each frame input.
FRAMES: Dict[Input, Any] = {
    Input.PROTOCOL_HEADER: frame.ProtocolHeader(0, 8, 0),
    Input.HEARTBEAT: frame.Heartbeat(),
    Input.CONTENT_FRAME: frame.Header(0, 1, spec.BasicProperties()),
    Input.START_METHOD: START,
    Input.SECURE_METHOD: method(spec.Connection.Secure(challenge=b"x")),
    Input.TUNE_METHOD: TUNE,
    Input.OPEN_OK_METHOD: OPEN_OK,
    Input.CLOSE_METHOD: CLOSE,
    Input.CLOSE_OK_METHOD: CLOSE_OK,
    Input.BLOCKED_METHOD: method(spec.Connection.Blocked(reason="low on memory")),
    Input.UNBLOCKED_METHOD: method(spec.Connection.Unblocked()),
    Input.UPDATE_SECRET_OK_METHOD: method(spec.Connection.UpdateSecretOk()),
    Input.OTHER_METHOD: method(spec.Connection.Open(virtual_host="/")),
}


def new_machine(**params: Any) -> ConnectionMachine:
    params.setdefault("heartbeat", 10)
    return ConnectionMachine(ConnectionParameters(**params), internal_workflow=False)


def machine_in(state: ConnectionState, **params: Any) -> ConnectionMachine:
    """A machine brought to ``state`` through legal inputs only. CLOSING is a client close
    still waiting for channel 1 (so our Connection.Close is not out yet)."""
    machine = new_machine(**params)
    if state is S.CLOSED:
        return machine
    machine.start()
    steps: List[Callable[[], Any]] = [
        lambda: machine.stream_connected(machine.incarnation),
        lambda: machine.receive_frame(START),
        lambda: machine.receive_frame(TUNE),
        lambda: machine.receive_frame(OPEN_OK),
    ]
    order = [S.INIT, S.PROTOCOL, S.START, S.TUNE, S.OPEN]
    for reached, step in zip(order, steps):
        if machine.state is state:
            return machine
        assert machine.state is reached
        step()
    if state is S.CLOSING:
        machine.close(200, "bye", 10.0)
        machine.channels_closing([1])
    assert machine.state is state
    return machine


def snapshot(m: ConnectionMachine) -> Tuple[Any, ...]:
    return (m.state, m.incarnation, m.attempts_left, m.stream_requested, m.stream_up,
            m.ever_opened, m.close_sent, m.discard_input, m.close_reason,
            m.client_close_args, sorted(m.closing_channels), sorted(m.stale_channels),
            m.pending_secret_updates, m.channel_max, m.frame_max, m.heartbeat,
            dict(m.armed))


def feed(machine: ConnectionMachine, event: Input) -> List[Any]:
    """Give ``event`` to the machine with a representative argument."""
    if event in FRAMES:
        return machine.receive_frame(FRAMES[event])
    if event in TIMER_INPUTS.values():
        timer = next(t for t, i in TIMER_INPUTS.items() if i is event)
        machine.armed[timer] = machine.incarnation  # as if armed: the table decides the rest
        return machine.timer_fired(timer, machine.incarnation)
    calls: Dict[Input, Callable[[], List[Any]]] = {
        Input.START: machine.start,
        Input.RECOVER: lambda: machine.recover(machine.params),
        Input.CLOSE: lambda: machine.close(200, "bye", 10.0),
        Input.CHANNELS_CLOSING: lambda: machine.channels_closing([]),
        Input.CHANNEL_CLOSED: lambda: machine.channel_closed(1, False),
        Input.REQUEST_CHANNEL: machine.request_channel,
        Input.UPDATE_SECRET: lambda: machine.update_secret(b"token", "rotation"),
        Input.HEARTBEAT_CHOSEN: lambda: machine.heartbeat_chosen(5),
        Input.PROTOCOL_ERROR: lambda: machine.protocol_error(
            exceptions.CommandInvalidError("bad"), False, 10.0),
        Input.STREAM_CONNECTED: lambda: machine.stream_connected(machine.incarnation),
        Input.STREAM_TERMINATED: lambda: machine.stream_terminated(machine.incarnation, None),
    }
    return calls[event]()


#: Handler pairs whose handler has a precondition the generic state set-up lacks: the
#: precondition is set up first (by ``prepare``), so the handler acts.
PREPARE: Dict[Tuple[ConnectionState, Input], Callable[[ConnectionMachine], Any]] = {
    (S.OPEN, Input.CHANNELS_CLOSING): lambda m: m.close(200, "bye", 10.0),
    (S.OPEN, Input.UPDATE_SECRET_OK_METHOD): lambda m: m.update_secret(b"t", "r"),
}


def _closing_with_a_secret_update_outstanding() -> ConnectionMachine:
    machine = machine_in(S.OPEN)
    machine.update_secret(b"t", "r")
    machine.close(200, "bye", 10.0)
    machine.channels_closing([1])
    return machine



def test_the_table_has_every_state_input_pair_and_every_handler_exists() -> None:
    missing = [(s, i) for s in ConnectionState for i in Input if (s, i) not in TABLE]
    assert missing == []
    assert len(TABLE) == len(ConnectionState) * len(Input)
    constants = {IGNORE, REFUSE, COMMAND_INVALID, UNEXPECTED_FRAME}
    for outcome in set(TABLE.values()) - constants:
        assert callable(getattr(ConnectionMachine, "_on_" + outcome, None)), outcome


@pytest.mark.parametrize("state, event", sorted(TABLE, key=lambda p: (p[0].value, p[1].name)),
                         ids=lambda v: v.name)
def test_every_pair_has_its_defined_outcome(state: ConnectionState, event: Input) -> None:
    outcome = TABLE[(state, event)]
    if event is Input.HEARTBEAT_CHOSEN and outcome not in (IGNORE, REFUSE):
        # the handler answers a ChooseHeartbeat: a callable heartbeat and its Tune come first
        machine = machine_in(S.START, heartbeat=lambda c, s: 1)
        assert machine.receive_frame(TUNE) == [act.ChooseHeartbeat(10)]
    elif (state, event) == (S.CLOSING, Input.UPDATE_SECRET_OK_METHOD):
        machine = _closing_with_a_secret_update_outstanding()
    else:
        machine = machine_in(state)
    if (state, event) in PREPARE:
        PREPARE[(state, event)](machine)
    # channel-0 methods after our Close are not the table's business (2.2.4 filter first)
    assert not machine.close_sent
    before = snapshot(machine)
    if outcome == REFUSE:
        with pytest.raises(exceptions.ConnectionWrongStateError):
            feed(machine, event)
        assert snapshot(machine) == before
    elif outcome == COMMAND_INVALID:
        with pytest.raises(exceptions.CommandInvalidError) as info:
            feed(machine, event)
        assert info.value.reply_code == 503 and snapshot(machine) == before
    elif outcome == UNEXPECTED_FRAME:
        with pytest.raises(exceptions.UnexpectedFrameError) as info:
            feed(machine, event)
        assert info.value.reply_code == 505 and snapshot(machine) == before
    elif outcome == IGNORE:
        armed = event in TIMER_INPUTS.values()
        assert feed(machine, event) == []
        after = snapshot(machine)
        if armed:  # the forced arming was consumed by the expiry, nothing else changed
            assert after[:-1] == before[:-1]
        else:
            assert after == before
    else:
        actions = feed(machine, event)
        assert isinstance(actions, list)
        for action in actions:
            assert isinstance(action, act.Action.__args__)  # type: ignore[attr-defined]
        events = [i for i, a in enumerate(actions) if isinstance(a, act.EVENTS)]
        assert events == list(range(len(actions) - len(events), len(actions))), actions


def test_an_illegal_api_call_raises_and_every_state_is_in_the_table() -> None:
    """(Moved from test_connection: the old ``_set_state(TUNE)`` on an open connection.)"""
    machine = machine_in(S.OPEN)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        machine.start()
    assert {state for state, _ in TABLE} == set(ConnectionState)


# ---------------------------------------------------------------------------------------------
# Incarnations: stale stream events and timers are ignored
# ---------------------------------------------------------------------------------------------


def test_stale_timer_and_stream_events_of_an_older_incarnation_are_ignored() -> None:
    machine = ConnectionMachine(
        ConnectionParameters(connection_attempts=2, retry_delay=1.0, stack_timeout=5.0),
        internal_workflow=True,
    )
    (retry,) = machine.start()
    assert isinstance(retry, act.StartTimer) and retry.timer is act.Timer.RETRY
    actions = machine.timer_fired(act.Timer.RETRY, retry.incarnation)
    stack = actions[0]
    assert isinstance(stack, act.StartTimer) and stack.incarnation == machine.incarnation == 1
    assert actions[1] == act.ConnectStream(1, 131072)
    failed = machine.stream_terminated(1, exceptions.TCPConnectionRefusedError("refused"))
    assert act.CancelTimer(act.Timer.STACK) in failed
    (retry2,) = [a for a in failed if isinstance(a, act.StartTimer)]
    machine.timer_fired(act.Timer.RETRY, retry2.incarnation)
    assert machine.incarnation == 2 and machine.state is S.INIT
    before = snapshot(machine)
    # the first stream's stack timer, connect and termination: all stale now
    assert machine.timer_fired(act.Timer.STACK, 1) == []
    assert machine.stream_connected(1) == []
    assert machine.stream_terminated(1, None) == []
    assert snapshot(machine) == before
    # the current ones act
    assert machine.stream_connected(2) == [act.Send(frame.PROTOCOL_HEADER, 1, "protocol header")]
    # a repeated termination of the current stream is ignored after the first
    assert machine.stream_terminated(2, None)
    assert machine.stream_terminated(2, None) == []


def test_a_cancelled_timer_that_fires_anyway_is_ignored() -> None:
    machine = machine_in(S.OPEN, blocked_connection_timeout=3.0)
    machine.receive_frame(FRAMES[Input.BLOCKED_METHOD])
    assert act.Timer.BLOCKED in machine.armed
    assert machine.receive_frame(FRAMES[Input.UNBLOCKED_METHOD])[0] == act.CancelTimer(
        act.Timer.BLOCKED)
    assert machine.timer_fired(act.Timer.BLOCKED, machine.incarnation) == []
    assert machine.state is S.OPEN


def test_after_our_close_only_close_and_close_ok_count() -> None:
    machine = machine_in(S.OPEN)
    machine.close(200, "bye", 10.0)
    actions = machine.channels_closing([])
    assert any(isinstance(a, act.Send) and a.name == "Connection.Close" for a in actions)
    for event in (Input.BLOCKED_METHOD, Input.TUNE_METHOD, Input.OTHER_METHOD):
        assert machine.receive_frame(FRAMES[event]) == []
    assert machine.receive_frame(CLOSE_OK) == [act.DisconnectStream()]


# ---------------------------------------------------------------------------------------------
# Random input sequences keep the invariants
# ---------------------------------------------------------------------------------------------

STEPS = st.sampled_from(
    ["connected", "lost", "terminated", "frame", "frame", "frame", "timer", "stale-timer",
     "close", "secret", "channel-closed", "request-channel", "error", "desync"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(STEPS, st.sampled_from(sorted(FRAMES, key=lambda i: i.name)),
                                st.sampled_from(list(act.Timer))), max_size=40),
       internal=st.booleans(), callable_heartbeat=st.booleans())
def test_random_input_sequences_keep_the_invariants(
    steps: List[Tuple[str, Input, act.Timer]], internal: bool, callable_heartbeat: bool
) -> None:
    heartbeat: Any = (lambda c, s: 3) if callable_heartbeat else 10
    machine = ConnectionMachine(
        ConnectionParameters(heartbeat=heartbeat, connection_attempts=3, stack_timeout=5.0,
                             blocked_connection_timeout=1.0),
        internal_workflow=internal,
    )
    reports: List[Any] = []
    sent: List[Tuple[int, str]] = []  # (incarnation, name)
    timers: Dict[act.Timer, int] = {}
    stream = {"connecting": False, "up": False}

    def apply(actions: List[Any]) -> None:
        for a in actions:
            if isinstance(a, act.Send):
                assert stream["up"] and machine.stream_up, f"sent {a.name} without a stream"
                sent.append((machine.incarnation, a.name))
            elif isinstance(a, act.StartTimer):
                timers[a.timer] = a.incarnation
            elif isinstance(a, act.CancelTimer):
                timers.pop(a.timer, None)
            elif isinstance(a, act.ConnectStream):
                assert not stream["connecting"] and not stream["up"]
                stream["connecting"] = True
            elif isinstance(a, act.ChooseHeartbeat):
                apply(machine.heartbeat_chosen(3))
            elif isinstance(a, act.CloseChannels):
                apply(machine.channels_closing([]))
            elif isinstance(a, act.EVENTS):
                reports.append(a)

    def attempt(call: Callable[[], List[Any]]) -> None:
        try:
            apply(call())
        except exceptions.ConnectionWrongStateError:
            pass  # an API call in the wrong state: refused, nothing changed
        except PROTOCOL_ERRORS as error:
            apply(machine.protocol_error(error, False, 10.0))

    apply(machine.start())
    for kind, frame_input, timer in steps:
        if kind == "connected" and stream["connecting"]:
            stream["connecting"], stream["up"] = False, True
            attempt(lambda: machine.stream_connected(machine.incarnation))
        elif kind in ("lost", "terminated") and (stream["connecting"] or stream["up"]):
            stream["connecting"] = stream["up"] = False
            error = exceptions.StreamLostError("gone") if kind == "lost" else None
            attempt(lambda: machine.stream_terminated(machine.incarnation, error))
        elif kind == "frame" and stream["up"]:
            attempt(lambda: machine.receive_frame(FRAMES[frame_input]))
        elif kind == "timer" and timer in timers:
            incarnation = timers.pop(timer)
            attempt(lambda: machine.timer_fired(timer, incarnation))
        elif kind == "stale-timer":
            assert machine.timer_fired(timer, machine.incarnation + 7) == []
        elif kind == "close":
            attempt(lambda: machine.close(200, "bye", 10.0))
        elif kind == "secret":
            attempt(lambda: machine.update_secret(b"t", "r"))
        elif kind == "channel-closed":
            attempt(lambda: machine.channel_closed(1, True))
        elif kind == "request-channel":
            attempt(machine.request_channel)
        elif kind in ("error", "desync") and stream["up"]:
            attempt(lambda: machine.protocol_error(
                exceptions.InvalidFrameError("bad"), kind == "desync", 10.0))
        # the machine's view of the stream never runs ahead of the adapter's
        assert not machine.stream_up or stream["up"]

    outcomes = [r for r in reports if isinstance(r, (act.Opened, act.OpenFailed))]
    closed = [r for r in reports if isinstance(r, act.Closed)]
    assert len(outcomes) <= 1, reports
    assert len(closed) <= 1, reports
    if closed:
        assert isinstance(outcomes[0], act.Opened) and reports.index(closed[0]) > 0
    if machine.state is S.CLOSED:
        assert len(outcomes) == 1 and (closed or isinstance(outcomes[0], act.OpenFailed))
    # per stream: nothing but heartbeats after our Connection.Close or CloseOk
    for incarnation in {i for i, _ in sent}:
        names = [n for i, n in sent if i == incarnation]
        ends = [k for k, n in enumerate(names) if n in ("Connection.Close", "Connection.CloseOk")]
        if ends:
            assert all(n == "heartbeat" for n in names[ends[0] + 1:]), names


# ---------------------------------------------------------------------------------------------
# Streams through the facade, one byte at a time
# ---------------------------------------------------------------------------------------------


def _handshake_bytes() -> bytes:
    return b"".join(frame.encode_method_frame(0, f.method) for f in (START, TUNE, OPEN_OK))


def _delivery_bytes(count: int) -> bytes:
    parts = []
    for tag in range(1, count + 1):
        deliver = spec.Basic.Deliver(consumer_tag="ctag", delivery_tag=tag, redelivered=False,
                                     exchange="", routing_key="q")
        parts.extend(bytes(c) for c in frame.encode_content_frames(
            1, deliver, spec.BasicProperties(content_type="t"), b"b%d" % tag, 4096))
        parts.append(frame.HEARTBEAT_FRAME)
    return b"".join(parts)


def _feed_in(connection: MemoryConnection, data: bytes, cuts: List[int]) -> None:
    position = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        connection.feed(memoryview(data[position:cut]))
        position = cut


def _run_script(cuts_handshake: List[int], cuts_deliveries: List[int]) -> Tuple[Any, ...]:
    closed: List[Any] = []
    connection = MemoryConnection(ConnectionParameters(heartbeat=0),
                                  on_close_callback=lambda c, r: closed.append(r))
    broker = ScriptedBroker(connection)
    broker.connect()
    _feed_in(connection, _handshake_bytes(), cuts_handshake)
    assert connection.is_open
    sent = [type(m).__name__ for m in broker.methods()]
    channel = broker.open_channel(1)
    messages: List[Any] = []
    channel.basic_consume("q", lambda *a: messages.append((a[1].delivery_tag, a[3])),
                          consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk(consumer_tag="ctag"))
    close = frame.encode_method_frame(0, CLOSE.method)
    _feed_in(connection, _delivery_bytes(5) + close, cuts_deliveries)
    connection.clock.advance(0)
    return tuple(sent), tuple(messages), tuple(type(r) for r in closed), connection.is_closed


WHOLE = _run_script([], [])


def test_the_whole_script_opens_consumes_and_closes() -> None:
    sent, messages, closed, is_closed = WHOLE
    assert sent == ("StartOk", "TuneOk", "Open")
    assert messages == tuple((tag, b"b%d" % tag) for tag in range(1, 6))
    assert closed == (exceptions.ConnectionClosedByBroker,) and is_closed


def test_streams_fed_one_byte_at_a_time_give_the_same_result() -> None:
    handshake, deliveries = len(_handshake_bytes()), len(_delivery_bytes(5)) + 20
    assert _run_script(list(range(handshake)), list(range(deliveries))) == WHOLE


@settings(max_examples=100, deadline=None)
@given(cuts_handshake=st.lists(st.integers(0, 400), max_size=30),
       cuts_deliveries=st.lists(st.integers(0, 600), max_size=60))
def test_streams_cut_anywhere_give_the_same_result(
    cuts_handshake: List[int], cuts_deliveries: List[int]
) -> None:
    assert _run_script(cuts_handshake, cuts_deliveries) == WHOLE


# ---------------------------------------------------------------------------------------------
# The hook contract is enforced when an adapter class is created
# ---------------------------------------------------------------------------------------------


def _hooks(**overrides: Any) -> Dict[str, Any]:
    names = ["_adapter_connect_stream", "_adapter_disconnect_stream", "_adapter_emit_data",
             "_adapter_get_write_buffer_size", "_adapter_call_later", "_adapter_remove_timeout",
             "_adapter_add_callback_threadsafe"]
    body: Dict[str, Any] = {name: (lambda self, *a: None) for name in names}
    body["_workflow_loop"] = classmethod(lambda cls, loop: loop)
    body["_create_for_workflow"] = classmethod(lambda cls, *a: None)
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_an_adapter_with_every_hook_is_accepted() -> None:
    adapter = type("Complete", (Connection,), _hooks())
    assert issubclass(adapter, Connection)


@pytest.mark.parametrize("hook", ["_adapter_emit_data", "_adapter_call_later",
                                  "_workflow_loop"])
def test_an_adapter_missing_a_hook_fails_at_class_creation(hook: str) -> None:
    with pytest.raises(TypeError, match=hook):
        type("Incomplete", (Connection,), _hooks(**{hook: None}))


def test_create_for_workflow_is_a_hook_with_a_default() -> None:
    # Only an adapter whose constructor names its loop otherwise (Twisted) overrides it.
    adapter = type("Defaulted", (Connection,), _hooks(_create_for_workflow=None))
    assert adapter._create_for_workflow.__func__ is Connection._create_for_workflow.__func__


def test_a_misspelt_hook_fails_at_class_creation_even_when_abstract() -> None:
    with pytest.raises(TypeError, match="_adapter_emit_dat"):
        type("Misspelt", (Connection,), _hooks(_adapter_emit_dat=lambda self, d: None))
    with pytest.raises(TypeError, match="_adapter_emit_dat"):
        class Base(Connection, abstract=True):
            def _adapter_emit_dat(self, data: Any) -> None: ...


def test_an_intermediate_class_may_opt_out_and_its_subclass_is_checked() -> None:
    class Base(Connection, abstract=True):
        def _adapter_emit_data(self, data: Any) -> None: ...

    with pytest.raises(TypeError, match="_adapter_connect_stream"):
        class Leaf(Base):
            pass

    hooks = _hooks()
    del hooks["_adapter_emit_data"]
    assert issubclass(type("Leaf", (Base,), hooks), Base)


def test_the_harness_adapter_implements_the_whole_contract() -> None:
    assert not getattr(MemoryConnection, "__abstractmethods__", frozenset())
    assert MemoryConnection._workflow_loop(None) is not None  # its own clock for a workflow
