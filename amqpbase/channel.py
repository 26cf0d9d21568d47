"""AMQP 0-9-1 channel: the pika 1.x ``Channel`` API on top of the base ``Connection``.

Contracts (see docs/internals.md, "Channel <-> Connection"):

- The connection creates ``Channel(connection, number, on_open_callback)``, calls ``open()``
  and feeds every inbound method/header/body frame for this number to ``_handle_frame``. A
  frame that breaks the protocol raises a :class:`~amqpbase.exceptions.ProtocolSyntaxError`
  subclass (``UnexpectedFrameError``, ``BodyTooLongError``, ``CommandInvalidError``,
  ``ChannelNotOpenError``; see ``_channel_core``) and the connection closes itself with that
  ``reply_code``; the channel has changed no state when it raises.
- At most one synchronous method is on the wire per channel. Later ones wait in a FIFO and are
  sent, in call order, when the reply to the previous one arrives (AMQP 0-9-1 section 2.3.5.2
  "synchronous requests": a peer need not accept a second one before answering the first).
  Replies are matched by type against the method's ``valid_responses``. Asynchronous methods
  (publish, ack, nack, reject) are never queued.
- Where pika 1.x derives ``nowait`` from ``callback is None`` (exchange_*, queue_bind/
  declare/delete/purge, basic_cancel, confirm_delivery) this class does the same, so a call
  without a callback sends ``nowait=True`` and expects no reply; everything else waits for its
  reply even without a callback.
- User callbacks always run through :func:`amqpbase._callbacks.invoke`: an exception in one is
  logged and never reaches the connection.
- Invalid arguments raise (TypeError/ValueError, or the codec's ``ShortStringTooLong`` /
  ``UnsupportedAMQPFieldException`` like pika) before anything is sent or any state changes.
- A method called while the channel is not OPEN raises ``ChannelWrongStateError``; while the
  channel is OPEN but the connection is not, ``ConnectionWrongStateError``.
"""

from __future__ import annotations

import logging
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import require_callable
from amqpbase._channel_hot_paths import ChannelHotPaths
from amqpbase._channel_parts import (
    ChannelEvent,
    ChannelState,
    _Registration,
    _Rpc,
    check_encodable,
    next_state,
    optional_callback,
    require_str,
    require_table,
    require_uint,
)
from amqpbase.amqp_object import Method

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.channel")

__all__ = ["Channel", "ChannelState"]

_Callback = Callable[..., Any]

_OPEN = ChannelState.OPEN
_CLOSING = ChannelState.CLOSING
_CLOSED = ChannelState.CLOSED


class Channel(ChannelHotPaths):
    """One AMQP channel; method names, signatures and callback arguments follow pika 1.x.

    Completion callbacks receive the reply's :class:`amqpbase.frame.Method` (``.method``,
    ``.channel_number``) except where pika passes something else (``flow``: a bool;
    ``basic_get`` and consumers: ``(channel, method, properties, body)``).

    The per-message methods (``basic_publish``, ``basic_ack``, ``basic_nack``,
    ``basic_reject``) are inherited from ``_channel_hot_paths.ChannelHotPaths``; the engine
    (RPC queue, inbound frames, consumers, confirms, closing) from ``_channel_core``.
    """

    # pika exposes the states as class attributes; ours are ChannelState members.
    CLOSED = ChannelState.CLOSED
    OPENING = ChannelState.OPENING
    OPEN = ChannelState.OPEN
    CLOSING = ChannelState.CLOSING

    def __init__(
        self,
        connection: "Connection",
        channel_number: int,
        on_open_callback: Optional[_Callback],
        *,
        link: Any = None,  # TEMP-SHIM (conn branch only): the ChannelLink of the seam
    ) -> None:
        if not isinstance(channel_number, int) or isinstance(channel_number, bool):
            raise exceptions.InvalidChannelNumber(channel_number)
        optional_callback(on_open_callback, "on_open_callback")
        super().__init__(connection, channel_number, link)
        self._on_open_callback = on_open_callback

    # ----------------------------------------------------------------------------------------
    # Properties and small helpers
    # ----------------------------------------------------------------------------------------

    def __int__(self) -> int:
        return self.channel_number

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} number={self.channel_number} {self._state.name}>"

    @property
    def is_closed(self) -> bool:
        """True before ``open()`` and once the channel has closed."""
        return self._state is _CLOSED

    @property
    def is_closing(self) -> bool:
        """True while a client-initiated close is in progress."""
        return self._state is _CLOSING

    @property
    def is_open(self) -> bool:
        return self._state is _OPEN

    @property
    def is_opening(self) -> bool:
        return self._state is ChannelState.OPENING

    @property
    def next_delivery_tag(self) -> int:
        """The delivery tag the next publish gets in confirm mode: RabbitMQ numbers a
        channel's publishes 1, 2, ... from Confirm.Select, and so does this channel, so right
        after ``basic_publish`` the message's tag is ``next_delivery_tag - 1`` (what per-publish
        confirm tracking, such as the Twisted Deferred API, matches acks against)."""
        return self._next_delivery_tag

    @property
    def consumer_tags(self) -> List[str]:
        """Tags of the consumers registered on this channel (including ones being cancelled)."""
        return list(self._consumers)

    # ----------------------------------------------------------------------------------------
    # Callback registration
    # ----------------------------------------------------------------------------------------

    def add_callback(
        self, callback: _Callback, replies: Sequence[Any], one_shot: bool = True
    ) -> None:
        """Call ``callback(method_frame)`` when a method of one of the ``replies`` classes
        arrives (after the channel's own handling). An entry may be ``(MethodClass, {attr:
        value})`` to match only methods with those attribute values (pika compatible).
        Content-bearing Deliver/Return never trigger these; GetOk does, after the get callback.
        """
        require_callable(callback)
        if isinstance(replies, (str, bytes)) or not hasattr(replies, "__iter__"):
            raise TypeError(f"replies must be a sequence of AMQP method classes, got {replies!r}")
        parsed = []
        for reply in replies:
            if isinstance(reply, tuple) and len(reply) != 2:
                raise TypeError(f"replies entries must be (class, dict) pairs, got {reply!r}")
            cls, args = reply if isinstance(reply, tuple) else (reply, None)
            if not (isinstance(cls, type) and issubclass(cls, Method)):
                raise TypeError(f"replies must be AMQP method classes, got {reply!r}")
            if args is not None and not isinstance(args, dict):
                raise TypeError(f"replies entry arguments must be a dict, got {args!r}")
            parsed.append((cls, args))
        for cls, args in parsed:
            self._method_callbacks.setdefault(cls, []).append(
                _Registration(callback, args, bool(one_shot))
            )

    def add_on_cancel_callback(self, callback: _Callback) -> None:
        """``callback(method_frame)`` whenever the broker sends Basic.Cancel for a consumer."""
        require_callable(callback)
        self._method_callbacks.setdefault(spec.Basic.Cancel, []).append(
            _Registration(callback, None, False)
        )

    def add_on_close_callback(self, callback: _Callback) -> None:
        """``callback(channel, reason)`` once, when the channel closes. ``reason`` is
        ``ChannelClosedByClient`` after our close completed, ``ChannelClosedByBroker`` after a
        broker Channel.Close, else the connection's close reason."""
        require_callable(callback)
        self._on_close_callbacks.append(callback)

    def add_on_flow_callback(self, callback: _Callback) -> None:
        """``callback(method_frame)`` when the broker sends Channel.Flow (RabbitMQ no longer
        does; it blocks the connection instead)."""
        require_callable(callback)
        self._method_callbacks.setdefault(spec.Channel.Flow, []).append(
            _Registration(callback, None, False)
        )

    def add_on_return_callback(self, callback: _Callback) -> None:
        """``callback(channel, method, properties, body)`` for each Basic.Return."""
        require_callable(callback)
        self._return_callbacks.append(callback)

    # ----------------------------------------------------------------------------------------
    # Basic
    # ----------------------------------------------------------------------------------------

    def basic_consume(
        self,
        queue: str,
        on_message_callback: _Callback,
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> str:
        """Start a consumer; returns its tag (generated when not given). Deliveries go to
        ``on_message_callback(channel, method, properties, body)``; ``callback(method_frame)``
        gets the Basic.ConsumeOk. Raises ``DuplicateConsumerTag`` for a tag in use."""
        require_str(queue, "queue")
        require_callable(on_message_callback, "on_message_callback")
        self._raise_if_not_open()
        optional_callback(callback)
        if consumer_tag is not None:
            require_str(consumer_tag, "consumer_tag")
        require_table(arguments)
        if not consumer_tag:
            consumer_tag = f"ctag{self.channel_number}.{uuid.uuid4().hex}"
        if consumer_tag in self._consumers or consumer_tag in self._cancelling:
            raise exceptions.DuplicateConsumerTag(consumer_tag)
        method = spec.Basic.Consume(
            0, queue, consumer_tag, False, bool(auto_ack), bool(exclusive), False, arguments
        )
        check_encodable(method)
        self._consumers[consumer_tag] = on_message_callback
        if auto_ack:
            self._no_ack.add(consumer_tag)
        self._rpc(_Rpc(method, True, None, callback))
        return consumer_tag

    def basic_cancel(self, consumer_tag: str = "", callback: Optional[_Callback] = None) -> None:
        """Cancel a consumer. Without ``callback`` this sends ``nowait=True`` and forgets the
        consumer at once (pika); with one, ``callback(method_frame)`` gets the CancelOk.
        An unknown or already-cancelling tag is logged and ignored (callback not called)."""
        require_str(consumer_tag, "consumer_tag")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if consumer_tag in self._cancelling:
            LOGGER.warning("basic_cancel: consumer %r is already being cancelled", consumer_tag)
            return
        if consumer_tag not in self._consumers:
            LOGGER.warning("basic_cancel: no consumer %r on %r", consumer_tag, self)
            return
        self._cancel_consumer(consumer_tag, nowait, callback)

    def _cancel_consumer(
        self, consumer_tag: str, nowait: bool, callback: Optional[_Callback]
    ) -> None:
        method = spec.Basic.Cancel(consumer_tag, nowait)
        check_encodable(method)
        self._cancelling.add(consumer_tag)
        if nowait:
            # No CancelOk will come; tag stays in _cancelling so late deliveries get rejected.
            del self._consumers[consumer_tag]
            self._rpc(_Rpc(method, False))
        else:
            self._rpc(_Rpc(method, True, self._on_cancel_ok, callback))

    def basic_get(self, queue: str, callback: _Callback, auto_ack: bool = False) -> None:
        """Fetch one message: ``callback(channel, method, properties, body)`` on Basic.GetOk.
        On Basic.GetEmpty the callback is NOT called (pika); register one for
        ``spec.Basic.GetEmpty`` with ``add_callback`` to learn of it. One get at a time
        (``DuplicateGetOkCallback``)."""
        require_str(queue, "queue")
        require_callable(callback)
        self._raise_if_not_open()
        if self._get_pending:
            raise exceptions.DuplicateGetOkCallback()
        method = spec.Basic.Get(0, queue, bool(auto_ack))
        check_encodable(method)
        self._get_pending = True
        self._get_callback = callback
        self._rpc(_Rpc(method, True, self._on_get_empty))

    def basic_qos(
        self,
        prefetch_size: int = 0,
        prefetch_count: int = 0,
        global_qos: bool = False,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Set the prefetch window (``prefetch_size`` octets, ``prefetch_count`` messages;
        ``global_qos``: RabbitMQ shares the count across the channel's consumers)."""
        self._raise_if_not_open()
        optional_callback(callback)
        require_uint(prefetch_size, "prefetch_size", 32)
        require_uint(prefetch_count, "prefetch_count", 16)
        method = spec.Basic.Qos(prefetch_size, prefetch_count, bool(global_qos))
        self._rpc(_Rpc(method, True, None, callback))

    def basic_recover(self, requeue: bool = False, callback: Optional[_Callback] = None) -> None:
        """Ask the broker to redeliver unacknowledged messages (waits for RecoverOk)."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._rpc(_Rpc(spec.Basic.Recover(bool(requeue)), True, None, callback))

    # ----------------------------------------------------------------------------------------
    # Channel
    # ----------------------------------------------------------------------------------------

    def open(self) -> None:
        """Send Channel.Open (called by the connection once). ``on_open_callback(channel)``
        runs when Channel.OpenOk arrives, unless ``close()`` was called meanwhile."""
        self._state = next_state(self._state, ChannelEvent.OPEN)
        self._rpc(_Rpc(spec.Channel.Open(), True, self._on_open_ok, self._notify_open))

    def close(self, reply_code: int = 0, reply_text: str = "Normal shutdown") -> None:
        """Close gracefully: cancel every consumer (Basic.Cancel, waiting for each CancelOk),
        then Channel.Close; on CloseOk the on-close callbacks get ``ChannelClosedByClient``.
        Deliveries arriving meanwhile are dropped (the broker requeues unacked messages).
        Raises ``ChannelWrongStateError`` when already closing or closed."""
        require_uint(reply_code, "reply_code", 16)
        require_str(reply_text, "reply_text")
        if self._state is _CLOSING:
            raise exceptions.ChannelWrongStateError("Channel is closing.")
        if self._state is _CLOSED:
            raise exceptions.ChannelWrongStateError("Channel is closed.")
        method = spec.Channel.Close(reply_code, reply_text, 0, 0)
        check_encodable(method)
        LOGGER.info("Closing %r (%s): %r", self, reply_code, reply_text)
        self._state = next_state(self._state, ChannelEvent.CLOSE)
        self._closing_reason = exceptions.ChannelClosedByClient(reply_code, reply_text)
        for tag in list(self._consumers):
            if tag not in self._cancelling:
                self._cancel_consumer(tag, False, None)
        self._rpc(_Rpc(method, True, self._on_close_ok))

    def flow(self, active: bool, callback: Optional[_Callback] = None) -> None:
        """Ask the broker to pause (False) or resume (True) deliveries; ``callback(active)``
        gets the broker's answer as a bool (pika)."""
        self._raise_if_not_open()
        optional_callback(callback)
        notify = None
        if callback is not None:
            user_callback = callback

            def notify(frame_value: frame.Method) -> None:
                user_callback(frame_value.method.active)

        self._rpc(_Rpc(spec.Channel.Flow(bool(active)), True, self._on_flow_ok, notify))

    def confirm_delivery(
        self, ack_nack_callback: _Callback, callback: Optional[_Callback] = None
    ) -> None:
        """Enter publisher-confirm mode. ``ack_nack_callback(method_frame)`` gets every
        Basic.Ack / Basic.Nack; publishes from now on get delivery tags 1, 2, ... Without
        ``callback`` Confirm.Select is sent ``nowait`` (pika). Raises ``MethodNotImplemented``
        when the broker did not announce publisher_confirms and basic.nack."""
        if not callable(ack_nack_callback):
            raise ValueError("confirm_delivery requires a callable ack_nack_callback")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if not (self.connection.publisher_confirms and self.connection.basic_nack):
            raise exceptions.MethodNotImplemented("Confirm.Select not supported by the broker")
        for cls in (spec.Basic.Ack, spec.Basic.Nack):
            self._method_callbacks.setdefault(cls, []).append(
                _Registration(ack_nack_callback, None, False)
            )
        self._confirming = True
        self._rpc(_Rpc(spec.Confirm.Select(nowait), not nowait, None, callback))

    # ----------------------------------------------------------------------------------------
    # Exchange / Queue / Tx
    # ----------------------------------------------------------------------------------------

    def exchange_declare(
        self,
        exchange: str,
        exchange_type: Any = "direct",
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Declare an exchange (``exchange_type`` may be a str or a str-valued Enum)."""
        require_str(exchange, "exchange")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if isinstance(exchange_type, Enum):
            exchange_type = exchange_type.value
        require_str(exchange_type, "exchange_type")
        require_table(arguments)
        self._checked_rpc(
            spec.Exchange.Declare(
                0,
                exchange,
                exchange_type,
                bool(passive),
                bool(durable),
                bool(auto_delete),
                bool(internal),
                nowait,
                arguments,
            ),
            nowait,
            callback,
        )

    def exchange_delete(
        self,
        exchange: Optional[str] = None,
        if_unused: bool = False,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Delete an exchange."""
        self._raise_if_not_open()
        require_str(exchange, "exchange")
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Exchange.Delete(0, exchange, bool(if_unused), nowait), nowait, callback
        )

    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Bind exchange ``destination`` to exchange ``source`` (RabbitMQ extension)."""
        self._raise_if_not_open()
        require_str(destination, "destination")
        require_str(source, "source")
        require_str(routing_key, "routing_key")
        require_table(arguments)
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Exchange.Bind(0, destination, source, routing_key, nowait, arguments),
            nowait,
            callback,
        )

    def exchange_unbind(
        self,
        destination: Optional[str] = None,
        source: Optional[str] = None,
        routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Remove an exchange-to-exchange binding."""
        self._raise_if_not_open()
        require_str(destination, "destination")
        require_str(source, "source")
        require_str(routing_key, "routing_key")
        require_table(arguments)
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Exchange.Unbind(0, destination, source, routing_key, nowait, arguments),
            nowait,
            callback,
        )

    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Declare a queue (``''``: the broker names it; the name is in the DeclareOk, which
        only arrives when a ``callback`` is given — without one pika sends ``nowait``)."""
        require_str(queue, "queue")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        require_table(arguments)
        self._checked_rpc(
            spec.Queue.Declare(
                0,
                queue,
                bool(passive),
                bool(durable),
                bool(exclusive),
                bool(auto_delete),
                nowait,
                arguments,
            ),
            nowait,
            callback,
        )

    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Bind ``queue`` to ``exchange``; ``routing_key`` defaults to the queue name."""
        require_str(queue, "queue")
        require_str(exchange, "exchange")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if routing_key is None:
            routing_key = queue
        require_str(routing_key, "routing_key")
        require_table(arguments)
        self._checked_rpc(
            spec.Queue.Bind(0, queue, exchange, routing_key, nowait, arguments), nowait, callback
        )

    def queue_unbind(
        self,
        queue: str,
        exchange: Optional[str] = None,
        routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Unbind ``queue`` from ``exchange`` (Queue.Unbind has no nowait: always waits)."""
        self._raise_if_not_open()
        require_str(queue, "queue")
        require_str(exchange, "exchange")
        optional_callback(callback)
        if routing_key is None:
            routing_key = queue
        require_str(routing_key, "routing_key")
        require_table(arguments)
        self._checked_rpc(
            spec.Queue.Unbind(0, queue, exchange, routing_key, arguments), False, callback
        )

    def queue_delete(
        self,
        queue: str,
        if_unused: bool = False,
        if_empty: bool = False,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Delete a queue."""
        self._raise_if_not_open()
        require_str(queue, "queue")
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Queue.Delete(0, queue, bool(if_unused), bool(if_empty), nowait), nowait, callback
        )

    def queue_purge(self, queue: str, callback: Optional[_Callback] = None) -> None:
        """Remove every ready message from a queue."""
        self._raise_if_not_open()
        require_str(queue, "queue")
        nowait = optional_callback(callback)
        self._checked_rpc(spec.Queue.Purge(0, queue, nowait), nowait, callback)

    def tx_select(self, callback: Optional[_Callback] = None) -> None:
        """Enter transaction mode."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._rpc(_Rpc(spec.Tx.Select(), True, None, callback))

    def tx_commit(self, callback: Optional[_Callback] = None) -> None:
        """Commit the current transaction."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._rpc(_Rpc(spec.Tx.Commit(), True, None, callback))

    def tx_rollback(self, callback: Optional[_Callback] = None) -> None:
        """Abandon the current transaction."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._rpc(_Rpc(spec.Tx.Rollback(), True, None, callback))
