"""The channel machine's vocabulary: its states, its inputs, the (state, input) tables that
decide every outcome, and the actions it returns (internals.md rule 3).

Owns: :class:`ChannelState`, :class:`Input`, :class:`Outcome`, :data:`TABLE` (life cycle)
and :data:`CONTENT_TABLE` (content assembly, AMQP 0-9-1 section 4.2.6), the request record
:class:`Rpc` (a synchronous method and the replies that answer it), and the action records.
Must not: hold state, send bytes, call user code or import the facades.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from amqpbase.protocol.enums import TableEnum
from amqpbase.amqp_object import Method
from amqpbase.wire import frames


class ChannelState(TableEnum):
    """Life cycle of a channel (the public ``Channel.CLOSED`` ... constants are members)."""

    CLOSED = 0  # not opened yet, or finished (re-opening starts a new incarnation)
    OPENING = 1  # Channel.Open sent, Channel.OpenOk not yet received
    OPEN = 2
    CLOSING = 3  # close() called: consumers being cancelled, our Channel.Close still queued
    CLOSE_SENT = 4  # our Channel.Close is on the wire (``is_closing`` too)


class Input(TableEnum):
    """What can happen to a channel: API requests first, then inbound frames."""

    OPEN = "open()"
    CLOSE = "close()"
    RPC = "a synchronous method (rpc, consume, cancel, get, confirm_select, flow...)"
    SEND = "an asynchronous method (publish, ack, nack, reject)"
    REPLY = "a reply to our synchronous method other than CloseOk (OpenOk, QosOk, ...)"
    CLOSE_OK = "Channel.CloseOk"
    CONTENT = "Basic.Deliver / Basic.Return / Basic.GetOk (content follows)"
    CONFIRM = "Basic.Ack / Basic.Nack from the broker"
    BROKER_CANCEL = "Basic.Cancel from the broker"
    BROKER_FLOW = "Channel.Flow from the broker"
    BROKER_CLOSE = "Channel.Close from the broker"
    DELIVERY = "a Delivery (Deliver + header + body decoded together) not dispatched inline"
    CONNECTION_LOST = "the connection closed"


class Outcome(TableEnum):
    """What the tables decide for a pair."""

    RUN = "run the input's handler"
    WRONG_STATE = "ChannelWrongStateError (an API call in the wrong state)"
    NOT_OPEN = "ChannelNotOpenError 504 (a frame for a closed channel)"
    DISCARD = "drop it (AMQP 0-9-1 channel.close: after Close only Close/CloseOk count)"
    IGNORE = "nothing to do"
    UNEXPECTED = "UnexpectedFrameError 505 (content out of place, section 4.2.6)"


_S = ChannelState
_I = Input
_O = Outcome

_INBOUND_METHODS = (_I.REPLY, _I.CONFIRM, _I.BROKER_CANCEL, _I.BROKER_FLOW)


def _build() -> Dict[Tuple[ChannelState, Input], Outcome]:
    table: Dict[Tuple[ChannelState, Input], Outcome] = {}
    for state in ChannelState:
        live = state is not _S.CLOSED
        table[(state, _I.OPEN)] = _O.RUN if state is _S.CLOSED else _O.WRONG_STATE
        # close() during OPENING is allowed: the OpenOk is then suppressed (pika behaviour).
        table[(state, _I.CLOSE)] = _O.RUN if state in (_S.OPENING, _S.OPEN) else _O.WRONG_STATE
        table[(state, _I.RPC)] = _O.RUN if state is _S.OPEN else _O.WRONG_STATE
        table[(state, _I.SEND)] = _O.RUN if state is _S.OPEN else _O.WRONG_STATE
        for kind in _INBOUND_METHODS:
            if not live:
                table[(state, kind)] = _O.NOT_OPEN
            elif state is _S.CLOSE_SENT:
                table[(state, kind)] = _O.DISCARD
            else:
                table[(state, kind)] = _O.RUN
        # CloseOk answers the pending RPC (503 unless it is our Close).
        table[(state, _I.CLOSE_OK)] = _O.RUN if live else _O.NOT_OPEN
        # Content is still assembled after our Close (then dropped), so framing stays checked.
        table[(state, _I.CONTENT)] = _O.RUN if live else _O.NOT_OPEN
        table[(state, _I.DELIVERY)] = _O.RUN if live else _O.NOT_OPEN
        # Both sides answer a Close (section 1.5.2.5): a Close crossing ours is answered too.
        table[(state, _I.BROKER_CLOSE)] = _O.RUN if live else _O.NOT_OPEN
        table[(state, _I.CONNECTION_LOST)] = _O.RUN if live else _O.IGNORE
    return table


#: The life-cycle table: every (state, input) pair has exactly one outcome.
TABLE: Dict[Tuple[ChannelState, Input], Outcome] = _build()


class Assembly(TableEnum):
    """Where content assembly stands (AMQP 0-9-1 section 4.2.6)."""

    IDLE = 0  # no content method pending
    HEADER_DUE = 1  # Deliver/Return/GetOk received, its content header not yet
    BODY_DUE = 2  # header received, body octets still due


class Piece(TableEnum):
    """The frame kinds the content rule is about."""

    METHOD = "method frame"
    HEADER = "content header frame"
    BODY = "content body frame"
    DELIVERY = "Delivery (a whole Basic.Deliver with its content)"


#: The content table: what each frame kind means at each assembly stage. A method (or a
#: Delivery) may only come between contents; a header only right after a content method;
#: body frames only after the header, until the announced size is reached.
CONTENT_TABLE: Dict[Tuple[Assembly, Piece], Outcome] = {
    (Assembly.IDLE, Piece.METHOD): _O.RUN,
    (Assembly.IDLE, Piece.DELIVERY): _O.RUN,
    (Assembly.IDLE, Piece.HEADER): _O.UNEXPECTED,
    (Assembly.IDLE, Piece.BODY): _O.UNEXPECTED,
    (Assembly.HEADER_DUE, Piece.METHOD): _O.UNEXPECTED,
    (Assembly.HEADER_DUE, Piece.DELIVERY): _O.UNEXPECTED,
    (Assembly.HEADER_DUE, Piece.HEADER): _O.RUN,
    (Assembly.HEADER_DUE, Piece.BODY): _O.UNEXPECTED,
    (Assembly.BODY_DUE, Piece.METHOD): _O.UNEXPECTED,
    (Assembly.BODY_DUE, Piece.DELIVERY): _O.UNEXPECTED,
    (Assembly.BODY_DUE, Piece.HEADER): _O.UNEXPECTED,
    (Assembly.BODY_DUE, Piece.BODY): _O.RUN,
}


# --------------------------------------------------------------------------------------------
# Requests: a synchronous method the machine queues (one on the wire at a time, AMQP 0-9-1
# section 2.3.5.2) and the replies that answer it.
# --------------------------------------------------------------------------------------------


class Rpc:
    """One synchronous method: queued, then sent, then (unless ``replies`` is empty: nowait)
    awaiting one of ``replies``. ``token`` is the owner's, handed back with the reply."""

    __slots__ = ("method", "replies", "token")

    def __init__(self, method: Method, wait: bool, token: Any = None) -> None:
        self.method = method
        self.replies: Tuple[type, ...] = type(method).valid_responses if wait else ()
        self.token = token


# --------------------------------------------------------------------------------------------
# Actions: what the machine asks its owner to do, in order. The data plane (publish, ack,
# a delivery to its consumer) never goes through these.
# --------------------------------------------------------------------------------------------


class Send(NamedTuple):
    """Send this method frame on the channel."""

    method: Method


class Opened(NamedTuple):
    """Channel.OpenOk arrived while OPENING: the channel is OPEN."""

    frame: frames.Method


class Replied(NamedTuple):
    """The reply to the RPC whose ``token`` the owner passed (None: no token) arrived."""

    token: Any
    frame: frames.Method


class GotMessage(NamedTuple):
    """Basic.GetOk with its content, for the get request's ``token``; the delivery tag is the
    presented one (incarnation offset applied)."""

    token: Any
    frame: frames.Method
    properties: Any
    body: Any


class Returned(NamedTuple):
    """Basic.Return with its content."""

    method: Any
    properties: Any
    body: Any


class Confirmed(NamedTuple):
    """Basic.Ack/Nack from the broker, delivery tag translated to this object's numbering."""

    frame: frames.Method


class Notified(NamedTuple):
    """A broker-initiated Basic.Cancel or Channel.Flow (already answered where required)."""

    frame: frames.Method


class Closed(NamedTuple):
    """The channel reached CLOSED. ``frame``: the broker's Channel.Close, if that closed it.
    ``unconfirmed``: confirm-mode publishes failed with ``reason`` (never settled later).
    ``release``: the owner must tell the connection (not after the connection closed)."""

    reason: BaseException
    frame: Optional[frames.Method]
    unconfirmed: List[int]
    release: bool
    by_broker: bool


#: Everything :class:`~amqpbase.protocol.channel_machine.ChannelMachine` may return; an
#: assembled Basic.Deliver comes back as a ``frames.Delivery`` for the owner's one dispatch.
Action = Any
