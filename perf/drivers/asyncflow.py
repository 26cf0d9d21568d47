"""One coroutine flow for the awaitable API (asyncio, Tornado) and the Deferred API (Twisted).

Both APIs give channels whose methods return awaitables with the same signatures, so the
set-up, the producer and consumer loops and the tear-down are written once, as coroutines
(Twisted runs them through ``defer.ensureDeferred``, where a Deferred is awaitable). What
differs is a small kit (:class:`AsyncKit`): connect, sleep, a waiter for the confirm window,
attaching the core's ``settle`` to a publish's awaitable, running the flow and routing
SIGINT/SIGTERM to the run. Per message a confirm-mode publish costs one callback
registration on the future/Deferred the API already makes (a bound method made once per
producer), nothing else. It must not count or time anything itself (the core does).
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Coroutine, List, Tuple

from ..core import COUNT_EVERY, POLL, WRITE_BACKLOG, ConsumerCore, ProducerCore, Run
from . import parameters

_clock = time.monotonic


class AsyncKit:
    """What the flow needs of a loop and an API."""

    def connect(self, run: Run, index: int, role: str) -> Awaitable[Any]:
        raise NotImplementedError

    def sleep(self, seconds: float) -> Awaitable[Any]:
        raise NotImplementedError

    def waiter(self) -> Tuple[Awaitable[Any], Callable[[], None]]:
        """An awaitable and the function that completes it."""
        raise NotImplementedError

    def settler(self, settle: Callable[[Any], None]) -> Callable[[Any], None]:
        """``attach(awaitable)``: call ``settle(outcome)`` when the publish is settled."""
        raise NotImplementedError

    def messages(self, queue: Any) -> AsyncIterator[Any]:
        """The deliveries of a consumer's queue, ending when the consumer ends."""
        raise NotImplementedError

    def write_buffer_size(self, connection: Any) -> int:
        return int(connection.impl.write_buffer_size)

    def run(self, flow: Callable[[], Coroutine[Any, Any, None]], on_signal: Callable[[], None]
            ) -> None:
        raise NotImplementedError


class AsyncioKit(AsyncKit):
    """The awaitable API on asyncio or Tornado (``connect`` of either adapter)."""

    def __init__(self, loop_name: str) -> None:
        import asyncio

        self.asyncio = asyncio
        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.asyncio import connect as asyncio_connect
            from adapters.tornado import connect as tornado_connect
        else:
            from amqpbase.adapters.asyncio import connect as asyncio_connect
            from amqpbase.adapters.tornado import connect as tornado_connect
        self._connect = tornado_connect if loop_name == "tornado" else asyncio_connect

    def connect(self, run: Run, index: int, role: str) -> Awaitable[Any]:
        connecting: Awaitable[Any] = self._connect(parameters(run, index, role))
        return connecting

    def sleep(self, seconds: float) -> Awaitable[Any]:
        return self.asyncio.sleep(seconds)

    def waiter(self) -> Tuple[Awaitable[Any], Callable[[], None]]:
        future = self.asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)
        return future, wake

    def settler(self, settle: Callable[[Any], None]) -> Callable[[Any], None]:
        def done(future: Any) -> None:
            if future.cancelled():
                settle(self.asyncio.CancelledError())
                return
            error = future.exception()
            settle(error if error is not None else future.result())

        def attach(future: Any) -> None:
            future.add_done_callback(done)
        return attach

    async def messages(self, queue: Any) -> AsyncIterator[Any]:
        from amqpbase.exceptions import AMQPError

        try:
            async for message in queue:
                yield message
        except AMQPError:
            return  # the channel or connection closed: the flow notices and reports it

    def run(self, flow: Callable[[], Coroutine[Any, Any, None]], on_signal: Callable[[], None]
            ) -> None:
        asyncio = self.asyncio

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, on_signal)
            await flow()

        asyncio.run(main())


class DeferredKit(AsyncKit):
    """The Deferred API on Twisted's reactor."""

    def __init__(self) -> None:
        from twisted.internet import defer, reactor, task
        from twisted.python.failure import Failure

        self.defer = defer
        self.reactor: Any = reactor
        self.task = task
        self.Failure = Failure

    async def connect(self, run: Run, index: int, role: str) -> Any:
        if TYPE_CHECKING:
            from adapters.twisted import TwistedProtocolConnection
        else:
            from amqpbase.adapters.twisted import TwistedProtocolConnection

        connection = TwistedProtocolConnection(parameters(run, index, role),
                                               custom_reactor=self.reactor)
        await connection.ready
        return connection

    def sleep(self, seconds: float) -> Awaitable[Any]:
        result: Awaitable[Any] = self.task.deferLater(self.reactor, seconds, lambda: None)
        return result

    def waiter(self) -> Tuple[Awaitable[Any], Callable[[], None]]:
        deferred: Any = self.defer.Deferred()

        def wake() -> None:
            if not deferred.called:
                deferred.callback(None)
        return deferred, wake

    def settler(self, settle: Callable[[Any], None]) -> Callable[[Any], None]:
        failure_type = self.Failure

        def done(result: Any) -> None:
            settle(result.value if isinstance(result, failure_type) else result)

        def attach(deferred: Any) -> None:
            deferred.addBoth(done)
        return attach

    async def messages(self, queue: Any) -> AsyncIterator[Any]:
        from amqpbase.exceptions import AMQPError

        while True:
            try:
                message = await queue.get()
            except AMQPError:
                return  # the consumer ended (ConsumerCancelled or the close reason)
            yield message

    def run(self, flow: Callable[[], Coroutine[Any, Any, None]], on_signal: Callable[[], None]
            ) -> None:
        reactor = self.reactor

        def handler(_signum: int, _frame: Any) -> None:
            reactor.callFromThread(on_signal)  # wakes the reactor (its waker)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

        def start() -> None:
            deferred = self.defer.ensureDeferred(flow())
            deferred.addBoth(lambda _result: reactor.stop())

        reactor.callWhenRunning(start)
        reactor.run(installSignalHandlers=False)


class Flow:
    """The run as coroutines over a kit."""

    def __init__(self, run: Run, kit: AsyncKit) -> None:
        self.run = run
        self.kit = kit
        self.connections: List[Any] = []
        self.closing = False
        self.consumer_states: List[List[Any]] = []  # [channel, unacked, last_tag]

    async def main(self) -> None:
        run, kit, plan, options = self.run, self.kit, self.run.plan, self.run.options
        admin: Any = None
        channel: Any = None
        tasks: List[Any] = []
        try:
            admin = await kit.connect(run, 0, "set-up")
            channel = await admin.channel()
            if plan.declare_exchange:
                await channel.exchange_declare(plan.exchange, options.exchange_type,
                                               durable=plan.durable)
            ok = await channel.queue_declare(plan.queue, passive=not plan.declare_queue,
                                             durable=plan.durable,
                                             arguments=plan.queue_arguments or None)
            run.queue_was_empty = ok.method.message_count == 0
            if plan.exchange and plan.declare_queue:
                await channel.queue_bind(plan.queue, plan.exchange, routing_key=plan.routing_key)
            for core in run.consumers:
                tasks.append(await self.start_consumer(core))
            starts = []
            for producer in run.producers:
                starts.append(await self.start_producer(producer))
            run.begin()
            for start in starts:
                tasks.append(start())
        except Exception as error:  # noqa: BLE001 - reported in the result, then tear-down
            run.fail("set-up", error)
        while not run.poll():
            await kit.sleep(POLL)
        while not run.settled():
            await kit.sleep(0.01)
        self.closing = True
        for state in self.consumer_states:
            self.finish_acks(state)
        for connection in self.connections:
            try:
                await connection.close()
            except Exception:  # noqa: BLE001,S110 - already closed: nothing to do
                pass
        for task in tasks:
            try:
                await task
            except Exception as error:  # noqa: BLE001
                run.fail("worker", error)
        run.finish()
        if channel is not None and channel.is_open:
            try:
                if options.queue_type != "stream":
                    while True:
                        ok = await channel.queue_declare(plan.queue, passive=True)
                        if run.count_left(ok.method.message_count):
                            break
                        await kit.sleep(COUNT_EVERY)
                if plan.declare_queue and not options.keep:
                    run.cleanup["deleted_queue"] = True
                    await channel.queue_delete(plan.queue)
                if plan.declare_exchange and not options.keep:
                    run.cleanup["deleted_exchange"] = True
                    await channel.exchange_delete(plan.exchange)
            except Exception as error:  # noqa: BLE001
                run.fail("clean-up", error)
        if admin is not None:
            try:
                await admin.close()
            except Exception:  # noqa: BLE001,S110 - already closed
                pass

    async def start_consumer(self, core: ConsumerCore) -> Any:
        run, kit = self.run, self.kit
        role = f"consumer {core.number}"
        connection = await kit.connect(run, 1 + core.number, role)
        self.connections.append(connection)
        channel = await connection.channel()
        if run.options.qos:
            await channel.basic_qos(prefetch_count=run.options.qos)
        queue, tag = await channel.basic_consume(run.plan.queue, auto_ack=run.options.autoack,
                                                 arguments=run.plan.consumer_arguments)
        state: List[Any] = [channel, 0, 0]
        self.consumer_states.append(state)
        return self.spawn(self.consume(core, channel, queue, tag, state, role))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> Any:
        if isinstance(self.kit, DeferredKit):
            return self.kit.defer.ensureDeferred(coroutine)
        import asyncio

        return asyncio.ensure_future(coroutine)

    async def consume(self, core: ConsumerCore, channel: Any, queue: Any, tag: str,
                      state: List[Any], role: str) -> None:
        record = core.record
        manual = not self.run.options.autoack
        every = core.ack_every
        ack = channel.basic_ack
        cancelled = False
        async for message in self.kit.messages(queue):
            if cancelled and manual:
                # Past its count (sent before our Basic.Cancel took effect): back to the
                # queue for the other consumers.
                channel.basic_reject(message.method.delivery_tag, True)
                continue
            done = record(message.body)
            if manual:
                state[1] += 1
                if state[1] >= every:
                    ack(message.method.delivery_tag, every > 1)
                    state[1] = 0
                else:
                    state[2] = message.method.delivery_tag
            if done and not cancelled:
                cancelled = True
                self.finish_acks(state)
                await channel.basic_cancel(tag)
        if not self.closing and not cancelled:
            self.run.fail(f"{role} channel", await channel.closed)

    def finish_acks(self, state: List[Any]) -> None:
        channel, unacked, last_tag = state
        if unacked and channel.is_open:
            channel.basic_ack(last_tag, True)
            state[1] = 0

    async def start_producer(self, core: ProducerCore) -> Callable[[], Any]:
        run, kit = self.run, self.kit
        role = f"producer {core.number}"
        connection = await kit.connect(run, 1 + len(run.consumers) + core.number, role)
        self.connections.append(connection)
        channel = await connection.channel()
        if run.options.mandatory and not run.options.confirm:
            channel.add_on_return_callback(core.on_return)
        if run.options.confirm:
            await channel.confirm_delivery()
        return lambda: self.spawn(self.produce(core, channel, connection, role))

    async def produce(self, core: ProducerCore, channel: Any, connection: Any,
                      role: str) -> None:
        run, kit = self.run, self.kit
        plan = run.plan
        exchange, key, props, mandatory = (plan.exchange, plan.routing_key, plan.properties,
                                           run.options.mandatory)
        confirm = bool(run.options.confirm)
        attach = kit.settler(core.settle)
        publish = channel.basic_publish
        body = core.next_body
        while True:
            count, wait = core.allowance(_clock())
            if count:
                if not channel.is_open:
                    if not self.closing:
                        run.fail(f"{role} channel", await channel.closed)
                    return
                if confirm:
                    core.outstanding += count
                    for _ in range(count):
                        attach(publish(exchange, key, body(), props, mandatory))
                else:
                    for _ in range(count):
                        publish(exchange, key, body(), props, mandatory)
                backlog = kit.write_buffer_size(connection) > WRITE_BACKLOG
                await kit.sleep(0.005 if backlog else 0)
            elif wait is not None:
                await kit.sleep(wait)
            elif core.waiting:
                waiter, core.resume = kit.waiter()
                await waiter
            else:
                return


def run_async(run: Run) -> None:
    """Run ``run`` with the awaitable (asyncio/Tornado) or Deferred (Twisted) API."""
    kit: AsyncKit = DeferredKit() if run.options.api == "deferred" else \
        AsyncioKit(run.options.loop)
    flow = Flow(run, kit)
    kit.run(flow.main, lambda: run.request_stop("signal"))


__all__ = ["run_async", "Flow", "AsyncKit"]
