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

import threading
from typing import Any, Callable, List, Optional, Sequence

from amqpbase.adapters.twisted import TwistedConnection
from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

from .drivers import CHECK_INTERVAL, DEFAULT_TIMEOUT, Callback, Driver, Predicate, describe


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

    # ------------------------------------------------------------------ connections

    def connect(
        self,
        params: Optional[Parameters],
        on_open_callback: Optional[Callback] = None,
        on_open_error_callback: Optional[Callback] = None,
        on_close_callback: Optional[Callback] = None,
    ) -> Connection:
        connection: Connection = self.connection_class(
            parameters=params,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            custom_reactor=self.reactor,
        )
        self.connections.append(connection)
        return connection

    def create_connection(self, configs: Sequence[Parameters], on_done: Callback) -> Any:
        def done(result: Any) -> None:
            if isinstance(result, Connection):
                self.connections.append(result)
            on_done(result)

        return self.connection_class.create_connection(
            list(configs), done, custom_ioloop=self.reactor
        )

    # ------------------------------------------------------------------ running the loop

    def run_until(
        self,
        predicate: Predicate,
        timeout: float = DEFAULT_TIMEOUT,
        what: Optional[str] = None,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        if predicate():
            return
        from twisted.internet.defer import Deferred

        reactor = self.reactor
        finished: Deferred[bool] = Deferred()
        timers: List[Any] = []  # [deadline, next check]

        def finish(held: bool) -> None:
            if not finished.called:
                finished.callback(held)

        def check() -> None:
            self.loop_thread_ident = threading.get_ident()
            try:
                held = bool(predicate())
            except BaseException:  # noqa: BLE001 - raised in the test by blockon
                if not finished.called:
                    finished.errback()
                return
            if held:
                finish(True)
            else:
                timers[1] = reactor.callLater(check_interval, check)

        timers.append(reactor.callLater(timeout, finish, False))
        timers.append(reactor.callLater(0, check))
        try:
            held = self._blockon(finished)
        finally:
            for timer in timers:
                if timer.active():
                    timer.cancel()
        if not held and not predicate():
            raise AssertionError(
                f"[{self.name}] timed out after {timeout:.1f}s waiting for "
                f"{describe(predicate, what)}"
            )

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
