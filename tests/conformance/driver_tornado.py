"""The Tornado conformance driver: :class:`TornadoConnection` on a Tornado ``IOLoop`` wrapping
the asyncio driver's loop (``driver_asyncio.py``: a fresh asyncio loop per test, or, under
``--reactor=asyncio``, the reactor's loop shared by the session).

In own-loop mode the ``IOLoop`` is ``AsyncIOLoop(asyncio_loop=..., make_current=False)`` (so
nothing global is changed) and closing it closes the asyncio loop. In shared mode there is one
``IOLoop`` for the session's reactor loop (Tornado allows one ``IOLoop`` per asyncio loop),
never closed: the set-up of an application mixing Twisted, Tornado and asyncio on one loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict

from tornado.ioloop import IOLoop
from tornado.platform.asyncio import AsyncIOLoop

from amqpbase.adapters.tornado import TornadoConnection

from .driver_asyncio import AsyncioDriver

#: The one Tornado IOLoop wrapping each shared (reactor) asyncio loop: Tornado allows one
#: IOLoop per asyncio loop, and the reactor's loop outlives every test.
_SHARED_IOLOOPS: Dict[asyncio.AbstractEventLoop, IOLoop] = {}


def shared_ioloop(loop: asyncio.AbstractEventLoop) -> IOLoop:
    """The Tornado IOLoop for the reactor's asyncio loop, made once per session."""
    ioloop = _SHARED_IOLOOPS.get(loop)
    if ioloop is None:
        try:
            ioloop = AsyncIOLoop(asyncio_loop=loop, make_current=False)
        except RuntimeError:
            # Something already wrapped it (Tornado allows one IOLoop per asyncio loop). The
            # reactor installed its loop as the thread's current one: IOLoop.current() is it.
            ioloop = IOLoop.current()
            if getattr(ioloop, "asyncio_loop", None) is not loop:
                raise
        _SHARED_IOLOOPS[loop] = ioloop
    return ioloop


class TornadoDriver(AsyncioDriver):
    """Driver for ``amqpbase.adapters.tornado`` (see the module docstring)."""

    name = "tornado"
    connection_class = TornadoConnection

    def __init__(self) -> None:
        super().__init__()
        if self.shared:
            self.ioloop = shared_ioloop(self.asyncio_loop)
        else:
            self.ioloop = AsyncIOLoop(asyncio_loop=self.asyncio_loop, make_current=False)

    @property
    def loop(self) -> Any:
        return self.ioloop

    def _schedule(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def _unschedule(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def call_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.ioloop.add_callback(callback)

    def _close_loop(self) -> None:
        self.ioloop.close()  # closes the asyncio loop too
