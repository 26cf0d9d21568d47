"""Heartbeat checking for an open connection, driven only by the adapter's timer hooks.

AMQP 0-9-1 section 4.2.7: once a heartbeat interval is negotiated, each peer sends heartbeat
frames when it has nothing else to send, and may treat the peer as dead when nothing at all
arrives for two intervals. The core has no clock, so time is counted in ticks of half an
interval scheduled with ``_adapter_call_later``:

- every tick, if no bytes were sent since the previous tick, a heartbeat frame is sent, so the
  broker never sees more than half an interval of silence from a healthy client;
- every tick, if no bytes were received since the previous tick, the idle count grows; after
  four idle ticks (two whole intervals of silence, at most two and a half) the peer is declared
  dead and the connection is told (it closes with ``AMQPHeartbeatTimeout``).

Any received byte counts as life (RabbitMQ sends heartbeats only on an otherwise idle link).
"""

from __future__ import annotations

from typing import Any, Optional, Protocol


class HeartbeatHost(Protocol):
    """What the checker needs from the connection (the base ``Connection`` provides it)."""

    _bytes_sent: int
    _bytes_received: int

    def _adapter_call_later(self, delay: float, callback: Any) -> Any: ...

    def _adapter_remove_timeout(self, handle: Any) -> None: ...

    def _send_heartbeat(self) -> None: ...

    def _on_heartbeat_timeout(self, silent_seconds: float) -> None: ...


#: Idle half-interval ticks after which the peer is declared dead (two missed intervals).
IDLE_TICKS_BEFORE_DEAD = 4


class HeartbeatChecker:
    """Sends heartbeats on an idle link and detects a dead peer.

    ``interval`` is the negotiated heartbeat in seconds (> 0). :meth:`start` schedules the first
    tick; :meth:`stop` cancels the pending tick and may be called any number of times.
    """

    def __init__(self, connection: HeartbeatHost, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"heartbeat interval must be > 0, got {interval!r}")
        self._connection = connection
        self.interval = interval
        self._tick_seconds = interval / 2.0
        self._timer: Optional[Any] = None
        self._last_sent = connection._bytes_sent
        self._last_received = connection._bytes_received
        self._idle_ticks = 0

    @property
    def active(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """Begin ticking. Calling it while active is a no-op."""
        if self._timer is None:
            self._schedule()

    def stop(self) -> None:
        """Cancel the pending tick; idempotent."""
        if self._timer is not None:
            self._connection._adapter_remove_timeout(self._timer)
            self._timer = None

    def _schedule(self) -> None:
        self._timer = self._connection._adapter_call_later(self._tick_seconds, self._tick)

    def _tick(self) -> None:
        self._timer = None
        connection = self._connection
        if connection._bytes_received == self._last_received:
            self._idle_ticks += 1
        else:
            self._idle_ticks = 0
            self._last_received = connection._bytes_received
        if self._idle_ticks >= IDLE_TICKS_BEFORE_DEAD:
            connection._on_heartbeat_timeout(self._idle_ticks * self._tick_seconds)
            return
        if connection._bytes_sent == self._last_sent:
            connection._send_heartbeat()
        self._last_sent = connection._bytes_sent
        self._schedule()
