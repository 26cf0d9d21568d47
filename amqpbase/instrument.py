"""The instrumentation seam: what the core tells an installed observer, and when (issue 15).

Owns :class:`Observer` (every hook point, each a no-op until overridden), :class:`Observers`
(several observers as one, e.g. metrics and tracing) and :class:`Outstanding` (the per-channel
"which publishes / deliveries are still unsettled" bookkeeping that RabbitMQ's ``multiple``
acks need, shared by the observers). ``amqpbase.metrics`` and ``amqpbase.tracing`` are the two
observers the package ships.

How the core calls it (docs/metrics.md, "The seam"): an observer is a connection parameter
(``ConnectionParameters(observer=...)``). Whether one is installed is decided ONCE, when a
connection or channel is built: the connection registers its connection-level hooks as
ordinary callbacks, and a channel with an observer replaces its ``basic_publish``/
``basic_ack``/``basic_nack``/``basic_reject`` by observed versions (instance attributes) and
wraps each consumer callback at ``basic_consume``. Without one nothing here runs and the
per-message paths are the same code as before (no test per message).

Must not: import a loop, do I/O, or import an optional package (OpenTelemetry, Prometheus):
``parameters`` validates against :class:`Observer`, so this module sits in the configuration
layer and imports nothing of the core at run time.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from amqpbase.exceptions import ConfirmLostError
from amqpbase.spec import Basic, BasicProperties

#: ``amqpbase.channel.Channel`` / ``amqpbase.connection.Connection`` (a layer above this one,
#: so named here only for the reader).
Channel = Any
Connection = Any

__all__ = ["Observer", "Observers", "Outstanding"]


class Observer:
    """The hook points. Subclass it and override what you need; every hook runs on the
    connection's loop thread. An exception from a hook is logged and ignored (internals.md
    rule 7): it never changes what the core does.

    Tokens: :meth:`publish` and :meth:`deliver` return a token the core hands back to
    :meth:`published` / :meth:`delivered` (a span, a start time...); the core never looks
    inside it.
    """

    # ---- connections -------------------------------------------------------------------

    def connection_opened(self, connection: Connection) -> None:
        """The connection is open (its on-open callbacks run after this)."""

    def connection_closed(self, connection: Connection, reason: BaseException) -> None:
        """A connection that was open closed for good (after its channels were told).
        ``connection.bytes_sent``/``bytes_received`` hold its final totals."""

    def connection_recovered(self, connection: Connection) -> None:
        """Automatic recovery brought the connection and its topology back."""

    def connection_blocked(self, connection: Connection) -> None:
        """RabbitMQ sent Connection.Blocked (a resource alarm: publishes are held)."""

    def connection_unblocked(self, connection: Connection) -> None:
        """RabbitMQ sent Connection.Unblocked."""

    # ---- channels ----------------------------------------------------------------------

    def channel_opened(self, channel: Channel) -> None:
        """Channel.OpenOk arrived (first incarnation only: a recovered channel is not new)."""

    def channel_closed(self, channel: Channel, reason: BaseException) -> None:
        """The channel closed for good (its on-close callbacks run after this)."""

    def channel_suspended(self, channel: Channel, lost: ConfirmLostError) -> None:
        """The link dropped and recovery will re-open this channel (docs/recovery.md): the
        publishes whose confirms were outstanding are lost (``lost.delivery_tags``; no Ack or
        Nack will come for them) and this incarnation's unsettled deliveries can no longer be
        settled (their tags are stale). Called before the channel's confirms-lost callbacks."""

    # ---- publishing --------------------------------------------------------------------

    def publish(
        self,
        channel: Channel,
        exchange: str,
        routing_key: str,
        body: Any,
        properties: Optional[BasicProperties],
    ) -> Tuple[Optional[BasicProperties], Any]:
        """Before ``basic_publish`` encodes anything: returns the properties to send and a
        token for :meth:`published`. An observer that adds headers (trace context) returns a
        NEW ``BasicProperties`` with a new headers dict: the caller's objects are never
        changed in place."""
        return properties, None

    def published(
        self, channel: Channel, token: Any, delivery_tag: int, error: Optional[BaseException]
    ) -> None:
        """After ``basic_publish``: ``delivery_tag`` is the publish's confirm tag in confirm
        mode (the channel's numbering, as :meth:`confirmed` reports it), else 0. ``error``:
        what ``basic_publish`` raised (nothing was sent; it is re-raised to the caller)."""

    def confirmed(
        self, channel: Channel, delivery_tag: int, multiple: bool, acked: bool
    ) -> None:
        """A broker Basic.Ack (``acked``) or Basic.Nack for this channel's publishes (tag in
        the channel's numbering; ``multiple``: every unsettled tag up to it, tag 0: all)."""

    def returned(
        self,
        channel: Channel,
        method: Basic.Return,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        """A Basic.Return (an unroutable mandatory publish)."""

    # ---- consuming ---------------------------------------------------------------------

    def deliver(
        self,
        channel: Channel,
        queue: str,
        auto_ack: bool,
        method: Any,
        properties: BasicProperties,
        body: bytes,
    ) -> Any:
        """A message for a consumer of ``queue`` (Basic.Deliver, or Basic.GetOk for
        ``basic_get``), right before the consumer callback runs; returns a token for
        :meth:`delivered`. For the Deferred, awaitable and blocking flavours the "consumer
        callback" is the flavour's hand-off into its queue (docs/tracing.md)."""
        return None

    def delivered(self, channel: Channel, token: Any, error: Optional[BaseException]) -> None:
        """The consumer callback returned (``error``: what it raised; the core logs it)."""

    def settled(self, channel: Channel, kind: str, delivery_tag: int, multiple: bool) -> None:
        """The consumer sent ``kind`` (``"ack"``, ``"nack"`` or ``"reject"``) for
        ``delivery_tag`` (``multiple``: every unsettled one up to it; 0 + multiple: all)."""


class Observers(Observer):
    """Several observers as one, called in the order given (``publish`` hands each the
    properties the previous one returned)."""

    def __init__(self, *observers: Observer) -> None:
        for observer in observers:
            if not isinstance(observer, Observer):
                raise TypeError(f"Observers() takes Observer instances, got {observer!r}")
        self.observers: Tuple[Observer, ...] = tuple(observers)

    def connection_opened(self, connection: Connection) -> None:
        for observer in self.observers:
            observer.connection_opened(connection)

    def connection_closed(self, connection: Connection, reason: BaseException) -> None:
        for observer in self.observers:
            observer.connection_closed(connection, reason)

    def connection_recovered(self, connection: Connection) -> None:
        for observer in self.observers:
            observer.connection_recovered(connection)

    def connection_blocked(self, connection: Connection) -> None:
        for observer in self.observers:
            observer.connection_blocked(connection)

    def connection_unblocked(self, connection: Connection) -> None:
        for observer in self.observers:
            observer.connection_unblocked(connection)

    def channel_opened(self, channel: Channel) -> None:
        for observer in self.observers:
            observer.channel_opened(channel)

    def channel_closed(self, channel: Channel, reason: BaseException) -> None:
        for observer in self.observers:
            observer.channel_closed(channel, reason)

    def channel_suspended(self, channel: Channel, lost: ConfirmLostError) -> None:
        for observer in self.observers:
            observer.channel_suspended(channel, lost)

    def publish(
        self,
        channel: Channel,
        exchange: str,
        routing_key: str,
        body: Any,
        properties: Optional[BasicProperties],
    ) -> Tuple[Optional[BasicProperties], Any]:
        tokens = []
        for observer in self.observers:
            properties, token = observer.publish(channel, exchange, routing_key, body,
                                                 properties)
            tokens.append(token)
        return properties, tokens

    def published(
        self, channel: Channel, token: Any, delivery_tag: int, error: Optional[BaseException]
    ) -> None:
        for observer, own in zip(self.observers, token):
            observer.published(channel, own, delivery_tag, error)

    def confirmed(
        self, channel: Channel, delivery_tag: int, multiple: bool, acked: bool
    ) -> None:
        for observer in self.observers:
            observer.confirmed(channel, delivery_tag, multiple, acked)

    def returned(
        self,
        channel: Channel,
        method: Basic.Return,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        for observer in self.observers:
            observer.returned(channel, method, properties, body)

    def deliver(
        self,
        channel: Channel,
        queue: str,
        auto_ack: bool,
        method: Any,
        properties: BasicProperties,
        body: bytes,
    ) -> Any:
        return [observer.deliver(channel, queue, auto_ack, method, properties, body)
                for observer in self.observers]

    def delivered(self, channel: Channel, token: Any, error: Optional[BaseException]) -> None:
        # Reverse order: the first observer's token (a span made current) is undone last.
        for observer, own in zip(reversed(self.observers), reversed(token)):
            observer.delivered(channel, own, error)

    def settled(self, channel: Channel, kind: str, delivery_tag: int, multiple: bool) -> None:
        for observer in self.observers:
            observer.settled(channel, kind, delivery_tag, multiple)


class Outstanding:
    """Unsettled tags of one channel, each with a value (tags only grow, so insertion order is
    tag order): what a settlement covers, following RabbitMQ's rules (``multiple`` settles
    every tag up to the given one, ``multiple`` with tag 0 all of them; a tag already settled
    is ignored)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: Dict[int, Any] = {}

    def add(self, tag: int, value: Any) -> None:
        self.values[tag] = value

    def settle(self, tag: int, multiple: bool) -> List[Any]:
        """Remove and return the values ``(tag, multiple)`` settles, in tag order."""
        values = self.values
        if not multiple:
            if tag in values:
                return [values.pop(tag)]
            return []
        covered = []
        for held in values:
            if tag and held > tag:
                break
            covered.append(held)
        return [values.pop(held) for held in covered]

    def clear(self) -> List[Any]:
        """Remove and return every value (the channel closed)."""
        values = list(self.values.values())
        self.values.clear()
        return values

    def __len__(self) -> int:
        return len(self.values)
