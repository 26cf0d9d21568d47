"""The base ``Connection``: every bit of AMQP connection logic, no I/O, no clock, no loop.

Adapters (select, Tornado, Twisted) subclass :class:`Connection` and implement the ``_adapter_*``
down-call hooks; they feed the base through the ``_on_*`` up-calls. The full hook contract is
in ``docs/internals.md``; each hook's docstring below repeats the clauses that concern it.

Public API: the pika 1.x connection API documented in ``shared/API.md`` plus
``add_callback_threadsafe``, ``update_secret`` and write flow control's resume signal
(``add_backpressure_drained_callback``, ``write_buffer_size``).

The work is shared with friend modules that use its private state: ``_opening`` (attempts,
handshake), ``_closing`` (Close/CloseOk, protocol errors, timeouts, settling) and
``_inbound`` (routing parsed frames to channels and channel 0). What stays here: the public
API, the hooks and up-calls, sending, and the channel table.

Connection state lives in one place: ``self._state`` (a :class:`ConnectionState`), changed only
by :meth:`Connection._set_state`, which consults the single :data:`TRANSITIONS` table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from amqpbase import _closing, _inbound, _opening, exceptions, frame, spec
from amqpbase._callbacks import invoke, require_callable
from amqpbase.connection_state import TRANSITIONS, ConnectionState
from amqpbase.heartbeat import HeartbeatChecker
from amqpbase.parameters import ConnectionParameters, Parameters
from amqpbase.protocol.seams import ChannelHandlers  # TEMP-SHIM

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.channel import Channel
    from amqpbase.connection_workflow import AbstractAMQPConnectionWorkflow

LOGGER = logging.getLogger(__name__)

OpenCallback = Callable[["Connection"], Any]
ErrorCallback = Callable[["Connection", BaseException], Any]
FrameCallback = Callable[["Connection", frame.Method], Any]


class Connection:
    """Base connection: the AMQP 0-9-1 connection protocol and the pika 1.x connection API.

    Not used directly: instantiate an adapter (``SelectConnection``, ``TornadoConnection``,
    ``TwistedConnection``). With ``internal_connection_workflow=True`` the connection opens
    itself over its parameters (``connection_attempts`` tries with ``retry_delay`` between
    them, each bounded by ``socket_timeout`` and ``stack_timeout``), starting from the loop
    right after construction; with ``False`` it waits for a workflow (``create_connection``).
    """

    #: Seconds ``close()`` waits for the broker's Connection.CloseOk (and for channels to
    #: close) before tearing the stream down anyway; ``close()`` never hangs on a dead or
    #: blocked broker. Instances may override it.
    close_timeout: float = 10.0

    def __init__(
        self,
        parameters: Optional[Parameters] = None,
        on_open_callback: Optional[OpenCallback] = None,
        on_open_error_callback: Optional[ErrorCallback] = None,
        on_close_callback: Optional[ErrorCallback] = None,
        internal_connection_workflow: bool = True,
    ) -> None:
        if parameters is None:
            parameters = ConnectionParameters()
        elif not isinstance(parameters, Parameters):
            raise TypeError(
                "parameters must be a ConnectionParameters or URLParameters instance, "
                f"got {type(parameters).__name__}"
            )
        for name, cb in (
            ("on_open_callback", on_open_callback),
            ("on_open_error_callback", on_open_error_callback),
            ("on_close_callback", on_close_callback),
        ):
            if cb is not None:
                require_callable(cb, name)
        if not isinstance(internal_connection_workflow, bool):
            raise TypeError("internal_connection_workflow must be a bool")

        self.params: Parameters = parameters
        self._state = ConnectionState.CLOSED

        self._on_open_callbacks: List[OpenCallback] = []
        self._on_open_error_callbacks: List[ErrorCallback] = [self._default_on_open_error]
        self._on_close_callbacks: List[ErrorCallback] = []
        self._blocked_callbacks: List[FrameCallback] = []
        self._unblocked_callbacks: List[FrameCallback] = []
        self._backpressure_callbacks: List[Callable[[], Any]] = []
        self._backpressure_drained_callbacks: List[Callable[[], Any]] = []
        if on_open_callback is not None:
            self.add_on_open_callback(on_open_callback)
        if on_open_error_callback is not None:
            self.add_on_open_error_callback(on_open_error_callback)
        if on_close_callback is not None:
            self.add_on_close_callback(on_close_callback)

        # Negotiated / learned during the handshake.
        self.server_properties: Dict[str, Any] = {}
        self.server_capabilities: Dict[str, Any] = {}
        self.known_hosts: str = ""
        self._channel_max = 0
        self._frame_max = parameters.frame_max
        self._heartbeat_interval = 0

        self._channels: Dict[int, "Channel"] = {}
        self._channel_link = _ShimLink(self)  # TEMP-SHIM
        self._decoder = frame.FrameDecoder(parameters.frame_max)
        self._stream_up = False
        self._ever_opened = False  # reached OPEN in the current attempt

        # Closing bookkeeping: the first recorded cause wins.
        self._close_reason: Optional[BaseException] = None
        self._close_sent = False  # Connection.Close emitted: discard all but Close/CloseOk
        self._discard_input = False  # stream desynchronised after a framing error
        self._closing_channels: set[int] = set()
        # Numbers of channels the broker closed, whose in-flight frames may still arrive
        # (see _inbound.discard_stale): until the number is reopened and its Channel.OpenOk is in.
        self._stale_channels: set[int] = set()
        self._client_close_args: Optional[tuple[int, str]] = None

        # Timers (handles returned by _adapter_call_later).
        self._stack_timer: Any = None
        self._close_timer: Any = None
        self._blocked_timer: Any = None
        self._retry_timer: Any = None
        self._heartbeat: Optional[HeartbeatChecker] = None

        # Counters for heartbeats and backpressure.
        self._bytes_sent = 0
        self._bytes_received = 0
        self._frames_sent = 0
        self._backpressure_multiplier = 10
        self._backpressure_armed = True  # False from a crossing until the buffer has drained

        self._update_secret_callbacks: List[Optional[Callable[[frame.Method], Any]]] = []

        # Connect workflow (internal): cycles left and whether we are the one driving it.
        self._internal_workflow = internal_connection_workflow
        self._attempts_left = parameters.connection_attempts

        if internal_connection_workflow:
            self._set_state(ConnectionState.INIT)
            self._retry_timer = self._adapter_call_later(0, lambda: _opening.begin_attempt(self))

    # ----------------------------------------------------------------------------------------
    # Public API (shared/API.md)
    # ----------------------------------------------------------------------------------------

    def add_backpressure_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` when :attr:`write_buffer_size` exceeds the backpressure
        multiplier times the average outbound frame size so far, checked after each frame or
        publish queued. Edge-triggered: once per crossing, from inside the call that crossed;
        re-armed when the buffer has drained (see :meth:`add_backpressure_drained_callback`)."""
        require_callable(callback)
        self._backpressure_callbacks.append(callback)

    def add_backpressure_drained_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` once after each backpressure crossing, from the loop, when the
        write buffer has been completely written (:attr:`write_buffer_size` is 0): the signal
        to resume. Backpressure re-arms just before, so publishing from it may cross again at
        once. Only follows a crossing, which needs an :meth:`add_backpressure_callback`
        callback, and only while the connection is open (once closing starts, the close
        callbacks are the signal)."""
        require_callable(callback)
        self._backpressure_drained_callbacks.append(callback)

    def set_backpressure_multiplier(self, value: int = 10) -> None:
        """Set the multiplier used by the backpressure check (a positive int, default 10)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"backpressure multiplier must be an int, got {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"backpressure multiplier must be positive, got {value}")
        self._backpressure_multiplier = value

    def add_on_close_callback(self, callback: ErrorCallback) -> None:
        """Call ``callback(connection, exception)`` when a fully open connection has closed.

        ``exception`` is ``ConnectionClosedByClient``/``ConnectionClosedByBroker`` for a close
        by either side, or the precise cause otherwise (``StreamLostError``,
        ``AMQPHeartbeatTimeout``, ``ConnectionBlockedTimeout``, a ``ProtocolSyntaxError``
        subclass for a malformed frame from the broker, ...)."""
        require_callable(callback)
        self._on_close_callbacks.append(callback)

    def add_on_connection_blocked_callback(self, callback: FrameCallback) -> None:
        """RabbitMQ extension: ``callback(connection, method_frame)`` on Connection.Blocked."""
        require_callable(callback)
        self._blocked_callbacks.append(callback)

    def add_on_connection_unblocked_callback(self, callback: FrameCallback) -> None:
        """RabbitMQ extension: ``callback(connection, method_frame)`` on Connection.Unblocked."""
        require_callable(callback)
        self._unblocked_callbacks.append(callback)

    def add_on_open_callback(self, callback: OpenCallback) -> None:
        """Call ``callback(connection)`` once the connection is open."""
        require_callable(callback)
        self._on_open_callbacks.append(callback)

    def add_on_open_error_callback(
        self, callback: ErrorCallback, remove_default: bool = True
    ) -> None:
        """Call ``callback(connection, exception)`` when the connection cannot be opened.

        The default callback (which logs the error) is removed unless ``remove_default`` is
        False. The exception is precise: e.g. ``ProbableAuthenticationError`` carrying the
        broker's 403 reply, ``TCPConnectionRefusedError``, ``StackTimeoutError``."""
        require_callable(callback)
        if remove_default and self._default_on_open_error in self._on_open_error_callbacks:
            self._on_open_error_callbacks.remove(self._default_on_open_error)
        self._on_open_error_callbacks.append(callback)

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` on the connection's loop. The only call allowed from any thread."""
        require_callable(callback)
        if self.is_closed:
            raise exceptions.ConnectionWrongStateError(
                "add_callback_threadsafe() on a closed connection"
            )
        self._adapter_add_callback_threadsafe(callback)

    @property
    def basic_nack(self) -> bool:
        """True when the broker supports Basic.Nack (False until the handshake is done)."""
        return self._capability("basic.nack")

    @property
    def consumer_cancel_notify(self) -> bool:
        """True when the broker sends Basic.Cancel for consumers it cancels."""
        return self._capability("consumer_cancel_notify")

    @property
    def exchange_exchange_bindings(self) -> bool:
        """True when the broker supports exchange-to-exchange bindings."""
        return self._capability("exchange_exchange_bindings")

    @property
    def publisher_confirms(self) -> bool:
        """True when the broker supports publisher confirms (Confirm.Select)."""
        return self._capability("publisher_confirms")

    def channel(
        self,
        channel_number: Optional[int] = None,
        on_open_callback: Optional[Callable[["Channel"], Any]] = None,
    ) -> "Channel":
        """Open a channel; ``on_open_callback(channel)`` runs when Channel.OpenOk arrives.

        ``channel_number`` must be free and within 1..channel_max; by default the lowest free
        number is used (``NoFreeChannels`` when every number is taken)."""
        from amqpbase.channel import Channel  # channel.py imports this module

        if self._state is not ConnectionState.OPEN:
            raise exceptions.ConnectionWrongStateError(
                f"channel() needs an open connection; connection is {self._state.name}"
            )
        if on_open_callback is not None:
            require_callable(on_open_callback, "on_open_callback")
        if channel_number is None:
            number = self._next_channel_number()
        else:
            number = self._validate_channel_number(channel_number)
        channel = Channel(self, number, on_open_callback, link=self._channel_link)  # TEMP-SHIM
        self._channels[number] = channel
        channel.open()
        return channel

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        """Close the connection: channels first (consumers cancelled), then Connection.Close.

        Publishes already handed over reach the broker before Connection.Close (the stream is
        ordered). Waits at most :attr:`close_timeout` for the broker. Closing while opening
        aborts the open (``ConnectionOpenAborted`` to the open-error callbacks).
        Raises ``ConnectionWrongStateError`` when already closing or closed."""
        if isinstance(reply_code, bool) or not isinstance(reply_code, int):
            raise TypeError(f"reply_code must be an int, got {type(reply_code).__name__}")
        if not isinstance(reply_text, str):
            raise TypeError(f"reply_text must be a str, got {type(reply_text).__name__}")
        # Both travel in Connection.Close and Channel.Close: refuse what cannot be encoded
        # before any state changes (reply-code is a short, reply-text a shortstr).
        if not 0 <= reply_code <= 0xFFFF:
            raise ValueError(f"reply_code must be in 0..65535, got {reply_code}")
        if len(reply_text.encode("utf-8", errors="surrogateescape")) > 255:
            raise exceptions.ShortStringTooLong(
                f"reply_text is {len(reply_text.encode('utf-8', errors='surrogateescape'))} "
                "bytes encoded; a shortstr holds at most 255"
            )
        if self.is_closing or self.is_closed:
            raise exceptions.ConnectionWrongStateError(
                f"close() called on a connection that is {self._state.name}"
            )
        if self._state is not ConnectionState.OPEN:
            _opening.abort_open(self)
            return
        LOGGER.info("Closing connection (%s): %r", reply_code, reply_text)
        self._client_close_args = (reply_code, reply_text)
        self._record_close_reason(exceptions.ConnectionClosedByClient(reply_code, reply_text))
        # Ask channels to close while the connection is still OPEN (channels refuse new work
        # once it is not), then move to CLOSING and wait for them.
        for number, channel in list(self._channels.items()):
            if channel.is_open or channel.is_opening:
                channel.close(reply_code, reply_text)  # pika passes the connection's reply on
            if channel.is_closing:
                self._closing_channels.add(number)
        self._set_state(ConnectionState.CLOSING)
        _closing.start_close_timer(self)
        if not self._closing_channels:
            _closing.send_connection_close(self)

    def update_secret(
        self,
        new_secret: str,
        reason: str,
        callback: Optional[Callable[[frame.Method], Any]] = None,
    ) -> None:
        """Send Connection.UpdateSecret (RabbitMQ token rotation); ``callback(method_frame)``
        runs on Connection.UpdateSecretOk."""
        if not isinstance(new_secret, (str, bytes)):
            raise TypeError("new_secret must be str or bytes")
        if not isinstance(reason, str):
            raise TypeError("reason must be a str")
        if callback is not None:
            require_callable(callback)
        if self._state is not ConnectionState.OPEN:
            raise exceptions.ConnectionWrongStateError("update_secret() needs an open connection")
        secret = new_secret.encode("utf-8") if isinstance(new_secret, str) else new_secret
        self._update_secret_callbacks.append(callback)
        self._send_method(0, spec.Connection.UpdateSecret(new_secret=secret, reason=reason))

    @property
    def write_buffer_size(self) -> int:
        """Bytes queued for the socket and not yet accepted by the kernel (read-only; 0 without
        a stream): what the backpressure check measures. Tornado counts the piece handed to
        its ``IOStream`` whole until written; Twisted includes its transport's unsent bytes."""
        return self._adapter_get_write_buffer_size()

    @property
    def is_closed(self) -> bool:
        """True when there is no connection and none is being opened."""
        return self._state is ConnectionState.CLOSED

    @property
    def is_closing(self) -> bool:
        """True while a close (by either side, or an abort) is in progress."""
        return self._state is ConnectionState.CLOSING

    @property
    def is_open(self) -> bool:
        """True when the connection is open and usable."""
        return self._state is ConnectionState.OPEN

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState` (read-only)."""
        return self._state

    @classmethod
    def create_connection(
        cls,
        connection_configs: Sequence[Parameters],
        on_done: Callable[[Any], Any],
        custom_ioloop: Any = None,
        workflow: Optional["AbstractAMQPConnectionWorkflow"] = None,
    ) -> "AbstractAMQPConnectionWorkflow":
        """Try each parameter set in turn (``connection_attempts`` cycles of the whole list,
        ``retry_delay`` apart, both from the last set) and call ``on_done`` with the first
        open connection, or with ``AMQPConnectionWorkflowFailed`` listing every attempt's
        cause, or ``AMQPConnectionWorkflowAborted``. Returns the workflow (``abort()``)."""
        from amqpbase.connection_workflow import AMQPConnectionWorkflow

        require_callable(on_done, "on_done")
        if workflow is None:
            workflow = AMQPConnectionWorkflow()
        custom_ioloop = cls._workflow_loop(custom_ioloop)

        def connect_one(
            params: Parameters, on_open: OpenCallback, on_error: ErrorCallback
        ) -> "Connection":
            connection = cls._create_for_workflow(params, on_open, on_error, custom_ioloop)
            _opening.start_external_attempt(connection)
            return connection

        workflow.start(connection_configs, connect_one, custom_ioloop, on_done)
        return workflow

    @classmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        """The loop every attempt of one workflow shares: ``custom_ioloop`` or, when None, the
        adapter's default loop (an adapter whose constructor makes a new loop per connection
        overrides this so a workflow's attempts share one)."""
        return custom_ioloop

    @classmethod
    def _create_for_workflow(
        cls,
        params: Parameters,
        on_open: OpenCallback,
        on_error: ErrorCallback,
        custom_ioloop: Any,
    ) -> "Connection":
        """Build one un-started connection for a workflow attempt. Adapters whose constructor
        names the loop differently override this."""
        factory: Callable[..., "Connection"] = cls
        return factory(
            parameters=params,
            on_open_callback=on_open,
            on_open_error_callback=on_error,
            custom_ioloop=custom_ioloop,
            internal_connection_workflow=False,
        )

    def __repr__(self) -> str:
        host = getattr(self.params, "host", "?")
        port = getattr(self.params, "port", "?")
        return f"<{type(self).__name__} {self._state.name} {host}:{port}>"

    # ----------------------------------------------------------------------------------------
    # Down-call hooks: implemented by every adapter (docs/internals.md, "The hook contract")
    # ----------------------------------------------------------------------------------------

    def _adapter_connect_stream(self) -> None:
        """Start connecting to ``self.params`` (DNS off the loop thread, each address in turn,
        TLS handshake). Never blocks. Exactly one outcome later, from the loop:
        ``_on_stream_connected()`` or ``_on_stream_terminated(exc)`` with a connect error.
        Called once per attempt, only when no stream exists."""
        raise NotImplementedError

    def _adapter_disconnect_stream(self) -> None:
        """Close the stream, or abort a connect in progress. The adapter later calls
        ``_on_stream_terminated(None)`` exactly once, from the loop, never from inside this
        call. A repeat, or a call after the stream ended, is a no-op."""
        raise NotImplementedError

    def _adapter_emit_data(self, data: Any) -> None:
        """Queue ``data`` (bytes or memoryview, kept by reference) for sending, in order,
        coalesced: never a syscall per call. Only called while a stream exists."""
        raise NotImplementedError

    def _adapter_get_write_buffer_size(self) -> int:
        """Bytes queued and not yet accepted by the kernel."""
        raise NotImplementedError

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Run ``callback()`` once on the loop after ``delay`` seconds; return a handle."""
        raise NotImplementedError

    def _adapter_remove_timeout(self, handle: Any) -> None:
        """Cancel a timer; removing twice, or after it fired, is a no-op."""
        raise NotImplementedError

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """From any thread: run ``callback()`` on the loop soon, waking it."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------
    # Up-calls from the adapter
    # ----------------------------------------------------------------------------------------

    def _on_stream_connected(self) -> None:
        """The stream of the current attempt is connected: start the AMQP handshake."""
        self._stream_up = True
        if self._state is ConnectionState.CLOSING:  # aborted while connecting
            self._adapter_disconnect_stream()
            return
        self._set_state(ConnectionState.PROTOCOL)
        self._emit(frame.PROTOCOL_HEADER)

    def _on_data_available(self, data: Any) -> None:
        """Bytes from the broker, in order. Parses every complete frame and dispatches it."""
        if self._discard_input:
            return
        self._bytes_received += len(data)
        decoder = self._decoder
        # Batches: each is dispatched before the next is parsed (see feed_batches: the
        # objects of a delivery die soon, which spares the cyclic GC). A Delivery among the
        # frames goes to channel._handle_frame like the others.
        batches = decoder.feed_batches(data)
        while True:
            try:
                frames = next(batches, None)
            except (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented) as exc:
                # Frames that completed before the malformed one are valid (broker acks,
                # say): act on them first, so nothing the broker did say is lost, then close.
                if _inbound.dispatch(self, decoder.frames_before_error):
                    _closing.on_protocol_error(self, exc, stream_desynchronised=True)
                return
            if frames is None or not _inbound.dispatch(self, frames):
                return  # (a generator dropped early keeps its unparsed rest)

    def _on_stream_terminated(self, error: Optional[BaseException]) -> None:
        """The stream is gone (``error`` None after our own disconnect). Settle everything."""
        if self._state is ConnectionState.CLOSED:
            LOGGER.debug("Ignoring a repeated stream termination (%r)", error)
            return
        self._stream_up = False
        self._cancel_timers()
        reason = self._close_reason
        if reason is None:
            if error is None:
                error = exceptions.StreamLostError("stream closed without an AMQP close")
            reason = _opening.describe_lost_stream(self, error)
        elif (error is not None and reason.__cause__ is None
              and isinstance(reason, exceptions.ConnectionClosedByClient)):
            # close() was under way but the stream died before Connection.CloseOk: what was
            # still buffered may not have reached the broker. Keep the type, chain the loss.
            reason.__cause__ = error
        was_open = self._ever_opened
        self._set_state(ConnectionState.CLOSED)
        if was_open:
            _closing.finish_close(self, reason)
        else:
            _opening.on_attempt_failed(self, reason)

    def _on_write_buffer_drained(self) -> None:
        """The adapter's write buffer went from non-empty to empty: re-arm backpressure and,
        when it fired since the last drain, run the drained callbacks (once per crossing)."""
        if self._backpressure_armed:
            return  # no crossing since the last drain: nothing to announce
        self._backpressure_armed = True
        if self._state is not ConnectionState.OPEN:
            return  # closing: publishing is over, the close callbacks will report
        LOGGER.debug("Backpressure: write buffer drained")
        for callback in list(self._backpressure_drained_callbacks):
            invoke(callback)

    # ----------------------------------------------------------------------------------------
    # Sending (used by Channel)
    # ----------------------------------------------------------------------------------------

    def _emit(self, data: Any) -> None:
        self._bytes_sent += len(data)
        self._frames_sent += 1
        self._adapter_emit_data(data)

    def _send_method(self, channel_number: int, method: Any) -> None:
        """Encode and emit one method frame."""
        if not self._stream_up or self._close_sent:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {method.NAME}: connection is {self._state.name}"
            )
        self._emit(frame.encode_method_frame(channel_number, method))
        if self._backpressure_callbacks:
            self._check_backpressure()

    def _send_encoded(self, data: bytes, frame_count: int, name: str) -> None:
        """Emit ``data``: ``frame_count`` complete frames the caller encoded (the channel's
        publish, ack, nack and reject hot paths). ``name`` is the method's, for the error
        raised, as by :meth:`_send_method`, when the connection cannot send."""
        if not self._stream_up or self._close_sent:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {name}: connection is {self._state.name}"
            )
        self._bytes_sent += len(data)
        self._frames_sent += frame_count
        self._adapter_emit_data(data)
        if self._backpressure_callbacks:
            self._check_backpressure()

    def _send_content(self, channel_number: int, method: Any, properties: Any, body: Any) -> None:
        """Emit one content-bearing method (a publish): method, header and body frames."""
        if not self._stream_up or self._close_sent:
            raise exceptions.ConnectionWrongStateError(
                f"cannot send {method.NAME}: connection is {self._state.name}"
            )
        emit = self._adapter_emit_data
        sent = 0
        for chunk in frame.encode_content_frames(
            channel_number, method, properties, body, self._frame_max
        ):
            sent += len(chunk)
            emit(chunk)
        self._bytes_sent += sent
        # method + header + body frames (ceil division of the body by the frame payload size);
        # for a str body len() counts characters, close enough for an average frame size
        self._frames_sent += 2 + -(-len(body) // (self._frame_max - 8))
        if self._backpressure_callbacks:
            self._check_backpressure()

    def _send_heartbeat(self) -> None:
        if self._stream_up:
            self._emit(frame.HEARTBEAT_FRAME)

    def _channel_terminated(self, number: int, closed_by_broker: bool) -> None:  # TEMP-SHIM
        """A channel reached CLOSED (CloseOk or broker Close): forget its number."""
        self._channels.pop(number, None)
        self._channel_link.handlers.pop(number, None)
        if closed_by_broker:
            self._stale_channels.add(number)
        self._closing_channels.discard(number)
        if (
            self._state is ConnectionState.CLOSING
            and self._client_close_args is not None
            and not self._closing_channels
            and not self._close_sent
        ):
            _closing.send_connection_close(self)

    # ----------------------------------------------------------------------------------------
    # Closing, failures and timers
    # ----------------------------------------------------------------------------------------

    def _set_state(self, new_state: ConnectionState) -> None:
        """The only place the state changes; illegal transitions raise."""
        if new_state not in TRANSITIONS[self._state]:
            raise exceptions.ConnectionWrongStateError(
                f"illegal connection state transition {self._state.name} -> {new_state.name}"
            )
        self._state = new_state
        self._channel_link.open = new_state is ConnectionState.OPEN  # TEMP-SHIM
        self._channel_link.frame_max = self._frame_max  # TEMP-SHIM

    def _record_close_reason(self, reason: BaseException) -> None:
        if self._close_reason is None:
            self._close_reason = reason

    def _on_heartbeat_timeout(self, silent_seconds: float) -> None:
        self._heartbeat = None
        error = exceptions.AMQPHeartbeatTimeout(
            f"no data from the broker for {silent_seconds:.1f}s "
            f"(heartbeat interval {self._heartbeat_interval}s)"
        )
        LOGGER.error("%s", error)
        _closing.drop_stream(self, error)

    def _cancel_timer(self, attribute: str) -> None:
        handle = getattr(self, attribute)
        if handle is not None:
            setattr(self, attribute, None)
            self._adapter_remove_timeout(handle)

    def _cancel_timers(self) -> None:
        for attribute in ("_stack_timer", "_close_timer", "_blocked_timer"):
            self._cancel_timer(attribute)
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def _default_on_open_error(self, connection: "Connection", error: BaseException) -> None:
        """Default open-error callback: log (pika raises from inside the loop instead)."""
        LOGGER.error("Could not open %r: %r", connection, error)

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    def _capability(self, name: str) -> bool:
        return bool(self.server_capabilities.get(name, False))

    def _check_backpressure(self) -> None:
        """Armed and above the threshold: fire, then stay disarmed until the next drain."""
        if not self._backpressure_armed or not self._frames_sent:
            return
        average = self._bytes_sent / self._frames_sent
        if self._adapter_get_write_buffer_size() > self._backpressure_multiplier * average:
            self._backpressure_armed = False
            LOGGER.debug(
                "Backpressure: write buffer above %dx average frame size",
                self._backpressure_multiplier,
            )
            for callback in list(self._backpressure_callbacks):
                invoke(callback)

    def _next_channel_number(self) -> int:
        limit = self._channel_max or 65535
        if len(self._channels) >= limit:
            raise exceptions.NoFreeChannels(f"all {limit} channel numbers are in use")
        for number in range(1, limit + 1):
            if number not in self._channels:
                return number
        raise exceptions.NoFreeChannels(f"all {limit} channel numbers are in use")

    def _validate_channel_number(self, number: Any) -> int:
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"channel_number must be an int, got {type(number).__name__}")
        limit = self._channel_max or 65535
        if not 1 <= number <= limit:
            raise exceptions.InvalidChannelNumber(
                f"channel_number {number} outside 1..{limit} (channel_max)"
            )
        if number in self._channels:
            raise exceptions.InvalidChannelNumber(f"channel {number} is already in use")
        return number


# TEMP-SHIM (chan branch only, to run the tests): the connection side of
# protocol.seams.ChannelLink over today's Connection privates. The conn helper's link
# replaces this block and the lines marked TEMP-SHIM above.
class _ShimLink:
    def __init__(self, connection: Connection) -> None:
        self.open = False
        self.frame_max: int = connection._frame_max
        self.send_method = connection._send_method
        self.send_frames = connection._send_encoded
        self.send_content = connection._send_content
        self.channel_closed = connection._channel_terminated
        self.handlers: Dict[int, ChannelHandlers] = {}

    def attach(self, channel_number: int, handlers: ChannelHandlers) -> None:
        self.handlers[channel_number] = handlers
