"""The flavour drivers: one test body per behaviour for the Deferred API (``TwistedChannel``)
and the awaitable API (``FutureChannel``), which share the core's settlement engine and
consumer-queue logic (issue 13).

A body is ``async def body(flavour)``; it awaits what the flavour's objects return (Deferreds
inside ``defer.ensureDeferred``, asyncio futures inside an asyncio task) and uses the flavour
for the few places the two APIs differ on purpose:

- :meth:`Flavour.failure`: the Deferred API never raises at the call (a failed Deferred);
  the awaitable API raises a bad argument or a wrong state at the call, like the callback API;
- :meth:`Flavour.closed`: ``TwistedChannel.on_closed`` / ``FutureChannel.closed`` (both
  resolve with the reason, whoever closed the channel);
- :meth:`Flavour.forget`: a failed Deferred nobody handles is reported by Twisted ("Unhandled
  error in Deferred") when collected, so a body that drops one says so; a failed future of
  ours logs nothing (marked retrieved), so this is a no-op there;
- :meth:`Flavour.buffered` / :meth:`Flavour.sleep`: a consumer queue's buffered count
  (``ClosableDeferredQueue.pending`` / ``len(MessageQueue)``), and a short pause.

Tests run as ``@pytest_twisted.inlineCallbacks`` generators yielding :meth:`Flavour.run`:

- ``deferred``: the body in ``defer.ensureDeferred`` on the reactor;
- ``awaitable-tornado`` (``amqpbase.adapters.tornado.connect``): the body on the asyncio
  loop, which is the reactor's own loop with ``--reactor=asyncio`` (Twisted, Tornado and
  asyncio on one loop), else a fresh asyncio loop run to completion for the test (the default
  reactor is idle meanwhile);
- ``awaitable-asyncio`` (``amqpbase.adapters.asyncio.connect``): the same on a plain asyncio
  loop, no Tornado.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Coroutine, Dict, Optional, Type

from deferred_helpers import TIMEOUT, Amqp, within
from twisted.internet import defer

from amqpbase.adapters.asyncio import connect as asyncio_connect
from amqpbase.adapters.tornado import connect as tornado_connect
from amqpbase.adapters.twisted import TwistedProtocolConnection

Body = Callable[["Flavour"], Coroutine[Any, Any, None]]

#: Whole-body deadline, seconds.
BODY_TIMEOUT = 30.0


def reactor_asyncio_loop() -> Optional[asyncio.AbstractEventLoop]:
    from twisted.internet import reactor

    loop = getattr(reactor, "_asyncioEventloop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


class Flavour:
    """What a body needs from an API flavour."""

    name = ""
    cancelled_error: Type[BaseException] = BaseException

    def __init__(self, amqp: Amqp) -> None:
        self.amqp = amqp

    def run(self, body: Body) -> "defer.Deferred[Any]":
        raise NotImplementedError

    async def connect(self, recovery: Any = None) -> Any:
        raise NotImplementedError

    def ctl(self, *args: str) -> Awaitable[str]:
        """``rabbitmqctl ARGS`` off the loop thread (the loop keeps running meanwhile)."""
        raise NotImplementedError

    async def close(self, connection: Any) -> BaseException:
        reason: BaseException = await connection.close()
        return reason

    async def open_channel(self, connection: Optional[Any] = None) -> Any:
        if connection is None:
            connection = await self.connect()
        return await connection.channel()

    def wait(self, awaitable: Any, seconds: float = TIMEOUT) -> Awaitable[Any]:
        """``awaitable`` with a deadline."""
        raise NotImplementedError

    async def failure(self, call: Callable[[], Any]) -> BaseException:
        """The exception ``call()`` fails with, at the call or when awaited."""
        try:
            await self.wait(call())
        except BaseException as error:  # noqa: BLE001 - CancelledError is one (asyncio)
            return error
        raise AssertionError("expected a failure")

    def closed(self, channel: Any) -> Any:
        raise NotImplementedError

    def cancel(self, awaitable: Any) -> None:
        awaitable.cancel()

    def forget(self, awaitable: Any) -> None:
        """The body will not look at ``awaitable``'s outcome."""

    def buffered(self, messages: Any) -> int:
        raise NotImplementedError

    def sleep(self, seconds: float) -> Awaitable[None]:
        raise NotImplementedError

    async def until(self, predicate: Callable[[], bool], seconds: float = TIMEOUT) -> None:
        """Poll ``predicate`` every 10 ms until true; AssertionError after ``seconds``."""
        for _ in range(int(seconds / 0.01)):
            if predicate():
                return
            await self.sleep(0.01)
        raise AssertionError("condition not met in time")


class DeferredFlavour(Flavour):
    name = "deferred"
    cancelled_error = defer.CancelledError

    def run(self, body: Body) -> "defer.Deferred[Any]":
        return within(defer.ensureDeferred(body(self)), BODY_TIMEOUT)

    async def connect(self, recovery: Any = None) -> TwistedProtocolConnection:
        if recovery is None:
            connection = self.amqp.connect()
        else:
            connection = TwistedProtocolConnection(self.amqp.params(), recovery=recovery)
            self.amqp.connections.append(connection)
        await within(connection.ready)
        return connection

    def ctl(self, *args: str) -> Awaitable[str]:
        return self.amqp.ctl(*args)

    def wait(self, awaitable: Any, seconds: float = TIMEOUT) -> Awaitable[Any]:
        return within(awaitable, seconds)

    def closed(self, channel: Any) -> Any:
        return channel.on_closed

    def forget(self, awaitable: Any) -> None:
        awaitable.addErrback(lambda _failure: None)

    def buffered(self, messages: Any) -> int:
        return len(messages.pending)

    def sleep(self, seconds: float) -> Awaitable[None]:
        from twisted.internet import reactor, task

        return task.deferLater(reactor, seconds, lambda: None)


class AwaitableFlavour(Flavour):
    name = "awaitable-tornado"
    cancelled_error = asyncio.CancelledError
    connect_function: Callable[..., Awaitable[Any]] = staticmethod(tornado_connect)

    def __init__(self, amqp: Amqp) -> None:
        super().__init__(amqp)
        self.connections: list = []

    def run(self, body: Body) -> "defer.Deferred[Any]":
        async def guarded() -> None:
            try:
                await asyncio.wait_for(body(self), BODY_TIMEOUT)
            finally:
                for connection in self.connections:
                    if connection.is_open:
                        await asyncio.wait_for(connection.close(), 15.0)

        shared = reactor_asyncio_loop()
        if shared is not None:
            return defer.Deferred.fromFuture(asyncio.ensure_future(guarded(), loop=shared))
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(guarded())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        return defer.succeed(None)

    async def connect(self, recovery: Any = None) -> Any:
        connection = await self.connect_function(self.amqp.params(), recovery=recovery)
        self.connections.append(connection)
        return connection

    def ctl(self, *args: str) -> Awaitable[str]:
        broker = self.amqp.broker
        return asyncio.get_running_loop().run_in_executor(None, lambda: broker.ctl(*args))

    def wait(self, awaitable: Any, seconds: float = TIMEOUT) -> Awaitable[Any]:
        return asyncio.wait_for(asyncio.shield(awaitable), seconds)

    def closed(self, channel: Any) -> Any:
        return channel.closed

    def buffered(self, messages: Any) -> int:
        return len(messages)

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds)


class AsyncioAwaitableFlavour(AwaitableFlavour):
    name = "awaitable-asyncio"
    connect_function = staticmethod(asyncio_connect)


#: Every flavour a shared body runs on, by id.
FLAVOURS: Dict[str, Type[Flavour]] = {
    DeferredFlavour.name: DeferredFlavour,
    AwaitableFlavour.name: AwaitableFlavour,
    AsyncioAwaitableFlavour.name: AsyncioAwaitableFlavour,
}
