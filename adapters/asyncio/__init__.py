"""The asyncio adapter: :class:`AsyncioConnection` on a plain asyncio event loop (pika's name
and signature; no Tornado needed), and the awaitable API on it: ``await connect(parameters)``
gives a :class:`FutureConnection` (the same classes as ``amqpbase.adapters.tornado``'s)."""

from .._awaitable import (
    FutureChannel,
    FutureConnection,
    MessageQueue,
    PublishFuture,
    ReceivedMessage,
)
from .._awaitable import make_connect as _make_connect
from .connection import AsyncioConnection

#: ``await connect(parameters=None, *, custom_ioloop=None)``: an open :class:`FutureConnection`.
connect = _make_connect(AsyncioConnection)

__all__ = ["AsyncioConnection", "FutureChannel", "FutureConnection", "MessageQueue",
           "PublishFuture", "ReceivedMessage", "connect"]
