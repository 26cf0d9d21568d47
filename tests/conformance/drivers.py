"""One small driver per event loop: the three verbs the conformance suite needs.

The conformance tests are written once, against :class:`Driver`, and run once per loop
(docs/internals.md, "Checking an adapter: the conformance suite"). A driver knows how to

- make a connection with the pika-style callback API (:meth:`Driver.connect`,
  :meth:`Driver.create_connection`),
- run (or wait on) its loop until a condition set by callbacks holds, or fail the test with a
  clear message naming what was awaited (:meth:`Driver.run_until`, :meth:`Driver.run_for`),
- schedule calls on the loop (:meth:`Driver.call_later`, :meth:`Driver.call_threadsafe`),
- and tear everything down (:meth:`Driver.close`).

The drivers: :class:`SelectDriver` (here), ``TornadoDriver`` (``driver_tornado.py``) and
``TwistedDriver`` (``driver_twisted.py``). :class:`Driver` implements connecting and
:meth:`Driver.run_until` once; a driver supplies only its loop object, how to wait on it
(:meth:`Driver._begin_wait`/:meth:`Driver._wait`: the select loop runs inside the test; the
Tornado driver runs its own asyncio loop, or, under ``--reactor=asyncio``, waits on the
reactor's loop; the Twisted driver waits with ``pytest_twisted.blockon``) and its timers.
``blockon`` only works outside the reactor greenlet, and pytest-twisted runs every test body
INSIDE it by default: that is why ``conftest.pytest_pyfunc_call`` runs conformance tests on
the main greenlet. No driver ever calls ``reactor.run()``/``stop()``. Adding a loop means one
subclass in its own ``driver_<loop>.py``, one branch in :func:`driver_class` and one entry in
``conftest.DRIVERS``.

Tests never sleep: they wait for state that their callbacks set. A predicate is checked every
:data:`CHECK_INTERVAL` seconds from inside the loop (cheap: it reads Python objects only).
"""

from __future__ import annotations

import abc
import threading
from typing import Any, Callable, List, Optional, Sequence

from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

#: Seconds between two predicate checks inside the loop.
CHECK_INTERVAL = 0.005

#: Default deadline of :meth:`Driver.run_until` (keep the suite fast: every wait is short).
DEFAULT_TIMEOUT = 5.0

Callback = Callable[..., Any]
Predicate = Callable[[], Any]


class Driver(abc.ABC):
    """What every loop driver offers the conformance tests.

    A driver instance belongs to one test: it owns a fresh loop (or a handle on the shared
    one), remembers every connection it made, and :meth:`close` leaves nothing running.
    """

    #: Short name used as the pytest parameter id ("select", "tornado", "twisted").
    name: str = "?"

    def __init__(self) -> None:
        self.connections: List[Connection] = []
        #: ``threading.get_ident()`` of the thread that runs the loop (set while it runs).
        self.loop_thread_ident: Optional[int] = None

    # ------------------------------------------------------------------ connections

    #: The adapter's connection class (``SelectConnection``, ...), set by each driver.
    connection_class: Any = None
    #: The constructor argument that takes the loop ("custom_ioloop", or "custom_reactor").
    loop_argument = "custom_ioloop"

    @property
    @abc.abstractmethod
    def loop(self) -> Any:
        """The loop object this driver's connections run on (an IOLoop, the reactor)."""

    def connect(
        self,
        params: Optional[Parameters],
        on_open_callback: Optional[Callback] = None,
        on_open_error_callback: Optional[Callback] = None,
        on_close_callback: Optional[Callback] = None,
    ) -> Connection:
        """Make a connection on this driver's loop with the callback API. It starts opening
        from the loop (``internal_connection_workflow=True``); nothing happens until the
        loop runs (:meth:`run_until`)."""
        connection: Connection = self.connection_class(
            parameters=params,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            **{self.loop_argument: self.loop},
        )
        self.connections.append(connection)
        return connection

    def create_connection(self, configs: Sequence[Parameters], on_done: Callback) -> Any:
        """``<AdapterConnection>.create_connection(configs, on_done, <this loop>)``; returns
        the workflow. Connections it opens are tracked for :meth:`close`."""

        def done(result: Any) -> None:
            if isinstance(result, Connection):
                self.connections.append(result)
            on_done(result)

        return self.connection_class.create_connection(list(configs), done,
                                                       custom_ioloop=self.loop)

    # ------------------------------------------------------------------ running the loop

    def run_until(
        self,
        predicate: Predicate,
        timeout: float = DEFAULT_TIMEOUT,
        what: Optional[str] = None,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        """Run (or wait on) the loop until ``predicate()`` is true.

        Returns as soon as it holds (it is checked first, then from inside the loop every
        ``check_interval`` seconds). After ``timeout`` seconds raises ``AssertionError``
        naming ``what`` was awaited (default: the predicate's repr). A long
        ``check_interval`` lets a test prove that something else woke the loop. An exception
        raised by the predicate ends the wait and is raised here."""
        if predicate():
            return
        outcome: List[Any] = []  # True: the predicate held; False: deadline; else an error
        timers: List[Any] = []
        settle = self._begin_wait()

        def finish(result: Any) -> None:
            if not outcome:
                outcome.append(result)
                settle()

        def check() -> None:
            self.loop_thread_ident = threading.get_ident()
            if outcome:
                return
            try:
                held = bool(predicate())
            except Exception as error:  # noqa: BLE001 - re-raised in the test below
                finish(error)
                return
            if held:
                finish(True)
            else:
                timers.append(self._schedule(check_interval, check))

        timers.append(self._schedule(0, check))
        timers.append(self._schedule(timeout, lambda: finish(False)))
        try:
            self._wait()
        finally:
            for handle in timers:
                self._unschedule(handle)
        if outcome and isinstance(outcome[0], Exception):
            raise outcome[0]
        if outcome != [True] and not predicate():
            raise AssertionError(
                f"[{self.name}] timed out after {timeout:.1f}s waiting for "
                f"{describe(predicate, what)}"
            )

    @abc.abstractmethod
    def _begin_wait(self) -> Callable[[], None]:
        """Prepare one :meth:`_wait`; return the call (made on the loop) that ends it."""

    @abc.abstractmethod
    def _wait(self) -> None:
        """Let the loop run until the call :meth:`_begin_wait` returned has been made."""

    @abc.abstractmethod
    def _schedule(self, delay: float, callback: Callable[[], Any]) -> Any:
        """A loop timer for :meth:`run_until`'s own checks (not tracked like call_later's)."""

    @abc.abstractmethod
    def _unschedule(self, handle: Any) -> None:
        """Cancel a :meth:`_schedule` timer; a no-op once it ran or was cancelled."""

    def run_for(self, seconds: float) -> None:
        """Run the loop for ``seconds`` (for tests that prove something *keeps* holding,
        e.g. a connection staying open across idle heartbeat intervals)."""
        done: List[bool] = []
        self.call_later(seconds, lambda: done.append(True))
        self.run_until(lambda: done, timeout=seconds + DEFAULT_TIMEOUT,
                       what=f"{seconds}s of loop time")

    @abc.abstractmethod
    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Run ``callback()`` on the loop after ``delay`` seconds (a handle is returned)."""

    @abc.abstractmethod
    def call_threadsafe(self, callback: Callable[[], Any]) -> None:
        """From any thread: run ``callback()`` on the loop soon."""

    # ------------------------------------------------------------------ teardown

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Close every connection still open or opening, wait until all are closed, then
        release the loop. Safe to call after a failed test."""
        for connection in self.connections:
            if not (connection.is_closing or connection.is_closed):
                try:
                    connection.close()
                except Exception:  # noqa: BLE001 - teardown must go on
                    pass
        pending = [c for c in self.connections if not c.is_closed]
        if pending:
            try:
                self.run_until(lambda: all(c.is_closed for c in pending), timeout,
                               what="every connection of the test to close")
            finally:
                self._release()
        else:
            self._release()

    @abc.abstractmethod
    def _release(self) -> None:
        """Free the loop's resources (after every connection closed, or gave up)."""


def describe(predicate: Predicate, what: Optional[str]) -> str:
    """The text a timeout reports: ``what`` or the predicate's own name."""
    if what:
        return what
    name = getattr(predicate, "__name__", "")
    return name if name and name != "<lambda>" else repr(predicate)


class SelectDriver(Driver):
    """Driver for ``amqpbase.adapters.select``: one fresh ``IOLoop`` per test, run inside the
    test on the test's thread until the awaited condition holds."""

    name = "select"

    def __init__(self) -> None:
        super().__init__()
        from amqpbase.adapters.select import IOLoop, SelectConnection

        self.connection_class = SelectConnection
        self.ioloop = IOLoop()

    @property
    def loop(self) -> Any:
        return self.ioloop

    def _begin_wait(self) -> Callable[[], None]:
        stop: Callable[[], None] = self.ioloop.stop
        return stop

    def _wait(self) -> None:
        self.ioloop.start()

    def _schedule(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def _unschedule(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def call_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.ioloop.add_callback_threadsafe(callback)

    def _release(self) -> None:
        self.ioloop.close()


def driver_class(name: str) -> "type[Driver]":
    """The driver class for a pytest id ("select", "tornado", "asyncio", "twisted"). The
    Tornado, asyncio and Twisted drivers live in their own modules (``driver_tornado.py``,
    ``driver_asyncio.py``, ``driver_twisted.py``)
    and are imported only when asked for, so a loop's import cost or failure stays its own."""
    if name == "select":
        return SelectDriver
    if name == "tornado":
        from .driver_tornado import TornadoDriver

        return TornadoDriver
    if name == "asyncio":
        from .driver_asyncio import AsyncioDriver

        return AsyncioDriver
    if name == "twisted":
        from .driver_twisted import TwistedDriver

        return TwistedDriver
    raise ValueError(f"unknown conformance driver {name!r}")
