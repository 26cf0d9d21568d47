"""The blocking adapter: pika 1.x's ``BlockingConnection`` and ``BlockingChannel`` on the select
machinery, with I/O and heartbeats on a thread the connection owns (``docs/guide-blocking.md``).

- :mod:`.connection`: :class:`BlockingConnection` (open, close, ``process_data_events``,
  timers, the user-thread event dispatch).
- :mod:`.channel`: :class:`BlockingChannel` and :class:`ReturnedMessage`.
- :mod:`.iothread`: the I/O thread, its ``IOLoop`` and the queues between the two threads.
"""

from .channel import BlockingChannel, ReturnedMessage
from .connection import BlockingConnection

__all__ = ["BlockingChannel", "BlockingConnection", "ReturnedMessage"]
