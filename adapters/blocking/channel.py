"""``BlockingChannel``: pika 1.x's blocking channel API over a ``Channel`` on the I/O thread.

Owns: the channel's state as the user's thread sees it (open, closing reason, confirm mode,
the consumers and the ``consume()`` generator), turning each call into work for the I/O
thread (a fire-and-forget ``submit`` for publish outside confirm mode, acks, nacks and
rejects; a waited ``call`` for every RPC, returning the reply frame), and the channel's events
for the user's thread (deliveries, returns, broker cancels), dispatched by
``BlockingConnection.process_data_events``.

Must not: call the ``Channel`` from the user's thread (every ``*_io`` method runs on the I/O
thread and nothing else does), or run a user callback on the I/O thread.

Publishing outside confirm mode costs the user's thread one deque append (plus a wake-up of
the I/O thread when none is pending); an error the I/O thread meets publishing (a header
value that cannot be encoded, say) is raised by the next call on the channel. In confirm
mode ``basic_publish`` waits for the broker's Basic.Ack/Nack: ``UnroutableError`` when a
mandatory message came back (RabbitMQ sends Basic.Return before the Basic.Ack), ``NackError``
for a nack.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from enum import Enum
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    Generator,
    List,
    Optional,
    Tuple,
    Union,
)

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import require_callable
from amqpbase.channel import Channel
from amqpbase.streams import STREAM_OFFSET

from .iothread import OUTBOX_HIGH, IOThread, Result

if TYPE_CHECKING:  # pragma: no cover
    from .connection import BlockingConnection

LOGGER = logging.getLogger(__name__)

__all__ = ["BlockingChannel", "ReturnedMessage"]

_BasicProperties = spec.BasicProperties
_Message = Tuple[Any, Any, Any]
_NO_MESSAGE: _Message = (None, None, None)


class ReturnedMessage:
    """A message the broker returned (Basic.Return) in confirm mode (pika name)."""

    __slots__ = ("method", "properties", "body")

    def __init__(self, method: spec.Basic.Return, properties: spec.BasicProperties,
                 body: bytes) -> None:
        self.method = method
        self.properties = properties
        self.body = body

    def __repr__(self) -> str:
        return f"<ReturnedMessage {self.method!r} body={self.body[:64]!r}>"


class _Consumer:
    """A consumer as the user's thread knows it: a callback or the generator's queue."""

    __slots__ = ("auto_ack", "callback", "sink")

    def __init__(self, auto_ack: bool, callback: Optional[Callable[..., Any]],
                 sink: Optional[Deque[Optional[_Message]]]) -> None:
        self.auto_ack = auto_ack
        self.callback = callback
        self.sink = sink


class _Generator:
    """The ``consume()`` generator's consumer: its parameters, tag and pending messages (None
    in the queue: the broker cancelled it)."""

    __slots__ = ("params", "consumer_tag", "pending")

    def __init__(self, params: Tuple[str, bool, bool], consumer_tag: str) -> None:
        self.params = params
        self.consumer_tag = consumer_tag
        self.pending: Deque[Optional[_Message]] = collections.deque()


class BlockingChannel:
    """A channel whose methods block until done; made by ``BlockingConnection.channel()``."""

    def __init__(self, connection: "BlockingConnection", io: IOThread) -> None:
        self._connection = connection
        self._io = io
        self._impl: Optional[Channel] = None
        self._channel_number = 0
        #: Not None once closed: why (the first call that sees a broker close raises it).
        self._closing_reason: Optional[BaseException] = None
        self._closing_reported = False
        #: An error a fire-and-forget call met on the I/O thread, raised by the next call.
        self._call_error: Optional[BaseException] = None
        self._confirming = False
        #: The connection is recovering (set on the I/O thread): calls raise
        #: ``ChannelRecoveringError`` (nothing is buffered).
        self._recovering = False
        # consumer tag -> consumer (Any: the decoded methods' tags are typed Optional[str])
        self._consumers: Dict[Any, _Consumer] = {}
        self._generator: Optional[_Generator] = None
        self._return_callbacks: List[Callable[..., Any]] = []
        self._cancel_callbacks: List[Callable[..., Any]] = []
        # The I/O thread's side (touched only there):
        self._publish_io: Callable[..., None] = _unattached
        self._get_result: Optional[Result] = None
        self._confirm_result: Optional[Result] = None
        self._returned: Optional[ReturnedMessage] = None

    # ------------------------------------------------------------------ the I/O thread's side

    def attach_io(self, impl: Channel) -> None:
        """Register on the new ``Channel`` (called on the I/O thread, before it opens)."""
        self._impl = impl
        self._channel_number = impl.channel_number
        self._publish_io = impl.basic_publish
        impl.add_on_close_callback(self._on_closed_io)
        impl.add_on_return_callback(self._on_return_io)
        impl.add_on_cancel_callback(self._on_cancel_io)
        impl.add_callback(self._on_get_empty_io, [spec.Basic.GetEmpty], one_shot=False)

    def _on_closed_io(self, _impl: Channel, reason: BaseException) -> None:
        self._closing_reason = reason
        self._io.fail_outstanding(reason, self._channel_number)
        self._connection.forget_channel(self._channel_number)
        self._io.inbox.put((self._closed_event, ()))

    def connection_closed_io(self, reason: BaseException) -> None:
        """The connection closed under the channel (I/O thread)."""
        if self._closing_reason is None:
            self._closing_reason = reason

    def recovering_io(self, recovering: bool) -> None:
        """The connection's recovery began (True) or ended (False) (I/O thread)."""
        self._recovering = recovering

    def call_failed_io(self, error: BaseException) -> None:
        if self._closing_reason is None and self._call_error is None:
            self._call_error = error
        LOGGER.error("%r: a call failed on the I/O thread: %r", self, error)

    def _on_return_io(self, _impl: Channel, method: spec.Basic.Return,
                      properties: spec.BasicProperties, body: bytes) -> None:
        if self._confirming:
            self._returned = ReturnedMessage(method, properties, body)
            LOGGER.warning("Published message was returned: channel=%s; method=%r",
                           self._channel_number, method)
        if self._return_callbacks:
            self._io.inbox.put((self._dispatch_return, (method, properties, body)))
        elif not self._confirming:
            LOGGER.warning("Basic.Return %s %r (exchange %r, routing key %r) and no return "
                           "callback on %r", method.reply_code, method.reply_text,
                           method.exchange, method.routing_key, self)

    def _on_cancel_io(self, method_frame: frame.Method) -> None:
        self._io.inbox.put((self._dispatch_cancel, (method_frame,)))

    def _on_delivery_io(self, _impl: Channel, method: spec.Basic.Deliver,
                        properties: spec.BasicProperties, body: bytes) -> None:
        self._io.inbox.put((self._dispatch_delivery, (method, properties, body)))

    def _on_get_empty_io(self, _frame: frame.Method) -> None:
        result, self._get_result = self._get_result, None
        if result is not None:
            result.set(_NO_MESSAGE)

    def _on_confirm_io(self, method_frame: frame.Method) -> None:
        result, self._confirm_result = self._confirm_result, None
        returned, self._returned = self._returned, None
        if result is None:
            return
        if isinstance(method_frame.method, spec.Basic.Nack):
            result.fail(exceptions.NackError([returned] if returned is not None else []))
        elif returned is not None:
            result.fail(exceptions.UnroutableError([returned]))
        else:
            result.set(None)

    def _impl_io(self) -> Channel:
        impl = self._impl
        assert impl is not None
        return impl

    def _rpc_io(self, result: Result, name: str, args: Tuple[Any, ...],
                kwargs: Dict[str, Any]) -> None:
        getattr(self._impl_io(), name)(*args, callback=result.set, **kwargs)

    def _publish_confirmed_io(self, result: Result, args: Tuple[Any, ...]) -> None:
        self._returned = None
        self._impl_io().basic_publish(*args)
        self._confirm_result = result

    def _consume_io(self, result: Result, queue: str, auto_ack: bool, exclusive: bool,
                    consumer_tag: str, arguments: Optional[Dict[str, Any]]) -> None:
        self._impl_io().basic_consume(queue, self._on_delivery_io, auto_ack, exclusive,
                                      consumer_tag, arguments, callback=result.set)

    def _cancel_io(self, result: Result, consumer_tag: str) -> None:
        impl = self._impl_io()
        if consumer_tag in impl.consumer_tags:
            impl.basic_cancel(consumer_tag, callback=result.set)
        else:  # the broker cancelled it already (its Basic.Cancel is on its way to the user)
            result.set(None)

    def _get_io(self, result: Result, queue: str, auto_ack: bool) -> None:
        self._impl_io().basic_get(
            queue, lambda _ch, method, properties, body: result.set((method, properties, body)),
            auto_ack,
        )
        self._get_result = result

    def _confirm_select_io(self, result: Result) -> None:
        self._impl_io().confirm_delivery(self._on_confirm_io, callback=result.set)

    def _close_io(self, result: Result, reply_code: int, reply_text: str) -> None:
        self._impl_io().close(reply_code, reply_text)  # the close callback settles result

    # ------------------------------------------------------------------ user-thread events

    def _closed_event(self) -> None:
        """Dispatched once the channel closed: nothing to do but wake the user's thread."""

    def _dispatch_delivery(self, method: spec.Basic.Deliver, properties: spec.BasicProperties,
                           body: bytes) -> None:
        consumer = self._consumers.get(method.consumer_tag)
        if consumer is None:
            return  # cancelled meanwhile (basic_cancel took what it had to)
        if consumer.sink is not None:
            consumer.sink.append((method, properties, body))
        else:
            assert consumer.callback is not None
            consumer.callback(self, method, properties, body)

    def _dispatch_return(self, method: spec.Basic.Return, properties: spec.BasicProperties,
                         body: bytes) -> None:
        for callback in list(self._return_callbacks):
            callback(self, method, properties, body)

    def _dispatch_cancel(self, method_frame: frame.Method) -> None:
        consumer = self._consumers.pop(method_frame.method.consumer_tag, None)
        if consumer is None:
            return
        if consumer.sink is not None:
            consumer.sink.append(None)
        for callback in list(self._cancel_callbacks):
            callback(method_frame)

    # ------------------------------------------------------------------ checks and calls

    def _raise_if_not_open(self) -> None:
        """Raise what makes a call impossible now, each cause once where pika does: the
        connection's close reason, the broker's Channel.Close, a deferred call error."""
        self._connection.raise_if_closed()
        reason = self._closing_reason
        if reason is not None:
            if isinstance(reason, exceptions.ChannelClosedByBroker) and not self._closing_reported:
                self._closing_reported = True
                raise reason
            raise exceptions.ChannelWrongStateError("Channel is closed.")
        if self._recovering:
            raise exceptions.ChannelRecoveringError(
                f"channel {self._channel_number} is recovering with its connection; nothing "
                "is buffered: call again after the recovery")
        error = self._call_error
        if error is not None:
            self._call_error = None
            raise error

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        self._raise_if_not_open()
        try:
            value = self._io.call(function, args, self._channel_number)
            error = self._call_error
            if error is not None:  # a call queued before this one failed (it ran first)
                self._call_error = None
                raise error
            return value
        except (exceptions.AMQPChannelError, exceptions.AMQPConnectionError) as exc:
            if isinstance(exc, exceptions.ChannelClosedByClient):
                raise
            # The close that failed the call is raised as itself, once (pika).
            if self._closing_reason is not None or self._io.closed_error is not None:
                self._raise_if_not_open()
            raise

    def _rpc(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(self._rpc_io, name, args, kwargs)

    # ------------------------------------------------------------------ public API

    def __int__(self) -> int:
        return self._channel_number

    def __repr__(self) -> str:
        state = "OPEN" if self.is_open else "CLOSED"
        return f"<{self.__class__.__name__} number={self._channel_number} {state}>"

    def __enter__(self) -> "BlockingChannel":
        return self

    def __exit__(self, exc_type: Any, value: Any, traceback: Any) -> None:
        if self.is_open:
            self.close()

    @property
    def channel_number(self) -> int:
        return self._channel_number

    @property
    def connection(self) -> "BlockingConnection":
        return self._connection

    @property
    def is_open(self) -> bool:
        return self._closing_reason is None and self._connection.is_open

    @property
    def is_closed(self) -> bool:
        return not self.is_open

    @property
    def consumer_tags(self) -> List[str]:
        """Tags of this channel's active consumers."""
        return list(self._consumers)

    def close(self, reply_code: int = 0, reply_text: str = "Normal shutdown") -> None:
        """Cancel the consumers, then close the channel (waits for Channel.CloseOk)."""
        self._raise_if_not_open()
        try:
            self._cancel_all_consumers()
            self._call(self._close_io, reply_code, reply_text)
        except exceptions.ChannelClosedByClient:
            pass
        finally:
            self._consumers.clear()
            self._generator = None

    def flow(self, active: bool) -> bool:
        """Channel.Flow; returns the broker's ``active`` (RabbitMQ refuses ``False``)."""
        active_now: bool = self._rpc("flow", active)
        return active_now

    def add_on_cancel_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(method_frame)`` when the broker cancels a consumer (Basic.Cancel)."""
        require_callable(callback)
        self._cancel_callbacks.append(callback)

    def add_on_return_callback(self, callback: Callable[..., Any]) -> None:
        """``callback(channel, method, properties, body)`` for each Basic.Return."""
        require_callable(callback)
        self._return_callbacks.append(callback)

    # Publish and acks: fire-and-forget, in order with everything else on the channel.

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
    ) -> None:
        """Publish one message. Outside confirm mode it is queued for the I/O thread and this
        returns at once; in confirm mode this waits for the broker's confirm and raises
        ``UnroutableError``/``NackError`` (pika)."""
        if (self._closing_reason is not None or self._call_error is not None or self._confirming
                or self._recovering):
            return self._publish_slow(exchange, routing_key, body, properties, mandatory)
        # Checked here, not on the I/O thread: the caller gets the TypeError. A non-bytes
        # body is copied: the caller may reuse its buffer once this returns.
        if type(body) is not bytes or type(exchange) is not str or type(routing_key) is not str \
                or (properties is not None and type(properties) is not _BasicProperties):
            exchange, routing_key, body = _checked_publish(exchange, routing_key, body,
                                                           properties)
        io = self._io
        outbox = io.outbox
        outbox.append((self._publish_io, (exchange, routing_key, body, properties, mandatory)))
        if not io.wake_pending:
            io.wake()
        elif len(outbox) > OUTBOX_HIGH:
            io.throttle()
        return None

    def _publish_slow(self, exchange: str, routing_key: str,
                      body: Union[bytes, bytearray, memoryview, str],
                      properties: Optional[spec.BasicProperties], mandatory: bool) -> None:
        self._raise_if_not_open()
        exchange, routing_key, body = _checked_publish(exchange, routing_key, body, properties)
        args = (exchange, routing_key, body, properties, mandatory)
        if self._confirming:
            self._call(self._publish_confirmed_io, args)
        else:
            self._io.submit(self._publish_io, args)

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge a delivery (``multiple``: every one up to it)."""
        if self._closing_reason is not None or self._call_error is not None or self._recovering:
            self._raise_if_not_open()
        impl = self._impl
        assert impl is not None
        self._io.submit(impl.basic_ack, (delivery_tag, multiple))

    def basic_nack(self, delivery_tag: int = 0, multiple: bool = False,
                   requeue: bool = True) -> None:
        """Negatively acknowledge (RabbitMQ extension)."""
        self._raise_if_not_open()
        impl = self._impl
        assert impl is not None
        self._io.submit(impl.basic_nack, (delivery_tag, multiple, requeue))

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Reject one delivery."""
        self._raise_if_not_open()
        impl = self._impl
        assert impl is not None
        self._io.submit(impl.basic_reject, (delivery_tag, requeue))

    # Consumers

    def basic_consume(
        self,
        queue: str,
        on_message_callback: Callable[..., Any],
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> str:
        """Start a consumer; returns its tag once Basic.ConsumeOk arrived. Deliveries go to
        ``on_message_callback(channel, method, properties, body)`` from
        ``start_consuming``/``process_data_events``."""
        if not isinstance(queue, str):
            raise TypeError(f"queue must be a str, got {type(queue).__name__}")
        require_callable(on_message_callback, "on_message_callback")
        return self._consume(queue, auto_ack, exclusive, consumer_tag, arguments,
                             _Consumer(bool(auto_ack), on_message_callback, None))

    def _consume(self, queue: str, auto_ack: bool, exclusive: bool,
                 consumer_tag: Optional[str], arguments: Optional[Dict[str, Any]],
                 consumer: _Consumer) -> str:
        self._raise_if_not_open()
        if not consumer_tag:
            consumer_tag = f"ctag{self._channel_number}.{uuid.uuid4().hex}"
        if consumer_tag in self._consumers:
            raise exceptions.DuplicateConsumerTag(consumer_tag)
        self._consumers[consumer_tag] = consumer
        try:
            self._call(self._consume_io, queue, bool(auto_ack), bool(exclusive), consumer_tag,
                       arguments)
        except BaseException:
            self._consumers.pop(consumer_tag, None)
            raise
        return consumer_tag

    def basic_cancel(self, consumer_tag: str) -> List[_Message]:
        """Cancel a consumer and wait for Basic.CancelOk. For an ``auto_ack`` consumer,
        returns the messages that arrived and were not dispatched yet, as
        ``(method, properties, body)``; for others they are rejected (requeued) and the
        list is empty (pika), except stream-queue deliveries (docs/streams.md)."""
        consumer = self._consumers.get(consumer_tag)
        if consumer is None:
            LOGGER.warning("User is attempting to cancel an unknown consumer=%s; already "
                           "cancelled by user or broker?", consumer_tag)
            return []
        try:
            self._call(self._cancel_io, consumer_tag)
            dispatch_delivery = self._dispatch_delivery
            taken = self._io.take_ready(
                lambda item: item[0] == dispatch_delivery
                and item[1][0].consumer_tag == consumer_tag
            )
            messages: List[_Message] = [args for _function, args in taken]
            if consumer.sink is not None:
                while consumer.sink:
                    message = consumer.sink.popleft()
                    if message is not None:
                        messages.append(message)
        finally:
            self._consumers.pop(consumer_tag, None)
        if consumer.auto_ack:
            return messages
        impl = self._impl
        assert impl is not None
        for method, properties, _body in messages:
            # RabbitMQ answers basic.reject on a stream queue by closing the CONNECTION (540
            # NOT_IMPLEMENTED). A stream delivery (it carries x-stream-offset) stays in the
            # stream anyway: leave it unacknowledged; the broker drops it at channel close.
            if properties.headers and STREAM_OFFSET in properties.headers:
                continue
            self._io.submit(impl.basic_reject, (method.delivery_tag, True))
        return []

    def _cancel_all_consumers(self) -> None:
        if self._generator is not None:
            self.cancel()
        for consumer_tag in list(self._consumers):
            self.basic_cancel(consumer_tag)

    def start_consuming(self) -> None:
        """Dispatch deliveries, timers and other events until every consumer is cancelled
        (``stop_consuming``, ``basic_cancel``, the broker). Raises ``ChannelClosedByBroker``
        when the broker closes the channel; ``ReentrancyError`` inside a callback."""
        if self._connection.dispatching():
            raise exceptions.ReentrancyError(
                "start_consuming may not be called from the scope of another "
                "BlockingConnection or BlockingChannel callback"
            )
        self._raise_if_not_open()
        while self._consumers:
            self._process_data_events(None)

    def stop_consuming(self, consumer_tag: Optional[str] = None) -> None:
        """Cancel one consumer, or all of them: ``start_consuming`` then returns."""
        if consumer_tag:
            self.basic_cancel(consumer_tag)
        else:
            self._cancel_all_consumers()

    def _process_data_events(self, time_limit: Optional[float]) -> None:
        self._connection.process_data_events(time_limit)
        if self._closing_reason is not None:
            self._raise_if_not_open()

    def consume(
        self,
        queue: str,
        auto_ack: bool = False,
        exclusive: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
        inactivity_timeout: Optional[float] = None,
        consumer_tag: Optional[str] = None,
    ) -> Generator[_Message, None, None]:
        """Yield each delivery as ``(method, properties, body)``; ``(None, None, None)`` after
        ``inactivity_timeout`` seconds without one. Ends when the consumer is cancelled
        (``cancel()`` or the broker). A second call with the same (queue, auto_ack,
        exclusive) resumes the same consumer; other parameters raise ``ValueError``."""
        self._raise_if_not_open()
        params = (queue, auto_ack, exclusive)
        generator = self._generator
        if generator is not None:
            if params != generator.params:
                raise ValueError(
                    "Consume with different params not allowed on existing queue consumer "
                    f"generator; previous params: {generator.params!r}; new params: {params!r}"
                )
        else:
            if not consumer_tag:
                consumer_tag = f"ctag{self._channel_number}.{uuid.uuid4().hex}"
            generator = _Generator(params, consumer_tag)
            self._generator = generator
            try:
                self._consume(queue, auto_ack, exclusive, consumer_tag, arguments,
                              _Consumer(bool(auto_ack), None, generator.pending))
            except BaseException:
                self._generator = None
                raise
        pending = generator.pending
        while self._generator is generator:
            if pending:
                message = pending.popleft()
                if message is None:  # cancelled by the broker
                    self._generator = None
                    break
                yield message
                continue
            if inactivity_timeout is None:
                self._process_data_events(None)
                continue
            deadline = time.monotonic() + inactivity_timeout
            delta = inactivity_timeout
            while self._generator is generator and not pending:
                self._process_data_events(delta)
                if self._generator is not generator or pending:
                    break
                delta = deadline - time.monotonic()
                if delta <= 0.0:
                    yield _NO_MESSAGE
                    break

    def get_waiting_message_count(self) -> int:
        """Messages the ``consume()`` generator can yield without waiting."""
        generator = self._generator
        if generator is None:
            return 0
        count = len(generator.pending)
        if count and generator.pending[-1] is None:
            count -= 1
        return count

    def cancel(self) -> int:
        """Cancel the ``consume()`` generator's consumer, rejecting (requeueing) its pending
        messages unless ``auto_ack``. Returns 0 (pika)."""
        generator = self._generator
        if generator is None:
            LOGGER.warning("cancel: queue consumer generator is inactive (already cancelled "
                           "by client or broker?)")
            return 0
        try:
            if generator.consumer_tag in self._consumers:
                self.basic_cancel(generator.consumer_tag)
        finally:
            self._generator = None
        return 0

    def basic_get(self, queue: str, auto_ack: bool = False) -> _Message:
        """Fetch one message: ``(method, properties, body)``, or ``(None, None, None)``."""
        if not isinstance(queue, str):
            raise TypeError(f"queue must be a str, got {type(queue).__name__}")
        message: _Message = self._call(self._get_io, queue, bool(auto_ack))
        return message

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
                  global_qos: bool = False) -> None:
        """Set the prefetch window."""
        self._rpc("basic_qos", prefetch_size, prefetch_count, global_qos)

    def basic_recover(self, requeue: bool = False) -> None:
        """Ask for the unacknowledged messages again (waits for Basic.RecoverOk)."""
        self._rpc("basic_recover", requeue)

    def confirm_delivery(self) -> None:
        """Enter publisher-confirm mode: from now on ``basic_publish`` waits for the confirm."""
        if self._confirming:
            LOGGER.error("confirm_delivery: confirmation was already enabled on channel=%s",
                         self._channel_number)
            return
        self._call(self._confirm_select_io)
        self._confirming = True

    # Exchange / Queue / Tx: each returns the broker's reply frame (frame.Method)

    def exchange_declare(self, exchange: str, exchange_type: Union[str, Enum] = "direct",
                         passive: bool = False, durable: bool = False,
                         auto_delete: bool = False, internal: bool = False,
                         arguments: Optional[Dict[str, Any]] = None) -> frame.Method:
        """Declare an exchange; returns the Exchange.DeclareOk frame."""
        reply: frame.Method = self._rpc("exchange_declare", exchange, exchange_type, passive,
                                        durable, auto_delete, internal, arguments)
        return reply

    def exchange_delete(self, exchange: Optional[str] = None,
                        if_unused: bool = False) -> frame.Method:
        """Delete an exchange; returns the Exchange.DeleteOk frame."""
        reply: frame.Method = self._rpc("exchange_delete", exchange, if_unused)
        return reply

    def exchange_bind(self, destination: str, source: str, routing_key: str = "",
                      arguments: Optional[Dict[str, Any]] = None) -> frame.Method:
        """Bind exchange to exchange; returns the Exchange.BindOk frame."""
        reply: frame.Method = self._rpc("exchange_bind", destination, source, routing_key,
                                        arguments)
        return reply

    def exchange_unbind(self, destination: Optional[str] = None, source: Optional[str] = None,
                        routing_key: str = "",
                        arguments: Optional[Dict[str, Any]] = None) -> frame.Method:
        """Remove an exchange-to-exchange binding; returns the Exchange.UnbindOk frame."""
        reply: frame.Method = self._rpc("exchange_unbind", destination, source, routing_key,
                                        arguments)
        return reply

    def queue_declare(self, queue: str, passive: bool = False, durable: bool = False,
                      exclusive: bool = False, auto_delete: bool = False,
                      arguments: Optional[Dict[str, Any]] = None) -> frame.Method:
        """Declare a queue (``''``: the broker names it); returns the Queue.DeclareOk frame
        (``.method.queue``, ``.method.message_count``, ``.method.consumer_count``)."""
        reply: frame.Method = self._rpc("queue_declare", queue, passive, durable, exclusive,
                                        auto_delete, arguments)
        return reply

    def queue_delete(self, queue: str, if_unused: bool = False,
                     if_empty: bool = False) -> frame.Method:
        """Delete a queue; returns the Queue.DeleteOk frame."""
        reply: frame.Method = self._rpc("queue_delete", queue, if_unused, if_empty)
        return reply

    def queue_purge(self, queue: str) -> frame.Method:
        """Purge a queue; returns the Queue.PurgeOk frame."""
        reply: frame.Method = self._rpc("queue_purge", queue)
        return reply

    def queue_bind(self, queue: str, exchange: str, routing_key: Optional[str] = None,
                   arguments: Optional[Dict[str, Any]] = None) -> frame.Method:
        """Bind a queue to an exchange; returns the Queue.BindOk frame."""
        reply: frame.Method = self._rpc("queue_bind", queue, exchange, routing_key, arguments)
        return reply

    def queue_unbind(self, queue: str, exchange: Optional[str] = None,
                     routing_key: Optional[str] = None,
                     arguments: Optional[Dict[str, Any]] = None) -> frame.Method:
        """Unbind a queue; returns the Queue.UnbindOk frame."""
        reply: frame.Method = self._rpc("queue_unbind", queue, exchange, routing_key,
                                        arguments)
        return reply

    def tx_select(self) -> frame.Method:
        """Enter transaction mode; returns the Tx.SelectOk frame."""
        reply: frame.Method = self._rpc("tx_select")
        return reply

    def tx_commit(self) -> frame.Method:
        """Commit; returns the Tx.CommitOk frame."""
        reply: frame.Method = self._rpc("tx_commit")
        return reply

    def tx_rollback(self) -> frame.Method:
        """Roll back; returns the Tx.RollbackOk frame."""
        reply: frame.Method = self._rpc("tx_rollback")
        return reply


def _checked_publish(
    exchange: Any, routing_key: Any, body: Any, properties: Any
) -> Tuple[str, str, bytes]:
    """The publish arguments' types, checked on the caller's thread; a body that is not
    ``bytes`` comes back as a ``bytes`` copy (``str``: UTF-8)."""
    if not isinstance(exchange, str):
        raise TypeError(f"exchange must be a str, got {type(exchange).__name__}")
    if not isinstance(routing_key, str):
        raise TypeError(f"routing_key must be a str, got {type(routing_key).__name__}")
    if properties is not None and not isinstance(properties, _BasicProperties):
        raise TypeError(f"properties must be BasicProperties or None, got {properties!r}")
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, bytearray, memoryview or str, got {type(body)!r}")
    return exchange, routing_key, body


def _unattached(*_args: Any) -> None:  # pragma: no cover - replaced by attach_io
    raise exceptions.ChannelWrongStateError("channel not open yet")
