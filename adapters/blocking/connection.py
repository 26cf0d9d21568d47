"""``BlockingConnection``: pika 1.x's blocking connection API over ``SelectConnection``.

Owns: opening (``create_connection`` over one parameter set or a sequence, on the I/O thread),
the connection's state as the user's thread sees it, closing, the user-thread event dispatch
(``process_data_events``, ``sleep``: consumer callbacks, returns, cancels, blocked/unblocked,
``call_later`` timers and ``add_callback_threadsafe`` callbacks all run there and only there),
and the channel objects; with ``recovery=``, automatic recovery as the user's thread sees it
(``recovering``, calls refused meanwhile, the recovery callbacks dispatched there).

How heartbeats survive long user code: the ``SelectConnection`` and its ``IOLoop`` live on the
connection's I/O thread (:mod:`.iothread`), which reads, writes, answers heartbeats and runs
the protocol timers whatever the user's thread is doing; the user's calls are queued to it
and its events queued back. Every call into ``SelectConnection``/``Channel`` is made on that
thread (their loop thread).

Must not: call a ``SelectConnection``/``Channel`` method from the user's thread, or run a user
callback on the I/O thread.
"""

from __future__ import annotations

import heapq
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from amqpbase import exceptions, frame
from amqpbase._callbacks import require_callable
from amqpbase.connection import Connection
from amqpbase.parameters import ConnectionParameters, Parameters
from amqpbase.protocol.recovery import Recovery, RecoveryReport

from ..select.connection import SelectConnection
from .iothread import IOThread, Result

if TYPE_CHECKING:  # pragma: no cover
    from .channel import BlockingChannel

LOGGER = logging.getLogger(__name__)

_OPEN, _CLOSING, _CLOSED = "OPEN", "CLOSING", "CLOSED"


class _Timer:
    """A ``call_later`` timer of the user's thread (the handle ``call_later`` returns)."""

    __slots__ = ("deadline", "callback", "cancelled")

    def __init__(self, deadline: float, callback: Callable[[], Any]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def __repr__(self) -> str:
        return f"<BlockingConnection timer {'cancelled' if self.cancelled else 'pending'}>"


class BlockingConnection:
    """A connection whose methods block until done (pika 1.x ``BlockingConnection``).

    ``parameters``: one ``ConnectionParameters``/``URLParameters``, or a non-empty sequence of
    them tried in order (``connection_attempts``/``retry_delay`` of the last one for retries of
    the whole sequence). Raises the last attempt's precise ``AMQPConnectionError`` subclass
    (``TCPConnectionRefusedError``, ``ProbableAuthenticationError``, ...) when none opens.

    Not thread-safe, like pika's: use it from one thread, except
    :meth:`add_callback_threadsafe`. Heartbeats need no help from that thread.

    ``recovery``: a ``Recovery`` (docs/recovery.md): a lost link is recovered on the I/O
    thread; meanwhile :attr:`recovering` is True, :attr:`is_open` False, and calls raise
    ``ConnectionRecoveringError``/``ChannelRecoveringError`` (nothing is buffered); consumers
    and ``consume()`` generators carry on once it is back; the recovery callbacks run on the
    user's thread, from ``process_data_events``/``sleep``/``start_consuming``.
    """

    def __init__(
        self, parameters: Union[None, Parameters, Sequence[Parameters]] = None,
        recovery: Optional[Recovery] = None,
    ) -> None:
        if parameters is None:
            configs: List[Parameters] = [ConnectionParameters()]
        elif isinstance(parameters, Parameters):
            configs = [parameters]
        else:
            configs = list(parameters)
            if not configs:
                raise ValueError(
                    f"Expected a non-empty sequence of connection parameters, got {parameters!r}"
                )
            for config in configs:
                if not isinstance(config, Parameters):
                    raise TypeError(f"expected connection parameters, got {config!r}")
        if recovery is not None and not isinstance(recovery, Recovery):
            raise TypeError(f"recovery must be an amqpbase.Recovery or None, got "
                            f"{type(recovery).__name__}")
        self._recovery = recovery
        #: True from the loss of the link until recovery succeeded or failed (written on the
        #: I/O thread the moment it changes; read by the user's calls).
        self._recovering = False
        self._recovery_callbacks: Dict[str, List[Callable[..., Any]]] = {
            "started": [], "attempt_failed": [], "succeeded": [], "failed": [],
            "queue_renamed": []}
        self._state = _CLOSING  # until open
        self._io = IOThread()
        self._io.on_call_error = self._on_call_error
        self._impl: Optional[Connection] = None
        self._channels: Dict[int, "BlockingChannel"] = {}
        self._blocked_callbacks: List[Callable[..., Any]] = []
        self._unblocked_callbacks: List[Callable[..., Any]] = []
        self._timers: List[Tuple[float, int, _Timer]] = []
        self._timer_seq = 0
        self._dispatch_depth = 0
        self._close_error_reported = False
        self._capabilities: Dict[str, bool] = {}
        self._io.start()
        try:
            self._io.call(self._open_io, (configs,))
        except BaseException:
            self._state = _CLOSED
            self._io.join()
            raise
        self._state = _OPEN

    # ------------------------------------------------------------------ the I/O thread's side

    def _open_io(self, result: Result, configs: List[Parameters]) -> None:
        def on_done(outcome: Any) -> None:
            if isinstance(outcome, Connection):
                self._impl = outcome
                outcome.add_on_close_callback(self._on_closed_io)
                outcome.add_on_connection_blocked_callback(self._on_blocked_io)
                outcome.add_on_connection_unblocked_callback(self._on_unblocked_io)
                self._capabilities = {
                    "basic_nack": outcome.basic_nack,
                    "consumer_cancel_notify": outcome.consumer_cancel_notify,
                    "exchange_exchange_bindings": outcome.exchange_exchange_bindings,
                    "publisher_confirms": outcome.publisher_confirms,
                }
                self._io.use_write_buffer_size(lambda: outcome.write_buffer_size)
                if self._recovery is not None:
                    self._watch_recovery_io(outcome)
                result.set(outcome)
                return
            error = outcome
            if isinstance(error, exceptions.AMQPConnectionWorkflowFailed) and error.exceptions:
                error = error.exceptions[-1]  # pika: the last attempt's error
            LOGGER.error("Connection workflow failed: %r", error)
            self._io.closed_error = error
            result.fail(error)
            self._io.stop()

        SelectConnection.create_connection(configs, on_done, custom_ioloop=self._io.ioloop,
                                           recovery=self._recovery)

    def _watch_recovery_io(self, impl: Connection) -> None:
        """Follow the connection's recovery: the flag at once (I/O thread), the user's
        callbacks through the inbox (user's thread)."""
        def started(_impl: Connection, reason: BaseException) -> None:
            self._set_recovering_io(True)
            self._queue_recovery_event("started", reason)

        def attempt_failed(_impl: Connection, attempt: int, endpoint: Parameters,
                           error: BaseException, next_delay: Optional[float]) -> None:
            self._queue_recovery_event("attempt_failed", attempt, endpoint, error, next_delay)

        def succeeded(_impl: Connection, report: RecoveryReport) -> None:
            self._set_recovering_io(False)
            self._queue_recovery_event("succeeded", report)

        def failed(_impl: Connection, error: BaseException) -> None:
            self._set_recovering_io(False)
            self._queue_recovery_event("failed", error)

        def renamed(_impl: Connection, old: str, new: str) -> None:
            self._queue_recovery_event("queue_renamed", old, new)

        impl.add_on_recovery_started_callback(started)
        impl.add_on_recovery_attempt_failed_callback(attempt_failed)
        impl.add_on_recovery_succeeded_callback(succeeded)
        impl.add_on_recovery_failed_callback(failed)
        impl.add_on_queue_renamed_callback(renamed)

    def _set_recovering_io(self, recovering: bool) -> None:
        self._recovering = recovering
        for channel in list(self._channels.values()):
            channel.recovering_io(recovering)

    def _queue_recovery_event(self, kind: str, *args: Any) -> None:
        self._io.inbox.put((self._dispatch_recovery, (kind, args)))

    def _on_closed_io(self, _impl: Connection, reason: BaseException) -> None:
        self._state = _CLOSED
        self._recovering = False
        io = self._io
        io.closed_error = reason
        for channel in list(self._channels.values()):
            channel.connection_closed_io(reason)
        io.fail_outstanding(reason, None)
        io.inbox.put((self._closed_event, (reason,)))
        io.stop()

    def _on_blocked_io(self, _impl: Connection, method_frame: frame.Method) -> None:
        self._io.inbox.put((self._dispatch_blocked, (self._blocked_callbacks, method_frame)))

    def _on_unblocked_io(self, _impl: Connection, method_frame: frame.Method) -> None:
        self._io.inbox.put((self._dispatch_blocked, (self._unblocked_callbacks, method_frame)))

    def _on_call_error(self, function: Callable[..., Any], error: BaseException) -> None:
        """A fire-and-forget call (publish, ack, ...) raised on the I/O thread: its channel
        raises it from the next call on that channel."""
        target = getattr(function, "__self__", None)
        number = getattr(target, "channel_number", None)
        channel = self._channels.get(number) if isinstance(number, int) else None
        if channel is not None:
            channel.call_failed_io(error)
        else:
            LOGGER.error("call %r failed on the I/O thread: %r", function, error)

    def _close_io(self, result: Result, reply_code: int, reply_text: str) -> None:
        impl = self._impl
        assert impl is not None
        impl.add_on_close_callback(lambda _conn, _reason: result.set())
        impl.close(reply_code, reply_text)

    def _update_secret_io(self, result: Result, new_secret: str, reason: str) -> None:
        assert self._impl is not None
        self._impl.update_secret(new_secret, reason, result.set)

    def _channel_io(self, result: Result, channel_number: Optional[int]) -> None:
        from .channel import BlockingChannel

        impl = self._impl
        assert impl is not None
        channel = BlockingChannel(self, self._io)
        impl_channel = impl.channel(channel_number, lambda _ch: result.set(channel))
        self._channels[impl_channel.channel_number] = channel
        channel.attach_io(impl_channel)

    def forget_channel(self, channel_number: int) -> None:
        """Called by a channel once it has closed."""
        self._channels.pop(channel_number, None)

    # ------------------------------------------------------------------ user-thread events

    def _closed_event(self, reason: BaseException) -> None:
        """Dispatched after the connection closed: the close reason is raised from the
        dispatching call unless the user closed it (pika)."""
        self.raise_if_closed()

    def _dispatch_recovery(self, kind: str, args: Tuple[Any, ...]) -> None:
        for callback in list(self._recovery_callbacks[kind]):
            callback(self, *args)

    def _dispatch_blocked(self, callbacks: List[Callable[..., Any]], method_frame: Any) -> None:
        for callback in list(callbacks):
            callback(self, method_frame)

    def raise_if_closed(self) -> None:
        """Raise the reason the connection closed (the first time, unless the user closed
        it), then ``ConnectionWrongStateError``. Called by every blocking call."""
        if self._state is _OPEN:
            return
        error = self._io.closed_error
        if (
            not self._close_error_reported
            and error is not None
            and not isinstance(error, exceptions.ConnectionClosedByClient)
        ):
            self._close_error_reported = True
            LOGGER.error("Unexpected connection close detected: %r", error)
            raise error
        raise exceptions.ConnectionWrongStateError("connection is closed")

    # ------------------------------------------------------------------ public API

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self._state} impl={self._impl!r}>"

    def __enter__(self) -> "BlockingConnection":
        return self

    def __exit__(self, exc_type: Any, value: Any, traceback: Any) -> None:
        if self._state is _OPEN:  # recovering too: the close ends the recovery
            self.close()

    @property
    def is_open(self) -> bool:
        """True when open and usable (False while recovering)."""
        return self._state is _OPEN and not self._recovering

    @property
    def recovering(self) -> bool:
        """True from the loss of the link until the recovery succeeded or failed."""
        return self._recovering

    def _add_recovery_callback(self, kind: str, callback: Callable[..., Any]) -> None:
        require_callable(callback)
        self._recovery_callbacks[kind].append(callback)

    def add_on_recovery_started_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, reason)`` (this ``BlockingConnection``), on the user's
        thread: the link was lost and recovery began."""
        self._add_recovery_callback("started", callback)

    def add_on_recovery_attempt_failed_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, attempt, endpoint, exc, next_delay)`` on the user's thread."""
        self._add_recovery_callback("attempt_failed", callback)

    def add_on_recovery_succeeded_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, report)`` (a ``RecoveryReport``) on the user's thread."""
        self._add_recovery_callback("succeeded", callback)

    def add_on_recovery_failed_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, RecoveryFailedError)`` on the user's thread; the next
        blocking call raises the error."""
        self._add_recovery_callback("failed", callback)

    def add_on_queue_renamed_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, old_name, new_name)`` on the user's thread."""
        self._add_recovery_callback("queue_renamed", callback)

    @property
    def is_closed(self) -> bool:
        return self._state is _CLOSED

    @property
    def basic_nack_supported(self) -> bool:
        """True when the broker supports Basic.Nack."""
        return self._capabilities.get("basic_nack", False)

    @property
    def consumer_cancel_notify_supported(self) -> bool:
        """True when the broker sends Basic.Cancel for consumers it cancels."""
        return self._capabilities.get("consumer_cancel_notify", False)

    @property
    def exchange_exchange_bindings_supported(self) -> bool:
        """True when the broker supports exchange-to-exchange bindings."""
        return self._capabilities.get("exchange_exchange_bindings", False)

    @property
    def publisher_confirms_supported(self) -> bool:
        """True when the broker supports publisher confirms."""
        return self._capabilities.get("publisher_confirms", False)

    # pika's legacy names
    basic_nack = basic_nack_supported
    consumer_cancel_notify = consumer_cancel_notify_supported
    exchange_exchange_bindings = exchange_exchange_bindings_supported
    publisher_confirms = publisher_confirms_supported

    def channel(self, channel_number: Optional[int] = None) -> "BlockingChannel":
        """Open a channel (the lowest free number unless given) and return it once open."""
        self.raise_if_closed()
        if self._recovering:
            raise exceptions.ConnectionRecoveringError(
                "channel() while the connection is recovering; call again after it recovered")
        channel: "BlockingChannel" = self._io.call(self._channel_io, (channel_number,))
        return channel

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        """Close the channels still open (cancelling their consumers), then the connection.
        Raises ``ConnectionWrongStateError`` when the connection is not open (a second
        ``close()``, or after the broker closed it). While recovering it ends the recovery."""
        if self._state is not _OPEN:
            message = (
                f"{self.__class__.__name__}.close({reply_code}, {reply_text!r}) called on "
                "closed connection."
            )
            LOGGER.error(message)
            raise exceptions.ConnectionWrongStateError(message)
        LOGGER.info("Closing connection (%s): %s", reply_code, reply_text)
        for channel in list(self._channels.values()):
            if channel.is_open and not self._recovering:  # recovering: the close ends them
                try:
                    channel.close(reply_code, reply_text)
                except exceptions.ChannelClosed as exc:
                    LOGGER.warning("Got ChannelClosed while closing channel from "
                                   "connection.close: %r", exc)
        try:
            self._io.call(self._close_io, (reply_code, reply_text))
        except exceptions.ConnectionClosedByClient:
            pass
        except exceptions.AMQPConnectionError:
            if self._io.closed_error is None:
                raise
        finally:
            self._state = _CLOSED
            self._close_error_reported = True
            self._io.join()
        if self._dispatch_depth == 0:
            self._io.ready.clear()

    def update_secret(self, new_secret: str, reason: str) -> None:
        """RabbitMQ's Connection.UpdateSecret; returns on UpdateSecretOk."""
        self.raise_if_closed()
        if self._recovering:
            raise exceptions.ConnectionRecoveringError("update_secret() while recovering")
        self._io.call(self._update_secret_io, (new_secret, reason))

    def add_on_connection_blocked_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, method_frame)`` on Connection.Blocked (dispatched by
        ``process_data_events``). ``blocked_connection_timeout`` in the parameters closes the
        connection with ``ConnectionBlockedTimeout`` if it stays blocked that long."""
        require_callable(callback)
        self._blocked_callbacks.append(callback)

    def add_on_connection_unblocked_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(connection, method_frame)`` on Connection.Unblocked."""
        require_callable(callback)
        self._unblocked_callbacks.append(callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> _Timer:
        """Run ``callback()`` once after ``delay`` seconds, from ``process_data_events`` /
        ``start_consuming`` / ``sleep`` (only there); returns the timer's handle."""
        require_callable(callback)
        timer = _Timer(time.monotonic() + max(0.0, float(delay)), callback)
        self._timer_seq += 1
        heapq.heappush(self._timers, (timer.deadline, self._timer_seq, timer))
        return timer

    def remove_timeout(self, timeout_id: _Timer) -> None:
        """Cancel a ``call_later`` timer; a no-op once it ran or was removed."""
        timeout_id.cancelled = True

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` on the connection's thread, from ``process_data_events`` /
        ``start_consuming`` / ``sleep``. The one method callable from any thread."""
        require_callable(callback)
        if self._state is not _OPEN:
            raise exceptions.ConnectionWrongStateError(
                "BlockingConnection.add_callback_threadsafe() called on closed or closing "
                "connection."
            )
        self._io.inbox.put((callback, ()))

    def process_data_events(self, time_limit: Optional[float] = 0) -> None:
        """Dispatch what is ready: deliveries, returns, cancels, blocked/unblocked, timers and
        threadsafe callbacks. ``time_limit``: 0 returns at once, a number waits at most that
        long for something to dispatch, None waits until there is something."""
        self.raise_if_closed()
        io = self._io
        deadline = None if time_limit is None else time.monotonic() + time_limit
        if self._dispatch_depth:
            # Called from a callback: no dispatch (it would recurse), only the wait.
            io.pump(None if deadline is None else max(0.0, deadline - time.monotonic()))
            self.raise_if_closed()
            return
        self._dispatch_depth += 1
        try:
            while True:
                io.pump(0)
                if io.ready or self._timer_due():
                    break
                wait = self._wait_time(deadline)
                if wait is not None and wait <= 0:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    continue
                io.pump(wait)
                if self._state is not _OPEN:
                    break
            self._dispatch_ready()
        finally:
            self._dispatch_depth -= 1

    def sleep(self, duration: float) -> None:
        """Wait ``duration`` seconds dispatching events (the connection stays serviced)."""
        if duration < 0:
            raise ValueError(f"duration must be >= 0, got {duration!r}")
        deadline = time.monotonic() + duration
        time_limit = duration
        while True:
            self.process_data_events(time_limit)
            time_limit = deadline - time.monotonic()
            if time_limit <= 0:
                break

    # ------------------------------------------------------------------ dispatch helpers

    def dispatching(self) -> bool:
        """True while user callbacks are being dispatched (``start_consuming`` refuses)."""
        return self._dispatch_depth > 0

    def _timer_due(self) -> bool:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return bool(timers) and timers[0][0] <= time.monotonic()

    def _wait_time(self, deadline: Optional[float]) -> Optional[float]:
        now = time.monotonic()
        wait = None if deadline is None else deadline - now
        if self._timers:
            until_timer = self._timers[0][0] - now
            wait = until_timer if wait is None else min(wait, until_timer)
        return wait

    def _dispatch_ready(self) -> None:
        """Run the events ready now and the timers due now (not the ones they add)."""
        ready = self._io.ready
        for _ in range(len(ready)):
            try:
                function, args = ready.popleft()
            except IndexError:  # a callback cancelled a consumer and took its deliveries
                break
            function(*args)
        timers = self._timers
        if timers:
            # Only the timers due now: one a callback adds (even with delay 0) waits for the
            # next dispatch, so a timer that re-arms itself cannot spin here.
            now = time.monotonic()
            last_seq = self._timer_seq
            while timers and timers[0][0] <= now and timers[0][1] <= last_seq:
                timer = heapq.heappop(timers)[2]
                if not timer.cancelled:
                    timer.cancelled = True
                    timer.callback()
        self.raise_if_closed()
