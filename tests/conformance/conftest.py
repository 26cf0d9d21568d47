"""Fixtures of the conformance suite: one suite, parametrized over event-loop drivers.

- ``driver``: a fresh :class:`~.drivers.Driver` per test, one test per id in :data:`DRIVERS`.
- ``session``: helpers bound to the driver and the real broker (``broker`` fixture from
  ``tests/conftest.py``): parameters with short timeouts and a unique ``connection_name``,
  opening connections and channels, running RPCs to completion, uniquely named queues and
  exchanges that are deleted after the test.
- ``memory_alarm``: raises RabbitMQ's memory alarm on demand and ALWAYS restores the
  watermark afterwards (else every later publish in the run would block).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.credentials import PlainCredentials
from amqpbase.parameters import ConnectionParameters

from .drivers import DEFAULT_TIMEOUT, Driver, driver_class

#: Loops the suite runs on (pytest ids). ``AMQPBASE_DRIVERS=select,tornado`` narrows a
#: development run; CI runs them all.
DRIVERS: List[str] = [
    name.strip()
    for name in os.environ.get("AMQPBASE_DRIVERS", "select,tornado,asyncio,twisted").split(",")
    if name.strip()
]

#: Every name this suite creates on the broker starts with this (easy to spot and purge).
NAME_PREFIX = "amqpbase-conformance"

#: Memory watermark restored after a memory-alarm test (RabbitMQ's default).
DEFAULT_WATERMARK = "0.4"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """Run every conformance test as a plain function on the main greenlet.

    pytest-twisted (installed with the ``test`` extra, so always loaded) otherwise runs EVERY
    test function, sync ones included, inside the greenlet that runs the Twisted reactor.
    There a test cannot wait: ``pytest_twisted.blockon()`` refuses to run ("blockon cannot be
    called from the twisted greenlet"). Running the test body here instead, outside the
    reactor greenlet, lets the Twisted driver's ``run_until`` wait with ``blockon`` (the
    reactor runs while the test waits) and changes nothing for select and Tornado, whose
    drivers run their own loop. Fixtures already run on the main greenlet. Coroutine tests
    are left to their plugins (this suite has none)."""
    function = pyfuncitem.obj
    if inspect.iscoroutinefunction(function):
        return None
    funcargs = pyfuncitem.funcargs
    # The function's own arguments (pytest's funcargs also hold the autouse fixtures); one
    # with a default that no fixture or parameter provides keeps its default, as in pytest.
    arguments = inspect.signature(function).parameters
    function(**{name: funcargs[name] for name in arguments if name in funcargs})
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_error_logs: the test provokes ERROR logs from amqpbase on purpose "
        "(otherwise any ERROR log fails the conformance test)",
    )


@pytest.fixture(autouse=True)
def no_unexpected_error_logs(request: pytest.FixtureRequest,
                             caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test during which amqpbase logged at ERROR or above (an exception swallowed by
    the loop or the callback isolation would otherwise go unnoticed), unless the test is
    marked ``allow_error_logs``."""
    caplog.set_level(logging.WARNING, logger="amqpbase")
    yield
    if request.node.get_closest_marker("allow_error_logs"):
        return
    errors = [r for r in caplog.get_records("call") + caplog.get_records("teardown")
              if r.levelno >= logging.ERROR and r.name.startswith("amqpbase")]
    if errors:
        lines = "\n".join(f"{r.name}: {r.getMessage()}" + (f" ({r.exc_info[1]!r})"
                                                            if r.exc_info else "")
                          for r in errors)
        pytest.fail(f"amqpbase logged {len(errors)} error(s):\n{lines}", pytrace=False)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """A fresh loop driver; every connection it made is closed after the test."""
    instance = driver_class(request.param)()
    try:
        yield instance
    finally:
        instance.close()


class Events:
    """Records what a connection's callbacks reported, in order."""

    def __init__(self) -> None:
        self.opened: List[Connection] = []
        self.open_errors: List[BaseException] = []
        self.closed: List[BaseException] = []
        self.order: List[str] = []

    def on_open(self, connection: Connection) -> None:
        self.opened.append(connection)
        self.order.append("open")

    def on_open_error(self, connection: Connection, error: BaseException) -> None:
        self.open_errors.append(error)
        self.order.append("open_error")

    def on_close(self, connection: Connection, reason: BaseException) -> None:
        self.closed.append(reason)
        self.order.append("close")

    @property
    def settled(self) -> bool:
        """The open attempt ended one way or the other."""
        return bool(self.opened or self.open_errors)


class ChannelEvents:
    """Records a channel's close callbacks."""

    def __init__(self) -> None:
        self.closed: List[BaseException] = []

    def on_close(self, channel: Channel, reason: BaseException) -> None:
        self.closed.append(reason)


class Session:
    """Helpers binding one test to its driver and the broker."""

    def __init__(self, driver: Driver, broker: Any) -> None:
        self.driver = driver
        self.broker = broker
        self.token = uuid.uuid4().hex[:12]
        self._queues: List[str] = []
        self._exchanges: List[str] = []
        self._counter = 0

    # ------------------------------------------------------------------ names

    def name(self, kind: str = "q") -> str:
        """A name unique to this test (and this run): ``amqpbase-conformance-<kind>-<uuid>``."""
        self._counter += 1
        return f"{NAME_PREFIX}-{kind}-{self.token}-{self._counter}"

    # ------------------------------------------------------------------ parameters

    def params(self, **overrides: Any) -> ConnectionParameters:
        """Parameters for the test broker with short timeouts and a unique connection_name
        (``overrides`` win; ``connection_name=...`` sets the client property)."""
        connection_name = overrides.pop("connection_name", None) or self.name("conn")
        values: Dict[str, Any] = dict(
            host=self.broker.host,
            port=int(self.broker.port),
            credentials=PlainCredentials("guest", "guest"),
            socket_timeout=2.0,
            stack_timeout=5.0,
            retry_delay=0.2,
            client_properties={"connection_name": connection_name},
        )
        values.update(overrides)
        return ConnectionParameters(**values)

    # ------------------------------------------------------------------ connections

    def connect(self, params: Optional[ConnectionParameters] = None) -> Tuple[Connection, Events]:
        """Start opening a connection (not yet run); returns it with its event recorder."""
        events = Events()
        connection = self.driver.connect(
            params if params is not None else self.params(),
            on_open_callback=events.on_open,
            on_open_error_callback=events.on_open_error,
            on_close_callback=events.on_close,
        )
        return connection, events

    def open_connection(self, params: Optional[ConnectionParameters] = None,
                        timeout: float = DEFAULT_TIMEOUT) -> Tuple[Connection, Events]:
        """Open a connection and run the loop until it is open (fails on an open error)."""
        connection, events = self.connect(params)
        self.driver.run_until(lambda: events.settled, timeout, what="the connection to open")
        assert not events.open_errors, f"could not open: {events.open_errors!r}"
        assert connection.is_open
        return connection, events

    def open_channel(self, connection: Connection, channel_number: Optional[int] = None,
                     timeout: float = DEFAULT_TIMEOUT) -> Channel:
        """Open a channel and run the loop until its on_open callback ran."""
        opened: List[Channel] = []
        channel = connection.channel(channel_number=channel_number, on_open_callback=opened.append)
        self.driver.run_until(lambda: opened, timeout, what=f"channel {channel_number} to open")
        assert opened == [channel] and channel.is_open
        return channel

    def connection_pid(self, connection_name: str) -> str:
        """The broker's pid of the connection named ``connection_name`` (see
        ``Broker.connection_pid``)."""
        return str(self.broker.connection_pid(connection_name))

    def connection_info(self, connection_name: str, *keys: str) -> List[str]:
        """Values of ``keys`` (rabbitmqctl list_connections columns) for that connection.

        ``rabbitmqctl`` takes seconds on a busy machine (an Erlang VM starts per call): it runs
        on a worker thread while the loop keeps running, so the test's connections go on
        sending heartbeats meanwhile (a 2 s heartbeat would otherwise expire during the call)."""
        done: List[Any] = []

        def run() -> None:
            try:
                done.append(self.broker.ctl("list_connections", "-q", "--no-table-headers",
                                            "client_properties", *keys))
            except Exception as error:  # noqa: BLE001 - re-raised on the test's thread
                done.append(error)

        threading.Thread(target=run, daemon=True).start()
        self.driver.run_until(lambda: done, 130.0, what="rabbitmqctl list_connections")
        if isinstance(done[0], Exception):
            raise done[0]
        out = str(done[0])
        for line in out.splitlines():
            if f'{{"connection_name","{connection_name}"}}' in line:
                # client_properties is one column without tabs; the rest follow it.
                return [str(value) for value in line.split("\t")[-len(keys):]]
        raise AssertionError(f"connection {connection_name!r} not listed by rabbitmqctl:\n{out}")

    # ------------------------------------------------------------------ RPCs

    def rpc(self, method: Callable[..., Any], *args: Any, timeout: float = DEFAULT_TIMEOUT,
            **kwargs: Any) -> Any:
        """Call a channel method with ``callback=`` and run until the callback ran; returns
        what it got (the reply's method frame for most RPCs)."""
        replies: List[Any] = []
        method(*args, callback=lambda *got: replies.append(got[0] if len(got) == 1 else got),
               **kwargs)
        name = getattr(method, "__name__", repr(method))
        self.driver.run_until(lambda: replies, timeout, what=f"the reply to {name}")
        return replies[0]

    def declare_queue(self, channel: Channel, name: Optional[str] = None, **kwargs: Any) -> str:
        """Declare a queue (unique name unless given) that is deleted after the test; returns
        the name the broker confirmed."""
        queue = self.name("q") if name is None else name
        ok = self.rpc(channel.queue_declare, queue, **kwargs)
        confirmed = ok.method.queue
        self._queues.append(confirmed)
        return str(confirmed)

    def declare_exchange(self, channel: Channel, exchange_type: str = "direct",
                         **kwargs: Any) -> str:
        """Declare a uniquely named exchange that is deleted after the test."""
        exchange = self.name("x")
        self.rpc(channel.exchange_declare, exchange, exchange_type, **kwargs)
        self._exchanges.append(exchange)
        return exchange

    def message_count(self, channel: Channel, queue: str) -> int:
        """Ready messages in ``queue`` (passive Queue.Declare)."""
        ok = self.rpc(channel.queue_declare, queue, passive=True)
        return int(ok.method.message_count)

    def wait_for_count(self, channel: Channel, queue: str, expected: int,
                       timeout: float = DEFAULT_TIMEOUT) -> None:
        """Poll the ready-message count of ``queue`` until it is ``expected`` (the broker
        routes publishes asynchronously)."""
        seen: List[int] = []
        deadline = time.monotonic() + timeout
        while True:
            seen.append(self.message_count(channel, queue))
            if seen[-1] == expected:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"queue {queue} holds {seen[-1]} ready message(s), expected {expected}")
            self.driver.run_for(0.01)

    def track_queue(self, name: str) -> None:
        self._queues.append(name)

    def track_exchange(self, name: str) -> None:
        self._exchanges.append(name)

    # ------------------------------------------------------------------ cleanup

    def _delete(self, connection: Connection, kind: str, name: str) -> None:
        """Delete one queue or exchange on a fresh channel (a failure closes only that
        channel, so the other deletions still happen)."""
        closed: List[BaseException] = []
        done: List[Any] = []
        opened: List[Channel] = []
        channel = connection.channel(on_open_callback=opened.append)
        channel.add_on_close_callback(lambda _channel, reason: closed.append(reason))
        self.driver.run_until(lambda: opened or closed, DEFAULT_TIMEOUT, what="cleanup channel")
        if not opened:
            return
        if kind == "queue":
            channel.queue_delete(name, callback=done.append)
        else:
            channel.exchange_delete(name, callback=done.append)
        self.driver.run_until(lambda: done or closed, DEFAULT_TIMEOUT,
                              what=f"deletion of {kind} {name}")
        if channel.is_open:
            channel.close()

    def cleanup(self) -> None:
        """Delete every queue and exchange the test made, over a connection of its own."""
        if not (self._queues or self._exchanges):
            return
        connection, events = self.connect(self.params(connection_name=self.name("cleanup")))
        self.driver.run_until(lambda: events.settled, DEFAULT_TIMEOUT, what="cleanup connection")
        if not connection.is_open:
            return
        for name in self._queues:
            self._delete(connection, "queue", name)
        for name in self._exchanges:
            self._delete(connection, "exchange", name)
        connection.close()
        self.driver.run_until(lambda: connection.is_closed, DEFAULT_TIMEOUT,
                              what="cleanup connection to close")


@pytest.fixture
def session(driver: Driver, broker: Any) -> Iterator[Session]:
    """Test helpers; queues and exchanges made through it are deleted afterwards."""
    helper = Session(driver, broker)
    try:
        yield helper
    finally:
        helper.cleanup()


@pytest.fixture
def connection(session: Session) -> Tuple[Connection, Events]:
    """An open connection (with its event recorder) on the test's driver."""
    return session.open_connection()


@pytest.fixture
def channel(session: Session, connection: Tuple[Connection, Events]) -> Channel:
    """An open channel on :func:`connection`."""
    return session.open_channel(connection[0])


class MemoryAlarm:
    """Raise RabbitMQ's memory alarm (``set_vm_memory_high_watermark absolute 1``: every
    publishing connection gets blocked) and lower it again."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.raised = False

    def raise_alarm(self) -> None:
        self.raised = True
        self.broker.ctl("set_vm_memory_high_watermark", "absolute", "1")

    def clear(self) -> None:
        self.broker.ctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK)
        self.raised = False


@pytest.fixture
def memory_alarm(session: Session, broker: Any) -> Iterator[MemoryAlarm]:
    """A :class:`MemoryAlarm`; the watermark is restored after the test whatever happened
    (this fixture depends on ``session`` so it is torn down first, before cleanup needs an
    unblocked broker)."""
    alarm = MemoryAlarm(broker)
    try:
        yield alarm
    finally:
        if alarm.raised:
            alarm.clear()
