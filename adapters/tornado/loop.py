"""TornadoLoop: the loop interface (``adapters/_transport/loop.py``, a ``ReadinessLoop``) over a
Tornado 6 ``IOLoop``, which runs on an asyncio loop: readiness is that asyncio loop's
(:class:`~amqpbase.adapters._transport.asyncio_loop.AsyncioLoop`), scheduling and name resolution are
Tornado's, so Tornado's logging of callback errors and a ``Resolver`` configured with
``Resolver.configure`` apply.

``IOLoop.remove_timeout`` cancels the asyncio ``TimerHandle``, which does nothing when the
handle already ran or was cancelled (the contract's idempotent cancel). ``IOLoop.add_callback``
is the one thread-safe ``IOLoop`` method (``call_soon_threadsafe`` from other threads, waking
the loop); on the loop thread it is asyncio's ``call_soon``, which runs before the loop next
polls, so it is also the flush point (``call_before_io``).
"""

from __future__ import annotations

import socket
from typing import Any, Callable, List

from tornado.ioloop import IOLoop
from tornado.netutil import Resolver

from .._transport.loop import Callback, Resolved
from .._transport.asyncio_loop import AsyncioLoop


class TornadoLoop(AsyncioLoop):
    """:class:`~amqpbase.adapters._transport.loop.ReadinessLoop` on a Tornado ``ioloop``."""

    __slots__ = ("ioloop",)

    def __init__(self, ioloop: IOLoop) -> None:
        super().__init__(ioloop.asyncio_loop)  # type: ignore[attr-defined]
        self.ioloop = ioloop
        add_callback: Callable[[Callback], None] = ioloop.add_callback
        self.call_before_io = self.call_soon = self.call_soon_threadsafe = add_callback

    def call_later(self, delay: float, callback: Callback) -> Any:
        return self.ioloop.call_later(delay, callback)

    def cancel(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def resolve(self, host: str, port: int, on_done: Callable[[Resolved], Any]) -> None:
        async def lookup() -> None:
            resolver = Resolver()  # the configured one (default: getaddrinfo in an executor)
            result: Resolved
            try:
                addresses = await resolver.resolve(host, port, socket.AF_UNSPEC)
                result = _entries(addresses)
            except Exception as exc:  # noqa: BLE001 - gaierror, UnicodeError, ...
                result = exc
            finally:
                resolver.close()
            on_done(result)

        self.ioloop.add_callback(lookup)


def _entries(addresses: List[Any]) -> List[Any]:
    """Tornado's ``(family, sockaddr)`` pairs as ``getaddrinfo`` entries for TCP."""
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)
            for family, sockaddr in addresses]


__all__ = ["TornadoLoop"]
