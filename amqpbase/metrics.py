"""Client metrics (issue 15): an :class:`~amqpbase.instrument.Observer` that counts, a small
collector protocol it counts into, a built-in in-process collector, and the Prometheus
exporter (the ``amqpbase[prometheus]`` extra, imported only when an exporter is made).

Owns: what each counter means (:data:`COUNTERS`, docs/metrics.md), the per-channel
bookkeeping that turns RabbitMQ's ``multiple`` acks into message counts, blocked time, and the
byte totals read from the connections (``Connection.bytes_sent``/``bytes_received``, counted by
the link anyway: no per-frame hook).

Must not: be imported by the core (the core knows only ``amqpbase.instrument``), import
``prometheus_client`` at module level, or keep a label per queue, routing key or connection
(the exporter's series are fixed: low cardinality).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Dict, Iterator, Optional, Protocol, Tuple

from amqpbase.instrument import Observer, Outstanding

__all__ = ["COUNTERS", "MetricsCollector", "CounterCollector", "Metrics", "PrometheusExporter"]

#: Every counter, with what it counts (the Prometheus help text). Message counts are messages,
#: not frames: a ``multiple`` ack counts every message it settles.
COUNTERS: Dict[str, str] = {
    "connections_opened": "Connections opened (handshake completed)",
    "connections_closed": "Open connections closed for good",
    "connections_recovered": "Connections brought back by automatic recovery",
    "channels_opened": "Channels opened",
    "channels_closed": "Channels closed for good",
    "messages_published": "Messages handed to the transport by basic_publish",
    "messages_confirmed": "Published messages the broker acked (publisher confirms)",
    "messages_nacked": "Published messages the broker nacked (publisher confirms)",
    "messages_returned": "Mandatory messages the broker returned (Basic.Return)",
    "messages_confirm_lost": "Published messages whose confirm was lost when the link dropped "
                             "(ConfirmLostError; automatic recovery)",
    "messages_consumed": "Messages delivered to consumers (Basic.Deliver and Basic.GetOk)",
    "messages_acked": "Delivered messages the consumer acked",
    "messages_nacked_by_consumer": "Delivered messages the consumer nacked",
    "messages_rejected": "Delivered messages the consumer rejected",
    "bytes_sent": "Bytes sent to the broker",
    "bytes_received": "Bytes received from the broker",
    "blocked_seconds": "Seconds connections spent blocked by the broker (Connection.Blocked)",
}


class MetricsCollector(Protocol):
    """Where :class:`Metrics` counts: ``add(name, amount)`` for a name of :data:`COUNTERS`
    (amount > 0). Called on a connection's loop thread, possibly from several loops at once;
    must be cheap (it runs per message while metrics are on)."""

    def add(self, name: str, amount: float) -> None: ...


class CounterCollector:
    """The built-in collector: counters in a dict, safe to share across loop threads and to
    read from another (a scrape)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Dict[str, float] = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, amount: float) -> None:
        with self._lock:
            self._values[name] += amount

    def values(self) -> Dict[str, float]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._values)


class _ConnectionState:
    __slots__ = ("sent", "received", "blocked_since")

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.blocked_since: Optional[float] = None


class Metrics(Observer):
    """Counts :data:`COUNTERS` into ``collector`` (a new :class:`CounterCollector` by
    default). Install it with ``ConnectionParameters(observer=Metrics())``; one instance may
    serve any number of connections. :meth:`snapshot` reads every counter, live byte totals
    and blocked time included."""

    def __init__(self, collector: Optional[MetricsCollector] = None) -> None:
        self.collector: MetricsCollector = collector if collector is not None else (
            CounterCollector())
        self._add = self.collector.add
        self._lock = threading.Lock()
        self._connections: "weakref.WeakKeyDictionary[Any, _ConnectionState]" = (
            weakref.WeakKeyDictionary())
        # channel -> its unsettled confirm-mode publishes / manual-ack deliveries (plain
        # dicts: read per message; a channel always reports its close, which drops it)
        self._publishes: Dict[Any, Outstanding] = {}
        self._deliveries: Dict[Any, Outstanding] = {}

    # ---- reading -----------------------------------------------------------------------

    def sync(self) -> None:
        """Add what the live connections sent, received and spent blocked since the last
        sync (run by :meth:`snapshot`, the exporter's scrape and each connection's close)."""
        now = time.monotonic()
        with self._lock:
            for connection, state in list(self._connections.items()):
                self._sync_one(connection, state, now)

    def _sync_one(self, connection: Any, state: _ConnectionState, now: float) -> None:
        sent, received = connection.bytes_sent, connection.bytes_received
        if sent > state.sent:
            self._add("bytes_sent", sent - state.sent)
            state.sent = sent
        if received > state.received:
            self._add("bytes_received", received - state.received)
            state.received = received
        if state.blocked_since is not None:
            self._add("blocked_seconds", now - state.blocked_since)
            state.blocked_since = now

    def snapshot(self) -> Dict[str, float]:
        """Every counter now (needs the built-in :class:`CounterCollector`)."""
        self.sync()
        values = getattr(self.collector, "values", None)
        if values is None:
            raise TypeError("snapshot() needs a collector with values() (CounterCollector)")
        result: Dict[str, float] = values()
        return result

    def tracked(self) -> Tuple[int, int]:
        """How many confirm-mode publishes and manual-ack deliveries are held unsettled now
        (what settlements are counted against; auto-ack deliveries are never held)."""
        return (sum(len(o) for o in list(self._publishes.values())),
                sum(len(o) for o in list(self._deliveries.values())))

    # ---- connections -------------------------------------------------------------------

    def connection_opened(self, connection: Any) -> None:
        self._add("connections_opened", 1)
        with self._lock:
            state = self._connections.get(connection)
            if state is None:
                self._connections[connection] = _ConnectionState()

    def connection_closed(self, connection: Any, reason: BaseException) -> None:
        self._add("connections_closed", 1)
        with self._lock:
            state = self._connections.pop(connection, None)
            if state is not None:
                self._sync_one(connection, state, time.monotonic())

    def connection_recovered(self, connection: Any) -> None:
        self._add("connections_recovered", 1)

    def connection_blocked(self, connection: Any) -> None:
        with self._lock:
            state = self._connections.get(connection)
            if state is not None and state.blocked_since is None:
                state.blocked_since = time.monotonic()

    def connection_unblocked(self, connection: Any) -> None:
        with self._lock:
            state = self._connections.get(connection)
            if state is not None and state.blocked_since is not None:
                self._add("blocked_seconds", time.monotonic() - state.blocked_since)
                state.blocked_since = None

    # ---- channels ----------------------------------------------------------------------

    def channel_opened(self, channel: Any) -> None:
        self._add("channels_opened", 1)

    def channel_closed(self, channel: Any, reason: BaseException) -> None:
        self._add("channels_closed", 1)
        self._publishes.pop(channel, None)
        self._deliveries.pop(channel, None)

    def channel_suspended(self, channel: Any, lost: Any) -> None:
        # Recovery re-opens the channel: what this incarnation left unsettled never settles
        # (no confirm comes for a lost publish; a stale delivery tag cannot be acked).
        outstanding = self._publishes.pop(channel, None)
        if outstanding is not None and outstanding.values:
            self._add("messages_confirm_lost", len(outstanding.clear()))
        self._deliveries.pop(channel, None)

    # ---- messages ----------------------------------------------------------------------

    def published(
        self, channel: Any, token: Any, delivery_tag: int, error: Optional[BaseException]
    ) -> None:
        if error is not None:
            return
        self._add("messages_published", 1)
        if delivery_tag:
            outstanding = self._publishes.get(channel)
            if outstanding is None:
                outstanding = self._publishes[channel] = Outstanding()
            outstanding.values[delivery_tag] = None

    def confirmed(self, channel: Any, delivery_tag: int, multiple: bool, acked: bool) -> None:
        outstanding = self._publishes.get(channel)
        if outstanding is None:
            return
        count = len(outstanding.settle(delivery_tag, multiple))
        if count:
            self._add("messages_confirmed" if acked else "messages_nacked", count)

    def returned(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self._add("messages_returned", 1)

    def deliver(self, channel: Any, queue: str, auto_ack: bool, method: Any, properties: Any,
                body: bytes) -> Any:
        self._add("messages_consumed", 1)
        if not auto_ack:
            outstanding = self._deliveries.get(channel)
            if outstanding is None:
                outstanding = self._deliveries[channel] = Outstanding()
            outstanding.values[method.delivery_tag] = None
        return None

    def settled(self, channel: Any, kind: str, delivery_tag: int, multiple: bool) -> None:
        outstanding = self._deliveries.get(channel)
        if outstanding is None:
            return
        count = len(outstanding.settle(delivery_tag, multiple))
        if count:
            self._add(_SETTLED_COUNTER[kind], count)


_SETTLED_COUNTER = {
    "ack": "messages_acked",
    "nack": "messages_nacked_by_consumer",
    "reject": "messages_rejected",
}


class PrometheusExporter:
    """Exposes a :class:`Metrics`' counters through ``prometheus_client`` (the
    ``amqpbase[prometheus]`` extra): a custom collector registered on ``registry`` (the
    default registry unless given) that reads :meth:`Metrics.snapshot` at each scrape, so
    counting costs nothing extra. Series: ``<namespace>_<counter>_total``, no labels beyond
    the constant ``labels`` given here (keep them few: one series each)."""

    def __init__(
        self,
        metrics: Metrics,
        registry: Any = None,
        namespace: str = "amqpbase",
        labels: Optional[Dict[str, str]] = None,
    ) -> None:
        import prometheus_client  # the optional extra: imported only here
        from prometheus_client.core import CounterMetricFamily

        self._family = CounterMetricFamily
        self.metrics = metrics
        self.namespace = namespace
        self._labels: Tuple[Tuple[str, str], ...] = tuple(sorted((labels or {}).items()))
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self.registry.register(self)

    def collect(self) -> Iterator[Any]:
        values = self.metrics.snapshot()
        names = [name for name, _ in self._labels]
        label_values = [value for _, value in self._labels]
        for name, help_text in COUNTERS.items():
            family = self._family(f"{self.namespace}_{name}", help_text, labels=names)
            family.add_metric(label_values, values.get(name, 0))
            yield family

    def unregister(self) -> None:
        self.registry.unregister(self)
