"""Helpers of the Deferred-flavoured Twisted API tests (fixtures: ``conftest.py``).

This folder has no ``__init__.py`` on purpose: as a package it would be named ``twisted``
(``tests/`` is no package) and shadow the real Twisted. Test modules import this module by
name (pytest puts the folder on ``sys.path``).

Tests never sleep: every wait is a Deferred with a deadline (:func:`within`).
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, Generator, List, Optional, TypeVar

from twisted.internet import defer, threads

from amqpbase.adapters.twisted import TwistedChannel, TwistedProtocolConnection
from amqpbase.credentials import PlainCredentials
from amqpbase.parameters import ConnectionParameters

#: Deadline of every wait in these tests, seconds.
TIMEOUT = 5.0
#: Every queue/exchange/connection name these tests create starts with this.
NAME_PREFIX = "amqpbase-twisted"
#: RabbitMQ's default memory watermark, restored after a memory-alarm test.
DEFAULT_WATERMARK = "0.4"

_T = TypeVar("_T")


def the_reactor() -> Any:
    """pytest-twisted's reactor (installed before any test runs)."""
    from twisted.internet import reactor

    return reactor


def within(deferred: "defer.Deferred[_T]", seconds: float = TIMEOUT) -> "defer.Deferred[_T]":
    """``deferred`` with a deadline: it fails with ``TimeoutError`` after ``seconds``."""
    return deferred.addTimeout(seconds, the_reactor())


@defer.inlineCallbacks
def failure_of(
    deferred: "defer.Deferred[Any]", seconds: float = TIMEOUT
) -> Generator[Any, Any, BaseException]:
    """Wait (with a deadline) for ``deferred`` to FAIL; return its exception. Fails the test
    if it fires with a result instead."""
    try:
        result = yield within(deferred, seconds)
    except defer.TimeoutError:
        raise
    except Exception as error:  # noqa: BLE001 - that is what we wait for
        return error
    raise AssertionError(f"expected a failure, got the result {result!r}")


def event_deferred() -> "tuple[defer.Deferred[Any], Callable[..., None]]":
    """A Deferred and a callback that fires it with its arguments (once; later calls are
    ignored)."""
    deferred: "defer.Deferred[Any]" = defer.Deferred()

    def callback(*args: Any) -> None:
        if not deferred.called:
            deferred.callback(args[0] if len(args) == 1 else args)

    return deferred, callback


class Amqp:
    """Test helpers bound to the broker; see the module docstring."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.token = uuid.uuid4().hex[:10]
        self.counter = 0
        self.connections: List[TwistedProtocolConnection] = []
        self.queues: List[str] = []
        self.exchanges: List[str] = []

    def name(self, kind: str = "q") -> str:
        self.counter += 1
        return f"{NAME_PREFIX}-{kind}-{self.token}-{self.counter}"

    def params(self, **overrides: Any) -> ConnectionParameters:
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

    def connect(self, params: Optional[ConnectionParameters] = None) -> TwistedProtocolConnection:
        """A connection that has started opening (closed after the test if still open)."""
        connection = TwistedProtocolConnection(params if params is not None else self.params())
        self.connections.append(connection)
        return connection

    @defer.inlineCallbacks
    def open(
        self, params: Optional[ConnectionParameters] = None
    ) -> Generator[Any, Any, TwistedProtocolConnection]:
        connection = self.connect(params)
        yield within(connection.ready)
        return connection

    @defer.inlineCallbacks
    def open_channel(
        self, connection: Optional[TwistedProtocolConnection] = None
    ) -> Generator[Any, Any, TwistedChannel]:
        if connection is None:
            connection = yield self.open()
        channel = yield within(connection.channel())
        return channel

    @defer.inlineCallbacks
    def confirmed_channel(
        self, connection: Optional[TwistedProtocolConnection] = None
    ) -> Generator[Any, Any, TwistedChannel]:
        """A channel in confirm mode: ``yield within(channel.basic_publish(...))`` returns once
        the broker has the message (in its queue, if routed)."""
        channel = yield self.open_channel(connection)
        yield within(channel.confirm_delivery())
        return channel

    @defer.inlineCallbacks
    def declare_queue(self, channel: TwistedChannel, **kwargs: Any) -> Generator[Any, Any, str]:
        """Declare a uniquely named queue (deleted after the test); return its name."""
        name = self.name("q")
        self.queues.append(name)
        yield within(channel.queue_declare(name, **kwargs))
        return name

    def ctl(self, *args: str) -> "defer.Deferred[str]":
        """``rabbitmqctl ARGS`` in a thread, so the reactor keeps running meanwhile."""
        return threads.deferToThread(self.broker.ctl, *args)

    def connection_pid(self, connection_name: str) -> "defer.Deferred[str]":
        """The broker's pid of the connection with that ``connection_name`` client property
        (``Broker.connection_pid``, in a thread so the reactor keeps running)."""
        return threads.deferToThread(self.broker.connection_pid, connection_name)

    @defer.inlineCallbacks
    def cleanup(self) -> Generator[Any, Any, None]:
        for connection in self.connections:
            if connection.is_open:
                yield within(connection.close(), 15.0)
        if not (self.queues or self.exchanges):
            return
        connection = TwistedProtocolConnection(self.params())
        yield within(connection.ready)
        channel = yield within(connection.channel())
        deletions = [("queue_delete", name) for name in self.queues]
        deletions += [("exchange_delete", name) for name in self.exchanges]
        for method_name, name in deletions:
            # Deleting a missing queue or exchange is a no-op for RabbitMQ 3.10.
            try:
                yield within(getattr(channel, method_name)(name))
            except Exception:  # noqa: BLE001 - the channel closed: carry on with a new one
                channel = yield within(connection.channel())
        yield within(connection.close(), 15.0)


class MemoryAlarm:
    """Raise RabbitMQ's memory alarm (every publishing connection gets blocked: the broker
    stops reading it) and clear it again."""

    def __init__(self, amqp: Amqp) -> None:
        self.amqp = amqp
        self.raised = False

    def raise_alarm(self) -> "defer.Deferred[str]":
        self.raised = True
        return self.amqp.ctl("set_vm_memory_high_watermark", "absolute", "1")

    def clear(self) -> "defer.Deferred[str]":
        self.raised = False
        return self.amqp.ctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK)
