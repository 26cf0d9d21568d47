"""I/O adapters for amqpbase, installed as ``amqpbase.adapters``.

Each adapter's connection class gives the protocol core (:class:`amqpbase.connection.Connection`)
a byte stream, timers and a thread-safe wake-up on one event loop, and nothing more: it holds
no AMQP knowledge (see ``docs/internals.md``, "The hook contract"). The Twisted Deferred API
is a layer over the callback API, not part of that contract.

- ``amqpbase.adapters.select``: :class:`SelectConnection` on its own :class:`IOLoop` built on
  the standard library's :mod:`selectors`.
- ``amqpbase.adapters.tornado``: :class:`TornadoConnection` on a Tornado 6 ``IOLoop`` (an
  asyncio loop; ``IOLoop.current()`` by default), through Tornado's ``Resolver``,
  ``TCPClient`` and ``IOStream``.
- ``amqpbase.adapters.twisted``: :class:`TwistedConnection` on a Twisted reactor (the global
  one, imported when a connection is built, by default), and pika's Deferred-flavoured API on
  top of it: ``TwistedProtocolConnection``, ``TwistedChannel``, ``ClosableDeferredQueue``.
- ``amqpbase.adapters.blocking``: pika's :class:`BlockingConnection` and ``BlockingChannel``
  over :class:`SelectConnection`, whose ``IOLoop`` runs on a thread the connection owns (not a
  hook adapter: it uses the select adapter's public API only).

Tornado and Twisted are optional dependencies (extras ``tornado`` and ``twisted``); importing
``amqpbase`` or one adapter imports no other adapter's loop.

Modules inside this package import each other relatively and the core absolutely
(``amqpbase.*``), so the same source type-checks as the repository folder ``adapters`` and
works installed as ``amqpbase.adapters``.
"""
