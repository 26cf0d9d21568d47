"""The asyncio conformance driver: :class:`AsyncioConnection` on a plain asyncio loop, and the
base of the Tornado driver (a Tornado 6 ``IOLoop`` runs on an asyncio loop).

Two modes, chosen by the Twisted reactor pytest-twisted installed (looked up lazily, so this
module imports no reactor):

- **Own loop** (pytest-twisted's default reactor, not asyncio): each test gets a fresh asyncio
  event loop (nothing global is changed). ``run_until`` runs it with ``run_until_complete`` on
  a future resolved by a periodic check or by the deadline; ``_release`` cancels leftover
  tasks and closes the loop.
- **Shared loop** (``pytest --reactor=asyncio``): Twisted's ``AsyncioSelectorReactor`` runs
  its asyncio loop (``reactor._asyncioEventloop``) in pytest-twisted's greenlet. The driver
  uses THAT loop and never runs, stops or closes it: ``run_until`` waits with
  ``pytest_twisted.blockon`` on a Deferred fired by the periodic check or by the deadline
  (conftest runs the test body outside the reactor greenlet, where ``blockon`` is allowed).
  This is the set-up of an application mixing Twisted and asyncio code on one loop.

In both modes the predicate is checked from inside the loop, which records the loop's thread
in ``loop_thread_ident``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Optional

from amqpbase.adapters.asyncio import AsyncioConnection

from .drivers import Driver


def reactor_asyncio_loop() -> Optional[asyncio.AbstractEventLoop]:
    """The asyncio loop of the installed Twisted reactor, or None when the installed reactor
    is not asyncio-based (or Twisted was never set up by pytest-twisted)."""
    if "twisted.internet.reactor" not in sys.modules:
        return None  # importing it here would install the default reactor as a side effect
    from twisted.internet import reactor

    loop = getattr(reactor, "_asyncioEventloop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


class AsyncioDriver(Driver):
    """Driver for ``amqpbase.adapters.asyncio`` (see the module docstring for both modes)."""

    name = "asyncio"
    connection_class = AsyncioConnection

    def __init__(self) -> None:
        super().__init__()
        shared = reactor_asyncio_loop()
        self.shared = shared is not None
        self.asyncio_loop = shared if shared is not None else asyncio.new_event_loop()

    @property
    def loop(self) -> Any:
        return self.asyncio_loop

    # ------------------------------------------------------------------ running the loop

    def _begin_wait(self) -> Callable[[], None]:
        if self.shared:
            from twisted.internet import defer

            deferred: defer.Deferred[None] = defer.Deferred()
            self._pending: Any = deferred
            return lambda: deferred.callback(None)
        future = self.asyncio_loop.create_future()
        self._pending = future
        return lambda: future.set_result(None)

    def _wait(self) -> None:
        if self.shared:
            import pytest_twisted

            pytest_twisted.blockon(self._pending)  # the reactor greenlet runs the loop
        else:
            self.asyncio_loop.run_until_complete(self._pending)

    def _schedule(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.asyncio_loop.call_later(delay, callback)

    def _unschedule(self, handle: Any) -> None:
        handle.cancel()

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.asyncio_loop.call_later(delay, callback)

    def call_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.asyncio_loop.call_soon_threadsafe(callback)

    # ------------------------------------------------------------------ teardown

    def _release(self) -> None:
        if self.shared:
            return  # the reactor's loop is not ours: never stopped, never closed
        loop = self.asyncio_loop
        leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self._close_loop()

    def _close_loop(self) -> None:
        self.asyncio_loop.close()
