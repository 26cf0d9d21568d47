"""What the connection machine asks of its facade: the actions and events it returns.

Owns: the :class:`Timer` names and one small immutable record per action. The machine returns
a list of these from every input; the facade (``amqpbase/connection.py``) applies them in
order through the adapter hooks and the user callbacks. User-visible events (``Opened``,
``OpenFailed``, ``Closed``, ``Blocked``...) always come last in a list, so a user callback
that re-enters the connection sees a machine that has finished its step.

Must not: carry callables, adapter handles or clocks (data only), or be used for the data
plane (publishes, acks and deliveries never become actions).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Tuple, Union

from amqpbase.protocol.enums import TableEnum


class Timer(TableEnum):
    """The machine's named timers; at most one of each is armed at a time."""

    RETRY = "retry"  # pause before the next open attempt (0 s before the first)
    STACK = "stack"  # stack_timeout: stream + handshake must be done by then
    CLOSE = "close"  # close_timeout: Connection.CloseOk (and channel closes) awaited
    BLOCKED = "blocked"  # blocked_connection_timeout after Connection.Blocked
    HEARTBEAT = "heartbeat"  # one tick every half heartbeat interval
    ABORT = "abort"  # close() between attempts: report the abort from the loop


class Send(NamedTuple):
    """Emit ``data`` (``frame_count`` whole frames, already encoded) on the stream."""

    data: bytes
    frame_count: int
    name: str  # what it is ("Connection.StartOk", "protocol header", "heartbeat")


class StartTimer(NamedTuple):
    """Arm ``timer`` to fire after ``delay`` seconds; report it back with ``incarnation``."""

    timer: Timer
    delay: float
    incarnation: int


class CancelTimer(NamedTuple):
    """Disarm ``timer`` (it may already have fired: then a no-op)."""

    timer: Timer


class ConnectStream(NamedTuple):
    """Connect a new stream for ``incarnation``; parse its input with ``frame_max``."""

    incarnation: int
    frame_max: int


class DisconnectStream(NamedTuple):
    """Close the stream (or abort its connect); its termination is reported later."""


class Negotiated(NamedTuple):
    """Connection.Tune settled: use these for the rest of the stream."""

    channel_max: int
    frame_max: int
    heartbeat: int


class ChooseHeartbeat(NamedTuple):
    """The user's ``heartbeat`` callable must choose, given the broker's proposal; answer
    with :meth:`ConnectionMachine.heartbeat_chosen` (the value, or the exception it raised)."""

    server_value: int


class CloseChannels(NamedTuple):
    """A client close: ask every open or opening channel to close with this reply, then
    report the numbers still closing with :meth:`ConnectionMachine.channels_closing`."""

    reply_code: int
    reply_text: str


class Opened(NamedTuple):
    """The connection is OPEN (once per successful attempt)."""


class OpenFailed(NamedTuple):
    """The open attempt(s) ended without OPEN and no retry follows (once per open)."""

    reason: BaseException


class Closed(NamedTuple):
    """A connection that was OPEN is now CLOSED: tell the channels, then the user."""

    reason: BaseException


class Blocked(NamedTuple):
    """RabbitMQ's Connection.Blocked (``frame`` is the ``frame.Method``)."""

    frame: Any


class Unblocked(NamedTuple):
    """RabbitMQ's Connection.Unblocked (``frame`` is the ``frame.Method``)."""

    frame: Any


class SecretUpdated(NamedTuple):
    """Connection.UpdateSecretOk for the oldest Connection.UpdateSecret outstanding."""

    frame: Any


Action = Union[
    Send,
    StartTimer,
    CancelTimer,
    ConnectStream,
    DisconnectStream,
    Negotiated,
    ChooseHeartbeat,
    CloseChannels,
    Opened,
    OpenFailed,
    Closed,
    Blocked,
    Unblocked,
    SecretUpdated,
]

#: The action types that report to the user; the machine puts them last in a list.
EVENTS: Tuple[type, ...] = (Opened, OpenFailed, Closed, Blocked, Unblocked, SecretUpdated)
