"""Conformance driver for ``amqpbase.adapters.twisted``: the reactor pytest-twisted runs.

pytest-twisted runs the (one, global) reactor in a greenlet for the whole session, with
whichever reactor ``--reactor`` chose (default or ``asyncio``). The driver never starts or
stops it: :meth:`TwistedDriver.run_until` builds a Deferred that a chain of ``callLater``
checks (or a deadline) fires, and waits on it with ``pytest_twisted.blockon``, which switches
to the reactor greenlet until the Deferred fires. That only works from outside the reactor
greenlet: ``conftest.pytest_pyfunc_call`` runs the conformance tests there.

The reactor is imported when a driver is built (pytest-twisted has installed it by then),
never at import time. Every timer the driver makes is cancelled when its wait ends, so the
reactor is left running and clean between tests.
"""

from __future__ import annotations

from typing import Any, Callable, List

from amqpbase.adapters.twisted import TwistedConnection

from .drivers import Driver


class TwistedDriver(Driver):
    """Driver for ``TwistedConnection`` on the session's reactor (see the module docstring)."""

    name = "twisted"
    connection_class = TwistedConnection

    def __init__(self) -> None:
        super().__init__()
        import pytest_twisted  # type: ignore[import-untyped]
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self._blockon: Callable[[Any], Any] = pytest_twisted.blockon
        #: Timers made by call_later that have not run yet (cancelled by _release).
        self._timers: List[Any] = []

    loop_argument = "custom_reactor"

    @property
    def loop(self) -> Any:
        return self.reactor

    # ------------------------------------------------------------------ running the loop

    def _begin_wait(self) -> Callable[[], None]:
        from twisted.internet.defer import Deferred

        finished: Deferred[None] = Deferred()
        self._pending: Any = finished
        return lambda: finished.callback(None)

    def _wait(self) -> None:
        self._blockon(self._pending)  # switches to the reactor greenlet until it fires

    def _schedule(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.reactor.callLater(delay, callback)

    def _unschedule(self, handle: Any) -> None:
        if handle.active():
            handle.cancel()

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        timers = self._timers

        def run() -> None:
            timers.remove(timer)
            callback()

        timer = self.reactor.callLater(delay, run)
        timers.append(timer)
        return timer

    def call_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.reactor.callFromThread(callback)

    # ------------------------------------------------------------------ teardown

    def _release(self) -> None:
        """Cancel the test's timers that never ran, and give the reactor one turn so calls
        the connections scheduled for "now" (Twisted closing aborted sockets) run before the
        next test. The reactor keeps running (it belongs to the session)."""
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        self._timers.clear()
        from twisted.internet.defer import Deferred

        turn: Deferred[None] = Deferred()
        self.reactor.callLater(0, turn.callback, None)
        self._blockon(turn)
