"""TornadoLoop: the loop interface (``adapters/_transport/loop.py``) over a Tornado ``IOLoop``
(Tornado 6: an asyncio loop). Scheduling only; the stream is the transport's ``IOStream``, the
loop's equivalent of add/remove reader and writer.

``IOLoop.remove_timeout`` cancels the asyncio ``TimerHandle``, which does nothing when the
handle already ran or was cancelled (the contract's idempotent cancel). ``IOLoop.add_callback``
is the one thread-safe ``IOLoop`` method (``call_soon_threadsafe`` from other threads, waking
the loop); on the loop thread it is asyncio's ``call_soon``, which runs before the loop next
polls, so it is also the flush point (``call_before_io``).
"""

from __future__ import annotations

from typing import Any, Callable

from tornado.ioloop import IOLoop

from .._transport.loop import Callback


class TornadoLoop:
    """:class:`~amqpbase.adapters._transport.loop.Loop` on a Tornado ``ioloop``."""

    __slots__ = ("ioloop", "call_before_io", "call_soon", "call_soon_threadsafe")

    def __init__(self, ioloop: IOLoop) -> None:
        self.ioloop = ioloop
        add_callback: Callable[[Callback], None] = ioloop.add_callback
        self.call_before_io = self.call_soon = self.call_soon_threadsafe = add_callback

    def call_later(self, delay: float, callback: Callback) -> Any:
        return self.ioloop.call_later(delay, callback)

    def cancel(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)


__all__ = ["TornadoLoop"]
