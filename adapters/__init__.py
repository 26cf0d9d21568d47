"""I/O adapters for amqpbase, installed as ``amqpbase.adapters``.

Each adapter gives the protocol core (:class:`amqpbase.connection.Connection`) a byte stream,
timers and a thread-safe wake-up on one event loop, and nothing more: the adapters hold no
AMQP knowledge (see ``docs/internals.md``, "The hook contract").

- ``amqpbase.adapters.select``: :class:`SelectConnection` on its own :class:`IOLoop` built on
  the standard library's :mod:`selectors`.

Modules inside this package import each other relatively and the core absolutely
(``amqpbase.*``), so the same source type-checks as the repository folder ``adapters`` and
works installed as ``amqpbase.adapters``.
"""
