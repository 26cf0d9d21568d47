"""The base ``Connection``: the pika-compatible facade over the connection machine.

Owns: argument validation, the user callbacks (each isolated with ``_callbacks.invoke``),
the channel objects by number, the frame decoder, the timers' adapter handles, and applying
the actions of :class:`~amqpbase.protocol.connection_machine.ConnectionMachine` (which owns
every bit of protocol state) through the adapter hooks. The data plane bypasses the machine:
:meth:`Connection._on_data_available` routes each channel frame straight to its channel's
``on_inbound`` and only channel-0 frames go to the machine; channels send through the
:class:`~amqpbase.link.ConnectionLink` (``amqpbase.protocol.seams``).

Must not: decide anything about the protocol (ask the machine), or do I/O itself. Adapters
(select, Tornado, Twisted) subclass :class:`Connection` and implement the abstract hooks,
checked when the subclass is created (``docs/internals.md``, "The hook contract").

Public API: the pika 1.x connection API documented in ``docs/api.md`` plus
``add_callback_threadsafe``, ``update_secret``, write flow control's resume signal
(``add_backpressure_drained_callback``, ``write_buffer_size``), and read-only views for
inspection (``channels``; ``machine``, the connection machine itself).
"""

from __future__ import annotations

import logging
import random
import threading
from abc import ABCMeta, abstractmethod
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Set

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import invoke, require_callable
from amqpbase.instrument import Observer
from amqpbase.link import ConnectionLink
from amqpbase.parameters import ConnectionParameters, Parameters
from amqpbase.protocol import connection_actions as act
from amqpbase.protocol.connection_machine import ConnectionMachine
from amqpbase.protocol.connection_table import ConnectionState
from amqpbase.protocol.recovery import (
    RecoverableChannel,
    Recovery,
    RecoveryHost,
    RecoveryReport,
)

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.channel import Channel
    from amqpbase.connection_workflow import AbstractAMQPConnectionWorkflow
    from amqpbase.recovery import RecoveryDriver

LOGGER = logging.getLogger(__name__)

OpenCallback = Callable[["Connection"], Any]
ErrorCallback = Callable[["Connection", BaseException], Any]
FrameCallback = Callable[["Connection", frame.Method], Any]

_PROTOCOL_ERRORS = (exceptions.ProtocolSyntaxError, exceptions.MethodNotImplemented)
_Delivery = frame.Delivery

#: The down-call hooks every concrete adapter implements (docs/internals.md).
ADAPTER_HOOKS = frozenset({
    "_adapter_connect_stream",
    "_adapter_disconnect_stream",
    "_adapter_emit_data",
    "_adapter_get_write_buffer_size",
    "_adapter_call_later",
    "_adapter_remove_timeout",
    "_adapter_add_callback_threadsafe",
})
#: The class-level hooks of ``create_connection``: ``_workflow_loop`` every concrete adapter
#: implements; ``_create_for_workflow`` has a default (the loop as the ``custom_ioloop``
#: keyword), overridden by an adapter whose constructor names its loop otherwise.
WORKFLOW_HOOKS = frozenset({"_workflow_loop", "_create_for_workflow"})
#: The hooks a concrete adapter must define (checked when its class statement runs).
REQUIRED_HOOKS = ADAPTER_HOOKS | {"_workflow_loop"}


_get_ident = threading.get_ident


class LoopThread:
    """The thread a connection's loop runs on, shared with its channels: ``ident`` is None
    until the first up-call or timer from the loop (a connection is often built before the
    loop starts, on another thread), then that thread's ident. Calls on the connection or
    its channels from any other thread raise :class:`~amqpbase.exceptions.WrongThreadError`
    (``add_callback_threadsafe`` is the way in); calls before the loop first ran are allowed.
    """

    __slots__ = ("ident",)

    def __init__(self) -> None:
        self.ident: Optional[int] = None

    def record(self) -> None:
        """Called by the connection from the loop: the first call fixes the loop thread."""
        if self.ident is None:
            self.ident = _get_ident()

    def check(self) -> None:
        """Raise ``WrongThreadError`` unless called on the loop thread (or before it ran)."""
        ident = self.ident
        if ident is not None and ident != _get_ident():
            raise exceptions.WrongThreadError(
                f"called from thread {threading.current_thread().name!r}, but this "
                "connection's loop runs on another thread; use "
                "connection.add_callback_threadsafe(callback) to run code on the loop thread"
            )


class Connection(metaclass=ABCMeta):
    """Base connection: the pika 1.x connection API over the AMQP 0-9-1 connection machine.

    Not used directly: instantiate an adapter (``SelectConnection``, ``TornadoConnection``,
    ``TwistedConnection``). With ``internal_connection_workflow=True`` the connection opens
    itself over its parameters (``connection_attempts`` tries with ``retry_delay`` between
    them, each bounded by ``socket_timeout`` and ``stack_timeout``), starting from the loop
    right after construction; with ``False`` it waits for a workflow (``create_connection``).

    A subclass is checked when its class statement runs: it must implement every hook of
    :data:`REQUIRED_HOOKS` (``TypeError`` otherwise), and may not
    define an ``_adapter_*`` method outside the contract (a misspelt hook would silently never
    be called). An intermediate base class opts out with ``class X(Connection, abstract=True)``.
    """

    #: Seconds ``close()`` waits for the broker's Connection.CloseOk (and for channels to
    #: close) before tearing the stream down anyway; ``close()`` never hangs on a dead or
    #: blocked broker. Instances may override it.
    close_timeout: float = 10.0

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(
            name for name in vars(cls)
            if name.startswith("_adapter_") and name not in ADAPTER_HOOKS
        )
        if unknown:
            raise TypeError(
                f"{cls.__qualname__} defines {', '.join(unknown)}, not in the hook contract "
                f"(a misspelling?); the hooks are {', '.join(sorted(ADAPTER_HOOKS))}"
            )
        if abstract:
            return
        missing = sorted(
            name for name in REQUIRED_HOOKS
            if getattr(getattr(cls, name), "__isabstractmethod__", False)
        )
        if missing:
            raise TypeError(
                f"{cls.__qualname__} does not implement the hook(s) {', '.join(missing)} "
                "(pass abstract=True in the class statement for an intermediate base class)"
            )

    def __init__(
        self,
        parameters: Optional[Parameters] = None,
        on_open_callback: Optional[OpenCallback] = None,
        on_open_error_callback: Optional[ErrorCallback] = None,
        on_close_callback: Optional[ErrorCallback] = None,
        internal_connection_workflow: bool = True,
        recovery: Optional[Recovery] = None,
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
        self._on_open_callbacks: List[OpenCallback] = []
        self._on_open_error_callbacks: List[ErrorCallback] = [self._default_on_open_error]
        self._on_close_callbacks: List[ErrorCallback] = []
        self._blocked_callbacks: List[FrameCallback] = []
        self._unblocked_callbacks: List[FrameCallback] = []
        self._backpressure_drained_callbacks: List[Callable[[], Any]] = []
        self._update_secret_callbacks: List[Optional[Callable[[frame.Method], Any]]] = []
        if on_open_callback is not None:
            self.add_on_open_callback(on_open_callback)
        if on_open_error_callback is not None:
            self.add_on_open_error_callback(on_open_error_callback)
        if on_close_callback is not None:
            self.add_on_close_callback(on_close_callback)

        self._channels: Dict[int, "Channel"] = {}
        #: The loop's thread (see :class:`LoopThread`); the channels share it.
        self.loop_thread = LoopThread()
        self._link = ConnectionLink(
            self._adapter_emit_data,
            self._adapter_get_write_buffer_size,
            self._state_name,
            self._channel_closed,
            parameters.frame_max,
        )
        self._machine = ConnectionMachine(parameters, internal_connection_workflow, self._link)
        self._decoder = frame.FrameDecoder(parameters.frame_max)
        #: The incarnation of the stream the adapter is working on (stream events are for it).
        self._stream_incarnation = 0
        #: Timer -> the adapter's handle, while armed.
        self._timer_handles: Dict[act.Timer, Any] = {}

        # Automatic recovery (issue 12; amqpbase.recovery): off unless asked for.
        #: The random source of the recovery's jitter and shuffles (a test may replace it).
        self.recovery_random: random.Random = random.Random()
        self._recovery: Optional["RecoveryDriver"] = None
        self._recovering = False
        self._hold_link = False  # channels may not start work until the restore releases it
        self._pending_final: Optional[BaseException] = None
        #: Numbers of the recovery's private channels (restore, probes): never suspended.
        self._private_channels: Set[int] = set()
        self._recovery_started_callbacks: List[Callable[..., Any]] = []
        self._recovery_attempt_failed_callbacks: List[Callable[..., Any]] = []
        self._recovery_succeeded_callbacks: List[Callable[..., Any]] = []
        self._recovery_failed_callbacks: List[Callable[..., Any]] = []
        self._queue_renamed_callbacks: List[Callable[..., Any]] = []
        if recovery is not None:
            self._enable_recovery(recovery, None)
        observer = parameters.observer
        if observer is not None:
            self._install_observer(observer)

        if internal_connection_workflow:
            self._run(self._machine.start())

    def _install_observer(self, observer: Observer) -> None:
        """Instrumentation (``amqpbase.instrument``), chosen once: the connection-level hooks
        become ordinary callbacks (registered first, so they run before the user's), and the
        link carries the observer to every channel this connection makes. Nothing is added
        to a per-message path here."""
        self._link.observer = observer
        self._on_open_callbacks.insert(0, lambda conn: observer.connection_opened(conn))
        self._on_close_callbacks.insert(
            0, lambda conn, reason: observer.connection_closed(conn, reason))
        self.add_on_connection_blocked_callback(
            lambda conn, _frame: observer.connection_blocked(conn))
        self.add_on_connection_unblocked_callback(
            lambda conn, _frame: observer.connection_unblocked(conn))
        self.add_on_recovery_succeeded_callback(
            lambda conn, *_report: observer.connection_recovered(conn))

    @property
    def observer(self) -> Optional[Observer]:
        """The instrumentation observer (``parameters.observer`` when the connection was
        made), or None."""
        observer: Optional[Observer] = self._link.observer
        return observer

    @property
    def bytes_sent(self) -> int:
        """Bytes handed to the transport over this connection's life (every incarnation)."""
        return self._link.bytes_sent

    @property
    def bytes_received(self) -> int:
        """Bytes received from the broker over this connection's life (every incarnation)."""
        return self._link.bytes_received

    def _enable_recovery(
        self, recovery: Recovery, endpoints: Optional[Sequence[Parameters]]
    ) -> None:
        from amqpbase.recovery import RecoveryDriver  # recovery.py imports this module

        if not isinstance(recovery, Recovery):
            raise TypeError(f"recovery must be an amqpbase.Recovery or None, got "
                            f"{type(recovery).__name__}")
        chosen = recovery.endpoints or tuple(endpoints or ()) or (self.params,)
        host = RecoveryHost(
            connection=self,
            call_later=self._adapter_call_later,
            remove_timeout=self._adapter_remove_timeout,
            suspend_channels=self._suspend_channels,
            start_attempt=self._start_recovery_attempt,
            suspended_channels=self._suspended_channels,
            channel_handlers=self._channel_handlers,
            new_private_channel=self._new_private_channel,
            release_channels=self._release_link,
            close_for_good=self._final_close,
            close_after_link=self._close_after_link,
            drop_link=self._adapter_disconnect_stream,
            notify_started=self._notify_recovery_started,
            notify_attempt_failed=self._notify_recovery_attempt_failed,
            notify_failed=self._notify_recovery_failed,
            notify_queue_renamed=self._notify_queue_renamed,
            notify_recovered=self._notify_recovered,
        )
        self._recovery = RecoveryDriver(host, recovery, tuple(chosen))
        self._link.topology = self._recovery.topology

    # ------------------------------------------------------------------------------------
    # Automatic recovery (issue 12): the public side
    # ------------------------------------------------------------------------------------

    @property
    def recovery(self) -> Optional[Recovery]:
        """The ``Recovery`` settings (None: recovery is off)."""
        return self._recovery.recovery if self._recovery is not None else None

    @property
    def recovering(self) -> bool:
        """True from the loss of the link until the recovery succeeded or failed."""
        return self._recovering

    def add_on_recovery_started_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, reason)`` when the link is lost and recovery begins."""
        require_callable(callback)
        self._recovery_started_callbacks.append(callback)

    def add_on_recovery_attempt_failed_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, attempt, endpoint, exc, next_delay)`` after each failed
        attempt (``attempt`` counts from 1; ``next_delay``: seconds until the next attempt,
        None when recovery gives up)."""
        require_callable(callback)
        self._recovery_attempt_failed_callbacks.append(callback)

    def add_on_recovery_succeeded_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, report)`` (a ``RecoveryReport``) when the connection and
        its topology are back."""
        require_callable(callback)
        self._recovery_succeeded_callbacks.append(callback)

    def add_on_recovery_failed_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, RecoveryFailedError)`` when recovery gives up; the
        on-close callbacks follow, once, with the same error."""
        require_callable(callback)
        self._recovery_failed_callbacks.append(callback)

    def add_on_queue_renamed_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, old_name, new_name)`` when a server-named queue is
        re-declared under a new name (before its bindings and consumers are restored)."""
        require_callable(callback)
        self._queue_renamed_callbacks.append(callback)

    def _suspend_channels(self, reason: BaseException) -> int:
        """The link is lost and recovery begins: every open or opening channel is
        suspended (kept, to re-open), the others close for good. Returns the confirms lost."""
        self._recovering = True
        self._hold_link = True
        self._link.open = False
        self._link.forget_channels()
        if self._update_secret_callbacks:
            LOGGER.debug("Link lost with an UpdateSecret unanswered (%r)", reason)
        self._update_secret_callbacks.clear()
        lost = 0
        for number, channel in sorted(self._channels.items()):
            if number in self._private_channels:
                # the recovery's own channel (a restore or probe of the lost link): gone
                self._private_channels.discard(number)
                del self._channels[number]
                channel.recovery_handlers.close_for_good(reason)
                continue
            count = channel.recovery_handlers.suspend(reason)
            if count is None:  # it was closing: closed for good
                self._channels.pop(number, None)
            else:
                lost += count
        return lost

    def _release_link(self) -> None:
        """The restore reached the consumers: channels may work again."""
        self._hold_link = False
        for channel in self._channels.values():
            channel.recovery_handlers.release()
        self._link.open = self._machine.state is ConnectionState.OPEN

    def _start_recovery_attempt(self, endpoint: Parameters) -> None:
        self.params = endpoint
        self._run(self._machine.recover(endpoint))

    def _suspended_channels(self) -> List[RecoverableChannel]:
        return [channel.recovery_handlers for _number, channel in sorted(self._channels.items())
                if channel.recovering]

    def _channel_handlers(self, number: int) -> Optional[RecoverableChannel]:
        channel = self._channels.get(number)
        return channel.recovery_handlers if channel is not None else None

    def _new_private_channel(self) -> RecoverableChannel:
        from amqpbase.channel import Channel  # channel.py imports this module

        number = self._next_channel_number()
        channel = Channel(self, number, None, link=self._link)
        self._channels[number] = channel
        self._private_channels.add(number)
        return channel.recovery_handlers

    def _close_after_link(self, reason: BaseException) -> None:
        machine = self._machine
        if machine.state is ConnectionState.CLOSED:
            self._final_close(reason)
            return
        # an attempt or a restore is under way: end it, then close for good
        self._pending_final = reason
        if machine.state is ConnectionState.OPEN:
            self._run(machine.close(320, "recovery failed", self.close_timeout))
        elif machine.state is not ConnectionState.CLOSING:
            self._run(machine.close(200, "recovery failed", self.close_timeout))

    def _notify_recovery_started(self, reason: BaseException) -> None:
        for callback in list(self._recovery_started_callbacks):
            invoke(callback, self, reason)

    def _notify_recovery_attempt_failed(self, attempt: int, endpoint: Parameters,
                                        error: BaseException,
                                        next_delay: Optional[float]) -> None:
        for callback in list(self._recovery_attempt_failed_callbacks):
            invoke(callback, self, attempt, endpoint, error, next_delay)

    def _notify_recovery_failed(self, failure: BaseException) -> None:
        for callback in list(self._recovery_failed_callbacks):
            invoke(callback, self, failure)

    def _notify_queue_renamed(self, old: str, new: str) -> None:
        for callback in list(self._queue_renamed_callbacks):
            invoke(callback, self, old, new)

    def _notify_recovered(self, report: RecoveryReport) -> None:
        self._release_link()
        self._recovering = False
        for callback in list(self._recovery_succeeded_callbacks):
            invoke(callback, self, report)

    def _final_close(self, reason: BaseException) -> None:
        """The connection is closed for good: every channel, then the on-close callbacks
        (once)."""
        self._recovering = False
        self._hold_link = False
        self._pending_final = None
        if self._recovery is not None:
            self._recovery.connection_closed()
        channels = list(self._channels.values())
        self._channels.clear()
        self._private_channels.clear()
        handlers = self._link.forget_channels()
        for channel in channels:
            channel.recovery_handlers.close_for_good(reason)
        for handler in handlers:
            handler.on_connection_closed(reason)  # a no-op for a channel closed above
        if self._update_secret_callbacks:
            LOGGER.debug("Connection closed with an UpdateSecret unanswered (%r)", reason)
        self._update_secret_callbacks.clear()
        for callback in list(self._on_close_callbacks):
            invoke(callback, self, reason)

    # ------------------------------------------------------------------------------------
    # Public API (docs/api.md)
    # ------------------------------------------------------------------------------------

    def add_backpressure_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` when :attr:`write_buffer_size` exceeds the backpressure
        multiplier times the average outbound frame size so far, checked after each frame or
        publish queued. Edge-triggered: once per crossing, from inside the call that crossed;
        re-armed when the buffer has drained (see :meth:`add_backpressure_drained_callback`)."""
        require_callable(callback)
        self._link.backpressure_callbacks.append(callback)

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
        self._link.backpressure_multiplier = value

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

        self.loop_thread.check()
        if self._recovering:
            raise exceptions.ConnectionRecoveringError(
                "channel() while the connection is recovering; call again after it recovered")
        self._machine.request_channel()  # ConnectionWrongStateError unless OPEN
        if on_open_callback is not None:
            require_callable(on_open_callback, "on_open_callback")
        if channel_number is None:
            number = self._next_channel_number()
        else:
            number = self._validate_channel_number(channel_number)
        channel = Channel(self, number, on_open_callback, link=self._link)
        self._channels[number] = channel
        channel.open()
        return channel

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        """Close the connection: channels first (consumers cancelled), then Connection.Close.

        Publishes already handed over reach the broker before Connection.Close (the stream is
        ordered). Waits at most :attr:`close_timeout` for the broker. Closing while opening
        aborts the open (``ConnectionOpenAborted`` to the open-error callbacks).
        Raises ``ConnectionWrongStateError`` when already closing or closed."""
        self.loop_thread.check()
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
        driver = self._recovery
        if driver is not None and self._recovering:
            driver.abort()
            if self._machine.state is ConnectionState.CLOSED:  # between attempts
                self._final_close(exceptions.ConnectionClosedByClient(reply_code, reply_text))
                return
            self._pending_final = exceptions.ConnectionClosedByClient(reply_code, reply_text)
            if self._machine.state is ConnectionState.CLOSING:
                return  # the attempt is already ending
        self._run(self._machine.close(reply_code, reply_text, self.close_timeout))

    def update_secret(
        self,
        new_secret: str,
        reason: str,
        callback: Optional[Callable[[frame.Method], Any]] = None,
    ) -> None:
        """Send Connection.UpdateSecret (RabbitMQ token rotation); ``callback(method_frame)``
        runs on Connection.UpdateSecretOk."""
        self.loop_thread.check()
        if self._recovering:
            raise exceptions.ConnectionRecoveringError("update_secret() while recovering")
        if not isinstance(new_secret, (str, bytes)):
            raise TypeError("new_secret must be str or bytes")
        if not isinstance(reason, str):
            raise TypeError("reason must be a str")
        if callback is not None:
            require_callable(callback)
        secret = new_secret.encode("utf-8") if isinstance(new_secret, str) else new_secret
        actions = self._machine.update_secret(secret, reason)  # refused unless OPEN
        self._update_secret_callbacks.append(callback)
        self._run(actions)

    @property
    def write_buffer_size(self) -> int:
        """Bytes queued for the socket and not yet accepted by the kernel (read-only; 0 without
        a stream), the not yet emitted slices of a paced large message included: what the
        backpressure check measures. Twisted includes its transport's unsent bytes."""
        return self._link.write_buffer_size()

    @property
    def is_closed(self) -> bool:
        """True when there is no connection and none is being opened."""
        return self._machine.state is ConnectionState.CLOSED and not self._recovering

    @property
    def is_closing(self) -> bool:
        """True while a close (by either side, or an abort) is in progress."""
        return self._machine.state is ConnectionState.CLOSING and not self._recovering

    @property
    def is_open(self) -> bool:
        """True when the connection is open and usable (False while recovering)."""
        return self._machine.state is ConnectionState.OPEN and not self._recovering

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState` (read-only)."""
        return self._machine.state

    @property
    def server_properties(self) -> Dict[str, Any]:
        """The broker's Connection.Start server properties (empty until then)."""
        return self._machine.server_properties

    @property
    def server_capabilities(self) -> Dict[str, Any]:
        """The ``capabilities`` table of :attr:`server_properties`."""
        return self._machine.server_capabilities

    @property
    def known_hosts(self) -> str:
        """The ``known_hosts`` of Connection.OpenOk."""
        return self._machine.known_hosts

    @property
    def machine(self) -> ConnectionMachine:
        """The connection machine that owns every bit of this connection's protocol state
        (read-only attribute), for inspection: its public attributes (``state``,
        ``heartbeat``, the negotiated ``frame_max``/``channel_max``, ...). Feed it nothing: an
        input given to it directly returns actions nobody applies."""
        return self._machine

    @property
    def channels(self) -> Mapping[int, "Channel"]:
        """This connection's channels by number, from ``channel()`` until each has closed (a
        read-only view: a closed channel's number is gone from it and may be reused)."""
        return MappingProxyType(self._channels)

    @classmethod
    def create_connection(
        cls,
        connection_configs: Sequence[Parameters],
        on_done: Callable[[Any], Any],
        custom_ioloop: Any = None,
        workflow: Optional["AbstractAMQPConnectionWorkflow"] = None,
        recovery: Optional[Recovery] = None,
    ) -> "AbstractAMQPConnectionWorkflow":
        """Try each parameter set in turn (``connection_attempts`` cycles of the whole list,
        ``retry_delay`` apart, both from the last set) and call ``on_done`` with the first
        open connection, or with ``AMQPConnectionWorkflowFailed`` listing every attempt's
        cause, or ``AMQPConnectionWorkflowAborted``. Returns the workflow (``abort()``).
        ``recovery``: the connection recovers automatically once open (its endpoints default
        to ``connection_configs``)."""
        from amqpbase.connection_workflow import AMQPConnectionWorkflow

        require_callable(on_done, "on_done")
        if recovery is not None and not isinstance(recovery, Recovery):
            raise TypeError(f"recovery must be an amqpbase.Recovery or None, got "
                            f"{type(recovery).__name__}")
        configs = tuple(connection_configs)
        if workflow is None:
            workflow = AMQPConnectionWorkflow()
        custom_ioloop = cls._workflow_loop(custom_ioloop)

        def connect_one(
            params: Parameters, on_open: OpenCallback, on_error: ErrorCallback
        ) -> "Connection":
            connection = cls._create_for_workflow(params, on_open, on_error, custom_ioloop)
            # the class's own methods, named through the class (the connection is a cls)
            cls._start_for_workflow(connection, recovery, configs)
            return connection

        workflow.start(connection_configs, connect_one, custom_ioloop, on_done)
        return workflow

    def _start_for_workflow(
        self, recovery: Optional[Recovery], configs: Sequence[Parameters]
    ) -> None:
        """Start one open attempt on behalf of a workflow (``create_connection``), with
        recovery (its endpoints defaulting to the workflow's ``configs``) when asked for."""
        if recovery is not None:
            self._enable_recovery(recovery, configs)
        self._run(self._machine.start())

    def __repr__(self) -> str:
        host = getattr(self.params, "host", "?")
        port = getattr(self.params, "port", "?")
        return f"<{type(self).__name__} {self._machine.state.name} {host}:{port}>"

    # ----------------------------------------------------------------------------------------
    # The hook contract (docs/internals.md). Down-calls: base -> adapter, all abstract.
    # ----------------------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def _workflow_loop(cls, custom_ioloop: Any) -> Any:
        """The loop every attempt of one ``create_connection`` workflow shares.

        Called by :meth:`create_connection` (on the caller's thread, the loop's), once per
        workflow, before any attempt. Returns ``custom_ioloop``, or the adapter's default
        loop when it is None (an adapter whose constructor makes a new loop per connection
        must return one here, so the attempts share it). A repeat returns the same loop.
        ``super()._workflow_loop(custom_ioloop)`` returns ``custom_ioloop`` unchanged."""
        return custom_ioloop

    @classmethod
    def _create_for_workflow(
        cls,
        params: Parameters,
        on_open: OpenCallback,
        on_error: ErrorCallback,
        custom_ioloop: Any,
    ) -> "Connection":
        """Build one un-started connection (``internal_connection_workflow=False``) for one
        workflow attempt, on ``custom_ioloop`` (what :meth:`_workflow_loop` returned).

        Called by the workflow on the loop thread, once per attempt, in attempt order; the
        base then starts the attempt. Each call builds a new connection. Not abstract: this
        default passes the loop as the ``custom_ioloop`` keyword; an adapter whose constructor
        names it otherwise (Twisted's ``custom_reactor``) overrides it."""
        factory: Callable[..., "Connection"] = cls
        return factory(
            parameters=params,
            on_open_callback=on_open,
            on_open_error_callback=on_error,
            custom_ioloop=custom_ioloop,
            internal_connection_workflow=False,
        )

    @abstractmethod
    def _adapter_connect_stream(self) -> None:
        """Start connecting to ``self.params`` (DNS off the loop thread, each address in turn,
        TLS handshake). Never blocks.

        Called by the base on the loop thread, once per open attempt, only when no stream
        exists (the previous one was reported terminated). Exactly one outcome later, from
        the loop, never from inside this call: ``_on_stream_connected()`` or
        ``_on_stream_terminated(exc)`` with a connect error. Never repeated for one attempt."""

    @abstractmethod
    def _adapter_disconnect_stream(self) -> None:
        """Close the stream, or abort a connect in progress; data already queued gets one last
        non-blocking write attempt.

        Called by the base on the loop thread, possibly several times per stream. The
        adapter later calls ``_on_stream_terminated(None)`` exactly once, from the loop, never
        from inside this call. A repeat, or a call after the stream ended, is a no-op."""

    @abstractmethod
    def _adapter_emit_data(self, data: Any) -> None:
        """Queue ``data`` (bytes or memoryview, kept by reference) for sending, in order,
        coalesced: never a syscall per call.

        Called on the loop thread once per publish/ack and per control frame (the hot path:
        keep it a few attribute operations), only while a stream exists, in stream order.
        The base binds it once, at construction. A repeat queues the data again."""

    @abstractmethod
    def _adapter_get_write_buffer_size(self) -> int:
        """Bytes queued and not yet accepted by the kernel (0 without a stream).

        Called on the loop thread after each send while backpressure callbacks exist, and by
        :attr:`write_buffer_size`. No side effect: a repeat returns the same count. The base
        binds it once, at construction."""

    @abstractmethod
    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Run ``callback()`` once on the loop after ``delay`` seconds; return a handle.

        Called on the loop thread whenever the base arms a timer (retry, stack, close,
        blocked, abort: a few per connection; heartbeat: one per half-interval). Each call
        schedules one more independent callback."""

    @abstractmethod
    def _adapter_remove_timeout(self, handle: Any) -> None:
        """Cancel a timer from :meth:`_adapter_call_later`.

        Called on the loop thread when the base disarms a timer. Removing twice, or after the
        timer fired, is a no-op."""

    @abstractmethod
    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` on the loop soon, waking it.

        The only hook called from ANY thread (by :meth:`add_callback_threadsafe`), once per
        user request; each call runs its ``callback`` once, in call order."""

    # ----------------------------------------------------------------------------------------
    # Up-calls from the adapter (loop thread)
    # ----------------------------------------------------------------------------------------

    def _on_stream_connected(self) -> None:
        """The stream of the current attempt is connected: start the AMQP handshake."""
        self.loop_thread.record()
        self._run(self._machine.stream_connected(self._stream_incarnation))

    def _on_data_available(self, data: Any) -> None:
        """Bytes from the broker, in order. Parses every complete frame and dispatches it."""
        machine = self._machine
        if machine.discard_input:
            return
        self._link.bytes_received += len(data)
        decoder = self._decoder
        # Batches: each is dispatched before the next is parsed (see feed_batches: the
        # objects of a delivery die soon, which spares the cyclic GC).
        batches = decoder.feed_batches(data)
        while True:
            try:
                frames = next(batches, None)
            except _PROTOCOL_ERRORS as exc:
                # Frames that completed before the malformed one are valid (broker acks,
                # say): act on them first, so nothing the broker did say is lost, then close.
                if self._dispatch(decoder.frames_before_error):
                    self._run(machine.protocol_error(exc, True, self.close_timeout))
                return
            if frames is None or not self._dispatch(frames):
                return  # (a generator dropped early keeps its unparsed rest)

    def _dispatch(self, frames: List[Any]) -> bool:
        """Hand each frame to its channel's ``on_inbound`` (a ``Delivery`` too, as one frame)
        or, on channel 0, to the machine. Returns False when a frame broke the protocol or
        input is discarded from now on (the rest is dropped).

        Kept here, cheap: after our Connection.Close (``can_send`` False) channel frames are
        dropped (AMQP 0-9-1 2.2.4); a frame for a number the broker closed may still be in
        flight and is dropped (:meth:`_is_stale`); a frame for a number never opened is a
        504 that closes the connection."""
        link = self._link
        routes = link.routes
        machine = self._machine
        stale = machine.stale_channels
        for inbound in frames:
            number = inbound.channel_number
            try:
                if number:
                    route = routes.get(number)
                    if stale and number in stale and self._is_stale(number, inbound):
                        continue
                    if route is not None:
                        if link.can_send:
                            route(inbound)
                    elif link.can_send:
                        first = inbound.frames()[0] if type(inbound) is _Delivery else inbound
                        raise exceptions.ChannelNotOpenError(
                            f"{type(first).__name__} frame for channel {number}, which is not open"
                        )
                else:
                    self._run(machine.receive_frame(inbound))
            except _PROTOCOL_ERRORS as exc:
                self._run(machine.protocol_error(exc, False, self.close_timeout))
                return False
            if machine.discard_input:
                return False
        return True

    def _is_stale(self, number: int, inbound: Any) -> bool:
        """True when ``inbound``, for a number the broker closed, is to be dropped.

        RabbitMQ goes on sending what was in flight on a channel after its own Channel.Close
        (deliveries already routed to the channel's consumers, confirms): those frames can
        arrive after our Channel.CloseOk, even after we sent Channel.Open for the same number.
        They are stale, not a protocol violation (pika ignores them too); closing the whole
        connection with 504 would take every other channel down. The number stays stale
        until its next Channel.OpenOk; frames for numbers never opened are still a 504."""
        handlers = self._link.handlers.get(number)
        if handlers is not None and (
            not handlers.is_opening()
            or (type(inbound) is frame.Method and type(inbound.method) is _ChannelOpenOk)
        ):
            self._machine.unstale(number)
            return False
        LOGGER.debug("Discarding %r: its channel was closed by the broker", inbound)
        return True

    def _on_stream_terminated(self, error: Optional[BaseException]) -> None:
        """The stream is gone (``error`` None after our own disconnect). Settle everything."""
        self.loop_thread.record()
        self._run(self._machine.stream_terminated(self._stream_incarnation, error))

    def _on_write_buffer_drained(self) -> None:
        """The adapter's write buffer went from non-empty to empty: re-arm backpressure and,
        when it fired since the last drain, run the drained callbacks (once per crossing)."""
        if self._link.pump():
            return  # the next slice of a paced message went out: not drained yet
        if not self._link.rearm_backpressure():
            return  # no crossing since the last drain: nothing to announce
        if self._machine.state is not ConnectionState.OPEN:
            return  # closing: publishing is over, the close callbacks will report
        LOGGER.debug("Backpressure: write buffer drained")
        for callback in list(self._backpressure_drained_callbacks):
            invoke(callback)

    # ----------------------------------------------------------------------------------------
    # Applying the machine's actions
    # ----------------------------------------------------------------------------------------

    def _run(self, actions: List[act.Action]) -> None:
        """Refresh the link's view of the machine, then apply ``actions`` in order (an
        action may feed the machine again: that step is applied whole before the next)."""
        machine = self._machine
        link = self._link
        link.open = machine.state is ConnectionState.OPEN and not self._hold_link
        link.can_send = machine.stream_up and not machine.close_sent
        for action in actions:
            _APPLY[type(action)](self, action)

    def _apply_send(self, action: act.Send) -> None:
        self._link.send_control(action.data, action.frame_count, action.name)

    def _apply_start_timer(self, action: act.StartTimer) -> None:
        self._apply_cancel_timer(act.CancelTimer(action.timer))  # never two of one name
        timer, incarnation = action.timer, action.incarnation
        self._timer_handles[timer] = self._adapter_call_later(
            action.delay, lambda: self._timer_expired(timer, incarnation)
        )

    def _apply_cancel_timer(self, action: act.CancelTimer) -> None:
        handle = self._timer_handles.pop(action.timer, None)
        if handle is not None:
            self._adapter_remove_timeout(handle)

    def _timer_expired(self, timer: act.Timer, incarnation: int) -> None:
        self.loop_thread.record()
        machine = self._machine
        if machine.armed.get(timer) == incarnation:
            self._timer_handles.pop(timer, None)
        self._run(machine.timer_fired(timer, incarnation))

    def _apply_connect_stream(self, action: act.ConnectStream) -> None:
        self._stream_incarnation = action.incarnation
        self._decoder = frame.FrameDecoder(action.frame_max)
        self._link.frame_max = action.frame_max
        self._adapter_connect_stream()

    def _apply_disconnect_stream(self, action: act.DisconnectStream) -> None:
        self._adapter_disconnect_stream()

    def _apply_negotiated(self, action: act.Negotiated) -> None:
        self._decoder.max_frame_size = action.frame_max
        self._link.frame_max = action.frame_max

    def _apply_choose_heartbeat(self, action: act.ChooseHeartbeat) -> None:
        # The user's callable decides; what it raises fails the open attempt (not isolated).
        choose = self.params.heartbeat
        assert callable(choose)
        answer: Any
        try:
            answer = choose(self, action.server_value)
        except Exception as error:  # noqa: BLE001 - reported as the open error
            answer = error
        self._run(self._machine.heartbeat_chosen(answer))

    def _apply_close_channels(self, action: act.CloseChannels) -> None:
        # The connection is still OPEN here: channels refuse new work once it is not.
        closing = []
        for number, channel in list(self._channels.items()):
            if channel.is_open or channel.is_opening:
                # pika passes the connection's reply on
                channel.close(action.reply_code, action.reply_text)
            if channel.is_closing:
                closing.append(number)
        self._run(self._machine.channels_closing(closing))

    def _apply_opened(self, action: act.Opened) -> None:
        driver = self._recovery
        if driver is not None and self._recovering:
            LOGGER.info("Connection re-established: %r; restoring", self)
            driver.link_up()
            return
        credentials = self.params.credentials
        if getattr(credentials, "erase_on_connect", False):
            credentials.erase_credentials()
        LOGGER.info("Connection open: %r", self)
        for callback in list(self._on_open_callbacks):
            invoke(callback, self)

    def _apply_open_failed(self, action: act.OpenFailed) -> None:
        driver = self._recovery
        if driver is not None:
            if self._recovering:
                if self._pending_final is not None:
                    self._final_close(self._pending_final)
                else:
                    driver.attempt_failed(action.reason)
                return
            if (driver.recovery.initial_connect
                    and not isinstance(action.reason, exceptions.ConnectionOpenAborted)
                    and driver.wants(action.reason)):
                driver.begin_after_failed_open(action.reason)
                return
        for callback in list(self._on_open_error_callbacks):
            invoke(callback, self, action.reason)

    def _apply_closed(self, action: act.Closed) -> None:
        """A connection that was open is now closed: tell every channel, then the user
        (or, with recovery, recover if the reason calls for it)."""
        reason = action.reason
        driver = self._recovery
        if driver is not None:
            if self._pending_final is not None:
                self._final_close(self._pending_final)
                return
            if driver.wants(reason):
                driver.begin(reason)
                return
            if self._recovering:
                self._final_close(reason)
                return
            driver.connection_closed()
        self._channels.clear()
        for handlers in self._link.forget_channels():
            handlers.on_connection_closed(reason)
        if self._update_secret_callbacks:
            LOGGER.debug("Connection closed with an UpdateSecret unanswered (%r)", reason)
        self._update_secret_callbacks.clear()
        for callback in list(self._on_close_callbacks):
            invoke(callback, self, reason)

    def _apply_blocked(self, action: act.Blocked) -> None:
        for callback in list(self._blocked_callbacks):
            invoke(callback, self, action.frame)

    def _apply_unblocked(self, action: act.Unblocked) -> None:
        for callback in list(self._unblocked_callbacks):
            invoke(callback, self, action.frame)

    def _apply_secret_updated(self, action: act.SecretUpdated) -> None:
        callback = self._update_secret_callbacks.pop(0)
        if callback is not None:
            invoke(callback, action.frame)

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    def _channel_closed(self, number: int, closed_by_broker: bool) -> None:
        """From the link: a channel reached CLOSED; forget it (and, closing, proceed)."""
        self._channels.pop(number, None)
        self._private_channels.discard(number)
        self._run(self._machine.channel_closed(number, closed_by_broker))

    def _state_name(self) -> str:
        return self._machine.state.name

    def _default_on_open_error(self, connection: "Connection", error: BaseException) -> None:
        """Default open-error callback: log at ERROR (the select adapter also raises it out
        of ``ioloop.start()``, as pika does; on a loop we do not own the log is the report)."""
        LOGGER.error("Could not open %r: %r (no on_open_error_callback was given: pass one to "
                     "handle a failed open)", connection, error)

    def _capability(self, name: str) -> bool:
        return bool(self._machine.server_capabilities.get(name, False))

    def _next_channel_number(self) -> int:
        limit = self._machine.channel_max or 65535
        if len(self._channels) >= limit:
            raise exceptions.NoFreeChannels(f"all {limit} channel numbers are in use")
        for number in range(1, limit + 1):
            if number not in self._channels:
                return number
        raise exceptions.NoFreeChannels(f"all {limit} channel numbers are in use")

    def _validate_channel_number(self, number: Any) -> int:
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"channel_number must be an int, got {type(number).__name__}")
        limit = self._machine.channel_max or 65535
        if not 1 <= number <= limit:
            raise exceptions.InvalidChannelNumber(
                f"channel_number {number} outside 1..{limit} (channel_max)"
            )
        if number in self._channels:
            raise exceptions.InvalidChannelNumber(f"channel {number} is already in use")
        return number


_ChannelOpenOk = spec.Channel.OpenOk

#: How the facade applies each action type.
_APPLY: Dict[type, Callable[[Connection, Any], None]] = {
    act.Send: Connection._apply_send,
    act.StartTimer: Connection._apply_start_timer,
    act.CancelTimer: Connection._apply_cancel_timer,
    act.ConnectStream: Connection._apply_connect_stream,
    act.DisconnectStream: Connection._apply_disconnect_stream,
    act.Negotiated: Connection._apply_negotiated,
    act.ChooseHeartbeat: Connection._apply_choose_heartbeat,
    act.CloseChannels: Connection._apply_close_channels,
    act.Opened: Connection._apply_opened,
    act.OpenFailed: Connection._apply_open_failed,
    act.Closed: Connection._apply_closed,
    act.Blocked: Connection._apply_blocked,
    act.Unblocked: Connection._apply_unblocked,
    act.SecretUpdated: Connection._apply_secret_updated,
}
