"""Re-export of :class:`ConnectionState` (documented import path, ``docs/api.md``); the
state and its transition table live in :mod:`amqpbase.protocol.connection_machine`."""

from amqpbase.protocol.connection_table import ConnectionState

__all__ = ["ConnectionState"]
