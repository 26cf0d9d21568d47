"""``TwistedChannel``: pika's Deferred-returning channel over :class:`amqpbase.channel.Channel`.

Contracts (user documentation: ``docs/guide-twisted.md``):

- Every method that waits for the broker returns a Deferred firing with what the callback API
  would pass (the reply's :class:`amqpbase.frame.Method`; ``flow``: a bool). Such a method never
  raises: a bad argument, a wrong state or a closed channel comes back as a failed Deferred.
- Every pending Deferred (RPCs, ``basic_get``, publish confirms, ``basic_cancel``) fails with
  the channel's close reason when the channel or its connection closes, and consumer queues are
  closed with it (internals.md rule 8).
- Cancelling a Deferred we returned only detaches its owner: the request already on the wire
  still gets its reply from the broker and the channel drops it (details per method).
- Exceptions raised by callbacks users attach to our Deferreds stay inside those Deferreds
  (Twisted reports them as "Unhandled error in Deferred"); callbacks registered with ``add_on_*``
  run through :func:`amqpbase._callbacks.invoke`. Neither can break the channel or connection.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from twisted.internet import defer

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import invoke, require_callable
from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.protocol.consumers import ConsumerQueues, cancelled_by_broker, cancelled_by_us

from ._deferred_tools import ClosableDeferredQueue, Outcome, ReceivedMessage, fail_with, fire

LOGGER = logging.getLogger("amqpbase.adapters.twisted")

_Deferred = defer.Deferred
#: Close reasons that mean "the client closed it on purpose": ``closed`` fires (not fails).
_CLIENT_CLOSES = (exceptions.ChannelClosedByClient, exceptions.ConnectionClosedByClient)


def _failed(error: BaseException) -> "defer.Deferred[Any]":
    return defer.fail(error)


def _ignore_ack_nack(_reply: frame.Method) -> None:
    """confirm_delivery's ack/nack callback: each publish is settled by the channel's
    settlement engine (``basic_publish(on_confirm=)``), not from the raw frames."""


class TwistedChannel:
    """A channel whose RPCs return Deferreds (pika's ``TwistedChannel`` API).

    Obtained from ``TwistedProtocolConnection.channel()``; :attr:`impl` is the callback-API
    :class:`~amqpbase.channel.Channel` underneath.
    """

    def __init__(self, channel: Channel) -> None:
        self.impl = channel
        self._close_reason: Optional[BaseException] = None
        self._closed: Outcome[BaseException] = Outcome()  # fires for our close, fails else
        self._on_closed: Outcome[BaseException] = Outcome()  # pika's: always fires
        # RPC Deferreds awaiting their reply (a cancelled one is removed: reply dropped).
        self._calls: Set["defer.Deferred[Any]"] = set()
        # Consumer tag -> its queue, from basic_consume until the consumer ends.
        self._consumers: ConsumerQueues[ClosableDeferredQueue[ReceivedMessage]] = (
            ConsumerQueues()
        )
        self._cancels: Dict[str, Outcome[Any]] = {}  # basic_cancel awaiting CancelOk, by tag
        # The pending basic_get's Deferred (None: none, or its caller cancelled it).
        self._get: Optional["defer.Deferred[Any]"] = None
        self._get_auto_ack = False
        # Publisher confirms: True from confirm_delivery() on (the channel settles each
        # publish through its engine and hands us the outcome).
        self._confirming = False
        self._return_callbacks: List[Callable[[ReceivedMessage], Any]] = []
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_interrupted_callback(self._on_interrupted)
        channel.add_on_cancel_callback(self._on_broker_cancel)
        channel.add_on_return_callback(self._on_return)
        channel.add_callback(self._on_get_empty, [spec.Basic.GetEmpty], one_shot=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} channel={self.impl!r}>"

    # ----------------------------------------------------------------------------------------
    # State
    # ----------------------------------------------------------------------------------------

    @property
    def channel_number(self) -> int:
        return self.impl.channel_number

    @property
    def connection(self) -> Connection:
        """The callback-API connection underneath (a ``TwistedConnection``), as in pika."""
        return self.impl.connection

    @property
    def is_open(self) -> bool:
        return self.impl.is_open

    @property
    def is_closing(self) -> bool:
        """True while a close we asked for is in progress."""
        return self.impl.is_closing

    @property
    def is_closed(self) -> bool:
        return self.impl.is_closed

    @property
    def flow_active(self) -> bool:
        return self.impl.flow_active

    @property
    def consumer_tags(self) -> List[str]:
        return self.impl.consumer_tags

    @property
    def closed(self) -> "defer.Deferred[BaseException]":
        """A new Deferred for the channel's end, however late you ask: it FIRES with the
        reason (``ChannelClosedByClient``) when we closed the channel (our :meth:`close`, or
        the connection's ``close()``), and FAILS with it otherwise (``ChannelClosedByBroker``,
        or the connection's close reason such as ``ConnectionClosedByBroker``)."""
        return self._closed.deferred()

    @property
    def on_closed(self) -> "defer.Deferred[BaseException]":
        """pika's ``on_closed``: a new Deferred that fires with the close reason, whoever
        closed the channel (never fails)."""
        return self._on_closed.deferred()

    # ----------------------------------------------------------------------------------------
    # Callback registration
    # ----------------------------------------------------------------------------------------

    def add_on_close_callback(
        self, callback: Callable[["TwistedChannel", BaseException], Any]
    ) -> None:
        """``callback(twisted_channel, reason)`` once when the channel closes, after every
        pending Deferred of the channel has failed and :attr:`closed` has settled."""
        require_callable(callback)

        def on_close(_channel: Channel, reason: BaseException) -> None:
            callback(self, reason)

        self.impl.add_on_close_callback(on_close)

    def add_on_return_callback(self, callback: Callable[[ReceivedMessage], Any]) -> None:
        """``callback(message)`` for every Basic.Return; ``message`` is a
        :class:`ReceivedMessage` whose ``method`` is the ``spec.Basic.Return`` (pika)."""
        require_callable(callback)
        self._return_callbacks.append(callback)

    def add_on_cancel_callback(self, callback: Callable[[frame.Method], Any]) -> None:
        """``callback(method_frame)`` when the broker cancels a consumer (Basic.Cancel); its
        queue has been closed with ``ConsumerCancelled`` by then."""
        self.impl.add_on_cancel_callback(callback)

    def add_on_flow_callback(self, callback: Callable[[frame.Method], Any]) -> None:
        """``callback(method_frame)`` on a Channel.Flow from the broker."""
        self.impl.add_on_flow_callback(callback)

    def callback_deferred(self, deferred: "defer.Deferred[Any]", replies: List[Any]) -> None:
        """Fire ``deferred`` with the next method frame of one of the ``replies`` classes
        (pika). It is not failed when the channel closes: prefer the methods below."""
        self.impl.add_callback(deferred.callback, replies)

    # ----------------------------------------------------------------------------------------
    # Plumbing
    # ----------------------------------------------------------------------------------------

    def _rpc(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> "defer.Deferred[Any]":
        """Call a callback-API channel method with ``callback=``; a Deferred for the result."""
        if self._close_reason is not None:
            return _failed(self._close_reason)
        calls = self._calls
        deferred: "defer.Deferred[Any]" = _Deferred(canceller=calls.discard)

        def on_reply(result: Any) -> None:
            if deferred in calls:
                calls.discard(deferred)
                deferred.callback(result)

        calls.add(deferred)
        try:
            method(*args, callback=on_reply, **kwargs)
        except Exception as error:  # noqa: BLE001 - reported through the Deferred
            calls.discard(deferred)
            return _failed(error)
        return deferred

    # ----------------------------------------------------------------------------------------
    # Basic: consumers
    # ----------------------------------------------------------------------------------------

    def basic_consume(
        self,
        queue: str,
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "defer.Deferred[Tuple[ClosableDeferredQueue[ReceivedMessage], str]]":
        """Start a consumer. Fires with ``(queue_object, consumer_tag)`` on Basic.ConsumeOk;
        ``queue_object.get()`` gives each delivery as a :class:`ReceivedMessage`.

        The queue is closed when the consumer ends: :meth:`basic_cancel` or a broker
        Basic.Cancel (e.g. the queue was deleted) close it with ``ConsumerCancelled``; the
        messages already in it can still be taken (and acknowledged), then ``get()`` fails.
        A channel or connection close closes it with the close reason and discards the buffered
        messages unless ``auto_ack`` (the broker requeues unacknowledged ones itself).

        Cancelling the returned Deferred cancels the consumer (Basic.Cancel) and closes the
        queue with ``CancelledError``.
        """
        if self._close_reason is not None:
            return _failed(self._close_reason)
        queue_object: ClosableDeferredQueue[ReceivedMessage] = ClosableDeferredQueue()
        calls = self._calls
        tag = ""

        def on_message(_channel: Channel, method: Any, properties: Any, body: bytes) -> None:
            if queue_object.closed is None:
                queue_object.put(ReceivedMessage(self, method, properties, body))
                return
            # Unreachable by design (the channel stops dispatching to a consumer being
            # cancelled), but never swallow a delivery: give it back to the broker.
            LOGGER.warning("Delivery %d for closed consumer %r", method.delivery_tag, tag)
            self._give_back(method.delivery_tag, auto_ack)

        def on_consume_ok(reply: frame.Method) -> None:
            if deferred in calls:
                calls.discard(deferred)
                deferred.callback((queue_object, reply.method.consumer_tag))

        def abandon(_deferred: "defer.Deferred[Any]") -> None:
            calls.discard(deferred)
            self._end_consumer(tag, defer.CancelledError(f"basic_consume({queue!r}) cancelled"))
            if tag in self.impl.consumer_tags and self.impl.is_open:
                self.impl.basic_cancel(tag)  # nowait: later deliveries are requeued

        deferred: "defer.Deferred[Any]" = _Deferred(canceller=abandon)
        try:
            tag = self.impl.basic_consume(
                queue,
                on_message,
                auto_ack=auto_ack,
                exclusive=exclusive,
                consumer_tag=consumer_tag,
                arguments=arguments,
                callback=on_consume_ok,
            )
        except Exception as error:  # noqa: BLE001 - reported through the Deferred
            return _failed(error)
        calls.add(deferred)
        self._consumers.add(tag, queue_object, bool(auto_ack))
        return deferred

    def basic_cancel(self, consumer_tag: str = "") -> "defer.Deferred[Any]":
        """Cancel a consumer: its queue closes at once with ``ConsumerCancelled`` (already
        buffered messages stay gettable), and the Deferred fires with the Basic.CancelOk frame.
        A tag that is no consumer (any more) fires with None: the broker may have cancelled it.
        A second call for a tag being cancelled gets the same result as the first."""
        if self._close_reason is not None:
            return _failed(self._close_reason)
        if not isinstance(consumer_tag, str):
            return _failed(TypeError(f"consumer_tag must be a str, but got {consumer_tag!r}"))
        pending = self._cancels.get(consumer_tag)
        if pending is not None:
            return pending.deferred()
        if consumer_tag not in self.impl.consumer_tags:
            LOGGER.info(
                "basic_cancel: no consumer %r on %r (already cancelled?)", consumer_tag, self
            )
            return defer.succeed(None)
        outcome: Outcome[Any] = Outcome()

        def on_cancel_ok(reply: frame.Method) -> None:
            if self._cancels.get(consumer_tag) is outcome:
                del self._cancels[consumer_tag]
            outcome.succeed(reply)

        try:
            self.impl.basic_cancel(consumer_tag, callback=on_cancel_ok)
        except Exception as error:  # noqa: BLE001 - reported through the Deferred
            return _failed(error)
        self._cancels[consumer_tag] = outcome
        self._end_consumer(consumer_tag, cancelled_by_us(consumer_tag))
        return outcome.deferred()

    def _end_consumer(self, tag: str, reason: BaseException) -> None:
        queue_object = self._consumers.end(tag)
        if queue_object is not None:
            queue_object.close(reason, discard_pending=False)

    def _on_broker_cancel(self, reply: frame.Method) -> None:
        # RabbitMQ consumer cancel notification (consumer_cancel_notify): the queue was
        # deleted, or its node went down. The channel has forgotten the consumer already.
        tag = reply.method.consumer_tag
        # a consumer recovery gave up carries its ConsumerRecoveryFailedError (docs/recovery.md)
        self._end_consumer(tag, getattr(reply, "error", None) or cancelled_by_broker(tag))

    # ----------------------------------------------------------------------------------------
    # Basic: get, ack, qos...
    # ----------------------------------------------------------------------------------------

    def basic_get(self, queue: str, auto_ack: bool = False) -> "defer.Deferred[Any]":
        """Fetch one message: fires with a :class:`ReceivedMessage` (``method`` is the
        ``spec.Basic.GetOk``), or with None when the queue is empty (Basic.GetEmpty). One get at
        a time per channel: a second one before the first is answered fails with
        ``DuplicateGetOkCallback``. Cancelling the Deferred drops the answer; a message it
        brings is rejected with ``requeue=True`` (with ``auto_ack`` it cannot be given back and
        is logged as dropped)."""
        if self._close_reason is not None:
            return _failed(self._close_reason)
        deferred: "defer.Deferred[Any]" = _Deferred(canceller=self._forget_get)
        try:
            self.impl.basic_get(queue, self._on_get_ok, auto_ack=auto_ack)
        except Exception as error:  # noqa: BLE001 - reported through the Deferred
            return _failed(error)
        self._get = deferred
        self._get_auto_ack = bool(auto_ack)
        return deferred

    def _forget_get(self, deferred: "defer.Deferred[Any]") -> None:
        if self._get is deferred:
            self._get = None

    def _on_get_ok(self, _channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        deferred, self._get = self._get, None
        if deferred is not None:
            fire(deferred, ReceivedMessage(self, method, properties, body))
        else:
            LOGGER.debug("basic_get was cancelled: giving back delivery %d", method.delivery_tag)
            self._give_back(method.delivery_tag, self._get_auto_ack)

    def _give_back(self, delivery_tag: int, auto_ack: bool) -> None:
        """Return a delivery nobody will take to the broker (Basic.Reject, requeue). An
        auto-acked one cannot be given back: say so. On a channel that is closing, the broker
        requeues every unacknowledged delivery by itself."""
        if auto_ack:
            LOGGER.warning("Auto-acked delivery %d had no taker and is dropped", delivery_tag)
        elif self.impl.is_open and self.impl.connection.is_open:
            self.impl.basic_reject(delivery_tag, requeue=True)

    def _on_get_empty(self, _reply: frame.Method) -> None:
        deferred, self._get = self._get, None
        if deferred is not None:
            fire(deferred, None)

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge a delivery (direct call, raises like ``Channel.basic_ack``)."""
        self.impl.basic_ack(delivery_tag, multiple)

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Negatively acknowledge deliveries (direct call)."""
        self.impl.basic_nack(delivery_tag, multiple, requeue)

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Reject one delivery (direct call)."""
        self.impl.basic_reject(delivery_tag, requeue)

    def basic_qos(
        self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False
    ) -> "defer.Deferred[Any]":
        """Fires with the Basic.QosOk frame."""
        return self._rpc(self.impl.basic_qos, prefetch_size, prefetch_count, global_qos)

    def basic_recover(self, requeue: bool = False) -> "defer.Deferred[Any]":
        """Fires with the Basic.RecoverOk frame."""
        return self._rpc(self.impl.basic_recover, requeue)

    # ----------------------------------------------------------------------------------------
    # Publishing and publisher confirms
    # ----------------------------------------------------------------------------------------

    def confirm_delivery(self) -> "defer.Deferred[Any]":
        """Enter publisher-confirm mode; fires with the Confirm.SelectOk frame. Every
        :meth:`basic_publish` from this call on returns a Deferred for its confirm."""
        if self._confirming:
            LOGGER.warning("confirm_delivery() called again on %r; already in confirm mode", self)
            return defer.succeed(None)
        deferred = self._rpc(self.impl.confirm_delivery, _ignore_ack_nack)
        if not deferred.called:
            # Confirm.Select is sent (or queued). The channel numbers and settles publishes
            # from this call on (Confirm.Select precedes every later publish on the wire).
            self._confirming = True
        return deferred

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Any,
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
    ) -> "defer.Deferred[Any]":
        """Publish one message. Never raises: errors (bad argument, closed channel) come back
        as a failed Deferred.

        Outside confirm mode the Deferred has already fired with None when it is returned (the
        message is handed to the transport; AMQP gives no receipt). In confirm mode it fires
        with the broker's ``spec.Basic.Ack`` once the broker acknowledges the message, or fails
        with ``NackError`` (Basic.Nack) or ``UnroutableError`` (a mandatory message the broker
        returned, then acked), or with the close reason if the channel closes first. Each
        publish is settled exactly once. Cancelling the Deferred only detaches it.
        """
        if self._close_reason is not None:
            return _failed(self._close_reason)
        if not self._confirming:
            try:
                self.impl.basic_publish(exchange, routing_key, body, properties, mandatory)
            except Exception as error:  # noqa: BLE001 - reported through the Deferred
                return _failed(error)
            return defer.succeed(None)
        # Cancelling only detaches the caller: the channel's engine keeps the publish until
        # the broker settles it (so a later ack or return is matched correctly) and its
        # outcome is then dropped here.
        deferred: "defer.Deferred[Any]" = _Deferred()

        def on_confirm(outcome: Any) -> None:
            if deferred.called:
                return
            if type(outcome) is frame.Method:
                deferred.callback(outcome.method)
            elif type(outcome) is exceptions.UnroutableError:
                deferred.errback(exceptions.UnroutableError(
                    [ReceivedMessage(self, *returned[1:]) for returned in outcome.messages]
                ))
            else:
                deferred.errback(outcome)

        try:
            self.impl.basic_publish(
                exchange, routing_key, body, properties, mandatory, on_confirm=on_confirm
            )
        except Exception as error:  # noqa: BLE001 - reported through the Deferred
            return _failed(error)
        return deferred

    def _on_return(self, _channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        message = ReceivedMessage(self, method, properties, body)
        if not self._confirming and not self._return_callbacks:
            LOGGER.warning(
                "Basic.Return %s %r (exchange %r, routing key %r) on %r and no return callback",
                method.reply_code,
                method.reply_text,
                method.exchange,
                method.routing_key,
                self,
            )
        for callback in list(self._return_callbacks):
            invoke(callback, message)

    # ----------------------------------------------------------------------------------------
    # Channel
    # ----------------------------------------------------------------------------------------

    def close(
        self, reply_code: int = 0, reply_text: str = "Normal shutdown"
    ) -> "defer.Deferred[Any]":
        """Close the channel (consumers are cancelled first); returns :attr:`closed`, which
        fires with ``ChannelClosedByClient`` once the broker confirmed (Channel.CloseOk). A
        call while the channel is closing or closed just returns :attr:`closed`."""
        if self._close_reason is None and not self.impl.is_closing:
            try:
                self.impl.close(reply_code, reply_text)
            except Exception as error:  # noqa: BLE001 - reported through the Deferred
                return _failed(error)
        return self.closed

    def flow(self, active: bool = True) -> "defer.Deferred[Any]":
        """Fires with the broker's answer as a bool (Channel.FlowOk ``active``)."""
        return self._rpc(self.impl.flow, active)

    def _on_interrupted(self, _channel: Channel, error: BaseException) -> None:
        """The link dropped and the connection recovers (issue 12): requests in flight fail
        with ``OperationInterruptedError``; consumer queues stay (their consumers resume)."""
        calls, self._calls = self._calls, set()
        cancels, self._cancels = self._cancels, {}
        get, self._get = self._get, None
        for deferred in list(calls):
            fail_with(deferred, error)
        if get is not None:
            fail_with(get, error)
        for outcome in list(cancels.values()):
            outcome.fail(error)

    def _on_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        """The channel is closed: fail everything pending with ``reason`` (internals.md rule 8)."""
        self._close_reason = reason
        calls, self._calls = self._calls, set()
        consumers = self._consumers.end_all()
        cancels, self._cancels = self._cancels, {}
        get, self._get = self._get, None
        # Each errback may run user code that cancels another of these Deferreds (whose
        # canceller edits the old containers): iterate over copies.
        for deferred in list(calls):
            fail_with(deferred, reason)
        if get is not None:
            fail_with(get, reason)
        for outcome in list(cancels.values()):
            outcome.fail(reason)
        # The publishes awaiting their confirm have failed with ``reason`` already: the
        # channel's engine fails them before it runs its close callbacks (this one).
        for queue_object, discard_pending in consumers:
            queue_object.close(reason, discard_pending=discard_pending)
        if isinstance(reason, _CLIENT_CLOSES):
            self._closed.succeed(reason)
        else:
            self._closed.fail(reason)
        self._on_closed.succeed(reason)

    # ----------------------------------------------------------------------------------------
    # Exchange / Queue / Tx: each fires with the reply's method frame
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
    ) -> "defer.Deferred[Any]":
        """Fires with the Exchange.DeclareOk frame."""
        return self._rpc(
            self.impl.exchange_declare,
            exchange,
            exchange_type,
            passive,
            durable,
            auto_delete,
            internal,
            arguments,
        )

    def exchange_delete(
        self, exchange: Optional[str] = None, if_unused: bool = False
    ) -> "defer.Deferred[Any]":
        """Fires with the Exchange.DeleteOk frame."""
        return self._rpc(self.impl.exchange_delete, exchange, if_unused)

    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "defer.Deferred[Any]":
        """Fires with the Exchange.BindOk frame."""
        return self._rpc(self.impl.exchange_bind, destination, source, routing_key, arguments)

    def exchange_unbind(
        self,
        destination: Optional[str] = None,
        source: Optional[str] = None,
        routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "defer.Deferred[Any]":
        """Fires with the Exchange.UnbindOk frame."""
        return self._rpc(self.impl.exchange_unbind, destination, source, routing_key, arguments)

    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "defer.Deferred[Any]":
        """Fires with the Queue.DeclareOk frame (``.method.queue``, ``.message_count``...);
        a passive declare of a missing queue fails with ``ChannelClosedByBroker`` (404)."""
        return self._rpc(
            self.impl.queue_declare, queue, passive, durable, exclusive, auto_delete, arguments
        )

    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "defer.Deferred[Any]":
        """Fires with the Queue.BindOk frame."""
        return self._rpc(self.impl.queue_bind, queue, exchange, routing_key, arguments)

    def queue_unbind(
        self,
        queue: str,
        exchange: Optional[str] = None,
        routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "defer.Deferred[Any]":
        """Fires with the Queue.UnbindOk frame."""
        return self._rpc(self.impl.queue_unbind, queue, exchange, routing_key, arguments)

    def queue_purge(self, queue: str) -> "defer.Deferred[Any]":
        """Fires with the Queue.PurgeOk frame (``.method.message_count``)."""
        return self._rpc(self.impl.queue_purge, queue)

    def queue_delete(
        self, queue: str, if_unused: bool = False, if_empty: bool = False
    ) -> "defer.Deferred[Any]":
        """Fires with the Queue.DeleteOk frame. Consumers on the queue are cancelled by the
        broker (Basic.Cancel), which closes their queues with ``ConsumerCancelled``."""
        return self._rpc(self.impl.queue_delete, queue, if_unused, if_empty)

    def tx_select(self) -> "defer.Deferred[Any]":
        """Fires with the Tx.SelectOk frame."""
        return self._rpc(self.impl.tx_select)

    def tx_commit(self) -> "defer.Deferred[Any]":
        """Fires with the Tx.CommitOk frame."""
        return self._rpc(self.impl.tx_commit)

    def tx_rollback(self) -> "defer.Deferred[Any]":
        """Fires with the Tx.RollbackOk frame."""
        return self._rpc(self.impl.tx_rollback)
