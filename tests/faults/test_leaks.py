"""Leak checks on every loop against the real broker (issue 6, "Leaks").

Two workloads, each run once per loop (select, Tornado, Twisted) through the ``driver`` and
``session`` fixtures:

* **connect/close cycles**: :data:`CYCLES` times open a connection and a channel, close the
  connection and wait until it is closed. Each cycle starts the next one from the previous
  connection's close callback, so the loop runs the whole chain without the test polling in
  between. After :data:`WARMUP` cycles (caches, lazily imported modules, the loop's own pools
  filled) the test measures, then runs the remaining cycles and measures again.
* **long consume**: :data:`MESSAGES` messages published in one burst to a queue, consumed
  with a manual ack per message; measured at the :data:`CONSUME_MARKS`.

A measurement (:class:`Mark`) is taken with the loop stopped, after ``gc.collect()``:

* tracemalloc: a snapshot; the growth between two snapshots is summed over the files of
  amqpbase, its adapters, the loop libraries (tornado, twisted, asyncio, selectors) and the
  socket/ssl modules. Tracing starts at the first mark (so the warm-up runs at full speed and
  only what is allocated after the first mark and still alive at the second counts).
* live objects: after ``gc.collect()``, instances of amqpbase's ``Connection`` and ``Channel``
  (must be 0: the test holds none), and per-type counts of every object whose class comes
  from one of the watched modules.
* open file descriptors (``/proc/self/fd``).

Bounds (each stated where asserted): < 64 KiB traced growth in the watched files, no surviving
Connection/Channel, no type whose live count grows by more than :data:`TYPE_GROWTH_BOUND`
(a leak of one object per cycle would show as ~950), and the fd count back where it was.
The figures are printed (``pytest -s``) so a run can report them.
"""

from __future__ import annotations

import collections
import gc
import os
import time
import tracemalloc
from typing import Any, Dict, List, Optional, Tuple

import pytest
from conformance.conftest import Session
from conformance.drivers import Driver
from unit.harness import MemoryConnection

from amqpbase import exceptions
from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.parameters import ConnectionParameters

pytestmark = pytest.mark.broker

#: Connect/close cycles per loop, and how many of them warm up before the first mark.
CYCLES = 1000
WARMUP = 50
#: Messages of the long consume and the consumed counts at which it is measured.
MESSAGES = 50_000
CONSUME_MARKS = (10_000, MESSAGES)
#: Prefetch window of the long consume (bounds what is in flight at a mark).
PREFETCH = 200

#: Traced bytes the watched files may grow by between two marks.
TRACED_GROWTH_BOUND = 64 * 1024
#: How much the live count of any one watched type may grow between two marks.
TYPE_GROWTH_BOUND = 16

#: Where the memory of a connection can live: our code, the loops, and the stdlib modules the
#: adapters use. Matched against tracemalloc file names and class ``__module__`` names.
WATCHED_FILES = (
    f"{os.sep}amqpbase{os.sep}", f"{os.sep}adapters{os.sep}", f"{os.sep}tornado{os.sep}",
    f"{os.sep}twisted{os.sep}", f"{os.sep}asyncio{os.sep}", f"{os.sep}selectors.py",
    f"{os.sep}socket.py", f"{os.sep}ssl.py",
)  # fmt: skip
WATCHED_MODULES = ("amqpbase", "tornado", "twisted", "asyncio", "selectors", "socket", "ssl")


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


class Mark:
    """One measurement, taken with the loop stopped: tracemalloc snapshot, live objects, fds.

    First the loop gets one more short turn. On Twisted the reactor greenlet stays suspended
    inside the timer call that ended the last wait, and that call's closure holds the list of
    every check timer the wait scheduled (one per ``check_interval``: hundreds for a long
    wait); after a short wait it holds the few timers of that wait instead, the same at every
    mark. (Found with ``gc.get_referrers``: the test harness, not the adapter.)
    """

    def __init__(self, driver: Driver) -> None:
        driver.run_for(0.0)
        gc.collect()
        if not tracemalloc.is_tracing():
            tracemalloc.start()
        self.snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        self.connections = self.channels = 0
        self.types: Dict[str, int] = collections.Counter()
        for obj in gc.get_objects():
            if isinstance(obj, Connection):
                self.connections += 1
            elif isinstance(obj, Channel):
                self.channels += 1
            cls = type(obj)
            module = cls.__dict__.get("__module__") or getattr(cls, "__module__", "")
            if isinstance(module, str) and module.split(".")[0] in WATCHED_MODULES:
                self.types[f"{module}.{cls.__qualname__}"] += 1
        self.fds = len(os.listdir("/proc/self/fd"))

    def traced_growth(self, earlier: "Mark") -> Tuple[int, int, List[str]]:
        """(growth in the watched files, growth overall, the top growing lines in the watched
        files) from ``earlier`` to this mark, in bytes."""
        by_file = self.snapshot.compare_to(earlier.snapshot, "filename")
        watched = sum(s.size_diff for s in by_file if _watched(s.traceback[0].filename))
        overall = sum(s.size_diff for s in by_file)
        by_line = self.snapshot.compare_to(earlier.snapshot, "lineno")
        top = [str(s) for s in by_line if _watched(s.traceback[0].filename)][:8]
        return watched, overall, top

    def type_growth(self, earlier: "Mark") -> Dict[str, int]:
        """Watched types whose live count grew since ``earlier``, largest growth first."""
        grown = {
            name: count - earlier.types.get(name, 0)
            for name, count in self.types.items()
            if count > earlier.types.get(name, 0)
        }
        return dict(sorted(grown.items(), key=lambda item: -item[1]))


def _watched(filename: str) -> bool:
    return any(part in filename for part in WATCHED_FILES)


def check_no_growth(driver: Driver, what: str, first: Mark, last: Mark) -> None:
    """Assert the bounds of the module docstring between two marks, after printing them."""
    watched, overall, top = last.traced_growth(first)
    types = last.type_growth(first)
    print(
        f"\n[{driver.name}] {what}: traced growth {watched} B in amqpbase/adapters/loops "
        f"({overall} B overall); live Connection {last.connections}, Channel {last.channels}; "
        f"fds {first.fds} -> {last.fds}; types grown {dict(list(types.items())[:5])}"
        + "".join(f"\n    {line}" for line in top[:3])
    )
    # Bound: one leaked Connection per cycle would be hundreds of KiB over 950 cycles.
    assert watched < TRACED_GROWTH_BOUND, (
        f"[{driver.name}] {what}: {watched} bytes more traced in amqpbase/adapters/loop files "
        "(bound 64 KiB); top lines:\n" + "\n".join(top)
    )
    assert (last.connections, last.channels) == (0, 0), (
        f"[{driver.name}] {what}: {last.connections} Connection and {last.channels} Channel "
        "objects survive gc.collect() although the test holds none"
    )
    assert all(growth <= TYPE_GROWTH_BOUND for growth in types.values()), (
        f"[{driver.name}] {what}: live objects grew: {types}"
    )
    assert last.fds == first.fds, f"[{driver.name}] {what}: fds {first.fds} -> {last.fds}"


@pytest.fixture
def stop_tracing() -> Any:
    """Tracing is started by the first :class:`Mark`; stop it after the test (it slows every
    allocation of the tests that follow)."""
    was_tracing = tracemalloc.is_tracing()
    yield
    if not was_tracing:
        tracemalloc.stop()


def test_the_measurement_sees_a_leak(driver: Driver, stop_tracing: Any) -> None:
    """The checks can fail: 200 connections (and a channel object each) kept alive between
    two marks break every bound but the fd count. In-memory connections (no socket, no
    broker): what is measured is the bookkeeping, on this loop's marks."""
    first = Mark(driver)
    kept = []
    for number in range(200):
        connection = MemoryConnection(ConnectionParameters())
        kept.append((connection, Channel(connection, number + 1, None)))
    last = Mark(driver)
    assert (last.connections, last.channels) == (200, 200)
    assert last.types["amqpbase.channel.Channel"] - first.types["amqpbase.channel.Channel"] == 200
    watched, _, _ = last.traced_growth(first)
    assert watched > TRACED_GROWTH_BOUND, watched
    with pytest.raises(AssertionError):
        check_no_growth(driver, "deliberate leak", first, last)
    assert len(kept) == 200


# ---------------------------------------------------------------------------------------------
# 1,000 connect/close cycles
# ---------------------------------------------------------------------------------------------


class Cycler:
    """Open a connection and a channel, close the connection; when it has closed, start the
    next cycle, until ``target`` cycles are done. Holds no reference to a finished connection
    (failures are kept as text, not as exception objects with tracebacks)."""

    def __init__(self, driver: Driver, params: Any) -> None:
        self.driver = driver
        self.params = params
        self.done = 0
        self.target = 0
        self.failures: List[str] = []

    @property
    def idle(self) -> bool:
        """The chain has stopped: ``target`` reached, or a cycle failed."""
        return self.done >= self.target or bool(self.failures)

    def run(self, driver: Driver, target: int, timeout: float) -> float:
        """Run cycles until ``target`` are done in total; returns the seconds it took."""
        self.target = target
        started = time.perf_counter()
        self._start()
        driver.run_until(
            lambda: self.idle, timeout, what=f"{target} connect/close cycles", check_interval=0.05
        )
        assert not self.failures, self.failures[:3]
        return time.perf_counter() - started

    def _start(self) -> None:
        # The driver's connect() would remember every connection (for its teardown); these
        # are made directly so that nothing but the loop holds them.
        driver = self.driver
        driver.connection_class(
            parameters=self.params,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_close,
            **{driver.loop_argument: driver.loop},
        )

    def _on_open(self, connection: Connection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Channel) -> None:
        channel.connection.close()

    def _on_open_error(self, _connection: Connection, error: BaseException) -> None:
        self.failures.append(f"cycle {self.done}: open error {error!r}")

    def _on_close(self, _connection: Connection, reason: BaseException) -> None:
        if not isinstance(reason, exceptions.ConnectionClosedByClient):
            self.failures.append(f"cycle {self.done}: closed with {reason!r}")
            return
        self.done += 1
        if self.done < self.target:
            self._start()


def test_connect_close_cycles_do_not_leak(session: Session, stop_tracing: Any) -> None:
    driver = session.driver
    cycler = Cycler(driver, session.params(heartbeat=1))
    warmup_seconds = cycler.run(driver, WARMUP, timeout=30)
    first = Mark(driver)
    seconds = cycler.run(driver, CYCLES, timeout=180)
    last = Mark(driver)
    print(
        f"\n[{driver.name}] {CYCLES} connect/close cycles: warm-up {WARMUP} in "
        f"{warmup_seconds:.1f} s, measured {CYCLES - WARMUP} in {seconds:.1f} s (traced)"
    )
    assert cycler.done == CYCLES
    check_no_growth(driver, f"{CYCLES - WARMUP} connect/close cycles", first, last)


# ---------------------------------------------------------------------------------------------
# Long consume
# ---------------------------------------------------------------------------------------------


class AckingConsumer:
    """Acks every delivery and counts them; checks the bodies arrive in publish order."""

    def __init__(self) -> None:
        self.count = 0
        self.out_of_order: Optional[str] = None

    def __call__(self, channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        expected = b"%08d" % self.count
        if bytes(body[:8]) != expected and self.out_of_order is None:
            self.out_of_order = f"delivery {self.count} has body {bytes(body[:8])!r}"
        self.count += 1
        channel.basic_ack(method.delivery_tag)


def test_long_consume_does_not_leak(session: Session, stop_tracing: Any) -> None:
    driver = session.driver
    connection, events = session.open_connection(session.params(heartbeat=1))
    channel = session.open_channel(connection)
    queue = session.declare_queue(channel)
    padding = b"." * 56  # 64-byte bodies
    started = time.perf_counter()
    for number in range(MESSAGES):
        channel.basic_publish("", queue, b"%08d" % number + padding)
    session.wait_for_count(channel, queue, MESSAGES, timeout=30)
    published = time.perf_counter() - started

    consumer = AckingConsumer()
    session.rpc(channel.basic_qos, prefetch_count=PREFETCH)
    channel.basic_consume(queue, consumer)
    marks: List[Mark] = []
    started = time.perf_counter()
    for mark in CONSUME_MARKS:
        driver.run_until(
            lambda mark=mark: consumer.count >= mark,
            60,
            what=f"{mark} deliveries",
            check_interval=0.01,
        )
        marks.append(Mark(driver))
    consumed = time.perf_counter() - started
    print(
        f"\n[{driver.name}] long consume: {MESSAGES} published in {published:.1f} s, consumed "
        f"and acked in {consumed:.1f} s (traced after the first mark)"
    )
    assert consumer.out_of_order is None, consumer.out_of_order
    assert consumer.count == MESSAGES
    assert connection.is_open and channel.is_open and not events.closed
    # The test itself holds one Connection and one Channel here.
    first, last = marks
    first.connections -= 1
    first.channels -= 1
    last.connections -= 1
    last.channels -= 1
    check_no_growth(driver, f"consume {CONSUME_MARKS[0]} -> {CONSUME_MARKS[1]}", first, last)
