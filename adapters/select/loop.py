"""SelectLoop: the loop interface (``adapters/_transport/loop.py``) over the select
:class:`~.ioloop.IOLoop`. Scheduling only; the socket's read/write readiness is the
transport's (``add_handler``/``update_handler``/``remove_handler``), as the loop's equivalent
of add/remove reader and writer."""

from __future__ import annotations

from typing import Any

from .._transport.loop import Callback
from .ioloop import IOLoop, _Timeout


class SelectLoop:
    """:class:`~amqpbase.adapters._transport.loop.Loop` on ``ioloop``. ``call_before_io`` is
    the loop's before-poll hook: every flush requested during one iteration runs before the
    next ``select()``, so one ``sendmsg`` carries them all."""

    __slots__ = ("ioloop", "call_before_io", "call_soon", "call_soon_threadsafe")

    def __init__(self, ioloop: IOLoop) -> None:
        self.ioloop = ioloop
        # Bound methods of the IOLoop itself: no wrapper call on the way.
        self.call_before_io = ioloop.call_before_poll
        self.call_soon = ioloop.add_callback
        self.call_soon_threadsafe = ioloop.add_callback_threadsafe

    def call_later(self, delay: float, callback: Callback) -> _Timeout:
        return self.ioloop.call_later(delay, callback)

    def cancel(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)


__all__ = ["SelectLoop"]
