"""AsyncioLoop: the loop interface (``loop.py``, a ``ReadinessLoop``) over an asyncio event
loop, shared by the asyncio adapter (``AsyncioConnection`` uses it as it is) and the Tornado
adapter (a Tornado 6 ``IOLoop`` runs on an asyncio loop: ``TornadoLoop`` keeps this
readiness and brings Tornado's own scheduling and resolver). Only the standard library's
:mod:`asyncio` is imported here, no adapter's loop.

* ``call_later``/``cancel``: asyncio ``TimerHandle`` s (cancelling one that ran or was
  cancelled does nothing, as the contract asks).
* ``call_soon`` and ``call_before_io``: ``loop.call_soon``, which runs before the loop next
  polls (asyncio runs every ready callback, then selects); ``call_soon_threadsafe``: the
  loop's own, which wakes it. An exception in a callback goes to the loop's exception
  handler (logged with the traceback) and the loop goes on.
* readiness: ``loop.add_reader``/``add_writer`` (a selector event loop, uvloop; not the
  Windows proactor loop, which has no readiness).
* ``resolve``: ``loop.getaddrinfo`` (the loop's executor), in a task started from a loop
  callback, so it may be asked from any thread and never answers inside the call.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable

from .loop import Callback, Resolved


class AsyncioLoop:
    """:class:`~amqpbase.adapters._transport.loop.ReadinessLoop` on ``asyncio_loop``."""

    __slots__ = (
        "asyncio_loop",
        "call_before_io",
        "call_soon",
        "call_soon_threadsafe",
        "add_reader",
        "remove_reader",
        "add_writer",
        "remove_writer",
    )

    def __init__(self, asyncio_loop: asyncio.AbstractEventLoop) -> None:
        self.asyncio_loop = asyncio_loop
        # Bound methods of the asyncio loop itself: no wrapper call on the way.
        self.call_soon: Callable[[Callback], Any] = asyncio_loop.call_soon
        self.call_before_io: Callable[[Callback], Any] = asyncio_loop.call_soon
        self.call_soon_threadsafe: Callable[[Callback], Any] = asyncio_loop.call_soon_threadsafe
        self.add_reader = asyncio_loop.add_reader
        self.remove_reader = asyncio_loop.remove_reader
        self.add_writer = asyncio_loop.add_writer
        self.remove_writer = asyncio_loop.remove_writer

    def call_later(self, delay: float, callback: Callback) -> Any:
        return self.asyncio_loop.call_later(delay, callback)

    def cancel(self, handle: Any) -> None:
        handle.cancel()

    def resolve(self, host: str, port: int, on_done: Callable[[Resolved], Any]) -> None:
        loop = self.asyncio_loop

        async def lookup() -> None:
            result: Resolved
            try:
                result = list(await loop.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP))
            except Exception as exc:  # noqa: BLE001 - gaierror, UnicodeError, ...
                result = exc
            on_done(result)

        loop.call_soon_threadsafe(lambda: loop.create_task(lookup()))


__all__ = ["AsyncioLoop"]
