"""The base Connection driven by bytes and a fake clock (tests/unit/harness.py)."""

from __future__ import annotations

import logging
import struct
from typing import Any, List

import pytest

from amqpbase import exceptions, frame, spec
from amqpbase.connection import Connection, ConnectionState
from amqpbase.credentials import ExternalCredentials, PlainCredentials
from amqpbase.parameters import ConnectionParameters

from .harness import MemoryConnection, ScriptedBroker, open_connection


class Recorder:
    """Collects callback invocations."""

    def __init__(self) -> None:
        self.calls: List[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)

    @property
    def count(self) -> int:
        return len(self.calls)

    @property
    def last(self) -> tuple[Any, ...]:
        return self.calls[-1]


def new_connection(
    **params: Any,
) -> tuple[MemoryConnection, ScriptedBroker, Recorder, Recorder, Recorder]:
    opened, open_error, closed = Recorder(), Recorder(), Recorder()
    connection = MemoryConnection(
        ConnectionParameters(**params),
        on_open_callback=opened,
        on_open_error_callback=open_error,
        on_close_callback=closed,
    )
    return connection, ScriptedBroker(connection), opened, open_error, closed


# ---------------------------------------------------------------------------------------------
# Handshake
# ---------------------------------------------------------------------------------------------


def test_handshake_sends_protocol_header_start_ok_tune_ok_and_open() -> None:
    connection, broker, opened, open_error, _ = new_connection(
        virtual_host="vh", client_properties={"connection_name": "unit"}
    )
    assert connection.state is ConnectionState.INIT
    assert not connection.publisher_confirms  # capabilities unknown yet
    broker.connect()
    assert connection.state is ConnectionState.PROTOCOL
    first = broker.received()
    assert isinstance(first[0], frame.ProtocolHeader)
    assert (first[0].major, first[0].minor, first[0].revision) == (0, 9, 1)

    broker.start()
    (start_ok,) = broker.methods()
    assert isinstance(start_ok, spec.Connection.StartOk)
    assert start_ok.mechanism == "PLAIN"
    assert bytes(start_ok.response) == b"\x00guest\x00guest"
    props = start_ok.client_properties
    assert props["connection_name"] == "unit"
    for capability in (
        "authentication_failure_close",
        "basic.nack",
        "connection.blocked",
        "consumer_cancel_notify",
        "exchange_exchange_bindings",
        "publisher_confirms",
    ):
        assert props["capabilities"][capability] is True, capability

    broker.tune(channel_max=100, frame_max=65536, heartbeat=30)
    tune_ok, open_method = broker.methods()
    assert isinstance(tune_ok, spec.Connection.TuneOk)
    assert (tune_ok.channel_max, tune_ok.frame_max, tune_ok.heartbeat) == (100, 65536, 30)
    assert isinstance(open_method, spec.Connection.Open)
    assert open_method.virtual_host == "vh"
    assert opened.count == 0

    broker.open_ok()
    assert connection.is_open and opened.calls == [(connection,)]
    assert open_error.count == 0
    assert connection.publisher_confirms and connection.basic_nack
    assert connection.consumer_cancel_notify and connection.exchange_exchange_bindings


@pytest.mark.parametrize(
    "client, server, expected",
    [(65535, 0, 65535), (100, 0, 100), (100, 2047, 100), (4000, 2047, 2047)],
)
def test_channel_max_negotiation_zero_means_no_limit(
    client: int, server: int, expected: int
) -> None:
    connection, broker, *_ = new_connection(channel_max=client)
    broker.connect()
    broker.start()
    broker.received()
    broker.tune(channel_max=server)
    assert broker.methods()[0].channel_max == expected


@pytest.mark.parametrize(
    "client, server, expected",
    [(131072, 0, 131072), (131072, 4096, 4096), (8192, 131072, 8192)],
)
def test_frame_max_negotiation(client: int, server: int, expected: int) -> None:
    connection, broker, *_ = new_connection(frame_max=client)
    broker.connect()
    broker.start()
    broker.received()
    broker.tune(frame_max=server)
    assert broker.methods()[0].frame_max == expected


@pytest.mark.parametrize(
    "wanted, server, expected",
    [(None, 60, 60), (None, 0, 0), (0, 60, 0), (10, 60, 10), (120, 60, 60), (10, 0, 10)],
)
def test_heartbeat_negotiation(wanted: Any, server: int, expected: int) -> None:
    connection, broker, *_ = new_connection(heartbeat=wanted)
    broker.connect()
    broker.start()
    broker.received()
    broker.tune(heartbeat=server)
    assert broker.methods()[0].heartbeat == expected


def test_heartbeat_callable_is_honoured() -> None:
    seen: list[tuple[Any, int]] = []

    def choose(connection: Connection, server_value: int) -> int:
        seen.append((connection, server_value))
        return 7

    connection, broker, *_ = new_connection(heartbeat=choose)
    broker.connect()
    broker.start()
    broker.received()
    broker.tune(heartbeat=60)
    assert broker.methods()[0].heartbeat == 7
    assert seen == [(connection, 60)]


def test_external_credentials_choose_external_mechanism() -> None:
    connection, broker, *_ = new_connection(credentials=ExternalCredentials())
    broker.connect()
    broker.start(mechanisms=b"PLAIN EXTERNAL")
    start_ok = [m for m in broker.methods() if isinstance(m, spec.Connection.StartOk)][0]
    assert start_ok.mechanism == "EXTERNAL"


def test_mechanism_not_offered_gives_authentication_error() -> None:
    connection, broker, opened, open_error, _ = new_connection(credentials=ExternalCredentials())
    broker.connect()
    broker.start(mechanisms=b"PLAIN AMQPLAIN")
    connection.clock.advance(0)
    assert connection.is_closed and opened.count == 0
    ((conn, error),) = open_error.calls
    assert type(error) is exceptions.AuthenticationError
    assert "EXTERNAL" in str(error)


def test_wrong_password_gives_broker_reply_code_and_text() -> None:
    connection, broker, _, open_error, closed = new_connection(
        credentials=PlainCredentials("guest", "wrong")
    )
    broker.connect()
    broker.start()
    broker.received()
    text = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."
    broker.send(0, spec.Connection.Close(reply_code=403, reply_text=text, class_id=0, method_id=0))
    assert isinstance(broker.methods()[-1], spec.Connection.CloseOk)
    connection.clock.advance(0)
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.ProbableAuthenticationError
    assert (error.reply_code, error.reply_text) == (403, text)
    assert "wrong" not in repr(error)
    assert closed.count == 0  # on_close is for connections that were open


def test_unknown_vhost_gives_access_denied_with_broker_text() -> None:
    connection, broker, _, open_error, _ = new_connection(virtual_host="nope")
    broker.connect()
    broker.start()
    broker.tune()
    text = "NOT_ALLOWED - vhost nope not found"
    broker.send(0, spec.Connection.Close(reply_code=530, reply_text=text, class_id=0, method_id=0))
    connection.clock.advance(0)
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.ProbableAccessDeniedError
    assert (error.reply_code, error.reply_text) == (530, text)


def test_server_protocol_header_means_incompatible_protocol() -> None:
    connection, broker, _, open_error, _ = new_connection()
    broker.connect()
    broker.send_raw(b"AMQP\x00\x00\x08\x00")
    connection.clock.advance(0)
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.IncompatibleProtocolError
    assert "0-8-0" in str(error)


def test_start_with_other_version_is_incompatible() -> None:
    connection, broker, _, open_error, _ = new_connection()
    broker.connect()
    broker.send(
        0,
        spec.Connection.Start(
            version_major=0,
            version_minor=8,
            server_properties={},
            mechanisms=b"PLAIN",
            locales=b"en_US",
        ),
    )
    connection.clock.advance(0)
    assert type(open_error.last[1]) is exceptions.IncompatibleProtocolError


def test_garbage_instead_of_protocol_reply_is_incompatible_protocol() -> None:
    """An HTTP server's answer: IncompatibleProtocolError (a connection error), the codec's
    InvalidFrameError (501) as its cause, at once, with nothing sent after the header."""
    connection, broker, _, open_error, _ = new_connection()
    broker.connect()
    broker.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    connection.clock.advance(0)
    assert connection.is_closed
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.IncompatibleProtocolError
    assert isinstance(error, exceptions.AMQPConnectionError)
    assert "does not speak AMQP 0-9-1" in str(error) and "48 54 54 50" in str(error)
    cause = error.__cause__
    assert isinstance(cause, exceptions.InvalidFrameError) and cause.reply_code == 501
    assert type(cause) is exceptions.NotAMQPStreamError


def test_frame_shaped_garbage_before_connection_start_stays_a_frame_error() -> None:
    """First bytes that start like a frame (type 1) but announce 4 GiB: a broken frame, not
    another protocol (the boundary of the case above): InvalidFrameError (501), no Close."""
    connection, broker, _, open_error, _ = new_connection()
    broker.connect()
    broker.send_raw(b"\x01\x00\x00\xff\xff\xff\xff" + b"\x00" * 16)
    connection.clock.advance(0)
    assert connection.is_closed
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.InvalidFrameError and error.reply_code == 501


def test_broker_answering_with_its_own_0_9_1_header_is_incompatible_protocol() -> None:
    """RabbitMQ answers a header it does not accept with b"AMQP\\x00\\x00\\x09\\x01"."""
    connection, broker, _, open_error, _ = new_connection()
    broker.connect()
    broker.send_raw(b"AMQP\x00\x00\x09\x01")
    connection.clock.advance(0)
    assert connection.is_closed
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.IncompatibleProtocolError
    assert "refused our protocol header" in str(error) and "0-9-1, not" not in str(error)


def test_stream_lost_during_handshake_names_the_phase_and_chains_cause() -> None:
    connection, broker, _, open_error, _ = new_connection()
    broker.connect()
    broker.start()
    cause = ConnectionResetError(104, "reset")
    lost = exceptions.StreamLostError("reset by peer")
    lost.__cause__ = cause
    connection.lose_stream(lost)
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.StreamLostError
    assert "Connection.Tune" in str(error)
    assert error.__cause__ is cause


def test_stack_timeout_fires_when_handshake_stalls() -> None:
    connection, broker, _, open_error, _ = new_connection(stack_timeout=5.0)
    broker.connect()  # stream up, but the broker never sends Connection.Start
    connection.clock.advance(4.9)
    assert open_error.count == 0
    connection.clock.advance(0.2)
    ((_, error),) = open_error.calls
    assert type(error) is exceptions.StackTimeoutError
    assert "stack_timeout=5.0" in str(error)
    assert connection.is_closed


def test_connection_attempts_retry_with_delay_then_report_last_cause() -> None:
    refused = exceptions.TCPConnectionRefusedError("127.0.0.1:1 refused")
    opened, open_error = Recorder(), Recorder()
    connection = MemoryConnection(
        ConnectionParameters(connection_attempts=3, retry_delay=2.0),
        on_open_callback=opened,
        on_open_error_callback=open_error,
        connect_error=refused,
    )
    connection.clock.advance(0)
    assert connection.connect_calls == 1 and not connection.is_closed
    connection.clock.advance(1.9)
    assert connection.connect_calls == 1
    connection.clock.advance(0.2)
    assert connection.connect_calls == 2
    connection.clock.advance(2.0)
    assert connection.connect_calls == 3
    connection.clock.advance(10.0)
    assert connection.connect_calls == 3
    assert open_error.calls == [(connection, refused)]
    assert connection.is_closed


def test_retry_then_success_opens() -> None:
    refused = exceptions.TCPConnectionRefusedError("refused")
    opened = Recorder()
    connection = MemoryConnection(
        ConnectionParameters(connection_attempts=2, retry_delay=1.0),
        on_open_callback=opened,
        connect_error=refused,
    )
    connection.clock.advance(0)
    connection.connect_error = None
    connection.clock.advance(1.0)
    broker = ScriptedBroker(connection)
    broker.start()
    broker.tune()
    broker.open_ok()
    assert opened.calls == [(connection,)]


def test_authentication_failure_is_not_retried() -> None:
    connection, broker, _, open_error, _ = new_connection(connection_attempts=5, retry_delay=0.1)
    broker.connect()
    broker.start()
    broker.send(
        0,
        spec.Connection.Close(reply_code=403, reply_text="ACCESS_REFUSED", class_id=0, method_id=0),
    )
    connection.clock.advance(10)
    assert connection.connect_calls == 1 and open_error.count == 1


def test_close_while_connecting_aborts_open() -> None:
    connection, broker, opened, open_error, _ = new_connection()
    connection.clock.advance(0)  # connect requested and stream up
    connection.close()
    assert connection.is_closing
    connection.clock.advance(0)
    assert connection.is_closed and opened.count == 0
    assert type(open_error.last[1]) is exceptions.ConnectionOpenAborted


def test_close_before_first_attempt_aborts_without_connecting() -> None:
    connection, broker, opened, open_error, _ = new_connection()
    connection.close()
    connection.clock.advance(0)
    assert connection.connect_calls == 0
    assert connection.is_closed
    assert type(open_error.last[1]) is exceptions.ConnectionOpenAborted


def test_default_open_error_callback_logs(caplog: pytest.LogCaptureFixture) -> None:
    connection = MemoryConnection(connect_error=exceptions.TCPConnectionRefusedError("nope"))
    with caplog.at_level(logging.ERROR, logger="amqpbase.connection"):
        connection.clock.advance(0)
    assert "Could not open" in caplog.text and "nope" in caplog.text


def test_remove_default_false_keeps_default_error_logging(caplog: pytest.LogCaptureFixture) -> None:
    mine = Recorder()
    connection = MemoryConnection(connect_error=exceptions.TCPConnectionRefusedError("nope"))
    connection.add_on_open_error_callback(mine, remove_default=False)
    with caplog.at_level(logging.ERROR, logger="amqpbase.connection"):
        connection.clock.advance(0)
    assert mine.count == 1 and "Could not open" in caplog.text


# ---------------------------------------------------------------------------------------------
# Close paths
# ---------------------------------------------------------------------------------------------


def test_client_close_sends_close_waits_for_close_ok() -> None:
    closed = Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(closed)
    connection.close(200, "bye")
    assert connection.is_closing and not connection.is_open
    (close,) = broker.methods()
    assert isinstance(close, spec.Connection.Close)
    assert (close.reply_code, close.reply_text) == (200, "bye")
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()
    broker.send(0, spec.Connection.CloseOk())
    connection.clock.advance(0)
    assert connection.is_closed
    ((conn, reason),) = closed.calls
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert (reason.reply_code, reason.reply_text) == (200, "bye")
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.close()


def test_client_close_has_a_hard_deadline() -> None:
    closed = Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(closed)
    connection.close_timeout = 3.0
    connection.close()
    connection.clock.advance(2.9)
    assert connection.is_closing and closed.count == 0
    connection.clock.advance(0.2)
    assert connection.is_closed
    assert type(closed.last[1]) is exceptions.ConnectionClosedByClient


def test_buffered_publishes_precede_connection_close() -> None:
    connection, broker = open_connection()
    channel = broker.open_channel(1)
    for i in range(3):
        channel.basic_publish("", "q", b"m%d" % i)
    connection.close()
    sent = broker.received()
    names = [
        type(f.method).__name__ if isinstance(f, frame.Method) else type(f).__name__ for f in sent
    ]
    # publishes (method, header, body) come first, then the channel closes, and only after
    # Channel.CloseOk does Connection.Close go out.
    assert names[:9] == ["Publish", "Header", "Body"] * 3
    assert names[9:] == ["Close"]
    assert isinstance(sent[9].method, spec.Channel.Close)
    broker.send(1, spec.Channel.CloseOk())
    (close,) = broker.methods()
    assert isinstance(close, spec.Connection.Close)


def test_broker_close_replies_close_ok_and_reports_to_channels() -> None:
    closed, channel_closed = Recorder(), Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(closed)
    channel = broker.open_channel(1)
    channel.add_on_close_callback(channel_closed)
    broker.send(
        0,
        spec.Connection.Close(
            reply_code=320, reply_text="CONNECTION_FORCED - bye", class_id=0, method_id=0
        ),
    )
    assert isinstance(broker.methods()[-1], spec.Connection.CloseOk)
    connection.clock.advance(0)
    reason = closed.last[1]
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert (reason.reply_code, reason.reply_text) == (320, "CONNECTION_FORCED - bye")
    assert channel_closed.calls == [(channel, reason)]
    assert channel.is_closed


def test_stream_lost_during_close_is_chained_under_the_client_close() -> None:
    """close() was under way but the stream died before Connection.CloseOk: on_close still
    gets ConnectionClosedByClient (the close the user asked for), with the loss as its
    ``__cause__``, so buffered publishes that may not have reached the broker are not
    mistaken for a clean close. A clean close has no cause."""
    closed = Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(closed)
    connection.close(200, "bye")
    lost = exceptions.StreamLostError("connection reset")
    connection.lose_stream(lost)
    ((_conn, reason),) = closed.calls
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert (reason.reply_code, reason.reply_text) == (200, "bye")
    assert reason.__cause__ is lost

    clean = Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(clean)
    connection.close()
    broker.send(0, spec.Connection.CloseOk())
    connection.clock.advance(0)
    ((_conn, reason),) = clean.calls
    assert type(reason) is exceptions.ConnectionClosedByClient and reason.__cause__ is None


def test_stream_lost_while_open_reports_stream_lost() -> None:
    closed = Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(closed)
    lost = exceptions.StreamLostError("EOF")
    connection.lose_stream(lost)
    assert closed.calls == [(connection, lost)]
    assert connection.is_closed


# ---------------------------------------------------------------------------------------------
# Heartbeats, blocked, backpressure
# ---------------------------------------------------------------------------------------------


def test_heartbeat_sent_on_idle_link() -> None:
    connection, broker = open_connection(heartbeat=10)
    connection.clock.advance(5.0)
    assert [type(f) for f in broker.received()] == [frame.Heartbeat]
    broker.send_raw(frame.HEARTBEAT_FRAME)
    connection.clock.advance(5.0)
    assert [type(f) for f in broker.received()] == [frame.Heartbeat]


def test_no_heartbeat_sent_while_link_busy() -> None:
    connection, broker = open_connection(heartbeat=10)
    channel = broker.open_channel(1)
    for _ in range(4):
        channel.basic_publish("", "q", b"x")
        broker.send_raw(frame.HEARTBEAT_FRAME)
        connection.clock.advance(2.5)
    assert not any(isinstance(f, frame.Heartbeat) for f in broker.received())


def test_silent_peer_declared_dead_after_two_intervals() -> None:
    closed = Recorder()
    connection, broker = open_connection(heartbeat=10)
    connection.add_on_close_callback(closed)
    connection.clock.advance(19.9)
    assert connection.is_open
    connection.clock.advance(5.2)  # dead within 2.5 intervals at most
    connection.clock.advance(0)
    reason = closed.last[1]
    assert type(reason) is exceptions.AMQPHeartbeatTimeout
    assert connection.is_closed


def test_received_data_keeps_connection_alive() -> None:
    connection, broker = open_connection(heartbeat=4)
    for _ in range(20):
        connection.clock.advance(1.5)
        broker.send_raw(frame.HEARTBEAT_FRAME)
    assert connection.is_open


def test_blocked_and_unblocked_callbacks_get_method_frames() -> None:
    blocked, unblocked = Recorder(), Recorder()
    connection, broker = open_connection()
    connection.add_on_connection_blocked_callback(blocked)
    connection.add_on_connection_unblocked_callback(unblocked)
    broker.send(0, spec.Connection.Blocked(reason="low on memory"))
    ((conn, method_frame),) = blocked.calls
    assert conn is connection and isinstance(method_frame, frame.Method)
    assert isinstance(method_frame.method, spec.Connection.Blocked)
    assert method_frame.method.reason == "low on memory"
    broker.send(0, spec.Connection.Unblocked())
    assert isinstance(unblocked.last[1].method, spec.Connection.Unblocked)
    assert connection.is_open


def test_blocked_connection_timeout_closes() -> None:
    closed = Recorder()
    connection, broker = open_connection(ConnectionParameters(blocked_connection_timeout=3.0))
    connection.add_on_close_callback(closed)
    broker.send(0, spec.Connection.Blocked(reason="low on memory"))
    connection.clock.advance(2.9)
    assert connection.is_open
    connection.clock.advance(0.2)
    connection.clock.advance(0)
    assert type(closed.last[1]) is exceptions.ConnectionBlockedTimeout
    assert connection.is_closed


def test_unblocked_cancels_blocked_timeout() -> None:
    connection, broker = open_connection(ConnectionParameters(blocked_connection_timeout=3.0))
    broker.send(0, spec.Connection.Blocked(reason="low on memory"))
    connection.clock.advance(2.0)
    broker.send(0, spec.Connection.Unblocked())
    connection.clock.advance(10.0)
    assert connection.is_open


def test_backpressure_fires_once_per_crossing_and_rearms_after_drain() -> None:
    fired = Recorder()
    connection, broker = open_connection()
    channel = broker.open_channel(1)
    connection.add_backpressure_callback(fired)
    connection.set_backpressure_multiplier(10)
    average = connection.average_frame_size()
    connection.buffered = int(average * 5)
    channel.basic_publish("", "q", b"x")
    assert fired.count == 0
    connection.buffered = int(average * 50)
    for _ in range(5):
        channel.basic_publish("", "q", b"x")
    assert fired.calls == [()]  # once, with no arguments
    connection.drain()
    channel.basic_publish("", "q", b"x")
    assert fired.count == 1
    connection.buffered = 10**9
    channel.basic_publish("", "q", b"x")
    assert fired.count == 2


@pytest.mark.parametrize(
    "bad, kind", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_backpressure_multiplier_is_validated(bad: Any, kind: type) -> None:
    connection, _ = open_connection()
    with pytest.raises(kind):
        connection.set_backpressure_multiplier(bad)


# ---------------------------------------------------------------------------------------------
# Malformed input from the broker
# ---------------------------------------------------------------------------------------------


def _assert_closed_with(
    connection: MemoryConnection, broker: ScriptedBroker, closed: Recorder, code: int, kind: type
) -> None:
    sent = broker.methods()
    close = [m for m in sent if isinstance(m, spec.Connection.Close)]
    assert close and close[0].reply_code == code, sent
    connection.clock.advance(connection.close_timeout + 1)
    assert connection.is_closed
    reason = closed.last[1]
    assert isinstance(reason, kind) and reason.reply_code == code


def _opened_with_recorder() -> tuple[MemoryConnection, ScriptedBroker, Recorder]:
    closed = Recorder()
    connection, broker = open_connection()
    connection.add_on_close_callback(closed)
    return connection, broker, closed


def test_bad_frame_end_closes_with_501_and_discards_the_rest() -> None:
    connection, broker, closed = _opened_with_recorder()
    good = frame.encode_method_frame(0, spec.Connection.Blocked(reason="x"))
    broker.send_raw(good[:-1] + b"\x00")
    broker.send_raw(good)  # ignored: the stream is desynchronised
    _assert_closed_with(connection, broker, closed, 501, exceptions.InvalidFrameError)


def test_unknown_frame_type_closes_with_501() -> None:
    connection, broker, closed = _opened_with_recorder()
    broker.send_raw(struct.pack(">BHI", 9, 0, 0) + b"\xce")
    _assert_closed_with(connection, broker, closed, 501, exceptions.InvalidFrameError)


def test_oversized_frame_closes_with_501() -> None:
    connection, broker, closed = _opened_with_recorder()
    broker.send_raw(struct.pack(">BHI", 3, 1, 10_000_000))
    _assert_closed_with(connection, broker, closed, 501, exceptions.InvalidFrameError)


def test_method_for_channel_not_open_closes_with_504() -> None:
    connection, broker, closed = _opened_with_recorder()
    broker.send(7, spec.Basic.Ack(delivery_tag=1, multiple=False))
    _assert_closed_with(connection, broker, closed, 504, exceptions.ChannelNotOpenError)


def test_content_header_on_channel_zero_closes_with_505() -> None:
    connection, broker, closed = _opened_with_recorder()
    header = frame.encode_content_frames(
        0, spec.Basic.Publish(), spec.BasicProperties(), b"", 131072
    )[0]
    # drop the method frame, keep the header frame
    method_len = struct.unpack_from(">I", header, 3)[0] + 8
    broker.send_raw(bytes(header)[method_len:])
    _assert_closed_with(connection, broker, closed, 505, exceptions.UnexpectedFrameError)


def test_method_out_of_sequence_closes_with_503() -> None:
    connection, broker, closed = _opened_with_recorder()
    broker.send(0, spec.Connection.Tune(channel_max=1, frame_max=4096, heartbeat=0))
    _assert_closed_with(connection, broker, closed, 503, exceptions.CommandInvalidError)


def test_truncated_frame_then_eof_reports_stream_lost() -> None:
    connection, broker, closed = _opened_with_recorder()
    broker.send_raw(frame.encode_method_frame(0, spec.Connection.Blocked(reason="x"))[:5])
    assert connection.is_open  # partial input is simply "need more"
    connection.lose_stream(exceptions.StreamLostError("EOF"))
    assert type(closed.last[1]) is exceptions.StreamLostError


# ---------------------------------------------------------------------------------------------
# Channels, callbacks, threads, state machine
# ---------------------------------------------------------------------------------------------


def test_channel_numbers_are_validated() -> None:
    connection, broker = open_connection(channel_max=2)
    with pytest.raises(TypeError):
        connection.channel("1")  # type: ignore[arg-type]
    with pytest.raises(exceptions.InvalidChannelNumber):
        connection.channel(0)
    with pytest.raises(ValueError):
        connection.channel(3)
    broker.open_channel(1)
    with pytest.raises(exceptions.InvalidChannelNumber):
        connection.channel(1)
    second = connection.channel()
    assert second.channel_number == 2
    with pytest.raises(exceptions.NoFreeChannels):
        connection.channel()


def test_channel_requires_open_connection() -> None:
    connection = MemoryConnection()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.channel()


def test_user_callback_exception_is_logged_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    after = Recorder()

    def explode(connection: Connection) -> None:
        raise RuntimeError("user bug")

    connection = MemoryConnection(on_open_callback=explode)
    connection.add_on_open_callback(after)
    broker = ScriptedBroker(connection)
    with caplog.at_level(logging.ERROR):
        broker.handshake()
    assert after.count == 1 and connection.is_open
    assert "user bug" in caplog.text and "Traceback" in caplog.text


def test_update_secret_round_trip() -> None:
    done = Recorder()
    connection, broker = open_connection()
    connection.update_secret("new-token", "rotation", done)
    (method,) = broker.methods()
    assert isinstance(method, spec.Connection.UpdateSecret)
    assert bytes(method.new_secret) == b"new-token" and method.reason == "rotation"
    broker.send(0, spec.Connection.UpdateSecretOk())
    assert isinstance(done.last[0].method, spec.Connection.UpdateSecretOk)


def test_add_callback_threadsafe_runs_on_loop_and_refuses_when_closed() -> None:
    ran = Recorder()
    connection, broker = open_connection()
    connection.add_callback_threadsafe(ran)
    assert ran.count == 0
    connection.clock.advance(0)
    assert ran.count == 1
    with pytest.raises(TypeError):
        connection.add_callback_threadsafe("not callable")  # type: ignore[arg-type]
    connection.close()
    broker.send(0, spec.Connection.CloseOk())
    connection.clock.advance(0)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.add_callback_threadsafe(ran)


def test_constructor_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        MemoryConnection(parameters="amqp://localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemoryConnection(on_open_callback=42)
    with pytest.raises(TypeError):
        MemoryConnection(internal_connection_workflow="yes")  # type: ignore[arg-type]


def test_callbacks_must_be_callable() -> None:
    connection = MemoryConnection()
    for adder in (
        connection.add_on_open_callback,
        connection.add_on_close_callback,
        connection.add_on_open_error_callback,
        connection.add_on_connection_blocked_callback,
        connection.add_on_connection_unblocked_callback,
        connection.add_backpressure_callback,
    ):
        with pytest.raises(TypeError):
            adder(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# create_connection workflow
# ---------------------------------------------------------------------------------------------


def test_create_connection_tries_each_config_and_reports_every_cause() -> None:
    clock = MemoryConnection().clock
    results: list[Any] = []
    made: list[MemoryConnection] = []
    refused = exceptions.TCPConnectionRefusedError("refused")

    class Failing(MemoryConnection):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(connect_error=refused, **kwargs)
            made.append(self)

    configs = [
        ConnectionParameters(port=1),
        ConnectionParameters(port=2, connection_attempts=2, retry_delay=1.0),
    ]
    Failing.create_connection(configs, results.append, custom_ioloop=clock)
    clock.advance(0)
    assert [c.params.port for c in made] == [1, 2]
    clock.advance(1.0)
    clock.advance(0)
    assert [c.params.port for c in made] == [1, 2, 1, 2]
    (result,) = results
    assert isinstance(result, exceptions.AMQPConnectionWorkflowFailed)
    assert list(result.exceptions) == [refused] * 4


def test_create_connection_returns_first_open_connection() -> None:
    clock = MemoryConnection().clock
    results: list[Any] = []
    made: list[MemoryConnection] = []
    refused = exceptions.TCPConnectionRefusedError("refused")

    class Picky(MemoryConnection):
        def __init__(self, **kwargs: Any) -> None:
            port = kwargs["parameters"].port
            super().__init__(connect_error=refused if port == 1 else None, **kwargs)
            made.append(self)

    configs = [ConnectionParameters(port=1), ConnectionParameters(port=2)]
    Picky.create_connection(configs, results.append, custom_ioloop=clock)
    clock.advance(0)
    assert results == [] and [c.params.port for c in made] == [1, 2]
    second = made[1]
    assert second.state is ConnectionState.PROTOCOL
    broker = ScriptedBroker(second)
    broker.start()
    broker.tune()
    broker.open_ok()
    assert results == [second] and second.is_open


def test_create_connection_moves_past_a_constructor_that_raises() -> None:
    """pika's workflow: a connection class whose constructor raises for one parameter set
    fails that attempt (reported from the loop, not out of create_connection) and the next
    set is tried; the exception is among the workflow's causes when everything fails."""
    clock = MemoryConnection().clock
    results: list[Any] = []
    made: list[MemoryConnection] = []
    bad = ValueError("no such port")

    class Picky(MemoryConnection):
        def __init__(self, **kwargs: Any) -> None:
            if kwargs["parameters"].port == 1:
                raise bad
            super().__init__(**kwargs)
            made.append(self)

    configs = [ConnectionParameters(port=1), ConnectionParameters(port=2)]
    Picky.create_connection(configs, results.append, custom_ioloop=clock)
    assert made == [] and results == []  # nothing happens inside create_connection
    clock.advance(0)
    assert [c.params.port for c in made] == [2]
    broker = ScriptedBroker(made[0])
    broker.start()
    broker.tune()
    broker.open_ok()
    assert results == [made[0]] and made[0].is_open

    # Every constructor raises: connection_attempts cycles of the LAST set, retry_delay apart.
    results.clear()
    calls: list[tuple[int, float]] = []

    class Never(MemoryConnection):
        def __init__(self, **kwargs: Any) -> None:
            calls.append((kwargs["parameters"].port, clock.now))
            raise bad

    configs = [ConnectionParameters(port=1, connection_attempts=5, retry_delay=9.0),
               ConnectionParameters(port=2, connection_attempts=2, retry_delay=3.0)]
    start = clock.now
    Never.create_connection(configs, results.append, custom_ioloop=clock)
    clock.advance(10.0)
    assert [(port, when - start) for port, when in calls] == [(1, 0), (2, 0), (1, 3.0), (2, 3.0)]
    (result,) = results
    assert isinstance(result, exceptions.AMQPConnectionWorkflowFailed)
    assert list(result.exceptions) == [bad] * 4


def test_create_connection_abort_while_a_constructor_failure_is_pending() -> None:
    clock = MemoryConnection().clock
    results: list[Any] = []

    class Never(MemoryConnection):
        def __init__(self, **kwargs: Any) -> None:
            raise ValueError("never")

    workflow = Never.create_connection([ConnectionParameters()], results.append,
                                       custom_ioloop=clock)
    workflow.abort()
    clock.advance(0)
    assert len(results) == 1
    assert isinstance(results[0], exceptions.AMQPConnectionWorkflowAborted)


def test_create_connection_abort() -> None:
    clock = MemoryConnection().clock
    results: list[Any] = []
    workflow = MemoryConnection.create_connection(
        [ConnectionParameters()], results.append, custom_ioloop=clock
    )
    workflow.abort()
    clock.advance(0)
    assert len(results) == 1
    assert isinstance(results[0], exceptions.AMQPConnectionWorkflowAborted)


def test_valid_frames_before_a_malformed_one_are_still_acted_on() -> None:
    """Broker acks that arrived in the same read as a broken frame reach the confirm callback
    before the connection closes with 501: nothing the broker did say is dropped."""
    confirms: list[Any] = []
    connection, broker, closed = _opened_with_recorder()
    channel = broker.open_channel(1)
    channel.confirm_delivery(confirms.append, callback=lambda f: None)
    broker.send(1, spec.Confirm.SelectOk())
    channel.basic_publish("", "q", b"m")
    ack = frame.encode_method_frame(1, spec.Basic.Ack(delivery_tag=1, multiple=False))
    broken = frame.encode_method_frame(0, spec.Connection.Blocked(reason="x"))[:-1] + b"\x00"
    broker.send_raw(ack + broken)
    assert [f.method.delivery_tag for f in confirms] == [1]
    _assert_closed_with(connection, broker, closed, 501, exceptions.InvalidFrameError)


@pytest.mark.parametrize(
    "code, text, kind",
    [(70000, "bye", ValueError), (-1, "bye", ValueError), (200, "x" * 256, ValueError)],
)
def test_close_refuses_unencodable_reply_before_changing_state(
    code: int, text: str, kind: type
) -> None:
    connection, broker = open_connection()
    broker.open_channel(1)
    with pytest.raises(kind):
        connection.close(code, text)
    assert connection.is_open and broker.methods() == []  # nothing sent, nothing changed
    connection.close(200, "fine")
    assert isinstance(broker.methods()[0], spec.Channel.Close)


@pytest.mark.parametrize("returned", [70000, -1, "60", None])
def test_bad_heartbeat_callable_answer_fails_the_open_without_retry(returned: Any) -> None:
    errors = Recorder()
    connection = MemoryConnection(
        ConnectionParameters(heartbeat=lambda c, s: returned, connection_attempts=3),
        on_open_error_callback=errors,
    )
    broker = ScriptedBroker(connection)
    broker.connect()
    broker.start()
    broker.tune(heartbeat=60)
    connection.clock.advance(10)
    assert connection.connect_calls == 1 and connection.is_closed
    ((_, error),) = errors.calls
    assert isinstance(error, (TypeError, ValueError)) and "heartbeat callable" in str(error)


def test_protocol_error_text_quoting_undecodable_broker_bytes_still_closes_cleanly() -> None:
    """A malformed frame whose error message quotes a surrogate-escaped broker string still
    produces a valid Connection.Close (reply text made shortstr-safe), never an escape."""
    from amqpbase.protocol.connection_machine import short_text

    text = short_text("bad key '\udcff\udcfe' " + "x" * 400)
    assert len(text.encode("utf-8")) <= 255 and "\\udcff" in text
    connection, broker, closed = _opened_with_recorder()
    broker.send(5, spec.Basic.Ack(delivery_tag=1, multiple=False))
    _assert_closed_with(connection, broker, closed, 504, exceptions.ChannelNotOpenError)
