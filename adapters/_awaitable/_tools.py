"""Building blocks of the awaitable API: :class:`ReceivedMessage`, :class:`MessageQueue` (a
consumer's queue, async-iterable, closable with a reason) and the helpers that settle a
future we handed out unless its owner cancelled it.

Loop-neutral: asyncio futures only (Tornado 6's IOLoop runs on asyncio), no adapter, nothing
AMQP beyond the names in :class:`ReceivedMessage`. The one thing known of the stream is the
shared transport's flush hint (``Transport.flush_behind_callbacks``, a performance rule, never
one of correctness: without a transport nothing changes but the timing of writes).

No "Future exception was never retrieved": a future failed by :func:`fail` is marked
retrieved at once (awaiting it still raises), so an outcome nobody asked for logs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Deque, NamedTuple, Optional, TypeVar

from amqpbase import exceptions, spec
from amqpbase.streams import delivered_offset

from .._transport.transport import Transport

if TYPE_CHECKING:  # pragma: no cover
    from .channel import FutureChannel

LOGGER = logging.getLogger("amqpbase.adapters.awaitable")

_T = TypeVar("_T")
_new_tuple = tuple.__new__


def stream_of(channel: Any) -> Optional[Transport]:
    """The shared socket transport under ``channel``'s connection, None if it has none."""
    transport = getattr(channel.connection, "transport", None)
    return transport if isinstance(transport, Transport) else None


def settle(future: "asyncio.Future[_T]", value: _T) -> None:
    """``future.set_result(value)`` unless it is done (its owner cancelled it)."""
    if not future.done():
        future.set_result(value)


def fail(future: "asyncio.Future[Any]", error: BaseException) -> None:
    """``future.set_exception(error)`` unless it is done; marked retrieved (see module)."""
    if not future.done():
        future.set_exception(error)
        future.exception()


class ReceivedMessage(NamedTuple):
    """One message from :meth:`FutureChannel.basic_consume`'s queue or ``basic_get``.

    - ``channel``: the :class:`FutureChannel` it arrived on;
    - ``method``: ``spec.Basic.Deliver`` (consumers) or ``spec.Basic.GetOk`` (``basic_get``);
    - ``properties``: its ``spec.BasicProperties``; ``body``: ``bytes``;
    - :attr:`stream_offset`: its stream offset (stream queues), computed when read.
    """

    channel: "FutureChannel"
    method: Any
    properties: spec.BasicProperties
    body: bytes

    @property
    def stream_offset(self) -> Optional[int]:
        """The ``x-stream-offset`` header of a stream-queue delivery, None for any other
        message; ``ValueError`` when the header is not an offset
        (:func:`amqpbase.streams.delivered_offset`). Read on demand: no cost per message."""
        return delivered_offset(self.properties)

    def ack(self, multiple: bool = False) -> "asyncio.Future[None]":
        """Acknowledge this message (Basic.Ack goes to the transport now; the awaitable is
        already done: AMQP gives no receipt)."""
        # FutureChannel.basic_ack inline (one Python call less per consumed message).
        channel = self.channel
        channel.impl.basic_ack(self.method.delivery_tag, multiple)
        return channel._done

    def nack(self, multiple: bool = False, requeue: bool = True) -> "asyncio.Future[None]":
        """Negatively acknowledge this message (RabbitMQ Basic.Nack)."""
        return self.channel.basic_nack(self.method.delivery_tag, multiple, requeue)

    def reject(self, requeue: bool = True) -> "asyncio.Future[None]":
        """Reject this message (Basic.Reject)."""
        return self.channel.basic_reject(self.method.delivery_tag, requeue)


class MessageQueue:
    """A consumer's messages: ``await queue.get()`` or ``async for message in queue``.

    Closed when the consumer ends: our ``basic_cancel`` or the broker's Basic.Cancel close it
    with ``ConsumerCancelled`` keeping what it holds (iteration yields those, then ENDS);
    a channel or connection close closes it with that reason (iteration RAISES it) and drops
    what a manual-ack consumer buffered (the broker requeues those). ``get()`` on a closed,
    drained queue raises the reason. :attr:`closed` is the reason, None while open.
    Cancelling a ``get()`` only removes that waiter.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 channel: Optional["FutureChannel"] = None,
                 transport: Optional[Transport] = None) -> None:
        self._loop = loop
        self._transport = transport
        #: The channel whose consumer fills this queue (:meth:`deliver` names it in each
        #: :class:`ReceivedMessage`).
        self._channel = channel
        self._items: Deque[ReceivedMessage] = collections.deque()
        self._waiters: Deque["asyncio.Future[ReceivedMessage]"] = collections.deque()
        #: The close reason, None while open.
        self.closed: Optional[BaseException] = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: ReceivedMessage) -> None:
        """Hand ``message`` to the first waiter still waiting, else buffer it."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)
                return
        self._items.append(message)

    def deliver(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """The consumer callback itself (``Channel.basic_consume``'s ``on_message_callback``):
        :meth:`put` of a :class:`ReceivedMessage`, inline. Hot path, once per delivery: one
        Python call, the message built without ``ReceivedMessage.__new__``'s own frame, and
        while a burst of deliveries finds no waiter, an append only."""
        message = _new_tuple(ReceivedMessage, (self._channel, method, properties, body))
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)  # the consumer's task wakes on the next turn
                transport = self._transport
                # (flush_pending read here: no call per message once a flush is pending)
                if transport is not None and not transport.flush_pending:
                    transport.flush_behind_callbacks()  # its ack leaves in that turn
                return
        self._items.append(message)

    def get(self) -> "asyncio.Future[ReceivedMessage]":
        """The next message (already done when one is buffered); fails with the close reason
        once the queue is closed and drained."""
        future: "asyncio.Future[ReceivedMessage]" = self._loop.create_future()
        if self._items:
            future.set_result(self._items.popleft())
        elif self.closed is not None:
            fail(future, self.closed)
        else:
            self._waiters.append(future)
        return future

    def close(self, reason: BaseException, discard_pending: bool) -> None:
        """Close with ``reason``: every waiting :meth:`get` fails with it. A second close is
        ignored (the first reason stays)."""
        if self.closed is not None:
            return
        self.closed = reason
        if discard_pending:
            self._items.clear()
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            fail(waiter, reason)

    def __aiter__(self) -> AsyncIterator[ReceivedMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ReceivedMessage]:
        items = self._items
        while True:
            if items:
                # Buffered (a read brings many deliveries): no future per message. A close
                # that discards pending messages empties ``items`` first, so this never
                # yields past a close that should raise.
                yield items.popleft()
                continue
            try:
                yield await self.get()
            except exceptions.ConsumerCancelled:
                if self.closed is not None and not self._items:
                    return  # the consumer was cancelled: the iteration ends
                raise
