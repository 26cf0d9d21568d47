"""Per-publish confirm results: the settlement engine (``ConfirmTracker.expect`` /
``returned`` / ``resolve`` / ``abandon``) as pure events against a model with Hypothesis, and
``Channel.basic_publish(on_confirm=)`` driven through the in-memory broker: each publish
settled exactly once, ``multiple`` acks and nacks, RabbitMQ coalescing acks and nacks
separately, a Basic.Return paired with its mandatory publish, every waiting publish failed with
the close reason.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amqpbase import exceptions, frame, spec
from amqpbase.channel import ReturnedMessage
from amqpbase.protocol.confirms import ConfirmTracker

from .test_channel import Env, Recorder, make_env

# ----------------------------------------------------------------------------------------------
# The engine alone
# ----------------------------------------------------------------------------------------------


def _ack(tag: int, multiple: bool = False) -> frame.Method:
    return frame.Method(1, spec.Basic.Ack(tag, multiple))


def _nack(tag: int, multiple: bool = False) -> frame.Method:
    return frame.Method(1, spec.Basic.Nack(tag, multiple, False))


#: A broker run: per publish (mandatory, fate) with fate "ack", "nack" or "return" (a mandatory
#: unroutable publish: Basic.Return, then its Basic.Ack); then the order the broker sends its
#: confirms in, as a permutation seed, and where multiple flags are used; and the tags published
#: without a token (the engine keeps tokens dense by tag: these are its holes).
RUNS = st.tuples(
    st.lists(st.tuples(st.booleans(), st.sampled_from(["ack", "nack", "return"])),
             min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.booleans(),
    st.sets(st.integers(1, 30), max_size=10),
)


@given(RUNS)
def test_every_publish_is_settled_once_with_its_fate(run: Tuple[Any, Any, bool, Any]) -> None:
    """A broker that settles each publish by its fate, coalescing acks and nacks separately
    (each batch a ``multiple`` over the highest tag of its kind whose lower tags of the SAME
    kind are all in it, else single settlements), in a random order per kind, a Return sent
    right before the ack of its publish: every token gets exactly one outcome, an ack frame,
    NackError with its tag, or UnroutableError with its return; a tag that a multiple of the
    other kind covered first is settled by that one (the first wins). Publishes made without
    a token in between change nothing for the others."""
    publishes, rng, use_multiple, untracked = run
    tracker = ConfirmTracker()
    outcomes: Dict[int, List[Any]] = {}
    keys: Dict[int, Optional[Tuple[str, str]]] = {}
    for tag, (mandatory, fate) in enumerate(publishes, start=1):
        if fate == "return":
            mandatory = True
        # Unique routing keys: the model knows which return belongs to which publish.
        keys[tag] = ("", f"rk{tag}") if mandatory else None
        if tag in untracked:
            continue
        outcomes[tag] = []
        tracker.expect(tag, outcomes[tag].append, keys[tag])
    last = len(publishes)
    # The broker's messages, each kind in its own (random) order.
    events: List[Tuple[str, int, bool]] = []
    for kind in ("ack", "nack"):
        tags = [t for t, (_m, fate) in enumerate(publishes, 1)
                if (fate == kind or (kind == "ack" and fate == "return"))]
        rng.shuffle(tags)
        events += [(kind, t, False) for t in tags]
    rng.shuffle(events)
    expected: Dict[int, Any] = {}
    for kind, tag, _ in events:
        fate = publishes[tag - 1][1]
        multiple = use_multiple and fate != "return" and rng.random() < 0.3
        if kind == "ack":
            if fate == "return":
                tracker.returned(("returned", tag), keys[tag], last)  # type: ignore[arg-type]
            inbound = _ack(tag, multiple)
        else:
            inbound = _nack(tag, multiple)
        covered = [t for t in range(1, tag + 1) if multiple or t == tag]
        for t in covered:
            expected.setdefault(t, (kind, tag))
        for token, outcome in tracker.resolve(inbound):
            token(outcome)
        # The dense token list's bookkeeping: its holes counted, never one at its head.
        assert tracker.holes == sum(token is None for token in tracker.tokens)
        assert not tracker.tokens or tracker.tokens[0] is not None
    reason = exceptions.ChannelClosedByClient(200, "Normal shutdown")
    for token, outcome in tracker.abandon(reason):
        token(outcome)
    for tag, got in outcomes.items():
        assert len(got) == 1, (tag, got)
        kind, by = expected.get(tag, ("close", 0))
        (outcome,) = got
        if kind == "close":
            assert outcome is reason
        elif kind == "nack":
            assert type(outcome) is exceptions.NackError and outcome.messages == [tag]
        elif publishes[tag - 1][1] == "return" and by == tag:
            assert type(outcome) is exceptions.UnroutableError
            assert outcome.messages == [("returned", tag)]
        else:
            assert outcome.method.delivery_tag == by and type(outcome.method) is spec.Basic.Ack
    assert tracker.waiting == {} and not tracker.returns


def test_nack_multiple_before_ack_single_settles_by_the_first() -> None:
    """RabbitMQ coalesces acks and nacks separately: Nack(2, multiple) can come before
    Ack(1). Tag 1 is settled by the nack (the first), the late Ack(1) settles nothing."""
    tracker, got = ConfirmTracker(), []
    for tag in (1, 2, 3):
        tracker.expect(tag, tag, None)
    got += list(tracker.resolve(_nack(2, True)))
    assert [(t, type(o).__name__, o.messages) for t, o in got] == [
        (1, "NackError", [1]), (2, "NackError", [2])
    ]
    assert list(tracker.resolve(_ack(1))) == []
    ack = _ack(0, True)  # tag 0 + multiple: everything outstanding
    assert list(tracker.resolve(ack)) == [(3, ack)]


def test_returns_pair_with_same_key_publishes_newest_first() -> None:
    """Two unroutable publishes with the same key, and a routable one with that key between
    them: each return goes to the highest matching publish not above its ack and not
    published after it arrived; a cancelled token (detached by its owner) keeps its place."""
    tracker = ConfirmTracker()
    key = ("", "nowhere")
    for tag in (1, 2, 3):
        tracker.expect(tag, tag, key)
    tracker.returned("first", key, 1)  # publish 1 returned (only 1 was published... see upper)
    ack1 = _ack(1)
    assert list(tracker.resolve(ack1))[0][1].messages == ["first"]
    ack2 = _ack(2)
    assert list(tracker.resolve(ack2)) == [(2, ack2)]
    tracker.returned("third", key, 3)
    (settled,) = tracker.resolve(_ack(3))
    assert settled[0] == 3 and settled[1].messages == ["third"]


def test_a_return_no_waiting_publish_can_take_is_forgotten() -> None:
    tracker = ConfirmTracker()
    tracker.returned("nobody waits", ("", "k"), 0)
    assert not tracker.returns  # nothing waits: the return callbacks alone see it
    tracker.expect(2, "t2", ("", "k"))
    tracker.returned("for an older publish", ("", "other"), 1)
    ack = _ack(2)
    assert list(tracker.resolve(ack)) == [("t2", ack)]
    assert not tracker.returns  # upper 1 < lowest waiting tag: can never match


# ----------------------------------------------------------------------------------------------
# Channel.basic_publish(on_confirm=) through the in-memory broker
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def env() -> Env:
    environment = make_env()
    environment.channel.confirm_delivery(Recorder(), Recorder())
    environment.send(spec.Confirm.SelectOk())
    environment.broker.received()
    return environment


def test_on_confirm_gets_the_ack_frame_once(env: Env) -> None:
    results = [Recorder() for _ in range(4)]
    for result in results:
        env.channel.basic_publish("", "q", b"m", on_confirm=result)
    env.send(spec.Basic.Ack(2, True))
    env.send(spec.Basic.Ack(2, False))  # a repeat settles nothing
    assert [r.count for r in results] == [1, 1, 0, 0]
    assert results[0].calls[0][0].method.delivery_tag == 2
    env.send(spec.Basic.Nack(4, False, False))
    env.send(spec.Basic.Ack(3, False))
    assert [r.count for r in results] == [1, 1, 1, 1]
    assert type(results[3].calls[0][0]) is exceptions.NackError
    assert results[3].calls[0][0].messages == [4]
    assert type(results[2].calls[0][0].method) is spec.Basic.Ack
    assert env.channel.machine.confirms.waiting == {}


def test_on_confirm_unroutable_mandatory_publish(env: Env) -> None:
    routed, lost = Recorder(), Recorder()
    returns = Recorder()
    env.channel.add_on_return_callback(returns)
    env.channel.basic_publish("", "q", b"routed", mandatory=True, on_confirm=routed)
    env.channel.basic_publish("", "nowhere", b"lost", mandatory=True, on_confirm=lost)
    env.broker.send_content(
        1, spec.Basic.Return(312, "NO_ROUTE", "", "nowhere"), spec.BasicProperties(), b"lost"
    )
    env.send(spec.Basic.Ack(1, False))
    env.send(spec.Basic.Ack(2, False))
    assert type(routed.calls[0][0].method) is spec.Basic.Ack
    ((error,),) = lost.calls
    assert type(error) is exceptions.UnroutableError
    (message,) = error.messages
    assert isinstance(message, ReturnedMessage) and message.channel is env.channel
    assert message.method.routing_key == "nowhere" and message.body == b"lost"
    assert returns.count == 1  # the return callbacks see it too


def test_close_fails_every_waiting_publish_before_the_close_callbacks(env: Env) -> None:
    order: List[str] = []
    outcomes: List[Any] = []

    def on_confirm(outcome: Any) -> None:
        order.append("confirm")
        outcomes.append(outcome)

    env.channel.add_on_close_callback(lambda *_: order.append("closed"))
    env.channel.basic_publish("", "q", b"a", on_confirm=on_confirm)
    env.channel.basic_publish("", "q", b"b", on_confirm=on_confirm)
    env.send(spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 40))
    assert order == ["confirm", "confirm", "closed"]
    assert all(type(o) is exceptions.ChannelClosedByBroker for o in outcomes)
    assert outcomes[0] is outcomes[1] is env.channel_closed.calls[0][1]


def test_on_confirm_outside_confirm_mode_is_called_at_once_with_none() -> None:
    env = make_env()
    result = Recorder()
    env.channel.basic_publish("", "q", b"m", on_confirm=result)
    assert result.calls == [(None,)]


def test_a_raising_on_confirm_is_isolated(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    first, second = Recorder(raises=ValueError("user bug")), Recorder()
    env.channel.basic_publish("", "q", b"m", on_confirm=first)
    env.channel.basic_publish("", "q", b"m", on_confirm=second)
    env.send(spec.Basic.Ack(2, True))
    assert first.count == second.count == 1 and env.channel.is_open
    assert "Exception in user callback" in caplog.text


def test_a_publish_that_raises_registers_nothing(env: Env) -> None:
    result = Recorder()
    with pytest.raises(TypeError):
        env.channel.basic_publish("", "q", 5, on_confirm=result)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        env.channel.basic_publish("", "q", b"m", on_confirm=5)  # type: ignore[arg-type]
    assert env.broker.received() == [] and env.channel.next_delivery_tag == 1
    assert env.channel.machine.confirms.waiting == {}
    env.send(spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 40))
    assert result.calls == []


@pytest.mark.parametrize("size", [10, 20 * 1024, 200 * 1024])
def test_on_confirm_on_every_publish_path(env: Env, size: int) -> None:
    """The checked path (first publish), the joined fast path, the by-reference path and a
    body over frame_max all register the publish under its tag."""
    results = [Recorder() for _ in range(2)]
    for result in results:
        env.channel.basic_publish("", "q", b"x" * size, on_confirm=result)
    assert list(env.channel.machine.confirms.waiting) == [1, 2]
    env.send(spec.Basic.Ack(0, True))
    assert [r.count for r in results] == [1, 1]


# ----------------------------------------------------------------------------------------------
# The loop thread: calls from another thread raise (issues 13 and 14)
# ----------------------------------------------------------------------------------------------


def _in_thread(call: Any) -> Any:
    import threading

    result: List[Any] = []

    def run() -> None:
        try:
            call()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            result.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0] if result else None


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.channel.basic_publish("", "q", b"m"),
        lambda e: e.channel.basic_ack(1),
        lambda e: e.channel.basic_nack(1),
        lambda e: e.channel.queue_declare("q"),
        lambda e: e.channel.close(),
        lambda e: e.connection.channel(),
        lambda e: e.connection.close(),
    ],
    ids=["publish", "ack", "nack", "rpc", "channel-close", "open-channel", "close"],
)
def test_a_call_from_another_thread_raises_and_sends_nothing(env: Env, call: Any) -> None:
    env.broker.received()
    error = _in_thread(lambda: call(env))
    assert type(error) is exceptions.WrongThreadError
    assert "add_callback_threadsafe" in str(error)
    assert env.broker.received() == [] and env.channel.is_open
    call(env)  # the loop thread (this one) may


def test_calls_before_the_loop_ran_are_allowed_from_any_thread() -> None:
    from amqpbase.connection import LoopThread

    guard = LoopThread()
    assert _in_thread(guard.check) is None  # nothing recorded yet: any thread
    guard.record()
    _in_thread(guard.record)  # the first record wins
    guard.check()
    assert type(_in_thread(guard.check)) is exceptions.WrongThreadError
