"""The Tornado adapter: :class:`TornadoConnection` on a ``tornado.ioloop.IOLoop`` (Tornado 6,
asyncio-backed; the loop defaults to the running loop's when the connection is built), and
the awaitable API on it: ``await connect(parameters)`` gives a :class:`FutureConnection`."""

from .._awaitable import (
    FutureChannel,
    FutureConnection,
    MessageQueue,
    PublishFuture,
    ReceivedMessage,
)
from .._awaitable import make_connect as _make_connect
from .connection import TornadoConnection

#: ``await connect(parameters=None, *, custom_ioloop=None)``: an open :class:`FutureConnection`.
connect = _make_connect(TornadoConnection)

__all__ = ["FutureChannel", "FutureConnection", "MessageQueue", "PublishFuture",
           "ReceivedMessage", "TornadoConnection", "connect"]
