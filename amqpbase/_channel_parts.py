"""Building blocks of :class:`amqpbase.channel.Channel` kept out of the main module.

- :class:`ChannelState`, the channel events and the ONE transition table (DESIGN.md rule 3);
- :class:`_Rpc`, one synchronous method waiting to be sent or answered;
- :class:`_ConfirmTracker`, publisher-confirm bookkeeping (which delivery tags the broker has
  settled with Basic.Ack / Basic.Nack);
- argument validators used by the public channel methods, so that bad input from the user
  raises before anything is sent and before any channel state changes.

Nothing here sends bytes or calls user code.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from amqpbase import exceptions
from amqpbase.amqp_object import Method

LOGGER = logging.getLogger("amqpbase.channel")


class ChannelState(enum.Enum):
    """Life cycle of a channel. Only :func:`next_state` decides the successor state."""

    CLOSED = 0  # not opened yet, or finished (a Channel object is never reopened)
    OPENING = 1  # Channel.Open sent, Channel.OpenOk not yet received
    OPEN = 2
    CLOSING = 3  # client-initiated close in progress (consumers cancelled, then Channel.Close)


class ChannelEvent(enum.Enum):
    """What can happen to a channel."""

    OPEN = "open()"  # client sends Channel.Open
    OPEN_OK = "Channel.OpenOk"
    CLOSE = "close()"  # client starts closing
    CLOSE_OK = "Channel.CloseOk"  # broker answered our Channel.Close
    BROKER_CLOSE = "Channel.Close from broker"
    # The broker's Channel.Close crossed ours on the wire: we answer CloseOk and keep waiting
    # for the CloseOk to our own Close (AMQP 0-9-1 section 1.5.2.5: both sides must reply).
    BROKER_CLOSE_CROSSED = "Channel.Close from broker crossing ours"
    CONNECTION_LOST = "connection closed"


_S = ChannelState
_E = ChannelEvent

#: The one transition table: (state, event) -> next state. Anything missing is illegal.
TRANSITIONS: Dict[Tuple[ChannelState, ChannelEvent], ChannelState] = {
    (_S.CLOSED, _E.OPEN): _S.OPENING,
    (_S.OPENING, _E.OPEN_OK): _S.OPEN,
    # close() during OPENING: the OpenOk still arrives and is suppressed (pika behaviour).
    (_S.CLOSING, _E.OPEN_OK): _S.CLOSING,
    (_S.OPENING, _E.CLOSE): _S.CLOSING,
    (_S.OPEN, _E.CLOSE): _S.CLOSING,
    (_S.CLOSING, _E.CLOSE_OK): _S.CLOSED,
    (_S.OPENING, _E.BROKER_CLOSE): _S.CLOSED,
    (_S.OPEN, _E.BROKER_CLOSE): _S.CLOSED,
    # Our Channel.Close was still queued behind another RPC: the broker will answer nothing
    # more on this channel, so it is closed now and our Close is never sent.
    (_S.CLOSING, _E.BROKER_CLOSE): _S.CLOSED,
    (_S.CLOSING, _E.BROKER_CLOSE_CROSSED): _S.CLOSING,
    (_S.OPENING, _E.CONNECTION_LOST): _S.CLOSED,
    (_S.OPEN, _E.CONNECTION_LOST): _S.CLOSED,
    (_S.CLOSING, _E.CONNECTION_LOST): _S.CLOSED,
}


def next_state(state: ChannelState, event: ChannelEvent) -> ChannelState:
    """Return the state after ``event``; raise :class:`ChannelWrongStateError` if illegal."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise exceptions.ChannelWrongStateError(
            f"{event.value} is not allowed while the channel is {state.name}"
        ) from None


class _Rpc:
    """One synchronous method: queued, then sent, then (unless nowait) awaiting its reply.

    ``replies`` is the method's ``valid_responses`` from the spec, or empty for nowait
    (sending it does not block the channel). ``on_reply(frame)`` is channel-internal
    bookkeeping run first; ``callback(frame)`` is the user's completion callback, run through
    ``_callbacks.invoke``.
    """

    __slots__ = ("method", "replies", "on_reply", "callback")

    def __init__(
        self,
        method: Method,
        wait: bool = True,
        on_reply: Optional[Callable[[Any], None]] = None,
        callback: Optional[Callable[..., Any]] = None,
    ) -> None:
        self.method = method
        self.replies: Tuple[type, ...] = type(method).valid_responses if wait else ()
        self.on_reply = on_reply
        self.callback = callback


class _Registration:
    """A callback added with ``Channel.add_callback`` (or one of the ``add_on_*`` helpers)."""

    __slots__ = ("callback", "arguments", "one_shot")

    def __init__(
        self, callback: Callable[..., Any], arguments: Optional[Dict[str, Any]], one_shot: bool
    ) -> None:
        self.callback = callback
        self.arguments = arguments
        self.one_shot = one_shot

    def matches(self, method: Method) -> bool:
        if not self.arguments:
            return True
        return all(getattr(method, k, None) == v for k, v in self.arguments.items())


class _ConfirmTracker:
    """Which publish delivery tags the broker has settled (acked or nacked).

    Publishes in confirm mode get delivery tags 1, 2, 3, ... in order (RabbitMQ
    confirms.html: the broker numbers them per channel from 1). Every tag ``<= floor`` is
    settled; ``above`` holds tags settled out of order beyond ``floor``. Publishing costs
    nothing here (the channel only bumps its counter); settling is O(1) amortised except a
    ``multiple`` ack that jumps over out-of-order tags.
    """

    __slots__ = ("floor", "above")

    def __init__(self) -> None:
        self.floor = 0
        self.above: Set[int] = set()

    def settle(self, delivery_tag: int, multiple: bool, last_published: int) -> None:
        """Record a Basic.Ack/Nack from the broker for ``delivery_tag`` (``multiple``: all ≤)."""
        if multiple and delivery_tag == 0:
            # AMQP 0-9-1 basic.ack: multiple with tag 0 means "all outstanding".
            delivery_tag = last_published
        if delivery_tag > last_published or delivery_tag < 1:
            LOGGER.warning(
                "Broker settled delivery tag %d but only %d were published; ignored for "
                "bookkeeping",
                delivery_tag,
                last_published,
            )
            return
        if multiple:
            if delivery_tag > self.floor:
                self.floor = delivery_tag
                if self.above:
                    self.above = {t for t in self.above if t > delivery_tag}
        elif delivery_tag == self.floor + 1:
            self.floor = delivery_tag
            above = self.above
            while self.floor + 1 in above:
                self.floor += 1
                above.discard(self.floor)
        elif delivery_tag > self.floor:
            self.above.add(delivery_tag)

    def unsettled(self, last_published: int) -> List[int]:
        """Delivery tags published and not yet settled, ascending."""
        return [t for t in range(self.floor + 1, last_published + 1) if t not in self.above]


# --------------------------------------------------------------------------------------------
# Argument validation: every check runs before anything is sent or any state changes.
# --------------------------------------------------------------------------------------------


def require_str(value: Any, name: str) -> None:
    """``value`` must be a ``str`` (TypeError, like pika's validators) that fits an AMQP
    shortstr: at most 255 bytes once UTF-8 encoded (``ShortStringTooLong``, a ValueError,
    naming the argument). Every channel argument checked with this is a shortstr field; none
    is on a per-message hot path (``basic_publish`` calls it only when a fast type check
    misses).

    The length is measured here, not only by the codec, because some methods may not encode
    the value at all (``basic_cancel`` of an unknown tag logs and returns), and a message
    naming the argument beats the codec's field path. Encoding uses ``surrogateescape`` like
    the codec (amqpbase.fieldtable), so a string decoded from the wire is accepted back.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, but got {value!r}")
    try:
        size = len(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8") from None
    if size > 255:
        raise exceptions.ShortStringTooLong(
            f"{name} must encode to at most 255 UTF-8 bytes (a shortstr), got {size}"
        )


def optional_callback(callback: Any, name: str = "callback") -> bool:
    """``callback`` must be callable or None (TypeError). Returns True when it is None.

    For the methods where pika derives ``nowait`` from the callback, the return value is
    that ``nowait`` flag.
    """
    if callback is None:
        return True
    if not callable(callback):
        raise TypeError(f"{name} must be callable or None, but got {callback!r}")
    return False


_UINT_MAX = {8: 0xFF, 16: 0xFFFF, 32: 0xFFFFFFFF, 64: 0xFFFFFFFFFFFFFFFF}


def require_uint(value: Any, name: str, bits: int) -> None:
    """``value`` must be an ``int`` (not a ``bool``: ``basic_ack(True)`` is a mistake, not
    tag 1) in the unsigned range of an AMQP octet/short/long/longlong."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, but got {value!r}")
    if not 0 <= value <= _UINT_MAX[bits]:
        raise ValueError(f"{name} must be in 0..{_UINT_MAX[bits]}, but got {value!r}")


def require_table(value: Any, name: str = "arguments") -> None:
    """``value`` must be a mapping (encoded as an AMQP field table) or None."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict or None, but got {value!r}")


def check_encodable(method: Method) -> None:
    """Encode ``method`` once and discard the bytes, so that a value the codec refuses
    (shortstr over 255 bytes -> ``ShortStringTooLong``, unencodable table value ->
    ``UnsupportedAMQPFieldException``) fails in the user's call, not later when a queued RPC
    is sent from inside frame processing (which would poison the connection).
    """
    try:
        method.encode()
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"cannot encode {method!r}: {exc}") from exc
