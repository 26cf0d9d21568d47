"""The engine under :class:`amqpbase.channel.Channel`: RPC serialisation, inbound frame
dispatch, content assembly, consumer dispatch, confirm bookkeeping and closing.

``channel.py`` holds the public (pika 1.x) API and argument validation; everything here is
internal and runs either from a public call (sending) or from the connection's frame dispatch
(``_handle_frame``). Protocol violations by the broker raise:

- ``UnexpectedFrameError`` (505): a content header or body frame out of place, or a method
  frame arriving before the announced content is complete (AMQP 0-9-1 section 4.2.6);
- ``BodyTooLongError`` (505): body frames carrying more octets than the header announced;
- ``CommandInvalidError`` (503): a well-formed method that answers nothing pending, or a
  Basic.Ack/Nack when the channel is not in confirm mode;
- ``ChannelNotOpenError`` (504): a method frame for a channel that is already closed.

The channel has changed no state when one of these is raised; the connection then closes.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Set, Tuple, cast

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import LOGGER as _CALLBACK_LOGGER
from amqpbase._callbacks import invoke
from amqpbase._channel_parts import (
    ChannelEvent,
    ChannelState,
    _ConfirmTracker,
    _Registration,
    _Rpc,
    check_encodable,
    next_state,
)
from amqpbase.amqp_object import Method
from amqpbase.protocol.seams import ChannelHandlers  # TEMP-SHIM

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.channel import Channel
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.channel")

_Callback = Callable[..., Any]

_OPEN = ChannelState.OPEN
_CLOSING = ChannelState.CLOSING
_CLOSED = ChannelState.CLOSED
_Deliver = spec.Basic.Deliver
_Return = spec.Basic.Return
_MethodFrame = frame.Method
_HeaderFrame = frame.Header
_BodyFrame = frame.Body
_DeliveryFrame = frame.Delivery
_ChannelClose = spec.Channel.Close
_ChannelCloseOk = spec.Channel.CloseOk


class ChannelCore:
    """Internal state and machinery of a channel (see the module docstring)."""

    def __init__(self, connection: "Connection", channel_number: int, link: Any) -> None:
        self.channel_number = channel_number
        self.connection = connection
        # TEMP-SHIM (conn branch only): the old channel speaking the new ChannelLink seam
        self._link = link
        if link is not None:  # tests/faults/test_leaks.py builds a Channel without a link
            link.attach(channel_number, ChannelHandlers(
                self._handle_frame, self._on_connection_closed,
                lambda: self._state is ChannelState.OPENING))
        #: Last Channel.Flow ``active`` state seen from the broker or confirmed by FlowOk.
        self.flow_active = True
        self._state = ChannelState.CLOSED
        self._on_open_callback: Optional[_Callback] = None
        self._closing_reason: Optional[BaseException] = None
        self._on_close_callbacks: List[_Callback] = []
        self._return_callbacks: List[_Callback] = []
        # add_callback()/add_on_cancel/flow/ack-nack registrations, keyed by Method class.
        self._method_callbacks: Dict[type, List[_Registration]] = {}
        # Consumers: tag -> on_message_callback. A tag in _cancelling has a Basic.Cancel
        # queued or sent (pika's "_cancelled"); its late deliveries are not dispatched.
        self._consumers: Dict[str, _Callback] = {}
        self._cancelling: Set[str] = set()
        self._no_ack: Set[str] = set()
        self._get_callback: Optional[_Callback] = None
        self._get_pending = False
        # Synchronous RPCs: the one on the wire, and those waiting to be sent.
        self._rpc_pending: Optional[_Rpc] = None
        self._rpc_queue: Deque[_Rpc] = deque()
        # Content assembly (Deliver / GetOk / Return, then Header, then Body frames).
        self._content_method: Any = None  # frame.Method or None (Any: hot path, no asserts)
        self._content_header: Any = None  # frame.Header or None
        self._body_remaining = 0
        self._body_parts: Optional[List[Any]] = None
        # Publisher confirms: delivery tag the next publish gets (RabbitMQ numbers from 1).
        self._confirming = False
        self._next_delivery_tag = 1
        self._confirms = _ConfirmTracker()
        # Publish hot path: (exchange, routing_key, mandatory) -> frame.encode_publish_heads()
        # for this channel. Filled by basic_publish after a publish that took the checked
        # path, so only validated arguments get here; bounded (cleared when full).
        self._publish_heads: Dict[Tuple[str, str, bool], Tuple[bytes, bytes]] = {}

    def _close_sent(self) -> bool:
        """Our Channel.Close is on the wire (not merely queued behind another RPC)."""
        rpc = self._rpc_pending
        return rpc is not None and type(rpc.method) is spec.Channel.Close

    # ----------------------------------------------------------------------------------------
    # RPC serialisation
    # ----------------------------------------------------------------------------------------

    def _checked_rpc(self, method: Method, nowait: bool, callback: Optional[_Callback]) -> None:
        check_encodable(method)
        self._rpc(_Rpc(method, not nowait, None, callback))

    def _rpc(self, rpc: _Rpc) -> None:
        """Send ``rpc`` now if no synchronous method is awaiting its reply, else queue it."""
        if self._rpc_pending is None:
            self._transmit(rpc)
        else:
            self._rpc_queue.append(rpc)

    def _transmit(self, rpc: _Rpc) -> None:
        self._link.send_method(self.channel_number, rpc.method)
        if rpc.replies:
            self._rpc_pending = rpc

    def _send_queued(self) -> None:
        queue = self._rpc_queue
        while queue and self._rpc_pending is None:
            self._transmit(queue.popleft())

    def _on_reply(self, frame_value: frame.Method) -> None:
        rpc = self._rpc_pending
        if rpc is None or not isinstance(frame_value.method, rpc.replies):
            expected = "nothing" if rpc is None else rpc.method.NAME + " reply"
            raise exceptions.CommandInvalidError(
                f"{frame_value.method.NAME} on channel {self.channel_number}; expected {expected}"
            )
        self._rpc_pending = None
        if rpc.on_reply is not None:
            rpc.on_reply(frame_value)
        # Send what queued up before any user code runs, so calls made from the callback
        # below go behind them (call order is wire order).
        self._send_queued()
        if rpc.callback is not None:
            invoke(rpc.callback, frame_value)
        self._fire(frame_value)

    def _fire(self, frame_value: frame.Method) -> None:
        """Run the add_callback()-style registrations for this method's class."""
        if not self._method_callbacks:
            return
        method = frame_value.method
        registrations = self._method_callbacks.get(type(method))
        if not registrations:
            return
        for registration in list(registrations):
            if registration.matches(method):
                if registration.one_shot:
                    registrations.remove(registration)
                invoke(registration.callback, frame_value)

    # ----------------------------------------------------------------------------------------
    # Inbound frames
    # ----------------------------------------------------------------------------------------

    def _handle_frame(self, frame_value: Any) -> None:
        """Process one inbound ``frame.Method``, ``frame.Header`` or ``frame.Body`` frame, or a
        ``frame.Delivery`` (the three frames of one delivery, decoded together).

        Content (AMQP 0-9-1 section 4.2.6): Basic.Deliver / GetOk / Return are followed by
        exactly one content header and then body frames whose sizes sum to ``body_size``;
        no other frame may come between them on this channel. Violations raise
        ``UnexpectedFrameError`` (header or body out of place, method mid-content) or
        ``BodyTooLongError`` (more body bytes than announced).
        """
        frame_type = type(frame_value)
        if frame_type is _DeliveryFrame:
            # The consume hot path, inlined (each call saved is ~50 ns per message): what
            # _on_delivery, _deliver and invoke() do for a delivery that goes to a consumer.
            if self._content_method is None and self._state is _OPEN:
                method = frame_value.method
                tag = method.consumer_tag
                consumer = self._consumers.get(tag)
                if consumer is not None and not (self._cancelling and tag in self._cancelling):
                    try:
                        consumer(self, method, frame_value.properties, frame_value.body)
                    except Exception:  # noqa: BLE001 - user code is isolated, as by invoke()
                        _CALLBACK_LOGGER.exception("Exception in user callback %r", consumer)
                    return
            self._on_delivery(frame_value)
        elif frame_type is _BodyFrame:
            if self._content_header is None:
                raise exceptions.UnexpectedFrameError(
                    f"body frame without a content header on channel {self.channel_number}"
                )
            fragment = frame_value.fragment
            remaining = self._body_remaining - len(fragment)
            if remaining > 0:
                if self._body_parts is None:
                    self._body_parts = [fragment]
                else:
                    self._body_parts.append(fragment)
                self._body_remaining = remaining
                return
            if remaining < 0:
                size = self._content_header.body_size
                raise exceptions.BodyTooLongError(
                    f"body frames on channel {self.channel_number} carry {size - remaining} "
                    f"octets but the content header announced {size}"
                )
            parts = self._body_parts
            if parts is None:
                self._content_done(fragment)  # the common case: one fragment, no copy
            else:
                parts.append(fragment)
                self._body_parts = None
                self._content_done(b"".join(parts))
        elif frame_type is _MethodFrame:
            if self._content_method is not None:
                raise exceptions.UnexpectedFrameError(
                    f"{frame_value.method.NAME} before the content of "
                    f"{self._content_method.method.NAME} was complete"
                )
            if self._state is _CLOSED:
                raise exceptions.ChannelNotOpenError(
                    f"{frame_value.method.NAME} on closed channel {self.channel_number}"
                )
            method = frame_value.method
            if type(method) is _Deliver:
                self._content_method = frame_value
                return
            method_type = type(method)
            if (
                self._state is _CLOSING
                and method_type is not _ChannelClose
                and method_type is not _ChannelCloseOk
                and not method.has_content
                and self._close_sent()
            ):
                # AMQP 0-9-1 channel.close: after sending Close, discard every method except
                # Close and Close-Ok (content methods are still assembled, then dropped).
                LOGGER.debug("Discarding %s on closing %r", method.NAME, self)
                return
            handler = _INBOUND.get(method_type)
            if handler is not None:
                handler(self, frame_value)
            else:
                self._on_reply(frame_value)
        elif frame_type is _HeaderFrame:
            if self._content_method is None or self._content_header is not None:
                raise exceptions.UnexpectedFrameError(
                    f"content header without a content method on channel {self.channel_number}"
                )
            self._content_header = frame_value
            if frame_value.body_size == 0:
                self._content_done(b"")
            else:
                self._body_remaining = frame_value.body_size
        else:
            raise exceptions.UnexpectedFrameError(f"unexpected frame {frame_value!r}")

    def _on_delivery(self, delivery: frame.Delivery) -> None:
        """Fast path for a :class:`frame.Delivery` (Basic.Deliver, header and single body
        frame decoded together, see ``FrameDecoder.feed_deliveries``): the same checks and
        outcome as ``_handle_frame`` on its three frames, without the assembly state. Only
        the method frame's checks can fail: a header and a body of exactly the announced
        size right after a Basic.Deliver are always in place."""
        if self._content_method is not None:
            raise exceptions.UnexpectedFrameError(
                f"{delivery.method.NAME} before the content of "
                f"{self._content_method.method.NAME} was complete"
            )
        if self._state is _CLOSED:
            raise exceptions.ChannelNotOpenError(
                f"{delivery.method.NAME} on closed channel {self.channel_number}"
            )
        self._deliver(delivery.method, delivery.properties, delivery.body)

    def _deliver(self, method: Any, properties: Any, body: Any) -> None:
        """A complete Basic.Deliver: to its consumer, else ``_on_undispatchable``."""
        if self._state is _OPEN:
            tag = method.consumer_tag
            consumer = self._consumers.get(tag)
            if consumer is not None and not (self._cancelling and tag in self._cancelling):
                invoke(consumer, self, method, properties, body)
                return
        self._on_undispatchable(method)

    def _content_done(self, body: Any) -> None:
        method_frame = self._content_method
        header = self._content_header
        self._content_method = None
        self._content_header = None
        method = method_frame.method
        method_type = type(method)  # (compared via a variable: no mypy narrowing to Optional)
        if method_type is _Deliver:
            self._deliver(method, header.properties, body)
        elif method_type is _Return:
            self._on_return(method, header.properties, body)
        else:
            self._on_get_ok(method_frame, header.properties, body)

    def _on_undispatchable(self, method: Any) -> None:
        tag = method.consumer_tag
        if self._state is not _OPEN:
            # Closing: the broker requeues every unacked delivery when the channel closes.
            LOGGER.debug(
                "Dropping delivery %d for %r on closing %r", method.delivery_tag, tag, self
            )
        elif tag in self._cancelling:
            # Consumer being cancelled: hand the message back (pika behaviour).
            if tag not in self._no_ack:
                self._link.send_method(
                    self.channel_number, spec.Basic.Reject(method.delivery_tag, True)
                )
        else:
            LOGGER.error(
                "Delivery %d for unknown consumer %r on %r dropped", method.delivery_tag, tag, self
            )

    def _on_content_method(self, frame_value: frame.Method) -> None:
        self._content_method = frame_value

    def _on_get_ok_method(self, frame_value: frame.Method) -> None:
        rpc = self._rpc_pending
        if rpc is None or type(rpc.method) is not spec.Basic.Get:
            raise exceptions.CommandInvalidError(
                f"Basic.GetOk on channel {self.channel_number} without a pending Basic.Get"
            )
        self._content_method = frame_value

    def _on_get_ok(self, method_frame: frame.Method, properties: Any, body: Any) -> None:
        callback = self._get_callback
        self._rpc_pending = None
        self._get_pending = False
        self._get_callback = None
        self._send_queued()
        if callback is not None:
            invoke(callback, self, method_frame.method, properties, body)
        self._fire(method_frame)

    def _on_get_empty(self, frame_value: frame.Method) -> None:
        LOGGER.debug("Basic.GetEmpty on %r", self)
        self._get_pending = False
        self._get_callback = None

    def _on_return(self, method: Any, properties: Any, body: Any) -> None:
        if self._state is _CLOSING and self._close_sent():
            LOGGER.debug("Discarding Basic.Return on closing %r", self)
            return
        if not self._return_callbacks:
            LOGGER.warning(
                "Basic.Return %s %r (exchange %r, routing key %r) and no return callback on %r",
                method.reply_code,
                method.reply_text,
                method.exchange,
                method.routing_key,
                self,
            )
        for callback in list(self._return_callbacks):
            invoke(callback, self, method, properties, body)

    def _on_confirm(self, frame_value: frame.Method) -> None:
        method = frame_value.method
        if not self._confirming:
            raise exceptions.CommandInvalidError(
                f"{method.NAME} from the broker but channel {self.channel_number} is not in "
                "confirm mode"
            )
        self._confirms.settle(method.delivery_tag, method.multiple, self._next_delivery_tag - 1)
        self._fire(frame_value)

    def _on_broker_cancel(self, frame_value: frame.Method) -> None:
        # RabbitMQ consumer_cancel_notify: the consumer is gone (queue deleted, node down...).
        method = frame_value.method
        tag = method.consumer_tag
        LOGGER.info("Broker cancelled consumer %r on %r", tag, self)
        if tag not in self._cancelling:
            self._forget_consumer(tag)
        # Otherwise our Basic.Cancel crossed it; RabbitMQ still answers that with CancelOk.
        if not method.nowait:
            self._link.send_method(self.channel_number, spec.Basic.CancelOk(tag))
        self._fire(frame_value)

    def _on_broker_flow(self, frame_value: frame.Method) -> None:
        active = bool(frame_value.method.active)
        self.flow_active = active
        # AMQP 0-9-1 channel.flow: the receiver answers with flow-ok.
        self._link.send_method(self.channel_number, spec.Channel.FlowOk(active))
        if not self._method_callbacks.get(spec.Channel.Flow):
            LOGGER.warning("Channel.Flow(active=%s) from the broker on %r", active, self)
        self._fire(frame_value)

    def _on_broker_close(self, frame_value: frame.Method) -> None:
        method = frame_value.method
        LOGGER.warning("Broker closed %r (%s): %r", self, method.reply_code, method.reply_text)
        reason = exceptions.ChannelClosedByBroker(method.reply_code, method.reply_text)
        # AMQP 0-9-1 channel.close: the peer MUST answer with close-ok.
        self._link.send_method(self.channel_number, spec.Channel.CloseOk())
        if self._state is _CLOSING and self._close_sent():
            self._state = next_state(self._state, ChannelEvent.BROKER_CLOSE_CROSSED)
            self._closing_reason = reason  # reported when our CloseOk arrives (pika)
            return
        self._state = next_state(self._state, ChannelEvent.BROKER_CLOSE)
        self._fire(frame_value)
        self._finish_close(reason, terminated=True)

    # ----------------------------------------------------------------------------------------
    # Internal reply handlers and close
    # ----------------------------------------------------------------------------------------

    def _on_open_ok(self, frame_value: frame.Method) -> None:
        self._state = next_state(self._state, ChannelEvent.OPEN_OK)

    def _notify_open(self, frame_value: frame.Method) -> None:
        if self._state is _OPEN and self._on_open_callback is not None:
            invoke(self._on_open_callback, self)
        self._on_open_callback = None

    def _on_flow_ok(self, frame_value: frame.Method) -> None:
        self.flow_active = bool(frame_value.method.active)

    def _on_cancel_ok(self, frame_value: frame.Method) -> None:
        self._forget_consumer(frame_value.method.consumer_tag)

    def _forget_consumer(self, tag: str) -> None:
        self._consumers.pop(tag, None)
        self._cancelling.discard(tag)
        self._no_ack.discard(tag)

    def _on_close_ok(self, frame_value: frame.Method) -> None:
        self._state = next_state(self._state, ChannelEvent.CLOSE_OK)
        reason = self._closing_reason
        assert reason is not None
        self._finish_close(reason, terminated=True)

    def _on_connection_closed(self, reason: BaseException) -> None:
        """The connection is gone: become CLOSED without sending anything; every pending
        RPC, get, confirm and consumer is dropped and the on-close callbacks get ``reason``.
        A no-op when the channel is already closed."""
        if self._state is _CLOSED:
            return
        self._state = next_state(self._state, ChannelEvent.CONNECTION_LOST)
        self._finish_close(reason, terminated=False)

    def _finish_close(self, reason: BaseException, terminated: bool) -> None:
        """State is CLOSED: drop all pending work, tell the user why, then the connection."""
        self._closing_reason = reason
        dropped = len(self._rpc_queue) + (self._rpc_pending is not None)
        if dropped:
            LOGGER.debug("%r closed with %d RPC(s) unanswered: %r", self, dropped, reason)
        self._rpc_pending = None
        self._rpc_queue.clear()
        self._content_method = None
        self._content_header = None
        self._body_parts = None
        self._get_pending = False
        self._get_callback = None
        self._on_open_callback = None
        self._consumers.clear()
        self._cancelling.clear()
        self._no_ack.clear()
        if self._confirming:
            unsettled = self._confirms.unsettled(self._next_delivery_tag - 1)
            if unsettled:
                LOGGER.warning(
                    "%r closed with %d publish(es) unconfirmed (tags %d..%d): %r",
                    self,
                    len(unsettled),
                    unsettled[0],
                    unsettled[-1],
                    reason,
                )
        callbacks = self._on_close_callbacks
        self._on_close_callbacks = []
        self._method_callbacks = {}
        self._return_callbacks = []
        for callback in callbacks:
            invoke(callback, self, reason)
        if terminated:
            self._link.channel_closed(  # TEMP-SHIM
                self.channel_number,
                isinstance(self._closing_reason, exceptions.ChannelClosedByBroker))

    def _unconfirmed_delivery_tags(self) -> List[int]:
        """Publish delivery tags the broker has neither acked nor nacked yet (confirm mode)."""
        return self._confirms.unsettled(self._next_delivery_tag - 1) if self._confirming else []


#: Inbound methods the broker sends on its own initiative (or content-bearing replies);
#: everything else must answer the pending RPC.
_INBOUND: Dict[type, Callable[[ChannelCore, frame.Method], None]] = {
    spec.Basic.Deliver: ChannelCore._on_content_method,
    spec.Basic.Return: ChannelCore._on_content_method,
    spec.Basic.GetOk: ChannelCore._on_get_ok_method,
    spec.Basic.Ack: ChannelCore._on_confirm,
    spec.Basic.Nack: ChannelCore._on_confirm,
    spec.Basic.Cancel: ChannelCore._on_broker_cancel,
    spec.Channel.Flow: ChannelCore._on_broker_flow,
    spec.Channel.Close: ChannelCore._on_broker_close,
}
