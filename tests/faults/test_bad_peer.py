"""Bad input from the peer (issue 6): a scripted AMQP peer on loopback replaces the broker.

Every case runs on select, Tornado and Twisted (the ``driver`` fixture). The peer
(:mod:`scripted_peer`) performs a real handshake with amqpbase's codec, opens the channels
the client asks for, then sends one kind of bad input. Each test asserts:

- the reply code of the Connection.Close the CLIENT sent, decoded by the peer (AMQP 0-9-1
  section 4.2.3 and the spec's reply-code constants: 501 FRAME_ERROR for a frame the decoder
  cannot delimit or trust, 503 COMMAND_INVALID for a method out of sequence, 504
  CHANNEL_ERROR for a frame on a channel that is not open, 505 UNEXPECTED_FRAME for content
  frames out of place), or that NO Close was sent where none can be (before Connection.Start
  the peer is not known to speak AMQP 0-9-1; after the peer's EOF there is nobody to tell);
- the exact exception class (and reply code) given to ``on_close`` or ``on_open_error``;
- that the client then closed the socket (the peer saw EOF without closing first);
- that the loop is not hung: the outcome arrives within a short bound and the loop still
  runs a timer afterwards;
- that nothing escaped: no ERROR log record other than amqpbase's one "Protocol error from
  broker" line, no record carrying a traceback (``tornado.application``, ``asyncio``, the
  adapters' "exception while handling received data"), and no Twisted error event.

After a framing error (bad frame end, unknown frame type, oversized frame) the client cannot
find frame boundaries any more, so it could not see the peer's Close-Ok: it sends its Close and
closes the socket at once, without waiting for ``close_timeout``. After any other protocol
error it reads the Close-Ok and closes the socket at once. Either way the test connections
have a long ``close_timeout``, so a prompt EOF proves the client did not wait for its timer.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest
from conformance.conftest import Events
from conformance.drivers import Driver

from amqpbase import exceptions, spec
from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.credentials import PlainCredentials
from amqpbase.parameters import ConnectionParameters

from .scripted_peer import ScriptedPeer, content_frames, method_frame, raw_frame

#: The only ERROR line amqpbase may log in these tests (``_closing.on_protocol_error``), and
#: the open-error default callback's line (removed by our on_open_error, so never expected).
ALLOWED_ERROR = ("amqpbase.connection", "Protocol error from broker")

#: Seconds within which the client must report the outcome; generous for a loaded 2-core
#: CI machine, far below any hang.
PROMPT = 3.0

#: close_timeout of the test connections: long, so a prompt EOF proves the client closed the
#: socket because of the Close-Ok (or, after a framing error, at once), not because of the
#: timer.
LONG_CLOSE_TIMEOUT = 5.0
CLOSE_TIMEOUT = LONG_CLOSE_TIMEOUT


class LoopErrors:
    """Collects what a loop would report as escaped: Python log records at ERROR (any
    logger) and Twisted log events at error level or carrying a failure."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.twisted_events: List[Any] = []

    def observe_twisted(self, event: Any) -> None:
        from twisted.logger import LogLevel

        if event.get("log_failure") is not None or event.get("log_level") in (
                LogLevel.error, LogLevel.critical):
            self.twisted_events.append(event)

    def escaped(self) -> List[str]:
        """Everything that looks like an exception escaping to the loop."""
        gc.collect()  # an unhandled error in a dropped Deferred is logged when collected
        found: List[str] = []
        for record in self.caplog.get_records("call"):
            if record.levelno < logging.ERROR and record.exc_info is None:
                continue
            if (record.name, record.getMessage()[:len(ALLOWED_ERROR[1])]) == ALLOWED_ERROR \
                    and record.exc_info is None:
                continue
            found.append(f"{record.name} {record.levelname}: {record.getMessage()}"
                         + (f" ({record.exc_info[1]!r})" if record.exc_info else ""))
        from twisted.logger import formatEvent

        found.extend(f"twisted: {formatEvent(event)} {event.get('log_failure')!r}"
                     for event in self.twisted_events)
        return found


@pytest.fixture
def loop_errors(caplog: pytest.LogCaptureFixture) -> Iterator[LoopErrors]:
    """A :class:`LoopErrors` recording for the whole test (see the module docstring)."""
    from twisted.logger import globalLogPublisher

    caplog.set_level(logging.WARNING)
    errors = LoopErrors(caplog)
    globalLogPublisher.addObserver(errors.observe_twisted)
    try:
        yield errors
    finally:
        globalLogPublisher.removeObserver(errors.observe_twisted)


class Client:
    """One client connection to a :class:`ScriptedPeer`, with its recorded events."""

    def __init__(self, driver: Driver, peer: ScriptedPeer, close_timeout: float) -> None:
        self.driver = driver
        self.peer = peer
        self.events = Events()
        self.connection: Connection = driver.connect(
            ConnectionParameters(
                host="127.0.0.1", port=peer.port,
                credentials=PlainCredentials("guest", "guest"),
                socket_timeout=1.0, stack_timeout=4.0, connection_attempts=1,
                client_properties={"connection_name": "bad-peer-test"}),
            on_open_callback=self.events.on_open,
            on_open_error_callback=self.events.on_open_error,
            on_close_callback=self.events.on_close,
        )
        self.connection.close_timeout = close_timeout

    def open(self) -> None:
        self.driver.run_until(lambda: self.events.settled, what="the connection to open")
        assert not self.events.open_errors, self.events.open_errors
        assert self.connection.is_open

    def open_channel(self) -> Channel:
        opened: List[Channel] = []
        channel = self.connection.channel(on_open_callback=opened.append)
        self.driver.run_until(lambda: opened, what="Channel.Open-Ok")
        return channel

    def wait_outcome(self, reported: Callable[[], List[BaseException]]) -> BaseException:
        """Run until exactly one error is reported; check promptness and that the peer saw
        the client close the socket; return the error."""
        start = time.monotonic()
        self.driver.run_until(lambda: reported(), PROMPT, what="the error to be reported")
        elapsed = time.monotonic() - start
        assert elapsed < PROMPT, elapsed
        self.driver.run_until(self.peer.done.is_set, PROMPT, what="the peer to see EOF")
        self.peer.check()
        assert self.peer.client_eof, "the client did not close the socket"
        assert self.connection.is_closed
        # Still exactly one report, and the loop is alive: a fresh timer runs.
        ticked: List[bool] = []
        self.driver.call_later(0, lambda: ticked.append(True))
        self.driver.run_until(lambda: ticked, 1.0, what="a timer after the error")
        (error,) = reported()
        return error


def closed_on_close_ok(peer: ScriptedPeer) -> bool:
    """The client closed the socket soon after its Close was answered (well before
    :data:`LONG_CLOSE_TIMEOUT`)."""
    assert peer.close_seen_at is not None and peer.eof_at is not None
    return peer.eof_at - peer.close_seen_at < LONG_CLOSE_TIMEOUT / 2


def closed_right_after_its_close(peer: ScriptedPeer) -> bool:
    """After a framing error: the client closed the socket by itself right after sending its
    Close (it cannot read the Close-Ok in a desynchronised stream, and does not wait
    :data:`LONG_CLOSE_TIMEOUT` for one)."""
    assert peer.close_seen_at is not None and peer.eof_at is not None
    return peer.eof_at - peer.close_seen_at < LONG_CLOSE_TIMEOUT / 2


def sent_close_code(peer: ScriptedPeer) -> Optional[int]:
    """The reply code of the client's Connection.Close, None if it sent none; fails if it
    sent two."""
    closes = peer.closes
    assert len(closes) <= 1, closes
    return int(closes[0].reply_code) if closes else None


def run_open_case(driver: Driver, loop_errors: LoopErrors,
                  script: Callable[[ScriptedPeer], None]) -> Tuple[BaseException, ScriptedPeer]:
    """A peer that misbehaves during the handshake: returns the single open error."""
    peer = ScriptedPeer(script)
    try:
        client = Client(driver, peer, CLOSE_TIMEOUT)
        error = client.wait_outcome(lambda: client.events.open_errors)
        assert client.events.opened == [] and client.events.closed == []
    finally:
        peer.close()
    assert peer.protocol_header == b"AMQP\x00\x00\x09\x01"
    assert loop_errors.escaped() == []
    return error, peer


def run_open_then(driver: Driver, loop_errors: LoopErrors, channels: int,
                  bad: Callable[[ScriptedPeer, List[int]], None],
                  close_timeout: float = CLOSE_TIMEOUT, frame_max: int = 131072
                  ) -> Tuple[BaseException, ScriptedPeer, Client]:
    """Handshake, open ``channels`` channels, then ``bad(peer, channel_numbers)``; returns
    the single error given to on_close."""

    def script(peer: ScriptedPeer) -> None:
        peer.handshake(frame_max=frame_max)
        numbers = [peer.open_channel() for _ in range(channels)]
        bad(peer, numbers)

    peer = ScriptedPeer(script)
    try:
        client = Client(driver, peer, close_timeout)
        client.open()
        for _ in range(channels):
            client.open_channel()
        error = client.wait_outcome(lambda: client.events.closed)
        assert client.events.open_errors == []
    finally:
        peer.close()
    assert loop_errors.escaped() == []
    return error, peer, client


def deliver(tag: int = 1) -> Any:
    return spec.Basic.Deliver(consumer_tag="ctag", delivery_tag=tag, redelivered=False,
                              exchange="", routing_key="q")


# --------------------------------------------------------------------------------------------
# During the handshake: no Close can be sent before Connection.Start proved an AMQP 0-9-1 peer
# --------------------------------------------------------------------------------------------


@pytest.mark.allow_error_logs  # amqpbase logs the protocol error at ERROR
def test_garbage_instead_of_protocol_header_reply(driver: Driver,
                                                  loop_errors: LoopErrors) -> None:
    """An HTTP answer to our protocol header: ``IncompatibleProtocolError`` (a connection
    error) to on_open_error, the codec's ``InvalidFrameError`` (501) as its cause; no
    Connection.Close (the peer never showed it speaks AMQP); the client drops the socket."""
    error, peer = run_open_case(driver, loop_errors, lambda peer: peer.send_raw(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    assert type(error) is exceptions.IncompatibleProtocolError, repr(error)
    assert isinstance(error.__cause__, exceptions.InvalidFrameError)
    assert error.__cause__.reply_code == 501
    assert sent_close_code(peer) is None and peer.frames == []


@pytest.mark.parametrize("answer", ["protocol-header-0-8", "header-then-more", "start-0-8"])
def test_wrong_protocol_version(driver: Driver, loop_errors: LoopErrors, answer: str) -> None:
    """The peer refuses 0-9-1 with its own ``AMQP 0-8`` protocol header (AMQP 0-9-1 4.2.2),
    maybe followed at once by more bytes (a 0-9-1 Connection.Start, which the client must
    ignore: it is hanging up, and a Close would be a protocol error of its own), or sends a
    Connection.Start offering version 0-8: ``IncompatibleProtocolError`` to on_open_error,
    no Connection.Close, the client closes the socket."""
    start = spec.Connection.Start(version_major=0, version_minor=9, server_properties={},
                                  mechanisms=b"PLAIN", locales=b"en_US")

    def script(peer: ScriptedPeer) -> None:
        if answer == "protocol-header-0-8":
            peer.send_raw(b"AMQP\x01\x01\x08\x00")
        elif answer == "header-then-more":
            peer.send_raw(b"AMQP\x01\x01\x08\x00" + method_frame(0, start))
        else:
            peer.send(0, spec.Connection.Start(version_major=0, version_minor=8,
                                               server_properties={}, mechanisms=b"PLAIN",
                                               locales=b"en_US"))

    error, peer = run_open_case(driver, loop_errors, script)
    assert type(error) is exceptions.IncompatibleProtocolError, repr(error)
    assert sent_close_code(peer) is None and peer.frames == []


@pytest.mark.allow_error_logs
def test_bad_frame_end_before_start(driver: Driver, loop_errors: LoopErrors) -> None:
    """A Connection.Start whose frame end octet is not 0xCE: ``InvalidFrameError`` (501) to
    on_open_error, no Close (Start was never accepted), the socket closed."""
    start = method_frame(0, spec.Connection.Start(server_properties={}, mechanisms=b"PLAIN",
                                                  locales=b"en_US"))
    error, peer = run_open_case(driver, loop_errors,
                                lambda peer: peer.send_raw(start[:-1] + b"\x00"))
    assert type(error) is exceptions.InvalidFrameError and error.reply_code == 501
    assert sent_close_code(peer) is None and peer.frames == []


@pytest.mark.allow_error_logs
def test_bad_frame_end_instead_of_open_ok(driver: Driver, loop_errors: LoopErrors) -> None:
    """After Tune, a malformed frame instead of Connection.Open-Ok: the peer has spoken
    AMQP 0-9-1, so the client sends Connection.Close 501 before dropping the socket; the
    open fails with ``InvalidFrameError`` (501)."""

    def script(peer: ScriptedPeer) -> None:
        peer.send(0, spec.Connection.Start(server_properties={}, mechanisms=b"PLAIN",
                                           locales=b"en_US"))
        peer.expect(spec.Connection.StartOk)
        peer.send(0, spec.Connection.Tune(channel_max=0, frame_max=131072, heartbeat=0))
        peer.expect(spec.Connection.TuneOk)
        peer.expect(spec.Connection.Open)
        peer.send_raw(method_frame(0, spec.Connection.OpenOk())[:-1] + b"\x55")

    error, peer = run_open_case(driver, loop_errors, script)
    assert type(error) is exceptions.InvalidFrameError and error.reply_code == 501
    assert sent_close_code(peer) == spec.FRAME_ERROR == 501
    assert closed_right_after_its_close(peer)


# --------------------------------------------------------------------------------------------
# On an open connection: Connection.Close with the error's reply code, then the socket closed
# --------------------------------------------------------------------------------------------


@pytest.mark.allow_error_logs
def test_bad_frame_end(driver: Driver, loop_errors: LoopErrors) -> None:
    """A method frame whose end octet is 0x00: Close 501, ``InvalidFrameError`` (501) to
    on_close, and the frames after it (a valid Basic.Ack) are not acted on."""

    def bad(peer: ScriptedPeer, numbers: List[int]) -> None:
        ack = method_frame(numbers[0], spec.Basic.Ack(delivery_tag=1))
        peer.send_raw(ack[:-1] + b"\x00" + ack)

    error, peer, _ = run_open_then(driver, loop_errors, 1, bad)
    assert type(error) is exceptions.InvalidFrameError and error.reply_code == 501
    assert sent_close_code(peer) == spec.FRAME_ERROR
    assert closed_right_after_its_close(peer)


@pytest.mark.allow_error_logs
def test_unknown_frame_type(driver: Driver, loop_errors: LoopErrors) -> None:
    """A frame of type 9 (AMQP 0-9-1 defines 1, 2, 3 and 8): Close 501, ``InvalidFrameError``."""
    error, peer, _ = run_open_then(driver, loop_errors, 1,
                                   lambda peer, _n: peer.send_raw(raw_frame(9, 0, b"")))
    assert type(error) is exceptions.InvalidFrameError and error.reply_code == 501
    assert sent_close_code(peer) == spec.FRAME_ERROR
    assert closed_right_after_its_close(peer)


@pytest.mark.allow_error_logs
def test_frame_larger_than_frame_max(driver: Driver, loop_errors: LoopErrors) -> None:
    """frame_max negotiated to 4096, then the start of a 5008-byte body frame (its 7-byte
    header and 100 payload bytes, no more): refused from the header, without waiting for the
    rest: Close 501, ``InvalidFrameError`` (501)."""

    def bad(peer: ScriptedPeer, numbers: List[int]) -> None:
        peer.send_raw(raw_frame(spec.FRAME_BODY, numbers[0], b"x" * 5000)[:107])

    error, peer, client = run_open_then(driver, loop_errors, 1, bad, frame_max=4096)
    assert type(error) is exceptions.InvalidFrameError and error.reply_code == 501
    assert "exceeds frame_max 4096" in str(error)
    assert sent_close_code(peer) == spec.FRAME_ERROR
    assert closed_right_after_its_close(peer)


@pytest.mark.allow_error_logs
def test_content_header_on_the_wrong_channel(driver: Driver, loop_errors: LoopErrors) -> None:
    """Basic.Deliver on channel 1, its content header on (open) channel 2: a content header
    without a content method (AMQP 0-9-1 4.2.6): Close 505, ``UnexpectedFrameError`` (505)."""

    def bad(peer: ScriptedPeer, numbers: List[int]) -> None:
        method, header, body = content_frames(numbers[0], deliver(), spec.BasicProperties(),
                                              b"hello")
        moved = header[:1] + numbers[1].to_bytes(2, "big") + header[3:]
        peer.send_raw(method + moved + body)

    error, peer, _ = run_open_then(driver, loop_errors, 2, bad, LONG_CLOSE_TIMEOUT)
    assert type(error) is exceptions.UnexpectedFrameError and error.reply_code == 505
    assert sent_close_code(peer) == spec.UNEXPECTED_FRAME
    assert closed_on_close_ok(peer)


@pytest.mark.allow_error_logs
def test_content_header_on_channel_zero(driver: Driver, loop_errors: LoopErrors) -> None:
    """A content header on channel 0 (content belongs on a channel): Close 505,
    ``UnexpectedFrameError`` (505)."""

    def bad(peer: ScriptedPeer, numbers: List[int]) -> None:
        _, header, _ = content_frames(numbers[0], deliver(), spec.BasicProperties(), b"x")
        peer.send_raw(header[:1] + b"\x00\x00" + header[3:])

    error, peer, _ = run_open_then(driver, loop_errors, 1, bad, LONG_CLOSE_TIMEOUT)
    assert type(error) is exceptions.UnexpectedFrameError and error.reply_code == 505
    assert sent_close_code(peer) == spec.UNEXPECTED_FRAME
    assert closed_on_close_ok(peer)


@pytest.mark.allow_error_logs
@pytest.mark.parametrize("split", [False, True], ids=["one-frame", "two-frames"])
def test_body_longer_than_announced(driver: Driver, loop_errors: LoopErrors,
                                    split: bool) -> None:
    """A content header announcing 5 octets, then 10 octets of body (in one frame, or in
    two frames of 4 and 6): Close 505, ``BodyTooLongError`` (505); the delivery is not
    given to the consumer."""
    got: List[Any] = []

    def bad(peer: ScriptedPeer, numbers: List[int]) -> None:
        peer.expect(spec.Basic.Consume)
        peer.send(numbers[0], spec.Basic.ConsumeOk(consumer_tag="ctag"))
        method, header, _ = content_frames(numbers[0], deliver(), spec.BasicProperties(),
                                           b"12345")
        if split:
            body = (raw_frame(spec.FRAME_BODY, numbers[0], b"1234")
                    + raw_frame(spec.FRAME_BODY, numbers[0], b"567890"))
        else:
            body = raw_frame(spec.FRAME_BODY, numbers[0], b"1234567890")
        peer.send_raw(method + header + body)

    def script(peer: ScriptedPeer) -> None:
        peer.handshake()
        bad(peer, [peer.open_channel()])

    peer = ScriptedPeer(script)
    try:
        client = Client(driver, peer, LONG_CLOSE_TIMEOUT)
        client.open()
        channel = client.open_channel()
        channel.basic_consume("q", lambda *args: got.append(args), consumer_tag="ctag")
        error = client.wait_outcome(lambda: client.events.closed)
    finally:
        peer.close()
    assert loop_errors.escaped() == []
    assert type(error) is exceptions.BodyTooLongError and error.reply_code == 505
    assert sent_close_code(peer) == spec.UNEXPECTED_FRAME
    assert closed_on_close_ok(peer)
    assert got == []


@pytest.mark.allow_error_logs
def test_method_for_a_channel_that_is_not_open(driver: Driver,
                                               loop_errors: LoopErrors) -> None:
    """A Basic.Ack on channel 7, never opened: Close 504 CHANNEL_ERROR,
    ``ChannelNotOpenError`` (504); the open channel 1 learns the same reason."""
    closed: List[BaseException] = []

    def script(peer: ScriptedPeer) -> None:
        peer.handshake()
        peer.open_channel()
        peer.send(7, spec.Basic.Ack(delivery_tag=1))

    peer = ScriptedPeer(script)
    try:
        client = Client(driver, peer, LONG_CLOSE_TIMEOUT)
        client.open()
        channel = client.open_channel()
        channel.add_on_close_callback(lambda _channel, reason: closed.append(reason))
        error = client.wait_outcome(lambda: client.events.closed)
    finally:
        peer.close()
    assert loop_errors.escaped() == []
    assert type(error) is exceptions.ChannelNotOpenError and error.reply_code == 504
    assert sent_close_code(peer) == spec.CHANNEL_ERROR
    assert closed_on_close_ok(peer)
    assert closed == [error]


@pytest.mark.allow_error_logs
def test_method_out_of_sequence(driver: Driver, loop_errors: LoopErrors) -> None:
    """A Connection.Tune on an open connection (a well-formed method the protocol does not
    allow there): Close 503 COMMAND_INVALID, ``CommandInvalidError`` (503)."""
    error, peer, _ = run_open_then(driver, loop_errors, 0, lambda peer, _n: peer.send(
        0, spec.Connection.Tune(channel_max=0, frame_max=131072, heartbeat=0)),
        LONG_CLOSE_TIMEOUT)
    assert type(error) is exceptions.CommandInvalidError and error.reply_code == 503
    assert sent_close_code(peer) == spec.COMMAND_INVALID
    assert closed_on_close_ok(peer)


def test_truncated_frame_then_eof(driver: Driver, loop_errors: LoopErrors) -> None:
    """The first 9 bytes of a Basic.Ack frame, then the peer ends the stream: on_close gets
    ``StreamLostError`` (not a protocol error: a partial frame is just "more to come") and
    no Close is sent (the peer is gone)."""

    def bad(peer: ScriptedPeer, numbers: List[int]) -> None:
        peer.send_raw(method_frame(numbers[0], spec.Basic.Ack(delivery_tag=1))[:9])
        peer.shutdown_write()

    error, peer, _ = run_open_then(driver, loop_errors, 1, bad)
    assert type(error) is exceptions.StreamLostError, repr(error)
    assert sent_close_code(peer) is None


# --------------------------------------------------------------------------------------------
# Input that looks bad but is what RabbitMQ really sends
# --------------------------------------------------------------------------------------------


def test_frames_after_a_broker_channel_close_are_discarded(driver: Driver,
                                                          loop_errors: LoopErrors) -> None:
    """RabbitMQ keeps sending what was in flight on a channel after its own Channel.Close
    (seen in a real capture: a 406 on a publish, then the deliveries already routed to the
    channel's consumer). The client answers Close-Ok and discards those frames, also while
    the number is being reopened (until Channel.Open-Ok); the connection stays open. A
    ``ChannelNotOpenError`` (504) there would kill every other channel of the connection."""
    stale = b"".join(content_frames(1, deliver(), spec.BasicProperties(), b"in flight"))
    stale += method_frame(1, spec.Basic.Ack(delivery_tag=1))

    def script(peer: ScriptedPeer) -> None:
        peer.handshake()
        peer.open_channel()
        peer.send_raw(method_frame(1, spec.Channel.Close(
            reply_code=406, reply_text="PRECONDITION_FAILED - test", class_id=60,
            method_id=40)) + stale)
        peer.expect(spec.Channel.CloseOk)
        peer.expect(spec.Channel.Open)  # the client reopens number 1
        peer.send_raw(stale)  # still in flight, before Open-Ok
        peer.send(1, spec.Channel.OpenOk())
        peer.expect(spec.Basic.Qos)
        peer.send(1, spec.Basic.QosOk())

    peer = ScriptedPeer(script)
    try:
        client = Client(driver, peer, LONG_CLOSE_TIMEOUT)
        client.open()
        closed: List[BaseException] = []
        first = client.open_channel()
        first.add_on_close_callback(lambda _channel, reason: closed.append(reason))
        driver.run_until(lambda: closed, what="the broker's Channel.Close")
        assert [type(r) for r in closed] == [exceptions.ChannelClosedByBroker]
        reopened = client.open_channel()
        assert reopened.channel_number == 1
        qos: List[Any] = []
        reopened.basic_qos(prefetch_count=1, callback=qos.append)
        driver.run_until(lambda: qos or client.events.closed, what="Basic.Qos-Ok")
        assert client.events.closed == [] and client.connection.is_open
        client.connection.close()
        error = client.wait_outcome(lambda: client.events.closed)
    finally:
        peer.close()
    assert loop_errors.escaped() == []
    assert type(error) is exceptions.ConnectionClosedByClient
    assert sent_close_code(peer) == 200
    assert closed_on_close_ok(peer)
