"""``FutureChannel``: every RPC of :class:`amqpbase.channel.Channel` as an awaitable, over a
callback-API channel, on any connection whose loop is an asyncio loop.

Contracts (``docs/api.md``, "Cancellation"):

- Each method has the callback API's signature minus ``callback`` and returns an
  ``asyncio.Future`` of what the callback would get (the reply's ``frame.Method``;
  ``flow``: a bool). A bad argument or a wrong state raises at the call (nothing is sent),
  as the callback API does.
- ``basic_publish`` is settled by the core's settlement engine
  (``Channel.basic_publish(on_confirm=)``, the same engine as the Deferred API): in confirm
  mode the future resolves with the ``spec.Basic.Ack``, or fails with ``NackError``,
  ``UnroutableError`` (its ``messages``: :class:`ReceivedMessage` of the Basic.Return) or the
  close reason. Outside confirm mode it is already done.
- On a close every pending future fails with the reason and consumer queues are closed
  (internals.md rule 8). Cancelling a future only detaches its owner: the request already on
  the wire still gets its reply and the channel drops it; nothing is corrupted.

Must not: know a particular loop (only ``asyncio``), parse frames or keep protocol state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import invoke, require_callable
from amqpbase.channel import Channel
from amqpbase.protocol.consumers import ConsumerQueues, cancelled_by_broker, cancelled_by_us

from .._transport.transport import Transport
from ._publish import PublishFuture, SettledBatch
from ._tools import MessageQueue, ReceivedMessage, fail, settle, stream_of

LOGGER = logging.getLogger("amqpbase.adapters.awaitable")


class FutureChannel:
    """A channel whose methods return ``asyncio`` futures; from
    ``await FutureConnection.channel()``. :attr:`impl` is the callback-API channel."""

    def __init__(self, channel: Channel, loop: asyncio.AbstractEventLoop) -> None:
        self.impl = channel
        self._loop = loop
        done: "asyncio.Future[Any]" = loop.create_future()
        done.set_result(None)
        #: The one already-done future returned by publishes outside confirm mode and acks:
        #: awaiting a done future is free, and cancelling it does nothing.
        self._done = done
        self._closed: "asyncio.Future[BaseException]" = loop.create_future()
        self._calls: Set["asyncio.Future[Any]"] = set()
        self._consumers: ConsumerQueues[MessageQueue] = ConsumerQueues()
        self._cancels: Dict[str, "asyncio.Future[Any]"] = {}
        self._get: Optional["asyncio.Future[Optional[ReceivedMessage]]"] = None
        self._get_auto_ack = False
        self._confirming = False
        self._return_callbacks: List[Callable[[ReceivedMessage], Any]] = []
        #: The connection's stream (``adapters/_transport``), for flush_behind_callbacks;
        #: None on a connection without one.
        self._transport: Optional[Transport] = stream_of(channel)
        #: Runs the done-callbacks of the publish futures an ack frame settles from one loop
        #: callback (``_publish.py``).
        self._settled = SettledBatch(loop, self._transport, self._reveal)
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
    def is_open(self) -> bool:
        return self.impl.is_open

    @property
    def is_closed(self) -> bool:
        return self.impl.is_closed

    @property
    def consumer_tags(self) -> List[str]:
        return self.impl.consumer_tags

    @property
    def closed(self) -> "asyncio.Future[BaseException]":
        """Resolves with the close reason, whoever closed the channel (never fails); a new
        shield each time, so cancelling one await leaves the others."""
        return asyncio.shield(self._closed)

    def add_on_return_callback(self, callback: Callable[[ReceivedMessage], Any]) -> None:
        """``callback(message)`` for every Basic.Return (``message.method`` is the
        ``spec.Basic.Return``)."""
        require_callable(callback)
        self._return_callbacks.append(callback)

    # ----------------------------------------------------------------------------------------
    # Plumbing
    # ----------------------------------------------------------------------------------------

    def _rpc(self, method: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        """Call a callback-API method with ``callback=``; a future for the reply."""
        calls = self._calls
        future: "asyncio.Future[Any]" = self._loop.create_future()

        def on_reply(result: Any) -> None:
            calls.discard(future)
            settle(future, result)

        method(*args, callback=on_reply)  # raises with nothing sent: nothing to undo
        calls.add(future)
        future.add_done_callback(calls.discard)
        return future

    # ----------------------------------------------------------------------------------------
    # Publishing and confirms
    # ----------------------------------------------------------------------------------------

    def confirm_delivery(self) -> "asyncio.Future[frame.Method]":
        """Enter publisher-confirm mode; resolves with the Confirm.SelectOk frame."""
        if self._confirming:
            LOGGER.warning("confirm_delivery() called again on %r; already in confirm mode", self)
            done: "asyncio.Future[Any]" = self._loop.create_future()
            done.set_result(None)
            return done
        # The ack/nack callback (once per frame, after the engine settled its publishes)
        # seals the batch of futures that frame settled.
        future = self._rpc(self.impl.confirm_delivery, self._settled.seal)
        self._confirming = True  # Confirm.Select is sent or queued before any later publish
        return future

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Any,
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
    ) -> "asyncio.Future[Optional[spec.Basic.Ack]]":
        """Publish one message (raises like ``Channel.basic_publish`` with nothing sent).

        Outside confirm mode the returned future is already done (None). In confirm mode it
        resolves with the broker's ``spec.Basic.Ack``, or fails with ``NackError``,
        ``UnroutableError`` or the close reason; settled exactly once. Cancelling it only
        detaches it (the engine still pairs a later ack or return with this publish)."""
        if not self._confirming:
            self.impl.basic_publish(exchange, routing_key, body, properties, mandatory)
            return self._done
        future = PublishFuture(loop=self._loop)
        future.settled_batch = self._settled
        future.callback0 = None
        # The future is its own on_confirm token (no closure per publish); positional: a
        # keyword argument costs a dict lookup per call (Channel.basic_publish's note).
        self.impl.basic_publish(exchange, routing_key, body, properties, mandatory, future)
        return future

    def _reveal(self, error: exceptions.UnroutableError) -> exceptions.UnroutableError:
        """The awaitable API's view of an unroutable publish's error: its ``messages`` as
        :class:`ReceivedMessage` of this channel."""
        return exceptions.UnroutableError(
            [ReceivedMessage(self, *returned[1:]) for returned in error.messages]
        )

    def _on_return(self, _channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        message = ReceivedMessage(self, method, properties, body)
        if not self._confirming and not self._return_callbacks:
            LOGGER.warning(
                "Basic.Return %s %r (exchange %r, routing key %r) on %r and no return callback",
                method.reply_code, method.reply_text, method.exchange, method.routing_key, self,
            )
        for callback in list(self._return_callbacks):
            invoke(callback, message)

    # ----------------------------------------------------------------------------------------
    # Consumers, get, acks
    # ----------------------------------------------------------------------------------------

    def basic_consume(
        self,
        queue: str,
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[Tuple[MessageQueue, str]]":
        """Start a consumer; resolves with ``(MessageQueue, consumer_tag)`` on ConsumeOk.
        Cancelling the future cancels the consumer (Basic.Cancel) and closes its queue."""
        messages = MessageQueue(self._loop, self, self._transport)
        future: "asyncio.Future[Tuple[MessageQueue, str]]" = self._loop.create_future()
        calls = self._calls

        def on_consume_ok(reply: frame.Method) -> None:
            calls.discard(future)
            settle(future, (messages, reply.method.consumer_tag))

        tag = self.impl.basic_consume(
            queue, messages.deliver, auto_ack=auto_ack, exclusive=exclusive,
            consumer_tag=consumer_tag, arguments=arguments, callback=on_consume_ok,
        )
        self._consumers.add(tag, messages, bool(auto_ack))
        calls.add(future)

        def on_done(done: "asyncio.Future[Any]") -> None:
            calls.discard(done)
            if done.cancelled():
                self._end_consumer(tag, asyncio.CancelledError(f"basic_consume({queue!r})"))
                if tag in self.impl.consumer_tags and self.impl.is_open:
                    self.impl.basic_cancel(tag)  # nowait: later deliveries are requeued

        future.add_done_callback(on_done)
        return future

    def basic_cancel(self, consumer_tag: str = "") -> "asyncio.Future[Optional[frame.Method]]":
        """Cancel a consumer: its queue closes at once with ``ConsumerCancelled`` (buffered
        messages stay gettable) and the future resolves with the Basic.CancelOk frame; None
        for a tag that is no consumer (any more)."""
        pending = self._cancels.get(consumer_tag)
        if pending is not None:
            return asyncio.shield(pending)
        if consumer_tag not in self.impl.consumer_tags:
            done: "asyncio.Future[Optional[frame.Method]]" = self._loop.create_future()
            done.set_result(None)
            return done
        future = self._rpc(self.impl.basic_cancel, consumer_tag)
        self._cancels[consumer_tag] = future
        future.add_done_callback(lambda _f: self._cancels.pop(consumer_tag, None))
        self._end_consumer(consumer_tag, cancelled_by_us(consumer_tag))
        return future

    def _end_consumer(self, tag: str, reason: BaseException) -> None:
        messages = self._consumers.end(tag)
        if messages is not None:
            messages.close(reason, discard_pending=False)

    def _on_broker_cancel(self, reply: frame.Method) -> None:
        tag = reply.method.consumer_tag
        # a consumer recovery gave up carries its ConsumerRecoveryFailedError (docs/recovery.md)
        self._end_consumer(tag, getattr(reply, "error", None) or cancelled_by_broker(tag))

    def basic_get(
        self, queue: str, auto_ack: bool = False
    ) -> "asyncio.Future[Optional[ReceivedMessage]]":
        """One message (``method``: ``spec.Basic.GetOk``) or None (GetEmpty). Cancelling it
        drops the answer; a message it brings is rejected with requeue (auto_ack: logged)."""
        future: "asyncio.Future[Optional[ReceivedMessage]]" = self._loop.create_future()
        self.impl.basic_get(queue, self._on_get_ok, auto_ack=auto_ack)
        self._get = future
        self._get_auto_ack = bool(auto_ack)
        return future

    def _on_get_ok(self, _channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        future, self._get = self._get, None
        if future is not None and not future.done():
            future.set_result(ReceivedMessage(self, method, properties, body))
        elif self._get_auto_ack:
            LOGGER.warning("Auto-acked delivery %d had no taker and is dropped",
                           method.delivery_tag)
        elif self.impl.is_open:
            self.impl.basic_reject(method.delivery_tag, requeue=True)

    def _on_get_empty(self, _reply: frame.Method) -> None:
        future, self._get = self._get, None
        if future is not None:
            settle(future, None)

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> "asyncio.Future[None]":
        """Acknowledge (sent now; the future is already done)."""
        self.impl.basic_ack(delivery_tag, multiple)
        return self._done

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> "asyncio.Future[None]":
        self.impl.basic_nack(delivery_tag, multiple, requeue)
        return self._done

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> "asyncio.Future[None]":
        self.impl.basic_reject(delivery_tag, requeue)
        return self._done

    def basic_qos(
        self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.basic_qos, prefetch_size, prefetch_count, global_qos)

    def basic_recover(self, requeue: bool = False) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.basic_recover, requeue)

    # ----------------------------------------------------------------------------------------
    # Channel
    # ----------------------------------------------------------------------------------------

    def close(
        self, reply_code: int = 0, reply_text: str = "Normal shutdown"
    ) -> "asyncio.Future[BaseException]":
        """Close the channel; resolves with the close reason (``ChannelClosedByClient``). A
        call while closing or closed just waits for the reason."""
        if not self.impl.is_closed and not self.impl.is_closing:
            self.impl.close(reply_code, reply_text)
        return self.closed

    def flow(self, active: bool = True) -> "asyncio.Future[bool]":
        return self._rpc(self.impl.flow, active)

    def _on_interrupted(self, _channel: Channel, error: BaseException) -> None:
        """The link dropped and the connection recovers (issue 12): requests in flight fail
        with ``OperationInterruptedError``; consumer queues stay (their consumers resume)."""
        calls, self._calls = self._calls, set()
        cancels, self._cancels = self._cancels, {}
        get, self._get = self._get, None
        for future in list(calls) + list(cancels.values()):
            fail(future, error)
        if get is not None:
            fail(get, error)

    def _on_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        # Publishes awaiting their confirm were failed by the channel's engine already.
        calls, self._calls = self._calls, set()
        cancels, self._cancels = self._cancels, {}
        get, self._get = self._get, None
        for future in list(calls) + list(cancels.values()):
            fail(future, reason)
        if get is not None:
            fail(get, reason)
        for messages, discard_pending in self._consumers.end_all():
            messages.close(reason, discard_pending=discard_pending)
        settle(self._closed, reason)

    # ----------------------------------------------------------------------------------------
    # Exchange / Queue / Tx: each resolves with the reply's method frame
    # ----------------------------------------------------------------------------------------

    def exchange_declare(
        self, exchange: str, exchange_type: Any = "direct", passive: bool = False,
        durable: bool = False, auto_delete: bool = False, internal: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.exchange_declare, exchange, exchange_type, passive,
                         durable, auto_delete, internal, arguments)

    def exchange_delete(
        self, exchange: Optional[str] = None, if_unused: bool = False
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.exchange_delete, exchange, if_unused)

    def exchange_bind(
        self, destination: str, source: str, routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.exchange_bind, destination, source, routing_key, arguments)

    def exchange_unbind(
        self, destination: Optional[str] = None, source: Optional[str] = None,
        routing_key: str = "", arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.exchange_unbind, destination, source, routing_key, arguments)

    def queue_declare(
        self, queue: str, passive: bool = False, durable: bool = False,
        exclusive: bool = False, auto_delete: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.queue_declare, queue, passive, durable, exclusive,
                         auto_delete, arguments)

    def queue_bind(
        self, queue: str, exchange: str, routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.queue_bind, queue, exchange, routing_key, arguments)

    def queue_unbind(
        self, queue: str, exchange: Optional[str] = None, routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.queue_unbind, queue, exchange, routing_key, arguments)

    def queue_purge(self, queue: str) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.queue_purge, queue)

    def queue_delete(
        self, queue: str, if_unused: bool = False, if_empty: bool = False
    ) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.queue_delete, queue, if_unused, if_empty)

    def tx_select(self) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.tx_select)

    def tx_commit(self) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.tx_commit)

    def tx_rollback(self) -> "asyncio.Future[frame.Method]":
        return self._rpc(self.impl.tx_rollback)
