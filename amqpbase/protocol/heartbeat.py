"""Heartbeat bookkeeping for the connection machine (AMQP 0-9-1 section 4.2.7), sans-I/O.

Owns: the byte counts seen at the last tick and the idle-tick count. The machine ticks it
every half negotiated interval (a ``Timer.HEARTBEAT`` it arms through the facade) with the
connection's running totals of bytes sent and received; it answers what to do:

- nothing was sent since the previous tick: send a heartbeat frame, so the broker never sees
  more than half an interval of silence from a healthy client;
- nothing was received for four ticks (two whole intervals, at most two and a half): the
  peer is dead. Any received byte counts as life (RabbitMQ sends heartbeats only on an
  otherwise idle link).

Must not: schedule anything, read a clock or send anything itself.
"""

from __future__ import annotations

from amqpbase.protocol.enums import TableEnum

#: Idle half-interval ticks after which the peer is declared dead (two missed intervals).
IDLE_TICKS_BEFORE_DEAD = 4


class Tick(TableEnum):
    """A tick's verdict."""

    QUIET = 0  # keep ticking
    SEND_HEARTBEAT = 1  # keep ticking, and send a heartbeat frame now
    PEER_DEAD = 2  # stop: nothing received for IDLE_TICKS_BEFORE_DEAD ticks


class HeartbeatMonitor:
    """Idle detection for one stream; ``interval`` is the negotiated heartbeat (> 0 s)."""

    __slots__ = ("interval", "tick_seconds", "_last_sent", "_last_received", "idle_ticks")

    def __init__(self, interval: int, bytes_sent: int, bytes_received: int) -> None:
        if interval <= 0:
            raise ValueError(f"heartbeat interval must be > 0, got {interval!r}")
        self.interval = interval
        self.tick_seconds = interval / 2.0
        self._last_sent = bytes_sent
        self._last_received = bytes_received
        self.idle_ticks = 0

    def tick(self, bytes_sent: int, bytes_received: int) -> Tick:
        """One half-interval has passed; the totals are the connection's so far."""
        if bytes_received == self._last_received:
            self.idle_ticks += 1
        else:
            self.idle_ticks = 0
            self._last_received = bytes_received
        if self.idle_ticks >= IDLE_TICKS_BEFORE_DEAD:
            return Tick.PEER_DEAD
        verdict = Tick.SEND_HEARTBEAT if bytes_sent == self._last_sent else Tick.QUIET
        self._last_sent = bytes_sent
        return verdict

    def sent(self, byte_count: int) -> None:
        """The heartbeat frame the last tick asked for was sent (counts as sent data)."""
        self._last_sent += byte_count

    @property
    def silent_seconds(self) -> float:
        return self.idle_ticks * self.tick_seconds
