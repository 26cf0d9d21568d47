"""The AMQP 0-9-1 connection as a sans-I/O state machine (in the h11/h2 sense).

Owns ALL connection protocol state: the :class:`ConnectionState`, every flag (stream up,
close sent, input discarded, client close under way, ...), the negotiated values
(channel_max, frame_max, heartbeat), the broker's properties and capabilities, the close
reason (the first recorded cause wins), the closing and stale channel numbers, the attempts
left, the armed timers and the stream incarnation. Inputs are methods: channel-0 frames
(:meth:`ConnectionMachine.receive_frame`), stream events, timer expiries and API requests.
Each returns the list of :mod:`~amqpbase.protocol.connection_actions` for the facade to
apply. One table, :data:`TABLE`, maps every (state, :class:`Input`) pair to its outcome: a
handler, ``IGNORE``, ``REFUSE`` (``ConnectionWrongStateError`` for an API call in the wrong
state), ``COMMAND_INVALID`` (503) or ``UNEXPECTED_FRAME`` (505) for a broker frame out of
place. A frame that breaks the protocol raises its ``ProtocolSyntaxError`` having changed
nothing (as a channel's ``on_inbound`` does); the facade hands it to :meth:`protocol_error`,
the one place the protocol-error policy is written.

The handshake's answers (SASL mechanism, the TuneOk values, a heartbeat callable's answer
checked) are :mod:`~.negotiation`'s pure functions; the handlers here keep the state changes.

Stream events and timer expiries carry the incarnation (one per stream) they were started
for; stale ones are ignored, so the same machine can run a new stream after the old one died.

Must not: do I/O, read a clock, call callbacks, hooks or user code, or see the data plane
(channel frames go from the facade straight to their channel).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Protocol, Set, Tuple

from amqpbase import exceptions, spec
from amqpbase.amqp_object import Method
from amqpbase.parameters import Parameters, build_client_properties
from amqpbase.protocol.connection_actions import (
    Action,
    Blocked,
    CancelTimer,
    ChooseHeartbeat,
    CloseChannels,
    Closed,
    ConnectStream,
    DisconnectStream,
    Negotiated,
    Opened,
    OpenFailed,
    SecretUpdated,
    Send,
    StartTimer,
    Timer,
    Unblocked,
)
from amqpbase.protocol.connection_table import (
    AFTER_CLOSE,
    CAN_SEND_CLOSE,
    COMMAND_INVALID,
    IGNORE,
    REFUSE,
    TABLE,
    TIMER_INPUTS,
    UNEXPECTED_FRAME,
    ConnectionState,
    Input,
)
from amqpbase.protocol.heartbeat import HeartbeatMonitor, Tick
from amqpbase.protocol.negotiation import (
    HeartbeatAnswer,
    checked_heartbeat,
    sasl_answer,
    short_text,
    tune_channel_max,
    tune_frame_max,
    tune_heartbeat,
)
from amqpbase.wire import encode, formats, frames

_S = ConnectionState
_I = Input

LOGGER = logging.getLogger("amqpbase.connection")


_METHOD_INPUTS: Dict[type, Input] = {
    spec.Connection.Start: _I.START_METHOD,
    spec.Connection.Secure: _I.SECURE_METHOD,
    spec.Connection.Tune: _I.TUNE_METHOD,
    spec.Connection.OpenOk: _I.OPEN_OK_METHOD,
    spec.Connection.Close: _I.CLOSE_METHOD,
    spec.Connection.CloseOk: _I.CLOSE_OK_METHOD,
    spec.Connection.Blocked: _I.BLOCKED_METHOD,
    spec.Connection.Unblocked: _I.UNBLOCKED_METHOD,
    spec.Connection.UpdateSecretOk: _I.UPDATE_SECRET_OK_METHOD,
}

#: Handshake phases, with the broker method the client is waiting for in each.
WAITING_FOR = {_S.PROTOCOL: "Connection.Start", _S.START: "Connection.Tune",
               _S.TUNE: "Connection.OpenOk"}

#: Failures that end the connect workflow at once: retrying cannot change the broker's answer.
DEFINITIVE_OPEN_ERRORS = (
    exceptions.ProbableAuthenticationError,
    exceptions.ProbableAccessDeniedError,
    exceptions.AuthenticationError,
    exceptions.IncompatibleProtocolError,
    exceptions.ConnectionOpenAborted,
    exceptions.ProtocolSyntaxError,
    exceptions.MethodNotImplemented,
    # a user heartbeat callable that raised or answered nonsense: a bug, not bad luck
    TypeError,
    ValueError,
)

_REFUSALS: Dict[Input, str] = {
    _I.START: "connection already started",
    _I.RECOVER: "recover() needs a closed connection; connection is {state}",
    _I.CLOSE: "close() called on a connection that is {state}",
    _I.CHANNELS_CLOSING: "channels_closing() without a close() under way ({state})",
    _I.REQUEST_CHANNEL: "channel() needs an open connection; connection is {state}",
    _I.UPDATE_SECRET: "update_secret() needs an open connection",
    _I.HEARTBEAT_CHOSEN: "heartbeat_chosen() without a Connection.Tune awaiting it ({state})",
}

Actions = List[Action]


class TrafficCounts(Protocol):
    """Running totals the I/O side keeps (per publish and per read, so never machine
    inputs); the machine only reads them, for heartbeat idle detection."""

    bytes_sent: int
    bytes_received: int


class Traffic:
    """A plain :class:`TrafficCounts`, for a machine driven without a facade (tests)."""

    __slots__ = ("bytes_sent", "bytes_received")

    def __init__(self) -> None:
        self.bytes_sent = 0
        self.bytes_received = 0


def _method_bytes(method: Method) -> Send:
    return Send(encode.encode_method_frame(0, method), 1, method.NAME)


class ConnectionMachine:
    """One connection's protocol state. Public attributes are read-only for everyone else.

    ``internal_workflow``: the connection retries ``connection_attempts`` times by itself
    (else one attempt per :meth:`start`, for ``create_connection``). ``traffic``: the byte
    totals the I/O side counts (read at Connection.Tune and at each heartbeat tick).
    """

    def __init__(
        self, params: Parameters, internal_workflow: bool,
        traffic: Optional[TrafficCounts] = None,
    ) -> None:
        self.params = params
        self.traffic: TrafficCounts = traffic if traffic is not None else Traffic()
        self.internal_workflow = internal_workflow
        self.state = ConnectionState.CLOSED
        #: +1 per stream; stream events and timers of another incarnation are stale.
        self.incarnation = 0
        self.attempts_left = params.connection_attempts
        self.has_started = False  # start() accepted once (a Connection opens one life)
        # per stream
        self.stream_requested = False  # ConnectStream issued, termination not yet seen
        self.stream_up = False
        self.ever_opened = False  # reached OPEN on this stream
        self.close_sent = False  # our Connection.Close (or CloseOk) is out: 2.2.4 applies
        self.discard_input = False  # stream desynchronised or being dropped: parse nothing
        self.close_reason: Optional[BaseException] = None
        self.client_close_args: Optional[Tuple[int, str]] = None
        self.closing_channels: Set[int] = set()
        #: Numbers of channels the broker closed whose in-flight frames may still arrive
        #: (RabbitMQ keeps sending what was in flight): dropped until the next Channel.OpenOk.
        self.stale_channels: Set[int] = set()
        self.pending_secret_updates = 0
        # negotiated / learned
        self.server_properties: Dict[str, Any] = {}
        self.server_capabilities: Dict[str, Any] = {}
        self.known_hosts = ""
        self.channel_max = 0
        self.frame_max = params.frame_max
        self.heartbeat = 0
        self.heartbeat_monitor: Optional[HeartbeatMonitor] = None
        self._tune: Optional[Tuple[int, int, int]] = None  # awaiting ChooseHeartbeat's answer
        self._close_timeout = 0.0
        #: Armed timers -> the incarnation they were armed in.
        self.armed: Dict[Timer, int] = {}

    # ----------------------------------------------------------------------------------------
    # Inputs
    # ----------------------------------------------------------------------------------------

    def start(self) -> Actions:
        """Begin opening: the internal workflow's first attempt from the loop (a 0 s retry
        timer), or, for ``create_connection``, one attempt now."""
        return self._step(_I.START)

    def recover(self, params: Parameters) -> Actions:
        """Automatic recovery: one open attempt on a new stream (a new incarnation) to
        ``params``, for a connection that is CLOSED (it was open, or a recovery attempt
        failed). The outcome is ``Opened`` or ``OpenFailed`` as for ``create_connection``'s
        attempts; the facade decides what comes next."""
        return self._step(_I.RECOVER, params)

    def close(self, reply_code: int, reply_text: str, close_timeout: float) -> Actions:
        """The user's ``close()``: on an OPEN connection, close channels first
        (``CloseChannels``, then :meth:`channels_closing`); while opening, abort the open."""
        return self._step(_I.CLOSE, reply_code, reply_text, close_timeout)

    def channels_closing(self, numbers: Iterable[int]) -> Actions:
        """After ``CloseChannels``: these channel numbers are still closing."""
        return self._step(_I.CHANNELS_CLOSING, frozenset(numbers))

    def channel_closed(self, number: int, closed_by_broker: bool) -> Actions:
        """A channel reached CLOSED (after Channel.CloseOk or the broker's Channel.Close)."""
        return self._step(_I.CHANNEL_CLOSED, number, closed_by_broker)

    def request_channel(self) -> Actions:
        """May a channel be opened now? Raises ``ConnectionWrongStateError`` if not."""
        return self._step(_I.REQUEST_CHANNEL)

    def update_secret(self, new_secret: bytes, reason: str) -> Actions:
        """Send Connection.UpdateSecret (RabbitMQ token rotation)."""
        return self._step(_I.UPDATE_SECRET, new_secret, reason)

    def heartbeat_chosen(self, answer: HeartbeatAnswer) -> Actions:
        """The user's heartbeat callable answered ``ChooseHeartbeat`` (or raised ``answer``)."""
        return self._step(_I.HEARTBEAT_CHOSEN, answer)

    def protocol_error(
        self, error: BaseException, desynchronised: bool, close_timeout: float
    ) -> Actions:
        """The broker broke the protocol (``error`` has the AMQP ``reply_code``);
        ``desynchronised``: the stream cannot be parsed any further (a framing error)."""
        return self._step(_I.PROTOCOL_ERROR, error, desynchronised, close_timeout)

    def stream_connected(self, incarnation: int) -> Actions:
        if not self._current(incarnation):
            return []
        return self._step(_I.STREAM_CONNECTED)

    def stream_terminated(self, incarnation: int, error: Optional[BaseException]) -> Actions:
        """The stream is gone (``error`` None after our own disconnect). A repeat, or the
        termination of an older stream, is ignored."""
        if not self._current(incarnation) or not self.stream_requested:
            LOGGER.debug("Ignoring a stale or repeated stream termination (%r)", error)
            return []
        return self._step(_I.STREAM_TERMINATED, error)

    def timer_fired(self, timer: Timer, incarnation: int) -> Actions:
        """``timer`` (armed by ``StartTimer`` for ``incarnation``) expired."""
        if self.armed.get(timer) != incarnation:
            return []  # cancelled, re-armed since, or from another incarnation: stale
        del self.armed[timer]
        return self._step(TIMER_INPUTS[timer])

    def receive_frame(self, inbound: Any) -> Actions:
        """A frame on channel 0. Raises the ``ProtocolSyntaxError`` subclass for a frame out
        of place, having changed nothing; pass it to :meth:`protocol_error`."""
        if self.discard_input:
            return []
        if isinstance(inbound, frames.Method):
            event = _METHOD_INPUTS.get(type(inbound.method), _I.OTHER_METHOD)
            if self.close_sent and event not in AFTER_CLOSE:
                return []  # AMQP 0-9-1 2.2.4: after our Close only Close/CloseOk count
        elif isinstance(inbound, frames.Heartbeat):
            event = _I.HEARTBEAT
        elif isinstance(inbound, frames.ProtocolHeader):
            event = _I.PROTOCOL_HEADER
        else:
            event = _I.CONTENT_FRAME
        return self._step(event, inbound)

    def unstale(self, number: int) -> None:
        """A channel number the broker closed is in use again (its Channel.OpenOk is in, or
        it is open): its frames count again."""
        self.stale_channels.discard(number)

    # ----------------------------------------------------------------------------------------
    # The step: table lookup and the non-handler outcomes
    # ----------------------------------------------------------------------------------------

    def _current(self, incarnation: int) -> bool:
        return incarnation == self.incarnation

    def _step(self, event: Input, *args: Any) -> Actions:
        outcome = TABLE[(self.state, event)]
        if outcome == IGNORE:
            return []
        if outcome == REFUSE:
            raise exceptions.ConnectionWrongStateError(
                _REFUSALS[event].format(state=self.state.name)
            )
        if outcome == COMMAND_INVALID:
            raise exceptions.CommandInvalidError(self._invalid_text(event, args[0]))
        if outcome == UNEXPECTED_FRAME:
            if event is _I.PROTOCOL_HEADER:
                raise exceptions.UnexpectedFrameError("protocol header in the middle of the stream")
            raise exceptions.UnexpectedFrameError(
                f"{type(args[0]).__name__} frame on channel 0 (content belongs on a channel)"
            )
        handler: Callable[..., Actions] = getattr(self, "_on_" + outcome)
        return handler(*args)

    def _invalid_text(self, event: Input, inbound: frames.Method) -> str:
        if event is _I.OTHER_METHOD:
            return f"unexpected {inbound.method.NAME} on channel 0"
        return f"{inbound.method.NAME} received in state {self.state.name}"

    # ----------------------------------------------------------------------------------------
    # Small helpers shared by the handlers
    # ----------------------------------------------------------------------------------------

    def _record(self, reason: BaseException) -> None:
        if self.close_reason is None:
            self.close_reason = reason

    def _arm(self, timer: Timer, delay: float) -> StartTimer:
        self.armed[timer] = self.incarnation
        return StartTimer(timer, delay, self.incarnation)

    def _disarm(self, timer: Timer) -> List[Action]:
        if self.armed.pop(timer, None) is None:
            return []
        return [CancelTimer(timer)]

    def _send_close(self) -> Send:
        code, text = self.client_close_args or (200, "Normal shutdown")
        self.close_sent = True
        return _method_bytes(
            spec.Connection.Close(reply_code=code, reply_text=text, class_id=0, method_id=0)
        )

    def _hang_up(self, error: BaseException) -> Actions:
        """Give up on this stream without an AMQP close: record why, parse nothing more,
        drop the stream (a failed handshake, a dead or unresponsive peer)."""
        self._record(error)
        self.discard_input = True
        self.state = _S.CLOSING
        return [DisconnectStream()]

    # ----------------------------------------------------------------------------------------
    # Handlers: API requests
    # ----------------------------------------------------------------------------------------

    def _on_start(self) -> Actions:
        if self.has_started:
            raise exceptions.ConnectionWrongStateError(_REFUSALS[_I.START])
        self.has_started = True
        self.state = _S.INIT
        if self.internal_workflow:
            return [self._arm(Timer.RETRY, 0)]
        return self._on_begin_attempt()

    def _on_recover(self, params: Parameters) -> Actions:
        self.params = params
        self.has_started = True
        self.internal_workflow = False  # one attempt: the recovery driver paces the rest
        self.attempts_left = 1
        self.state = _S.INIT
        return self._on_begin_attempt()

    def _on_abort_open(self, reply_code: int, reply_text: str, close_timeout: float) -> Actions:
        """``close()`` while opening: stop the attempt and report ``ConnectionOpenAborted``."""
        self._record(
            exceptions.ConnectionOpenAborted("connection closed by the client while opening")
        )
        self.attempts_left = 0
        self.state = _S.CLOSING
        if Timer.RETRY in self.armed:  # between attempts: no stream to tear down
            # Report from the loop, not from inside close(), like every other outcome.
            return self._disarm(Timer.RETRY) + [self._arm(Timer.ABORT, 0)]
        return [DisconnectStream()]

    def _on_client_close(self, reply_code: int, reply_text: str, close_timeout: float) -> Actions:
        if self.client_close_args is not None:  # a close() from a channel's close callback
            raise exceptions.ConnectionWrongStateError(
                _REFUSALS[_I.CLOSE].format(state=_S.CLOSING.name)
            )
        LOGGER.info("Closing connection (%s): %r", reply_code, reply_text)
        self.client_close_args = (reply_code, reply_text)
        self._close_timeout = close_timeout
        self._record(exceptions.ConnectionClosedByClient(reply_code, reply_text))
        # Channels close while the connection is still OPEN (they refuse new work once it is
        # not); the facade then reports which are still closing.
        return [CloseChannels(reply_code, reply_text)]

    def _on_channels_closing(self, numbers: FrozenSet[int]) -> Actions:
        if self.client_close_args is None:
            raise exceptions.ConnectionWrongStateError(
                _REFUSALS[_I.CHANNELS_CLOSING].format(state=self.state.name)
            )
        self.closing_channels = set(numbers)
        self.state = _S.CLOSING
        actions: Actions = [self._arm(Timer.CLOSE, self._close_timeout)]
        if not self.closing_channels:
            actions.append(self._send_close())
        return actions

    def _on_channel_closed(self, number: int, closed_by_broker: bool) -> Actions:
        if closed_by_broker:
            self.stale_channels.add(number)
        self.closing_channels.discard(number)
        if (
            self.state is _S.CLOSING
            and self.client_close_args is not None
            and not self.closing_channels
            and not self.close_sent
            and self.stream_up
        ):
            return [self._send_close()]
        return []

    def _on_update_secret(self, new_secret: bytes, reason: str) -> Actions:
        self.pending_secret_updates += 1
        return [_method_bytes(spec.Connection.UpdateSecret(new_secret=new_secret, reason=reason))]

    def _on_protocol_error(
        self, error: BaseException, desynchronised: bool, close_timeout: float
    ) -> Actions:
        """Close with the error's AMQP reply code.

        After a framing error the stream cannot be parsed any more: the broker's Close-Ok
        could not be recognised in it, so waiting ``close_timeout`` for one would only delay
        the report (RabbitMQ itself waits 30 s for the client to hang up). The Close is
        sent, given the adapter's last write attempt, and the stream is dropped at once."""
        if isinstance(error, exceptions.NotAMQPStreamError):
            # The first bytes are neither a frame nor a protocol header (a broker's first
            # answer to ours is Connection.Start or its own header, AMQP 0-9-1 4.2.2): the
            # peer is not an AMQP broker at all (an HTTP server, a wrong port, a TLS port).
            # That is a connection error, not a broker's protocol slip; it is reported at once
            # and not retried, as a refused protocol version is. (A frame-shaped but broken
            # first frame keeps InvalidFrameError: a broken broker, not another protocol.)
            incompatible = exceptions.IncompatibleProtocolError(
                f"the peer does not speak AMQP 0-9-1: {error}"
            )
            incompatible.__cause__ = error  # reported (and logged) as the open error
            return self._hang_up(incompatible)
        code = getattr(error, "reply_code", spec.SYNTAX_ERROR)
        LOGGER.error("Protocol error from broker (%s): %s", code, error)
        self._record(error)
        if desynchronised:
            self.discard_input = True
        if self.state in CAN_SEND_CLOSE and self.stream_up and not self.close_sent:
            self.client_close_args = (code, short_text(str(error) or type(error).__name__))
            self.state = _S.CLOSING
            actions: Actions = [self._send_close()]
            if desynchronised:
                actions.append(DisconnectStream())
            elif Timer.CLOSE not in self.armed:  # a client close's deadline stands
                self._close_timeout = close_timeout
                actions.append(self._arm(Timer.CLOSE, close_timeout))
            return actions
        # No Close can be sent (before Connection.Start the peer has not shown it speaks
        # AMQP 0-9-1; or our Close is already out): drop the stream and ignore what is still
        # arriving, which would otherwise be parsed and could make us send a Close after all
        # (with another error's reply code) to a peer we are hanging up on.
        return self._hang_up(error)

    # ----------------------------------------------------------------------------------------
    # Handlers: stream events and timers
    # ----------------------------------------------------------------------------------------

    def _on_begin_attempt(self) -> Actions:
        """A new stream (state INIT): reset everything per stream, then connect."""
        self.incarnation += 1
        self.attempts_left -= 1
        self.stream_requested = True
        self.stream_up = False
        self.ever_opened = False
        self.close_sent = False
        self.discard_input = False
        self.close_reason = None
        self.client_close_args = None
        self.closing_channels.clear()
        self.stale_channels.clear()
        self.pending_secret_updates = 0
        self.server_properties = {}
        self.server_capabilities = {}
        self.channel_max = 0
        self.frame_max = self.params.frame_max
        self.heartbeat = 0
        self.heartbeat_monitor = None
        self._tune = None
        actions: Actions = []
        if self.params.stack_timeout is not None:
            actions.append(self._arm(Timer.STACK, self.params.stack_timeout))
        actions.append(ConnectStream(self.incarnation, self.frame_max))
        return actions

    def _on_stream_connected(self) -> Actions:
        self.stream_up = True
        self.state = _S.PROTOCOL
        return [Send(formats.PROTOCOL_HEADER, 1, "protocol header")]

    def _on_stream_connected_while_aborting(self) -> Actions:
        self.stream_up = True
        return [DisconnectStream()]

    def _on_stream_terminated(self, error: Optional[BaseException]) -> Actions:
        self.stream_requested = False
        self.stream_up = False
        actions: Actions = []
        for timer in list(self.armed):
            actions += self._disarm(timer)
        self.heartbeat_monitor = None
        reason = self.close_reason
        if reason is None:
            if error is None:
                error = exceptions.StreamLostError("stream closed without an AMQP close")
            reason = self._describe_lost_stream(error)
        elif (error is not None and reason.__cause__ is None
              and isinstance(reason, exceptions.ConnectionClosedByClient)):
            # close() was under way but the stream died before Connection.CloseOk: what was
            # still buffered may not have reached the broker. Keep the type, chain the loss.
            reason.__cause__ = error
        return actions + self._settle(reason)

    def _on_aborted(self) -> Actions:
        """close() between attempts: no stream to wait for."""
        reason = self.close_reason
        assert reason is not None  # recorded by _on_abort_open
        return self._settle(reason)

    def _settle(self, reason: BaseException) -> Actions:
        was_open = self.ever_opened
        self.state = _S.CLOSED
        self.closing_channels.clear()
        if was_open:
            LOGGER.info("Connection closed: %r", reason)
            return [Closed(reason)]
        LOGGER.warning("Connection attempt to %s:%s failed: %r",
                       self.params.host, self.params.port, reason)
        if (self.internal_workflow and self.attempts_left > 0
                and not isinstance(reason, DEFINITIVE_OPEN_ERRORS)):
            self.state = _S.INIT
            return [self._arm(Timer.RETRY, self.params.retry_delay)]
        return [OpenFailed(reason)]

    def _describe_lost_stream(self, error: BaseException) -> BaseException:
        """Name the handshake phase in which a stream was lost (the OS cause stays chained)."""
        waiting_for = WAITING_FOR.get(self.state)
        if waiting_for is None or not isinstance(error, exceptions.StreamLostError):
            return error
        described = exceptions.StreamLostError(
            f"stream lost during the AMQP handshake, waiting for {waiting_for}: {error}"
        )
        described.__cause__ = error.__cause__ or error
        return described

    def _on_stack_timeout(self) -> Actions:
        params = self.params
        return self._hang_up(exceptions.StackTimeoutError(
            f"connection to {params.host}:{params.port} not open within "
            f"stack_timeout={params.stack_timeout}s (stuck in {self.state.name})"
        ))

    def _on_close_timeout(self) -> Actions:
        LOGGER.warning("No Connection.CloseOk within %.1fs; dropping the stream",
                       self._close_timeout)
        return [DisconnectStream()]

    def _on_blocked_timeout(self) -> Actions:
        error = exceptions.ConnectionBlockedTimeout(
            f"connection blocked by the broker for more than "
            f"{self.params.blocked_connection_timeout}s"
        )
        LOGGER.error("%s", error)
        return self._hang_up(error)

    def _on_heartbeat_tick(self) -> Actions:
        monitor = self.heartbeat_monitor
        assert monitor is not None  # armed only with a monitor
        verdict = monitor.tick(self.traffic.bytes_sent, self.traffic.bytes_received)
        if verdict is Tick.PEER_DEAD:
            self.heartbeat_monitor = None
            error = exceptions.AMQPHeartbeatTimeout(
                f"no data from the broker for {monitor.silent_seconds:.1f}s "
                f"(heartbeat interval {self.heartbeat}s)"
            )
            LOGGER.error("%s", error)
            return self._hang_up(error)
        actions: Actions = []
        if verdict is Tick.SEND_HEARTBEAT and self.stream_up:
            # a heartbeat may follow our Close: 2.2.4 restricts what we accept, not this
            monitor.sent(len(formats.HEARTBEAT_FRAME))
            actions.append(Send(formats.HEARTBEAT_FRAME, 1, "heartbeat"))
        actions.append(self._arm(Timer.HEARTBEAT, monitor.tick_seconds))
        return actions

    # ----------------------------------------------------------------------------------------
    # Handlers: channel-0 frames (AMQP 0-9-1 2.2.4: Start/StartOk, Tune/TuneOk, Open/OpenOk)
    # ----------------------------------------------------------------------------------------

    def _on_refused_version(self, inbound: frames.ProtocolHeader) -> Actions:
        # AMQP 0-9-1 4.2.2: a server that refuses the header we sent answers with the header
        # of a version it speaks and closes; RabbitMQ answers "AMQP\x00\x00\x09\x01" (its
        # own 0-9-1) to any header it does not accept, so the text must not read "0-9-1, not
        # 0-9-1" then.
        version = f"{inbound.major}-{inbound.minor}-{inbound.revision}"
        if (inbound.major, inbound.minor, inbound.revision) == (0, 9, 1):
            text = ("the broker refused our protocol header, answering with its own "
                    f"(AMQP {version})")
        else:
            text = f"broker speaks AMQP {version}, not 0-9-1"
        return self._hang_up(exceptions.IncompatibleProtocolError(text))

    def _on_start_method(self, inbound: frames.Method) -> Actions:
        method = inbound.method
        if (method.version_major, method.version_minor) != (0, 9):
            return self._hang_up(exceptions.IncompatibleProtocolError(
                f"broker offered AMQP {method.version_major}-{method.version_minor}"
            ))
        self.server_properties = dict(method.server_properties or {})
        capabilities = self.server_properties.get("capabilities")
        self.server_capabilities = dict(capabilities) if isinstance(capabilities, dict) else {}
        answer = sasl_answer(self.params.credentials, method)
        if isinstance(answer, exceptions.AuthenticationError):
            return self._hang_up(answer)
        mechanism, response = answer
        self.state = _S.START
        return [_method_bytes(spec.Connection.StartOk(
            client_properties=build_client_properties(self.params),
            mechanism=mechanism,
            response=response,
            locale=self.params.locale,
        ))]

    def _on_secure_method(self, inbound: frames.Method) -> Actions:
        # PLAIN and EXTERNAL complete in StartOk; a challenge means the broker wants a
        # mechanism we did not offer.
        return self._hang_up(exceptions.AuthenticationError(
            getattr(self.params.credentials, "TYPE", "?"),
            "broker sent Connection.Secure; challenge-response is not supported",
        ))

    def _on_tune_method(self, inbound: frames.Method) -> Actions:
        method = inbound.method
        params = self.params
        frame_max = tune_frame_max(params.frame_max, method.frame_max)
        if isinstance(frame_max, BaseException):
            return self._hang_up(frame_max)
        channel_max = tune_channel_max(params.channel_max, method.channel_max)
        offered_heartbeat = int(method.heartbeat)
        heartbeat = tune_heartbeat(params.heartbeat, offered_heartbeat)
        if heartbeat is None:  # a callable: the facade asks it, heartbeat_chosen answers
            self._tune = (channel_max, frame_max, offered_heartbeat)
            return [ChooseHeartbeat(offered_heartbeat)]
        return self._tuned(channel_max, frame_max, heartbeat)

    def _on_heartbeat_chosen(self, answer: HeartbeatAnswer) -> Actions:
        tune, self._tune = self._tune, None
        if tune is None:
            raise exceptions.ConnectionWrongStateError(
                _REFUSALS[_I.HEARTBEAT_CHOSEN].format(state=self.state.name)
            )
        heartbeat = checked_heartbeat(answer)
        if isinstance(heartbeat, BaseException):
            return self._hang_up(heartbeat)
        return self._tuned(tune[0], tune[1], heartbeat)

    def _tuned(self, channel_max: int, frame_max: int, heartbeat: int) -> Actions:
        self.channel_max = channel_max
        self.frame_max = frame_max or 2**31 - 1
        self.heartbeat = heartbeat
        self.state = _S.TUNE
        actions: Actions = [
            Negotiated(channel_max, self.frame_max, heartbeat),
            _method_bytes(spec.Connection.TuneOk(
                channel_max=channel_max, frame_max=frame_max, heartbeat=heartbeat
            )),
            _method_bytes(spec.Connection.Open(virtual_host=self.params.virtual_host)),
        ]
        if heartbeat:
            # Start ticking now: the broker starts expecting heartbeats after TuneOk. What
            # was sent so far includes the TuneOk and Open the facade is about to send.
            sent = self.traffic.bytes_sent + sum(
                len(a.data) for a in actions if isinstance(a, Send)
            )
            self.heartbeat_monitor = HeartbeatMonitor(
                heartbeat, sent, self.traffic.bytes_received
            )
            actions.append(self._arm(Timer.HEARTBEAT, self.heartbeat_monitor.tick_seconds))
        return actions

    def _on_open_ok_method(self, inbound: frames.Method) -> Actions:
        self.known_hosts = inbound.method.known_hosts
        self.ever_opened = True
        self.state = _S.OPEN
        return self._disarm(Timer.STACK) + [Opened()]

    def _on_close_method(self, inbound: frames.Method) -> Actions:
        """The broker sent Connection.Close: reply CloseOk, record why, drop the stream.
        During the handshake the broker's code names the failure (403 login, 530 vhost)."""
        method = inbound.method
        code, text = method.reply_code, method.reply_text
        error: BaseException
        if self.state in (_S.START, _S.TUNE):
            # authentication_failure_close: RabbitMQ explains a refused login (403) or vhost
            # (530 NOT_ALLOWED) with Connection.Close instead of just dropping the socket.
            if code == spec.ACCESS_REFUSED:
                error = exceptions.ProbableAuthenticationError(code, text)
            elif code == spec.NOT_ALLOWED:
                error = exceptions.ProbableAccessDeniedError(code, text)
            else:
                error = exceptions.ConnectionClosedByBroker(code, text)
        else:
            error = exceptions.ConnectionClosedByBroker(code, text)
            if self.close_reason is None:
                LOGGER.warning("Broker closed the connection (%s): %s", code, text)
        self._record(error)
        actions: Actions = []
        # When our own Close is already out (the close methods crossed), nothing more is
        # sent: the crossed Close ends the connection either way, and the stream goes.
        if not self.close_sent:
            actions.append(_method_bytes(spec.Connection.CloseOk()))
        self.close_sent = True
        self.state = _S.CLOSING
        actions.append(DisconnectStream())
        return actions

    def _on_close_ok_method(self, inbound: frames.Method) -> Actions:
        """Our Connection.Close was answered: the stream can go."""
        return [DisconnectStream()]

    def _on_blocked_method(self, inbound: frames.Method) -> Actions:
        """RabbitMQ's Connection.Blocked: the ``blocked_connection_timeout`` timer starts
        (once per blocked period)."""
        LOGGER.warning("Connection blocked by the broker: %s", inbound.method.reason)
        actions: Actions = []
        timeout = self.params.blocked_connection_timeout
        if timeout is not None and Timer.BLOCKED not in self.armed:
            actions.append(self._arm(Timer.BLOCKED, timeout))
        actions.append(Blocked(inbound))
        return actions

    def _on_unblocked_method(self, inbound: frames.Method) -> Actions:
        LOGGER.info("Connection unblocked by the broker")
        return self._disarm(Timer.BLOCKED) + [Unblocked(inbound)]

    def _on_update_secret_ok_method(self, inbound: frames.Method) -> Actions:
        """Connection.UpdateSecretOk answers the oldest UpdateSecret still unanswered."""
        if not self.pending_secret_updates:
            raise exceptions.CommandInvalidError("UpdateSecretOk without an UpdateSecret")
        self.pending_secret_updates -= 1
        return [SecretUpdated(inbound)]
