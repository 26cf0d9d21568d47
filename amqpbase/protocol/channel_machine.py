"""The sans-I/O channel machine: ALL of one channel's protocol state, driven by API requests
and inbound frames, answering with actions (``channel_table``).

Owns: the state and incarnation, the RPC queue (one synchronous method on the wire, AMQP
0-9-1 section 2.3.5.2; the rest wait in call order), content assembly (section 4.2.6), the
consumer registry and the cancelling set, the pending get, confirm mode and its tracker (the
settlement rules are :mod:`~.confirms`'), flow, the close reason, and the numbering of
publishes and presented delivery tags across incarnations. Every input is looked up in
:data:`~.channel_table.TABLE` (and content frames in ``CONTENT_TABLE``) first; an illegal
pair raises its defined error having changed nothing.

Must not: send bytes, call user code (consumer callbacks and request tokens are opaque values
it stores and hands back), read a clock, or know the connection.

The data plane is the owner's: a publish bumps :attr:`ChannelMachine.next_publish_tag` in
confirm mode, and a ``frames.Delivery`` whose consumer is known goes to it without a call here
(the owner reads :attr:`state`, :attr:`content_method`, :attr:`consumers`, :attr:`cancelling`
and :attr:`tag_offset` as plain attributes).

Incarnations: :meth:`open` on a CLOSED machine starts incarnation 1, 2, ... (recovery re-opens
the same channel object). The broker numbers deliveries and confirms from 1 per channel
incarnation; presented delivery tags are ``(incarnation - 1) << 48`` plus the broker's tag (so
offset 0 and unchanged bytes in the first incarnation) and publishes keep counting across
incarnations, so neither ever repeats within the object's life.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from amqpbase import exceptions, spec
from amqpbase.amqp_object import Method
from amqpbase.protocol.channel_table import (
    CONTENT_TABLE,
    TABLE,
    Action,
    Assembly,
    ChannelState,
    Closed,
    Confirmed,
    GotMessage,
    Input,
    Notified,
    Opened,
    Outcome,
    Piece,
    Replied,
    Returned,
    Rpc,
    Send,
)
from amqpbase.protocol.confirms import ConfirmTracker
from amqpbase.streams import STREAM_OFFSET
from amqpbase.wire import frames

LOGGER = logging.getLogger("amqpbase.channel")

_CLOSED = ChannelState.CLOSED
_OPENING = ChannelState.OPENING
_OPEN = ChannelState.OPEN
_CLOSING = ChannelState.CLOSING
_CLOSE_SENT = ChannelState.CLOSE_SENT
_RUN = Outcome.RUN
_MethodFrame = frames.Method
_HeaderFrame = frames.Header
_BodyFrame = frames.Body
_DeliveryFrame = frames.Delivery

#: Presented delivery tags of incarnation n start at (n - 1) << TAG_SHIFT: a channel
#: incarnation would need 2**48 deliveries to collide with the next one.
TAG_SHIFT = 48

#: Inbound method classes and the input each is; any other method is a REPLY.
_INPUT_OF: Dict[type, Input] = {
    spec.Basic.Deliver: Input.CONTENT,
    spec.Basic.Return: Input.CONTENT,
    spec.Basic.GetOk: Input.CONTENT,
    spec.Basic.Ack: Input.CONFIRM,
    spec.Basic.Nack: Input.CONFIRM,
    spec.Basic.Cancel: Input.BROKER_CANCEL,
    spec.Channel.Flow: Input.BROKER_FLOW,
    spec.Channel.Close: Input.BROKER_CLOSE,
    spec.Channel.CloseOk: Input.CLOSE_OK,
}


def _is_stream_delivery(properties: Any) -> bool:
    """A delivery from a RabbitMQ stream queue: it carries the x-stream-offset header."""
    headers = properties.headers
    return bool(headers) and STREAM_OFFSET in headers


class ChannelMachine:
    """One channel's protocol state (see the module docstring). Attributes are read by the
    owner; only the methods here change them (except :attr:`next_publish_tag`, bumped by the
    owner's publish fast path in confirm mode)."""

    __slots__ = (
        "channel_number", "state", "incarnation", "tag_offset", "flow_active", "close_reason",
        "rpc_pending", "rpc_queue", "content_method", "content_header", "body_remaining",
        "body_parts", "consumers", "cancelling", "no_ack", "get_pending", "get_token",
        "confirming", "next_publish_tag", "confirm_offset", "confirms",
    )

    def __init__(self, channel_number: int) -> None:
        self.channel_number = channel_number
        self.state = _CLOSED
        self.incarnation = 0
        #: Added to the broker's delivery tags presented to the user (see module docstring).
        self.tag_offset = 0
        #: Last Channel.Flow ``active`` state seen from the broker or confirmed by FlowOk.
        self.flow_active = True
        self.close_reason: Optional[BaseException] = None
        self.rpc_pending: Optional[Rpc] = None
        self.rpc_queue: Deque[Rpc] = deque()
        # Content assembly: the content method frame, then its header, then body octets.
        self.content_method: Any = None  # frames.Method or None
        self.content_header: Any = None  # frames.Header or None
        self.body_remaining = 0
        self.body_parts: Optional[List[Any]] = None
        #: Consumers: tag -> the owner's opaque consumer. A tag in ``cancelling`` has its
        #: Basic.Cancel queued or sent; its late deliveries are not dispatched.
        self.consumers: Dict[str, Any] = {}
        self.cancelling: Set[str] = set()
        self.no_ack: Set[str] = set()
        self.get_pending = False
        self.get_token: Any = None
        #: Confirm mode: the tag the next publish gets (never repeats in the object's life);
        #: the broker's confirm tag t is our tag t + confirm_offset.
        self.confirming = False
        self.next_publish_tag = 1
        self.confirm_offset = 0
        self.confirms = ConfirmTracker()

    def __repr__(self) -> str:
        return f"<ChannelMachine {self.channel_number} {self.state.name} #{self.incarnation}>"

    # ----------------------------------------------------------------------------------------
    # The tables
    # ----------------------------------------------------------------------------------------

    def check(self, what: Input) -> None:
        """Raise the defined error when ``what`` (an API input) is illegal in this state."""
        if TABLE[(self.state, what)] is not _RUN:
            raise self._refusal(what)

    def _refusal(self, what: Input) -> exceptions.AMQPError:
        state = self.state
        if what in (Input.RPC, Input.SEND, Input.CLOSE):
            if state is _OPENING:
                return exceptions.ChannelWrongStateError(
                    "Channel is opening, but is not usable yet."
                )
            if state is _CLOSING or state is _CLOSE_SENT:
                return exceptions.ChannelWrongStateError("Channel is closing.")
            if state is _CLOSED:
                return exceptions.ChannelWrongStateError("Channel is closed.")
        return exceptions.ChannelWrongStateError(
            f"{what.value} is not allowed while the channel is {state.name}"
        )

    def assembly(self) -> Assembly:
        """Where content assembly stands (derived from the content fields)."""
        if self.content_method is None:
            return Assembly.IDLE
        return Assembly.HEADER_DUE if self.content_header is None else Assembly.BODY_DUE

    def is_opening(self) -> bool:
        """True while our Channel.Open awaits its OpenOk."""
        return self.state is _OPENING

    # ----------------------------------------------------------------------------------------
    # API requests (the owner validated the arguments)
    # ----------------------------------------------------------------------------------------

    def open(self) -> List[Action]:
        """Send Channel.Open; a CLOSED machine that was open before starts a new incarnation
        (per-incarnation state reset, numbering carried on)."""
        self.check(Input.OPEN)
        self.incarnation += 1
        self.tag_offset = (self.incarnation - 1) << TAG_SHIFT
        self.flow_active = True
        self.close_reason = None
        # The broker numbers confirms per incarnation, after a new Confirm.Select.
        self.confirming = False
        self.state = _OPENING
        return self._submit(Rpc(spec.Channel.Open(), True))

    def close(self, reply_code: int, reply_text: str) -> List[Action]:
        """Cancel every consumer (waiting for each CancelOk), then Channel.Close."""
        self.check(Input.CLOSE)
        self.state = _CLOSING
        self.close_reason = exceptions.ChannelClosedByClient(reply_code, reply_text)
        actions: List[Action] = []
        for tag in list(self.consumers):
            if tag not in self.cancelling:
                actions += self._cancel(tag, False, None)
        actions += self._submit(Rpc(spec.Channel.Close(reply_code, reply_text, 0, 0), True))
        return actions

    def rpc(self, method: Method, wait: bool, token: Any = None) -> List[Action]:
        """A synchronous method (``wait`` False: sent nowait, no reply expected)."""
        self.check(Input.RPC)
        return self._submit(Rpc(method, wait, token))

    def consume(self, method: Any, consumer: Any, token: Any = None) -> List[Action]:
        """Basic.Consume: ``consumer`` gets the tag's deliveries (the owner dispatches)."""
        self.check(Input.RPC)
        tag = method.consumer_tag
        if tag in self.consumers or tag in self.cancelling:
            raise exceptions.DuplicateConsumerTag(tag)
        self.consumers[tag] = consumer
        if method.no_ack:
            self.no_ack.add(tag)
        return self._submit(Rpc(method, True, token))

    def cancel(self, consumer_tag: str, nowait: bool, token: Any = None) -> List[Action]:
        """Basic.Cancel; nowait forgets the consumer at once. An unknown or already
        cancelling tag is logged and ignored (nothing sent)."""
        self.check(Input.RPC)
        if consumer_tag in self.cancelling:
            LOGGER.warning("basic_cancel: consumer %r is already being cancelled", consumer_tag)
            return []
        if consumer_tag not in self.consumers:
            LOGGER.warning("basic_cancel: no consumer %r on channel %d", consumer_tag,
                           self.channel_number)
            return []
        return self._cancel(consumer_tag, nowait, token)

    def _cancel(self, tag: str, nowait: bool, token: Any) -> List[Action]:
        self.cancelling.add(tag)
        if nowait:
            # No CancelOk will come; the tag stays in cancelling so late deliveries get
            # rejected (pika behaviour).
            del self.consumers[tag]
            return self._submit(Rpc(spec.Basic.Cancel(tag, True), False))
        return self._submit(Rpc(spec.Basic.Cancel(tag, False), True, token))

    def get(self, method: Method, token: Any) -> List[Action]:
        """Basic.Get; ``token`` comes back with the GetOk. One get at a time."""
        self.check(Input.RPC)
        if self.get_pending:
            raise exceptions.DuplicateGetOkCallback()
        self.get_pending = True
        self.get_token = token
        return self._submit(Rpc(method, True))

    def confirm_select(self, nowait: bool, token: Any = None) -> List[Action]:
        """Confirm.Select: publishes from now on are numbered and tracked."""
        self.check(Input.RPC)
        if not self.confirming:
            # RabbitMQ numbers this incarnation's publishes 1, 2, ... from Confirm.Select.
            self.confirming = True
            self.confirm_offset = self.next_publish_tag - 1
        return self._submit(Rpc(spec.Confirm.Select(nowait), not nowait, token))

    def wire_delivery_tag(self, delivery_tag: int) -> int:
        """The broker's tag for a presented ``delivery_tag`` (ack/nack/reject); a tag of an
        earlier incarnation raises ``StaleDeliveryTagError`` (its message was requeued when
        that channel died: there is nothing to acknowledge). 0 (with multiple: all) stays
        0."""
        offset = self.tag_offset
        if delivery_tag == 0 or not offset:
            return delivery_tag
        if delivery_tag <= offset:
            # Rule 1 of issue 12: its message was requeued when the old link died; acking
            # it now would name another message, or an unknown tag (the broker's 406).
            raise exceptions.StaleDeliveryTagError(
                f"delivery tag {delivery_tag} is from an earlier incarnation of channel "
                f"{self.channel_number} (tags of this one are above {offset}); nothing sent"
            )
        return delivery_tag - offset

    def unconfirmed(self) -> List[int]:
        """Publish tags the broker has neither acked nor nacked yet (confirm mode)."""
        if not self.confirming:
            return []
        return self.confirms.unsettled(self.next_publish_tag - 1)

    # ----------------------------------------------------------------------------------------
    # RPC serialisation
    # ----------------------------------------------------------------------------------------

    def _submit(self, rpc: Rpc) -> List[Action]:
        if self.rpc_pending is not None:
            self.rpc_queue.append(rpc)
            return []
        actions: List[Action] = []
        self._transmit(rpc, actions)
        return actions

    def _transmit(self, rpc: Rpc, actions: List[Action]) -> None:
        actions.append(Send(rpc.method))
        if rpc.replies:
            self.rpc_pending = rpc
        if type(rpc.method) is spec.Channel.Close:
            self.state = _CLOSE_SENT

    def _send_queued(self, actions: List[Action]) -> None:
        queue = self.rpc_queue
        while queue and self.rpc_pending is None:
            self._transmit(queue.popleft(), actions)

    # ----------------------------------------------------------------------------------------
    # Inbound frames
    # ----------------------------------------------------------------------------------------

    def receive(self, inbound: Any) -> List[Action]:
        """One inbound method/header/body frame (or a Delivery). Raises the frame's
        ``ProtocolSyntaxError`` subclass (505 content, 504 closed channel, 503 command)
        having changed no state. An assembled Basic.Deliver comes back as a Delivery."""
        kind = type(inbound)
        if kind is _MethodFrame:
            piece = Piece.METHOD
        elif kind is _HeaderFrame:
            piece = Piece.HEADER
        elif kind is _BodyFrame:
            piece = Piece.BODY
        elif kind is _DeliveryFrame:
            return self.delivery(inbound)
        else:
            raise exceptions.UnexpectedFrameError(f"unexpected frame {inbound!r}")
        if CONTENT_TABLE[(self.assembly(), piece)] is not _RUN:
            raise self._out_of_place(piece, inbound)
        if piece is Piece.METHOD:
            return self._on_method(inbound)
        if piece is Piece.HEADER:
            self.content_header = inbound
            if inbound.body_size == 0:
                return self._content_done(b"")
            self.body_remaining = inbound.body_size
            return []
        fragment = inbound.fragment
        remaining = self.body_remaining - len(fragment)
        if remaining > 0:
            if self.body_parts is None:
                self.body_parts = [fragment]
            else:
                self.body_parts.append(fragment)
            self.body_remaining = remaining
            return []
        if remaining < 0:
            size = self.content_header.body_size
            raise exceptions.BodyTooLongError(
                f"body frames on channel {self.channel_number} carry {size - remaining} "
                f"octets but the content header announced {size}"
            )
        parts = self.body_parts
        if parts is None:
            return self._content_done(fragment)  # the common case: one fragment, no copy
        parts.append(fragment)
        self.body_parts = None
        return self._content_done(b"".join(parts))

    def _out_of_place(self, piece: Piece, inbound: Any) -> exceptions.AMQPError:
        number = self.channel_number
        if piece is Piece.BODY:
            return exceptions.UnexpectedFrameError(
                f"body frame without a content header on channel {number}"
            )
        if piece is Piece.HEADER:
            return exceptions.UnexpectedFrameError(
                f"content header without a content method on channel {number}"
            )
        return exceptions.UnexpectedFrameError(
            f"{inbound.method.NAME} before the content of "
            f"{self.content_method.method.NAME} was complete"
        )

    def delivery(self, inbound: frames.Delivery) -> List[Action]:
        """A Delivery (Deliver, header and one body decoded together) the owner did not
        dispatch inline: the same checks and outcome as its three frames. Returns it back
        when its consumer is known (the owner dispatches), else what becomes of it."""
        if CONTENT_TABLE[(self.assembly(), Piece.DELIVERY)] is not _RUN:
            raise self._out_of_place(Piece.DELIVERY, inbound)
        if TABLE[(self.state, Input.DELIVERY)] is not _RUN:
            raise exceptions.ChannelNotOpenError(
                f"{inbound.method.NAME} on closed channel {self.channel_number}"
            )
        method = inbound.method
        tag = method.consumer_tag
        if self.state is not _OPEN:
            # Closing: the broker requeues every unacked delivery when the channel closes.
            LOGGER.debug("Dropping delivery %d for %r on closing channel %d",
                         method.delivery_tag, tag, self.channel_number)
            return []
        if tag in self.cancelling:
            # Consumer being cancelled: hand the message back (pika behaviour). Not a stream
            # delivery (it carries x-stream-offset): RabbitMQ answers basic.reject on a stream
            # queue by closing the connection (540); it stays in the stream anyway.
            if tag in self.no_ack or _is_stream_delivery(inbound.properties):
                return []
            return [Send(spec.Basic.Reject(method.delivery_tag, True))]
        if tag in self.consumers:
            return [inbound]
        LOGGER.error("Delivery %d for unknown consumer %r on channel %d dropped",
                     method.delivery_tag, tag, self.channel_number)
        return []

    def _on_method(self, inbound: frames.Method) -> List[Action]:
        method = inbound.method
        what = _INPUT_OF.get(type(method), Input.REPLY)
        outcome = TABLE[(self.state, what)]
        if outcome is _RUN:
            actions: List[Action] = _HANDLERS[what](self, inbound)
            return actions
        if outcome is Outcome.NOT_OPEN:
            raise exceptions.ChannelNotOpenError(
                f"{method.NAME} on closed channel {self.channel_number}"
            )
        # DISCARD. AMQP 0-9-1 channel.close: after sending Close, discard every method
        # except Close and Close-Ok.
        LOGGER.debug("Discarding %s on closing channel %d", method.NAME, self.channel_number)
        return []

    def _on_reply(self, inbound: frames.Method) -> List[Action]:
        rpc = self.rpc_pending
        method = inbound.method
        if rpc is None or not isinstance(method, rpc.replies):
            expected = "nothing" if rpc is None else rpc.method.NAME + " reply"
            raise exceptions.CommandInvalidError(
                f"{method.NAME} on channel {self.channel_number}; expected {expected}"
            )
        self.rpc_pending = None
        kind = type(rpc.method)
        opened = False
        if kind is spec.Channel.Close:
            self.state = _CLOSED
            reason = self.close_reason
            assert reason is not None
            return self._close(reason, None, release=True)
        if kind is spec.Channel.Open:
            # close() during OPENING: still CLOSING, the OpenOk is suppressed (pika).
            if self.state is _OPENING:
                self.state = _OPEN
                opened = True
        elif kind is spec.Basic.Cancel:
            self._forget_consumer(inbound.method.consumer_tag)
        elif kind is spec.Basic.Get:  # Basic.GetEmpty (GetOk is content)
            LOGGER.debug("Basic.GetEmpty on channel %d", self.channel_number)
            self.get_pending = False
            self.get_token = None
        elif kind is spec.Channel.Flow:
            self.flow_active = bool(inbound.method.active)
        # Send what queued up before the owner runs user code, so calls made from a reply
        # callback go behind them (call order is wire order).
        actions: List[Action] = []
        self._send_queued(actions)
        if opened:
            actions.append(Opened(inbound))
        actions.append(Replied(rpc.token, inbound))
        return actions

    def _on_content(self, inbound: frames.Method) -> List[Action]:
        if type(inbound.method) is spec.Basic.GetOk:
            rpc = self.rpc_pending
            if rpc is None or type(rpc.method) is not spec.Basic.Get:
                raise exceptions.CommandInvalidError(
                    f"Basic.GetOk on channel {self.channel_number} without a pending Basic.Get"
                )
        self.content_method = inbound
        return []

    def _content_done(self, body: Any) -> List[Action]:
        method_frame = self.content_method
        header = self.content_header
        self.content_method = None
        self.content_header = None
        method = method_frame.method
        kind = type(method)
        if kind is spec.Basic.Deliver:
            return [_DeliveryFrame(self.channel_number, method, header.properties, body)]
        if kind is spec.Basic.Return:
            if self.state is _CLOSE_SENT:
                LOGGER.debug("Discarding Basic.Return on closing channel %d",
                             self.channel_number)
                return []
            return [Returned(method, header.properties, body)]
        # Basic.GetOk: answers the pending Basic.Get.
        token = self.get_token
        self.rpc_pending = None
        self.get_pending = False
        self.get_token = None
        if self.tag_offset:
            method.delivery_tag += self.tag_offset
        actions: List[Action] = []
        self._send_queued(actions)
        actions.append(GotMessage(token, method_frame, header.properties, body))
        return actions

    def confirm(self, inbound: frames.Method) -> None:
        """Settle a broker Basic.Ack/Nack: the data-plane form the facade calls inline (like a
        delivery to its consumer) when the channel is OPEN with no content being assembled,
        the pair the table answers with this very handler; anything else goes through
        :meth:`receive`. Not in confirm mode: ``CommandInvalidError`` (503), nothing
        changed. The tag is translated to this object's numbering (incarnation offset)."""
        method = inbound.method
        if not self.confirming:
            raise exceptions.CommandInvalidError(
                f"{method.NAME} from the broker but channel {self.channel_number} is not in "
                "confirm mode"
            )
        offset = self.confirm_offset
        if offset and method.delivery_tag:
            method.delivery_tag += offset
        self.confirms.settle(method.delivery_tag, method.multiple, self.next_publish_tag - 1)

    def _on_confirm(self, inbound: frames.Method) -> List[Action]:
        self.confirm(inbound)
        return [Confirmed(inbound)]

    def _on_broker_cancel(self, inbound: frames.Method) -> List[Action]:
        # RabbitMQ consumer_cancel_notify: the consumer is gone (queue deleted, node down...).
        method = inbound.method
        tag = method.consumer_tag
        LOGGER.info("Broker cancelled consumer %r on channel %d", tag, self.channel_number)
        if tag not in self.cancelling:
            self._forget_consumer(tag)
        # Otherwise our Basic.Cancel crossed it; RabbitMQ still answers that with CancelOk.
        actions: List[Action] = []
        if not method.nowait:
            actions.append(Send(spec.Basic.CancelOk(tag)))
        actions.append(Notified(inbound))
        return actions

    def _on_broker_flow(self, inbound: frames.Method) -> List[Action]:
        active = bool(inbound.method.active)
        self.flow_active = active
        # AMQP 0-9-1 channel.flow: the receiver answers with flow-ok.
        return [Send(spec.Channel.FlowOk(active)), Notified(inbound)]

    def _on_broker_close(self, inbound: frames.Method) -> List[Action]:
        method = inbound.method
        LOGGER.warning("Broker closed channel %d (%s): %r", self.channel_number,
                       method.reply_code, method.reply_text)
        reason = exceptions.ChannelClosedByBroker(method.reply_code, method.reply_text)
        # AMQP 0-9-1 channel.close: the peer MUST answer with close-ok.
        actions: List[Action] = [Send(spec.Channel.CloseOk())]
        if self.state is _CLOSE_SENT:
            # Crossing ours: both sides answer (section 1.5.2.5); we still wait for our
            # CloseOk, and report the broker's reason then (pika).
            self.close_reason = reason
            return actions
        # A Close of ours still queued is never sent: the broker answers nothing more.
        self.state = _CLOSED
        return actions + self._close(reason, inbound, release=True)

    def connection_closed(self, reason: BaseException) -> List[Action]:
        """The connection is gone: CLOSED without sending anything, every pending RPC, get,
        confirm and consumer fails with ``reason``. Nothing happens when already CLOSED."""
        if TABLE[(self.state, Input.CONNECTION_LOST)] is not _RUN:
            return []
        self.state = _CLOSED
        return self._close(reason, None, release=False)

    def suspend(self) -> Tuple[List[int], int]:
        """The link dropped and the connection recovers (issue 12): CLOSED without sending
        anything, like :meth:`connection_closed`, but the owner keeps the channel to re-open
        it. Returns the publish tags whose confirm is lost and how many RPCs were in flight
        or queued (interrupted). A channel that is not OPEN or OPENING is not suspended
        (``([], -1)``): the owner closes it for good."""
        if self.state is not _OPEN and self.state is not _OPENING:
            return [], -1
        interrupted = len(self.rpc_queue) + (self.rpc_pending is not None)
        self.state = _CLOSED
        closed = self._close(exceptions.OperationInterruptedError(
            f"the link of channel {self.channel_number} dropped"), None, release=False)
        unconfirmed = closed[0].unconfirmed if closed else []
        return list(unconfirmed), interrupted

    def _forget_consumer(self, tag: str) -> None:
        self.consumers.pop(tag, None)
        self.cancelling.discard(tag)
        self.no_ack.discard(tag)

    def _close(
        self, reason: BaseException, broker_close: Optional[frames.Method], release: bool
    ) -> List[Action]:
        """State is CLOSED: drop all pending work; what was unsettled fails with ``reason``."""
        self.close_reason = reason
        dropped = len(self.rpc_queue) + (self.rpc_pending is not None)
        if dropped:
            LOGGER.debug("Channel %d closed with %d RPC(s) unanswered: %r",
                         self.channel_number, dropped, reason)
        self.rpc_pending = None
        self.rpc_queue.clear()
        self.content_method = None
        self.content_header = None
        self.body_parts = None
        self.get_pending = False
        self.get_token = None
        self.consumers.clear()
        self.cancelling.clear()
        self.no_ack.clear()
        unconfirmed: List[int] = []
        if self.confirming:
            last = self.next_publish_tag - 1
            unconfirmed = self.confirms.unsettled(last)
            self.confirms.settle_all(last)
        return [Closed(reason, broker_close, unconfirmed, release,
                       isinstance(reason, exceptions.ChannelClosedByBroker))]


#: The handler of each inbound method input whose outcome is RUN.
_HANDLERS: Dict[Input, Any] = {
    Input.REPLY: ChannelMachine._on_reply,
    Input.CLOSE_OK: ChannelMachine._on_reply,
    Input.CONTENT: ChannelMachine._on_content,
    Input.CONFIRM: ChannelMachine._on_confirm,
    Input.BROKER_CANCEL: ChannelMachine._on_broker_cancel,
    Input.BROKER_FLOW: ChannelMachine._on_broker_flow,
    Input.BROKER_CLOSE: ChannelMachine._on_broker_close,
}
