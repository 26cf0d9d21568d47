"""The Tornado adapter: :class:`TornadoConnection` on a ``tornado.ioloop.IOLoop`` (Tornado 6,
asyncio-backed; the loop defaults to ``IOLoop.current()`` when the connection is built)."""

from .connection import TornadoConnection

__all__ = ["TornadoConnection"]
