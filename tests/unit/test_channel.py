"""Channel driven through real frames on the in-memory Connection (tests/unit/harness.py).

No mocks and no sockets: every test talks to a real ``Channel`` on a real base ``Connection``
whose adapter is memory; the "broker" is the real codec writing frames and reading what the
client sent.
"""

from __future__ import annotations

import logging
import random
import struct
from typing import Any, Callable, List, Optional, Set, Tuple

import pytest

from amqpbase import exceptions, frame, spec
from amqpbase.channel import Channel
from amqpbase.protocol.channel_machine import ChannelMachine, ConfirmTracker
from amqpbase.protocol.channel_table import TABLE, ChannelState, Input, Outcome

from .harness import MemoryConnection, ScriptedBroker, open_connection


class Recorder:
    """Collects callback invocations; optionally raises after recording."""

    def __init__(self, raises: Optional[BaseException] = None) -> None:
        self.calls: List[Tuple[Any, ...]] = []
        self.raises = raises

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)
        if self.raises is not None:
            raise self.raises

    @property
    def count(self) -> int:
        return len(self.calls)


class Env:
    def __init__(
        self,
        connection: MemoryConnection,
        broker: ScriptedBroker,
        channel: Channel,
        connection_closed: Recorder,
        channel_closed: Recorder,
    ) -> None:
        self.connection = connection
        self.broker = broker
        self.channel = channel
        self.connection_closed = connection_closed
        self.channel_closed = channel_closed

    def methods(self) -> List[Any]:
        methods: List[Any] = self.broker.methods()
        return methods

    def send(self, method: Any, number: int = 1) -> None:
        self.broker.send(number, method)


def make_env(**tune: int) -> Env:
    connection, broker = open_connection(**tune)
    connection_closed, channel_closed = Recorder(), Recorder()
    connection.add_on_close_callback(connection_closed)
    channel = broker.open_channel(1)
    channel.add_on_close_callback(channel_closed)
    broker.received()
    return Env(connection, broker, channel, connection_closed, channel_closed)


@pytest.fixture
def env() -> Env:
    return make_env()


def deliver_method(tag: str = "ctag", delivery_tag: int = 1) -> Any:
    return spec.Basic.Deliver(
        consumer_tag=tag,
        delivery_tag=delivery_tag,
        redelivered=False,
        exchange="ex",
        routing_key="rk",
    )


def content_frames(
    method: Any, body: bytes, properties: Any = None, number: int = 1, frame_max: int = 131072
) -> List[bytes]:
    """The raw frames (method, header, body...) the broker would send, split apart."""
    data = b"".join(
        bytes(c)
        for c in frame.encode_content_frames(
            number, method, properties or spec.BasicProperties(), body, frame_max
        )
    )
    frames = []
    offset = 0
    while offset < len(data):
        size = struct.unpack_from(">I", data, offset + 3)[0]
        frames.append(data[offset : offset + 8 + size])
        offset += 8 + size
    return frames


def body_frame(payload: bytes, number: int = 1) -> bytes:
    return struct.pack(">BHI", 3, number, len(payload)) + payload + b"\xce"


def assert_connection_closed_with(env: Env, code: int, kind: type) -> None:
    close = [m for m in env.methods() if isinstance(m, spec.Connection.Close)]
    assert close and close[0].reply_code == code, close
    env.connection.clock.advance(env.connection.close_timeout + 1)
    assert env.connection.is_closed
    reason: Any = env.connection_closed.calls[-1][1]
    assert reason.reply_code == code and isinstance(reason, kind)
    # the channel learnt the connection's reason
    assert env.channel.is_closed
    assert env.channel_closed.calls == [(env.channel, reason)]


def consume(env: Env, tag: str = "ctag", auto_ack: bool = False) -> Recorder:
    messages = Recorder()
    env.channel.basic_consume("q", messages, auto_ack=auto_ack, consumer_tag=tag)
    env.send(spec.Basic.ConsumeOk(consumer_tag=tag))
    env.methods()
    return messages


# ---------------------------------------------------------------------------------------------
# State machine
# ---------------------------------------------------------------------------------------------


def open_machine() -> ChannelMachine:
    """A channel machine (its public surface, no connection) in OPEN."""
    machine = ChannelMachine(1)
    machine.open()
    machine.receive(frame.Method(1, spec.Channel.OpenOk()))
    assert machine.state is ChannelState.OPEN
    return machine


def test_transition_table_is_the_only_authority() -> None:
    for state in ChannelState:
        for event in Input:
            assert (state, event) in TABLE
    # every state but CLOSED can reach CLOSED on connection loss
    for state in ChannelState:
        machine = ChannelMachine(1)
        machine.state = state
        machine.connection_closed(exceptions.StreamLostError("x"))
        assert machine.state is ChannelState.CLOSED
        expected = Outcome.IGNORE if state is ChannelState.CLOSED else Outcome.RUN
        assert TABLE[(state, Input.CONNECTION_LOST)] is expected


def test_open_sends_channel_open_and_reports_on_open_ok() -> None:
    connection, broker = open_connection()
    opened = Recorder()
    channel = connection.channel(3, opened)
    assert channel.is_opening and not channel.is_open and int(channel) == 3
    (sent,) = broker.methods()
    assert isinstance(sent, spec.Channel.Open)
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.basic_qos(prefetch_count=1)
    broker.send(3, spec.Channel.OpenOk())
    assert channel.is_open
    assert opened.calls == [(channel,)]
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.open()  # a channel opens once
    assert "number=3 OPEN" in repr(channel)


def test_close_while_opening_suppresses_open_ok_then_closes() -> None:
    connection, broker = open_connection()
    opened, closed = Recorder(), Recorder()
    channel = connection.channel(1, opened)
    channel.add_on_close_callback(closed)
    broker.methods()
    channel.close(200, "bye")
    assert channel.is_closing
    assert broker.methods() == []  # Close waits behind Open
    broker.send(1, spec.Channel.OpenOk())
    assert opened.calls == [] and channel.is_closing
    (close,) = broker.methods()
    assert close == spec.Channel.Close(200, "bye", 0, 0)
    broker.send(1, spec.Channel.CloseOk())
    assert channel.is_closed
    (reason,) = [c[1] for c in closed.calls]
    assert isinstance(reason, exceptions.ChannelClosedByClient)
    assert (reason.reply_code, reason.reply_text) == (200, "bye")
    assert 1 not in connection.channels


def test_channel_number_must_be_int() -> None:
    connection, _ = open_connection()
    with pytest.raises(exceptions.InvalidChannelNumber):
        Channel(connection, "1", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Channel(connection, 1, on_open_callback=5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Synchronous RPCs: wire encoding, replies, queueing
# ---------------------------------------------------------------------------------------------

_ACKS = Recorder()

# (id, call(channel, callback), expected method on the wire, reply (None: nowait), cb used)
RPC_CASES: List[Tuple[str, Callable[[Channel, Any], Any], Any, Any, bool]] = [
    (
        "exchange_declare",
        lambda ch, cb: ch.exchange_declare("ex", "topic", True, True, True, True, {"k": 1}, cb),
        spec.Exchange.Declare(0, "ex", "topic", True, True, True, True, False, {"k": 1}),
        spec.Exchange.DeclareOk(),
        True,
    ),
    (
        "exchange_declare_nowait",
        lambda ch, cb: ch.exchange_declare("ex"),
        spec.Exchange.Declare(0, "ex", "direct", False, False, False, False, True, {}),
        None,
        False,
    ),
    (
        "exchange_delete",
        lambda ch, cb: ch.exchange_delete("ex", True, cb),
        spec.Exchange.Delete(0, "ex", True, False),
        spec.Exchange.DeleteOk(),
        True,
    ),
    (
        "exchange_delete_nowait",
        lambda ch, cb: ch.exchange_delete("ex"),
        spec.Exchange.Delete(0, "ex", False, True),
        None,
        False,
    ),
    (
        "exchange_bind",
        lambda ch, cb: ch.exchange_bind("d", "s", "rk", None, cb),
        spec.Exchange.Bind(0, "d", "s", "rk", False, {}),
        spec.Exchange.BindOk(),
        True,
    ),
    (
        "exchange_unbind",
        lambda ch, cb: ch.exchange_unbind("d", "s", "rk", {"n": 2}, cb),
        spec.Exchange.Unbind(0, "d", "s", "rk", False, {"n": 2}),
        spec.Exchange.UnbindOk(),
        True,
    ),
    (
        "queue_declare",
        lambda ch, cb: ch.queue_declare("q", True, True, True, True, {"x-max-length": 10}, cb),
        spec.Queue.Declare(0, "q", True, True, True, True, False, {"x-max-length": 10}),
        spec.Queue.DeclareOk("q", 5, 1),
        True,
    ),
    (
        "queue_declare_nowait",
        lambda ch, cb: ch.queue_declare("q"),
        spec.Queue.Declare(0, "q", False, False, False, False, True, {}),
        None,
        False,
    ),
    (
        "queue_bind_default_routing_key",
        lambda ch, cb: ch.queue_bind("q", "ex", callback=cb),
        spec.Queue.Bind(0, "q", "ex", "q", False, {}),
        spec.Queue.BindOk(),
        True,
    ),
    (
        "queue_bind_nowait",
        lambda ch, cb: ch.queue_bind("q", "ex", "rk"),
        spec.Queue.Bind(0, "q", "ex", "rk", True, {}),
        None,
        False,
    ),
    (
        "queue_unbind_waits_without_callback",
        lambda ch, cb: ch.queue_unbind("q", "ex", "rk"),
        spec.Queue.Unbind(0, "q", "ex", "rk", {}),
        spec.Queue.UnbindOk(),
        False,
    ),
    (
        "queue_unbind",
        lambda ch, cb: ch.queue_unbind("q", "ex", callback=cb),
        spec.Queue.Unbind(0, "q", "ex", "q", {}),
        spec.Queue.UnbindOk(),
        True,
    ),
    (
        "queue_delete",
        lambda ch, cb: ch.queue_delete("q", True, True, cb),
        spec.Queue.Delete(0, "q", True, True, False),
        spec.Queue.DeleteOk(3),
        True,
    ),
    (
        "queue_delete_nowait",
        lambda ch, cb: ch.queue_delete("q"),
        spec.Queue.Delete(0, "q", False, False, True),
        None,
        False,
    ),
    (
        "queue_purge",
        lambda ch, cb: ch.queue_purge("q", cb),
        spec.Queue.Purge(0, "q", False),
        spec.Queue.PurgeOk(7),
        True,
    ),
    (
        "queue_purge_nowait",
        lambda ch, cb: ch.queue_purge("q"),
        spec.Queue.Purge(0, "q", True),
        None,
        False,
    ),
    (
        "basic_qos",
        lambda ch, cb: ch.basic_qos(4096, 100, True, cb),
        spec.Basic.Qos(4096, 100, True),
        spec.Basic.QosOk(),
        True,
    ),
    (
        "basic_qos_waits_without_callback",
        lambda ch, cb: ch.basic_qos(prefetch_count=1),
        spec.Basic.Qos(0, 1, False),
        spec.Basic.QosOk(),
        False,
    ),
    (
        "basic_recover",
        lambda ch, cb: ch.basic_recover(True, cb),
        spec.Basic.Recover(True),
        spec.Basic.RecoverOk(),
        True,
    ),
    ("tx_select", lambda ch, cb: ch.tx_select(cb), spec.Tx.Select(), spec.Tx.SelectOk(), True),
    ("tx_commit", lambda ch, cb: ch.tx_commit(cb), spec.Tx.Commit(), spec.Tx.CommitOk(), True),
    (
        "tx_rollback",
        lambda ch, cb: ch.tx_rollback(cb),
        spec.Tx.Rollback(),
        spec.Tx.RollbackOk(),
        True,
    ),
    (
        "confirm_delivery",
        lambda ch, cb: ch.confirm_delivery(_ACKS, cb),
        spec.Confirm.Select(False),
        spec.Confirm.SelectOk(),
        True,
    ),
    (
        "confirm_delivery_nowait",
        lambda ch, cb: ch.confirm_delivery(_ACKS),
        spec.Confirm.Select(True),
        None,
        False,
    ),
    (
        "basic_consume",
        lambda ch, cb: ch.basic_consume("q", _ACKS, True, True, "tag", {"x-priority": 5}, cb),
        spec.Basic.Consume(0, "q", "tag", False, True, True, False, {"x-priority": 5}),
        spec.Basic.ConsumeOk("tag"),
        True,
    ),
    (
        "channel_flow",
        lambda ch, cb: ch.flow(False),
        spec.Channel.Flow(False),
        spec.Channel.FlowOk(False),
        False,
    ),
]


@pytest.mark.parametrize(
    "call, expected, reply, uses_callback",
    [case[1:] for case in RPC_CASES],
    ids=[case[0] for case in RPC_CASES],
)
def test_rpc_wire_encoding_reply_and_blocking(
    env: Env, call: Callable[[Channel, Any], Any], expected: Any, reply: Any, uses_callback: bool
) -> None:
    done = Recorder()
    call(env.channel, done)
    assert env.methods() == [expected]
    probe = Recorder()
    env.channel.tx_select(probe)  # the next RPC
    if reply is None:  # nowait: nothing to wait for, the next RPC goes out at once
        assert env.methods() == [spec.Tx.Select()]
        assert done.calls == []
        return
    assert env.methods() == []  # blocked behind the pending RPC
    env.send(reply)
    assert env.methods() == [spec.Tx.Select()]
    if uses_callback:
        ((reply_frame,),) = done.calls
        assert isinstance(reply_frame, frame.Method)
        assert reply_frame.channel_number == 1 and reply_frame.method == reply
    assert probe.calls == []
    env.send(spec.Tx.SelectOk())
    assert probe.count == 1
    assert env.connection.is_open and env.channel.is_open


def test_rpcs_are_sent_in_call_order_one_at_a_time(env: Env) -> None:
    order: List[str] = []

    def record(name: str) -> Callable[[Any], None]:
        def callback(reply_frame: Any) -> None:
            order.append(name)
            if name == "declare":
                # called from a callback: goes behind what was queued before it
                env.channel.tx_commit(record("commit"))

        return callback

    env.channel.queue_declare("q", callback=record("declare"))
    env.channel.exchange_declare("ex")  # nowait, but still behind the pending declare
    env.channel.basic_qos(prefetch_count=5, callback=record("qos"))
    env.channel.basic_publish("", "q", b"not queued")  # asynchronous: goes out at once
    sent = env.broker.received()
    assert [type(getattr(f, "method", f)) for f in sent] == [
        spec.Queue.Declare,
        spec.Basic.Publish,
        frame.Header,
        frame.Body,
    ]
    env.send(spec.Queue.DeclareOk("q", 0, 0))
    assert [type(m) for m in env.methods()] == [spec.Exchange.Declare, spec.Basic.Qos]
    assert order == ["declare"]
    env.send(spec.Basic.QosOk())
    assert [type(m) for m in env.methods()] == [spec.Tx.Commit]
    env.send(spec.Tx.CommitOk())
    assert order == ["declare", "qos", "commit"]


def test_flow_callback_gets_a_bool(env: Env) -> None:
    result = Recorder()
    env.channel.flow(False, result)
    env.send(spec.Channel.FlowOk(False))
    assert result.calls == [(False,)]
    assert env.channel.flow_active is False


@pytest.mark.parametrize("reply", [spec.Exchange.DeclareOk(), spec.Queue.BindOk()])
def test_reply_that_answers_nothing_pending_closes_connection_503(env: Env, reply: Any) -> None:
    if isinstance(reply, spec.Queue.BindOk):
        env.channel.queue_declare("q", callback=Recorder())  # pending, but a different reply
    env.methods()
    env.send(reply)
    assert_connection_closed_with(env, 503, exceptions.CommandInvalidError)


def test_add_callback_with_argument_filter_and_one_shot(env: Env) -> None:
    any_declare, named_declare = Recorder(), Recorder()
    env.channel.add_callback(any_declare, [spec.Queue.DeclareOk], one_shot=False)
    env.channel.add_callback(named_declare, [(spec.Queue.DeclareOk, {"queue": "b"})])
    for name in ("a", "b", "b"):
        env.channel.queue_declare(name, callback=Recorder())
        env.send(spec.Queue.DeclareOk(name, 0, 0))
    assert [c[0].method.queue for c in any_declare.calls] == ["a", "b", "b"]
    assert [c[0].method.queue for c in named_declare.calls] == ["b"]  # one shot
    with pytest.raises(TypeError):
        env.channel.add_callback(Recorder(), ["Queue.DeclareOk"])
    with pytest.raises(TypeError):
        env.channel.add_callback(None, [spec.Queue.DeclareOk])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Content assembly and consumers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, frame_max",
    [(0, 131072), (1, 131072), (100, 131072), (4088, 4096), (4089, 4096), (20000, 4096)],
)
def test_delivery_bodies_of_every_shape(env: Env, size: int, frame_max: int) -> None:
    messages = consume(env)
    body = bytes(random.Random(size).getrandbits(8) for _ in range(size))
    props = spec.BasicProperties(
        content_type="application/octet-stream", headers={"h": 1}, delivery_mode=2
    )
    frames = content_frames(deliver_method(), body, props, frame_max=frame_max)
    expected_frames = 2 + (-(-size // (frame_max - 8)))
    assert len(frames) == expected_frames
    for raw in frames:
        assert messages.calls == []
        env.broker.send_raw(raw)
    ((channel, method, properties, received),) = messages.calls
    assert channel is env.channel
    assert method == deliver_method()
    assert properties.content_type == "application/octet-stream"
    assert properties.headers == {"h": 1} and properties.delivery_mode == 2
    assert type(received) is bytes and received == body
    assert env.methods() == []


def test_delivery_fed_byte_by_byte(env: Env) -> None:
    messages = consume(env)
    data = b"".join(content_frames(deliver_method(), b"x" * 9000, frame_max=4096))
    for i in range(len(data)):
        env.broker.send_raw(data[i : i + 1])
    assert [c[3] for c in messages.calls] == [b"x" * 9000]


def test_single_body_fragment_is_passed_without_copy(env: Env) -> None:
    machine = open_machine()
    machine.receive(frame.Method(1, deliver_method()))
    machine.receive(frame.Header(1, 5, spec.BasicProperties()))
    fragment = b"hello"
    (delivery,) = machine.receive(frame.Body(1, fragment))
    assert delivery.body is fragment  # what the channel hands its consumer as is


def test_two_consumers_are_dispatched_by_tag(env: Env) -> None:
    first, second = consume(env, "a"), consume(env, "b")
    for tag, dtag in (("a", 1), ("b", 2), ("a", 3)):
        env.broker.send_content(1, deliver_method(tag, dtag), spec.BasicProperties(), b"m")
    assert [c[1].delivery_tag for c in first.calls] == [1, 3]
    assert [c[1].delivery_tag for c in second.calls] == [2]
    assert sorted(env.channel.consumer_tags) == ["a", "b"]


def test_generated_consumer_tag_and_duplicates(env: Env) -> None:
    tag = env.channel.basic_consume("q", Recorder())
    assert tag.startswith("ctag1.")
    (consume_method,) = env.methods()
    assert consume_method.consumer_tag == tag
    with pytest.raises(exceptions.DuplicateConsumerTag):
        env.channel.basic_consume("q", Recorder(), consumer_tag=tag)
    assert env.methods() == []


def test_delivery_for_unknown_consumer_is_logged_not_fatal(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="amqpbase.channel"):
        env.broker.send_content(1, deliver_method("nobody", 9), spec.BasicProperties(), b"m")
    assert "unknown consumer" in caplog.text
    assert env.methods() == [] and env.connection.is_open


def test_on_message_exception_is_isolated(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    messages = Recorder(raises=RuntimeError("user bug"))
    env.channel.basic_consume("q", messages, consumer_tag="t")
    env.send(spec.Basic.ConsumeOk("t"))
    with caplog.at_level(logging.ERROR):
        env.broker.send_content(1, deliver_method("t", 1), spec.BasicProperties(), b"1")
        env.broker.send_content(1, deliver_method("t", 2), spec.BasicProperties(), b"2")
    assert messages.count == 2
    assert "user bug" in caplog.text
    assert env.connection.is_open and env.channel.is_open


def test_return_goes_to_return_callbacks(env: Env) -> None:
    returned = Recorder()
    env.channel.add_on_return_callback(returned)
    method = spec.Basic.Return(312, "NO_ROUTE", "ex", "rk")
    env.broker.send_content(1, method, spec.BasicProperties(message_id="m1"), b"lost")
    ((channel, got, properties, body),) = returned.calls
    assert channel is env.channel and got == method
    assert properties.message_id == "m1" and body == b"lost"


# ---------------------------------------------------------------------------------------------
# Protocol violations in content
# ---------------------------------------------------------------------------------------------


def test_header_without_content_method_raises(env: Env) -> None:
    with pytest.raises(exceptions.UnexpectedFrameError):
        open_machine().receive(frame.Header(1, 3, spec.BasicProperties()))


def test_body_without_header_raises(env: Env) -> None:
    machine = open_machine()
    with pytest.raises(exceptions.UnexpectedFrameError):
        machine.receive(frame.Body(1, b"abc"))
    machine.receive(frame.Method(1, deliver_method()))
    with pytest.raises(exceptions.UnexpectedFrameError):
        machine.receive(frame.Body(1, b"abc"))


def test_second_header_raises(env: Env) -> None:
    machine = open_machine()
    machine.receive(frame.Method(1, deliver_method()))
    machine.receive(frame.Header(1, 3, spec.BasicProperties()))
    with pytest.raises(exceptions.UnexpectedFrameError):
        machine.receive(frame.Header(1, 3, spec.BasicProperties()))


@pytest.mark.parametrize("after", ["method", "header", "partial body"])
def test_method_before_content_complete_raises(env: Env, after: str) -> None:
    machine = open_machine()
    machine.receive(frame.Method(1, deliver_method()))
    if after != "method":
        machine.receive(frame.Header(1, 10, spec.BasicProperties()))
    if after == "partial body":
        machine.receive(frame.Body(1, b"12345"))
    with pytest.raises(exceptions.UnexpectedFrameError):
        machine.receive(frame.Method(1, spec.Basic.QosOk()))


@pytest.mark.parametrize("fragments", [[b"x" * 11], [b"x" * 5, b"x" * 6]])
def test_body_longer_than_announced_raises(env: Env, fragments: List[bytes]) -> None:
    machine = open_machine()
    machine.receive(frame.Method(1, deliver_method()))
    machine.receive(frame.Header(1, 10, spec.BasicProperties()))
    for fragment in fragments[:-1]:
        machine.receive(frame.Body(1, fragment))
    with pytest.raises(exceptions.BodyTooLongError):
        machine.receive(frame.Body(1, fragments[-1]))


def test_content_violation_on_the_wire_closes_connection_505(env: Env) -> None:
    consume(env)
    method_frame, header_frame, _ = content_frames(deliver_method(), b"0123456789")
    env.broker.send_raw(method_frame + header_frame + body_frame(b"0123456789A"))
    assert_connection_closed_with(env, 505, exceptions.BodyTooLongError)


def test_stray_header_on_the_wire_closes_connection_505(env: Env) -> None:
    _, header_frame, _ = content_frames(deliver_method(), b"abc")
    env.broker.send_raw(header_frame)
    assert_connection_closed_with(env, 505, exceptions.UnexpectedFrameError)


# ---------------------------------------------------------------------------------------------
# basic_get
# ---------------------------------------------------------------------------------------------


def test_basic_get_ok_and_empty(env: Env) -> None:
    got, empty = Recorder(), Recorder()
    env.channel.add_callback(empty, [spec.Basic.GetEmpty])
    env.channel.basic_get("q", got, auto_ack=True)
    assert env.methods() == [spec.Basic.Get(0, "q", True)]
    with pytest.raises(exceptions.DuplicateGetOkCallback):
        env.channel.basic_get("q", got)
    env.send(spec.Basic.GetEmpty())
    assert got.calls == [] and empty.count == 1
    env.channel.basic_get("q", got)
    env.methods()
    method = spec.Basic.GetOk(
        delivery_tag=1, redelivered=False, exchange="", routing_key="q", message_count=0
    )
    env.broker.send_content(1, method, spec.BasicProperties(), b"payload")
    ((channel, got_method, _, body),) = got.calls
    assert channel is env.channel and got_method == method and body == b"payload"


def test_basic_get_is_serialised_with_other_rpcs(env: Env) -> None:
    got = Recorder()
    env.channel.queue_declare("q", callback=Recorder())
    env.channel.basic_get("q", got)
    env.channel.tx_select()
    assert [type(m) for m in env.methods()] == [spec.Queue.Declare]
    env.send(spec.Queue.DeclareOk("q", 1, 0))
    assert [type(m) for m in env.methods()] == [spec.Basic.Get]
    env.broker.send_content(1, spec.Basic.GetOk(1, False, "", "q", 0), spec.BasicProperties(), b"")
    assert got.calls[0][3] == b""
    assert [type(m) for m in env.methods()] == [spec.Tx.Select]


def test_get_ok_without_pending_get_closes_503(env: Env) -> None:
    env.broker.send_content(1, spec.Basic.GetOk(1, False, "", "q", 0), spec.BasicProperties(), b"")
    assert_connection_closed_with(env, 503, exceptions.CommandInvalidError)


# ---------------------------------------------------------------------------------------------
# Cancelling consumers
# ---------------------------------------------------------------------------------------------


def test_basic_cancel_waits_for_cancel_ok_and_rejects_late_deliveries(env: Env) -> None:
    messages = consume(env, "t")
    cancelled = Recorder()
    env.channel.basic_cancel("t", cancelled)
    assert env.methods() == [spec.Basic.Cancel("t", False)]
    assert env.channel.consumer_tags == ["t"]
    env.broker.send_content(1, deliver_method("t", 7), spec.BasicProperties(), b"late")
    assert messages.calls == []
    assert env.methods() == [spec.Basic.Reject(7, True)]
    env.send(spec.Basic.CancelOk("t"))
    assert cancelled.count == 1 and env.channel.consumer_tags == []


def test_basic_cancel_without_callback_is_nowait(env: Env) -> None:
    consume(env, "t", auto_ack=True)
    env.channel.basic_cancel("t")
    assert env.methods() == [spec.Basic.Cancel("t", True)]
    assert env.channel.consumer_tags == []
    # auto_ack consumer: a late delivery needs no reject
    env.broker.send_content(1, deliver_method("t", 7), spec.BasicProperties(), b"late")
    assert env.methods() == []
    with pytest.raises(exceptions.DuplicateConsumerTag):
        env.channel.basic_consume("q", Recorder(), consumer_tag="t")


def test_basic_cancel_unknown_tag_sends_nothing(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        env.channel.basic_cancel("nope", Recorder())
    assert env.methods() == [] and "nope" in caplog.text


@pytest.mark.parametrize("nowait", [True, False])
def test_broker_cancel_notifies_and_forgets_consumer(env: Env, nowait: bool) -> None:
    consume(env, "t")
    on_cancel = Recorder()
    env.channel.add_on_cancel_callback(on_cancel)
    env.send(spec.Basic.Cancel("t", nowait))
    ((cancel_frame,),) = on_cancel.calls
    assert cancel_frame.method == spec.Basic.Cancel("t", nowait)
    assert env.channel.consumer_tags == []
    assert env.methods() == ([] if nowait else [spec.Basic.CancelOk("t")])
    assert env.channel.is_open


# ---------------------------------------------------------------------------------------------
# Publishing and confirms
# ---------------------------------------------------------------------------------------------


def test_publish_wire_encoding(env: Env) -> None:
    props = spec.BasicProperties(content_type="text/plain", correlation_id="c1")
    env.channel.basic_publish("ex", "rk", b"body", props, mandatory=True)
    method_frame, header, body = env.broker.received()
    assert method_frame.method == spec.Basic.Publish(0, "ex", "rk", True, False)
    assert header.body_size == 4 and header.properties.content_type == "text/plain"
    assert header.properties.correlation_id == "c1"
    assert bytes(body.fragment) == b"body"
    assert env.connection.emit_calls > 0


@pytest.mark.parametrize("size", [16 * 1024, 16 * 1024 + 1, 64 * 1024, 131072 - 8])
@pytest.mark.parametrize("with_properties", [False, True])
def test_a_large_one_frame_body_is_sent_by_reference_with_the_same_bytes(
    env: Env, size: int, with_properties: bool
) -> None:
    """The publish fast path joins a body of up to 16 KiB with its frames (one buffer) and
    emits a larger one by reference between its head and its frame end (no copy); either
    way the bytes are the generic encoder's."""
    props = spec.BasicProperties(content_type="a/b", headers={"k": 1}) if with_properties else None
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    env.channel.basic_publish("ex", "rk", b"warm the cache", props)  # the checked path
    env.broker.received()
    env.connection.outbound.clear()
    env.channel.basic_publish("ex", "rk", body, props)  # the fast path
    chunks = list(env.connection.outbound)
    expected = b"".join(bytes(c) for c in frame.encode_content_frames(
        1, spec.Basic.Publish(0, "ex", "rk", False, False), props, body, 131072))
    assert b"".join(chunks) == expected
    if size > 16 * 1024:
        assert len(chunks) == 3 and chunks[1] is body and chunks[2] == b"\xce"
    else:
        assert len(chunks) == 1


@pytest.mark.parametrize(
    "body, wire",
    [
        ("héllo", "héllo".encode()),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
        (b"", b""),
    ],
)
def test_publish_body_types(env: Env, body: Any, wire: bytes) -> None:
    env.channel.basic_publish("", "q", body)
    frames = env.broker.received()
    assert frames[1].body_size == len(wire)
    assert b"".join(bytes(f.fragment) for f in frames[2:]) == wire
    assert frames[1].properties == spec.BasicProperties()


def test_confirm_acks_map_to_delivery_tags(env: Env) -> None:
    acks = Recorder()
    env.channel.confirm_delivery(acks, Recorder())
    env.send(spec.Confirm.SelectOk())
    for _ in range(6):
        env.channel.basic_publish("", "q", b"m")
    assert env.channel.next_delivery_tag == 7
    assert env.channel.machine.unconfirmed() == [1, 2, 3, 4, 5, 6]
    env.send(spec.Basic.Ack(3, True))
    assert env.channel.machine.unconfirmed() == [4, 5, 6]
    env.send(spec.Basic.Ack(6, False))
    assert env.channel.machine.unconfirmed() == [4, 5]
    env.send(spec.Basic.Nack(4, False, False))
    assert env.channel.machine.unconfirmed() == [5]
    env.send(spec.Basic.Ack(0, True))  # multiple with tag 0: everything outstanding
    assert env.channel.machine.unconfirmed() == []
    kinds = [(type(c[0].method).__name__, c[0].method.delivery_tag) for c in acks.calls]
    assert kinds == [("Ack", 3), ("Ack", 6), ("Nack", 4), ("Ack", 0)]


def test_confirm_tracker_matches_a_model() -> None:
    rng = random.Random(7)
    for _ in range(200):
        tracker, published = ConfirmTracker(), 0
        settled: Set[int] = set()
        for _ in range(60):
            if rng.random() < 0.5:
                published += 1
                continue
            if not published:
                continue
            tag, multiple = rng.randint(1, published), rng.random() < 0.3
            tracker.settle(tag, multiple, published)
            settled.update(range(1, tag + 1) if multiple else [tag])
        assert tracker.unsettled(published) == [
            t for t in range(1, published + 1) if t not in settled
        ]


def test_ack_outside_confirm_mode_closes_503(env: Env) -> None:
    env.send(spec.Basic.Ack(1, False))
    assert_connection_closed_with(env, 503, exceptions.CommandInvalidError)


def test_confirm_delivery_needs_broker_support() -> None:
    connection = MemoryConnection()
    broker = ScriptedBroker(connection)
    broker.connect()
    broker.start(capabilities={"basic.nack": True})
    broker.tune()
    broker.open_ok()
    channel = broker.open_channel(1)
    broker.received()
    with pytest.raises(exceptions.MethodNotImplemented):
        channel.confirm_delivery(Recorder())
    with pytest.raises(ValueError):
        channel.confirm_delivery(None)
    assert broker.methods() == []


def test_broker_flow_is_answered_and_reported(env: Env) -> None:
    flows = Recorder()
    env.channel.add_on_flow_callback(flows)
    env.send(spec.Channel.Flow(False))
    assert env.methods() == [spec.Channel.FlowOk(False)]
    assert flows.calls[0][0].method == spec.Channel.Flow(False)
    assert env.channel.flow_active is False


# ---------------------------------------------------------------------------------------------
# Closing
# ---------------------------------------------------------------------------------------------


def test_broker_close_fails_pending_work_and_releases_the_number(env: Env) -> None:
    pending, queued, got = Recorder(), Recorder(), Recorder()
    env.channel.queue_declare("missing", passive=True, callback=pending)
    env.channel.basic_qos(prefetch_count=1, callback=queued)
    env.methods()
    env.send(spec.Channel.Close(404, "NOT_FOUND - no queue 'missing'", 50, 10))
    assert env.methods() == [spec.Channel.CloseOk()]  # the queued Qos is never sent
    assert env.channel.is_closed
    ((channel, reason),) = env.channel_closed.calls
    assert channel is env.channel
    assert isinstance(reason, exceptions.ChannelClosedByBroker)
    assert (reason.reply_code, reason.reply_text) == (404, "NOT_FOUND - no queue 'missing'")
    assert pending.calls == [] and queued.calls == [] and got.calls == []
    assert 1 not in env.connection.channels
    with pytest.raises(exceptions.ChannelWrongStateError):
        env.channel.basic_publish("", "q", b"x")
    with pytest.raises(exceptions.ChannelWrongStateError):
        env.channel.close()
    assert env.connection.is_open
    assert env.connection.channel(1) is not env.channel  # the number is free again


def test_client_close_cancels_consumers_then_closes(env: Env) -> None:
    first, second = consume(env, "a"), consume(env, "b")
    env.channel.close()
    assert env.channel.is_closing
    assert env.methods() == [spec.Basic.Cancel("a", False)]
    with pytest.raises(exceptions.ChannelWrongStateError):
        env.channel.close()
    with pytest.raises(exceptions.ChannelWrongStateError):
        env.channel.basic_ack(1)
    # deliveries while closing are dropped: not dispatched, not rejected
    env.broker.send_content(1, deliver_method("b", 5), spec.BasicProperties(), b"late")
    assert first.calls == second.calls == [] and env.methods() == []
    env.send(spec.Basic.CancelOk("a"))
    assert env.methods() == [spec.Basic.Cancel("b", False)]
    env.send(spec.Basic.CancelOk("b"))
    assert env.methods() == [spec.Channel.Close(0, "Normal shutdown", 0, 0)]
    # after our Close: everything but Close/CloseOk is discarded
    env.send(spec.Basic.QosOk())
    env.broker.send_content(
        1, spec.Basic.Return(312, "NO_ROUTE", "", "q"), spec.BasicProperties(), b""
    )
    assert env.channel.is_closing and env.channel_closed.calls == []
    env.send(spec.Channel.CloseOk())
    ((_, reason),) = env.channel_closed.calls
    assert isinstance(reason, exceptions.ChannelClosedByClient)
    assert (reason.reply_code, reason.reply_text) == (0, "Normal shutdown")
    assert env.channel.is_closed and env.channel.consumer_tags == []
    assert 1 not in env.connection.channels


def test_broker_close_crossing_ours_waits_for_close_ok(env: Env) -> None:
    env.channel.close(200, "mine")
    env.methods()
    env.send(spec.Channel.Close(406, "PRECONDITION_FAILED", 0, 0))
    assert env.methods() == [spec.Channel.CloseOk()]
    assert env.channel.is_closing and env.channel_closed.calls == []
    env.send(spec.Channel.CloseOk())
    ((_, reason),) = env.channel_closed.calls
    assert isinstance(reason, exceptions.ChannelClosedByBroker) and reason.reply_code == 406


def test_broker_close_while_our_close_is_queued_closes_at_once(env: Env) -> None:
    consume(env, "a")
    env.channel.close()
    assert env.methods() == [spec.Basic.Cancel("a", False)]
    env.send(spec.Channel.Close(320, "CONNECTION_FORCED", 0, 0))
    assert env.methods() == [spec.Channel.CloseOk()]  # our Close is never sent
    assert env.channel.is_closed
    assert isinstance(env.channel_closed.calls[0][1], exceptions.ChannelClosedByBroker)
    assert 1 not in env.connection.channels


def test_broker_close_while_opening() -> None:
    connection, broker = open_connection()
    opened, closed = Recorder(), Recorder()
    channel = connection.channel(1, opened)
    channel.add_on_close_callback(closed)
    broker.methods()
    broker.send(1, spec.Channel.Close(530, "NOT_ALLOWED", 20, 10))
    assert opened.calls == [] and channel.is_closed
    assert isinstance(closed.calls[0][1], exceptions.ChannelClosedByBroker)


def test_connection_loss_reaches_every_pending_thing(env: Env) -> None:
    pending, queued, got, acks = Recorder(), Recorder(), Recorder(), Recorder()
    consume(env, "t")
    env.channel.confirm_delivery(acks)
    env.channel.basic_publish("", "q", b"unconfirmed")
    env.channel.queue_declare("q", callback=pending)
    env.channel.basic_get("q", got)
    env.channel.basic_qos(prefetch_count=1, callback=queued)
    lost = exceptions.StreamLostError("reset")
    env.connection.lose_stream(lost)
    assert env.channel.is_closed
    ((channel, reason),) = env.channel_closed.calls
    assert channel is env.channel and reason is env.connection_closed.calls[0][1]
    assert isinstance(reason, exceptions.StreamLostError)
    assert pending.calls == queued.calls == got.calls == acks.calls == []
    assert env.channel.consumer_tags == []
    env.connection.lose_stream(lost)  # a repeat is a no-op
    assert env.channel_closed.count == 1
    # ... on the channel's side too: the table says IGNORE for a closed channel
    assert TABLE[(ChannelState.CLOSED, Input.CONNECTION_LOST)] is Outcome.IGNORE
    assert env.channel.machine.connection_closed(lost) == []


def test_connection_close_closes_channel_first(env: Env) -> None:
    consume(env, "t")
    env.connection.close()
    assert env.methods() == [spec.Basic.Cancel("t", False)]
    env.send(spec.Basic.CancelOk("t"))
    assert env.methods() == [spec.Channel.Close(200, "Normal shutdown", 0, 0)]
    env.send(spec.Channel.CloseOk())
    assert isinstance(env.channel_closed.calls[0][1], exceptions.ChannelClosedByClient)
    assert [type(m) for m in env.methods()] == [spec.Connection.Close]


def test_callback_exceptions_do_not_break_closing(env: Env) -> None:
    boom = Recorder(raises=RuntimeError("boom"))
    after = Recorder()
    env.channel.add_on_close_callback(boom)
    env.channel.add_on_close_callback(after)
    env.channel.tx_select(Recorder(raises=ValueError("in rpc callback")))
    env.channel.tx_commit(after)
    env.send(spec.Tx.SelectOk())
    env.send(spec.Tx.CommitOk())
    assert after.count == 1
    env.channel.close()
    env.send(spec.Channel.CloseOk())
    assert boom.count == 1 and after.count == 2
    assert 1 not in env.connection.channels and env.connection.is_open


# ---------------------------------------------------------------------------------------------
# Bad input fails before anything is sent and leaves the channel usable
# ---------------------------------------------------------------------------------------------

BAD_CALLS: List[Tuple[str, Callable[[Channel], Any], type]] = [
    ("ack_str", lambda ch: ch.basic_ack("1"), TypeError),  # type: ignore[arg-type]
    ("ack_negative", lambda ch: ch.basic_ack(-1), ValueError),
    ("ack_too_big", lambda ch: ch.basic_ack(2**64), ValueError),
    ("nack_float", lambda ch: ch.basic_nack(1.5), TypeError),  # type: ignore[arg-type]
    ("reject_none", lambda ch: ch.basic_reject(None), TypeError),  # type: ignore[arg-type]
    ("qos_count_too_big", lambda ch: ch.basic_qos(prefetch_count=65536), ValueError),
    ("qos_count_negative", lambda ch: ch.basic_qos(prefetch_count=-1), ValueError),
    ("qos_size_str", lambda ch: ch.basic_qos(prefetch_size="1"), TypeError),  # type: ignore
    ("qos_callback", lambda ch: ch.basic_qos(callback=5), TypeError),  # type: ignore[arg-type]
    ("consume_queue", lambda ch: ch.basic_consume(1, print), TypeError),  # type: ignore
    ("consume_cb", lambda ch: ch.basic_consume("q", None), TypeError),  # type: ignore
    ("consume_tag", lambda ch: ch.basic_consume("q", print, consumer_tag=5), TypeError),  # type: ignore
    ("consume_args", lambda ch: ch.basic_consume("q", print, arguments=[1]), TypeError),  # type: ignore
    (
        "consume_args_value",
        lambda ch: ch.basic_consume("q", print, arguments={"k": object()}),
        exceptions.UnsupportedAMQPFieldException,
    ),
    (
        "consume_long_tag",
        lambda ch: ch.basic_consume("q", print, consumer_tag="t" * 256),
        exceptions.ShortStringTooLong,
    ),
    ("cancel_tag", lambda ch: ch.basic_cancel(None), TypeError),  # type: ignore[arg-type]
    ("get_cb", lambda ch: ch.basic_get("q", None), TypeError),  # type: ignore[arg-type]
    ("get_queue", lambda ch: ch.basic_get(b"q", print), TypeError),  # type: ignore[arg-type]
    ("declare_long", lambda ch: ch.queue_declare("é" * 128), exceptions.ShortStringTooLong),
    ("declare_none", lambda ch: ch.queue_declare(None), TypeError),  # type: ignore[arg-type]
    ("declare_cb", lambda ch: ch.queue_declare("q", callback="x"), TypeError),  # type: ignore
    ("exchange_type", lambda ch: ch.exchange_declare("x", 5), TypeError),
    ("exchange_delete_none", lambda ch: ch.exchange_delete(), TypeError),
    ("bind_exchange", lambda ch: ch.queue_bind("q", None), TypeError),  # type: ignore[arg-type]
    ("unbind_exchange", lambda ch: ch.queue_unbind("q"), TypeError),
    ("ex_bind_args", lambda ch: ch.exchange_bind("d", "s", arguments="x"), TypeError),  # type: ignore
    ("publish_exchange", lambda ch: ch.basic_publish(None, "q", b""), TypeError),  # type: ignore
    ("publish_rk", lambda ch: ch.basic_publish("", 1, b""), TypeError),  # type: ignore
    ("publish_body", lambda ch: ch.basic_publish("", "q", 5), TypeError),  # type: ignore
    ("publish_props", lambda ch: ch.basic_publish("", "q", b"", {"x": 1}), TypeError),  # type: ignore
    (
        "publish_long_rk",
        lambda ch: ch.basic_publish("", "r" * 256, b""),
        exceptions.ShortStringTooLong,
    ),
    ("close_code", lambda ch: ch.close("200"), TypeError),  # type: ignore[arg-type]
    ("close_text", lambda ch: ch.close(200, None), TypeError),  # type: ignore[arg-type]
    ("close_long_text", lambda ch: ch.close(200, "x" * 300), exceptions.ShortStringTooLong),
    ("on_close_cb", lambda ch: ch.add_on_close_callback(None), TypeError),  # type: ignore
    ("on_return_cb", lambda ch: ch.add_on_return_callback(1), TypeError),  # type: ignore
    ("flow_cb", lambda ch: ch.flow(True, 1), TypeError),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("call, error", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_sends_nothing(env: Env, call: Callable[[Channel], Any], error: type) -> None:
    env.channel.tx_select(Recorder())  # an RPC in flight: bad calls must not enter the queue
    env.methods()
    emitted = len(env.connection.outbound)
    with pytest.raises(error):
        call(env.channel)
    assert len(env.connection.outbound) == emitted
    assert env.channel.is_open and env.connection.is_open
    assert env.channel.consumer_tags == [] and not env.channel.machine.rpc_queue
    env.send(spec.Tx.SelectOk())
    env.channel.basic_publish("", "q", b"still fine")
    assert len(env.broker.received()) == 3


def test_on_open_callback_exception_is_isolated() -> None:
    connection, broker = open_connection()
    opened = Recorder(raises=RuntimeError("open bug"))
    channel = connection.channel(1, opened)
    broker.methods()
    broker.send(1, spec.Channel.OpenOk())
    assert opened.count == 1 and channel.is_open and connection.is_open
    channel.basic_qos(prefetch_count=1)
    assert broker.methods() == [spec.Basic.Qos(0, 1, False)]


def test_exchange_type_may_be_an_enum_and_names_may_be_str_subclasses(env: Env) -> None:
    import enum

    class Kind(enum.Enum):
        fanout = "fanout"

    class Name(str):
        pass

    env.channel.exchange_declare(Name("ex"), Kind.fanout)
    (declare,) = env.methods()
    assert declare.type == "fanout" and declare.exchange == "ex"
    env.channel.basic_publish(Name("ex"), Name("rk"), b"x")
    assert env.broker.received()[0].method.routing_key == "rk"


def test_return_without_callback_is_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="amqpbase.channel"):
        env.broker.send_content(
            1, spec.Basic.Return(312, "NO_ROUTE", "ex", "rk"), spec.BasicProperties(), b""
        )
    assert "NO_ROUTE" in caplog.text and env.connection.is_open


def test_ack_nack_reject_wire_encoding(env: Env) -> None:
    env.channel.basic_ack(5)
    env.channel.basic_ack(9, multiple=True)
    env.channel.basic_nack(10, multiple=True, requeue=False)
    env.channel.basic_reject(11, requeue=False)
    env.channel.basic_reject(2**64 - 1)
    assert env.methods() == [
        spec.Basic.Ack(5, False),
        spec.Basic.Ack(9, True),
        spec.Basic.Nack(10, True, False),
        spec.Basic.Reject(11, False),
        spec.Basic.Reject(2**64 - 1, True),
    ]


def test_cancel_twice_sends_one_cancel(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    consume(env, "t")
    env.channel.basic_cancel("t", Recorder())
    with caplog.at_level(logging.WARNING):
        env.channel.basic_cancel("t", Recorder())
    assert env.methods() == [spec.Basic.Cancel("t", False)]
    assert "already being cancelled" in caplog.text


def test_open_channel_on_closing_connection_refuses_work(env: Env) -> None:
    # A protocol error on another channel makes the connection CLOSING while channel 1 is
    # still OPEN (it closes when the stream ends): new work is refused, nothing is sent.
    env.connection.channel(2)
    env.broker.send(2, spec.Channel.OpenOk())
    env.methods()
    env.broker.send_raw(content_frames(deliver_method(), b"abc", number=2)[1])  # stray header
    assert env.connection.is_closing and env.channel.is_open
    env.methods()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        env.channel.basic_publish("", "q", b"x")
    with pytest.raises(exceptions.ConnectionWrongStateError):
        env.channel.queue_declare("q")
    assert env.methods() == []


def test_ack_beyond_last_publish_is_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    acks = Recorder()
    env.channel.confirm_delivery(acks)
    env.channel.basic_publish("", "q", b"1")
    with caplog.at_level(logging.WARNING, logger="amqpbase.channel"):
        env.send(spec.Basic.Ack(5, False))
    assert "only 1 were published" in caplog.text
    assert env.channel.machine.unconfirmed() == [1]
    assert acks.count == 1  # the broker's frame is still reported as it was sent


def test_frames_for_a_closed_channel_or_of_other_kinds_raise(env: Env) -> None:
    machine = open_machine()
    with pytest.raises(exceptions.UnexpectedFrameError):
        machine.receive(frame.Heartbeat())
    machine.receive(frame.Method(1, spec.Channel.Close(406, "PRECONDITION_FAILED", 0, 0)))
    with pytest.raises(exceptions.ChannelNotOpenError):
        machine.receive(frame.Method(1, spec.Basic.QosOk()))



def test_next_delivery_tag_counts_confirm_mode_publishes(env: Env) -> None:
    """``next_delivery_tag`` is the tag the broker will give the next confirm-mode publish:
    1 after Confirm.Select, +1 per publish; outside confirm mode publishes do not count."""
    env.channel.basic_publish("", "q", b"not counted")
    assert env.channel.next_delivery_tag == 1
    env.channel.confirm_delivery(Recorder(), Recorder())
    env.send(spec.Confirm.SelectOk())
    for expected in (2, 3, 4):
        env.channel.basic_publish("", "q", b"x")
        assert env.channel.next_delivery_tag == expected
