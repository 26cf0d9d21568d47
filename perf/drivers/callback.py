"""The callback-API driver: pika 1.x's callback API on the select, asyncio, Tornado and
Twisted loops, one driver for all four.

Owns the set-up and tear-down sequence as callbacks and the per-message paths (publish with
``on_confirm=`` the producer core's ``settle``: one bound method for every publish, no
closure per message; one ``on_message`` per consumer). What differs between the loops is a
small kit (:class:`LoopKit`): make a connection, call later, run, stop, and route SIGINT and
SIGTERM to the run in a way that wakes the loop at once (select: ``add_callback_threadsafe``
from ``signal.signal``; asyncio/Tornado: ``loop.add_signal_handler``; Twisted:
``callFromThread``). It must not count or time anything itself (the core does).
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Set

from amqpbase import Channel, Connection, URLParameters

from ..core import COUNT_EVERY, POLL, WRITE_BACKLOG, ConsumerCore, ProducerCore, Run
from . import parameters

Callback = Callable[[], Any]
_clock = time.monotonic


class LoopKit:
    """What the driver needs of a loop. Subclasses implement each method in a line or two."""

    name = ""

    def connection(self, params: URLParameters, on_open: Callable[..., Any],
                   on_open_error: Callable[..., Any],
                   on_close: Callable[..., Any]) -> Connection:
        raise NotImplementedError

    def call_later(self, delay: float, callback: Callback) -> None:
        raise NotImplementedError

    def run(self, start: Callback, on_signal: Callback) -> None:
        """Run the loop: ``start()`` soon, ``on_signal()`` on the loop after SIGINT/SIGTERM;
        return once :meth:`stop` was called."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class SelectKit(LoopKit):
    name = "select"

    def __init__(self) -> None:
        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.select import IOLoop
        else:
            from amqpbase.adapters.select import IOLoop

        self.ioloop = IOLoop()

    def connection(self, params: URLParameters, on_open: Callable[..., Any],
                   on_open_error: Callable[..., Any],
                   on_close: Callable[..., Any]) -> Connection:
        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.select import SelectConnection
        else:
            from amqpbase.adapters.select import SelectConnection

        return SelectConnection(params, on_open, on_open_error, on_close,
                                custom_ioloop=self.ioloop)

    def call_later(self, delay: float, callback: Callback) -> None:
        self.ioloop.call_later(delay, callback)

    def run(self, start: Callback, on_signal: Callback) -> None:
        ioloop = self.ioloop

        def handler(_signum: int, _frame: Any) -> None:
            # The select loop's signal-safe wake-up (guide-select.md, "Graceful shutdown"):
            # without it the loop would sleep until its next timer or I/O.
            ioloop.add_callback_threadsafe(on_signal)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        ioloop.add_callback_threadsafe(start)
        try:
            ioloop.start()
        finally:
            ioloop.close()

    def stop(self) -> None:
        self.ioloop.stop()


class AsyncioKit(LoopKit):
    name = "asyncio"

    def __init__(self) -> None:
        import asyncio

        self.asyncio = asyncio
        self.loop: Any = None
        self.done: Any = None

    def connection(self, params: URLParameters, on_open: Callable[..., Any],
                   on_open_error: Callable[..., Any],
                   on_close: Callable[..., Any]) -> Connection:
        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.asyncio import AsyncioConnection
        else:
            from amqpbase.adapters.asyncio import AsyncioConnection

        return AsyncioConnection(params, on_open, on_open_error, on_close,
                                 custom_ioloop=self.loop)

    def call_later(self, delay: float, callback: Callback) -> None:
        self.loop.call_later(delay, callback)

    def run(self, start: Callback, on_signal: Callback) -> None:
        asyncio = self.asyncio

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.done = self.loop.create_future()
            for signum in (signal.SIGTERM, signal.SIGINT):
                # asyncio's handler runs on the loop and wakes it (its self-pipe).
                self.loop.add_signal_handler(signum, on_signal)
            self.loop.call_soon(start)
            await self.done

        asyncio.run(main())

    def stop(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


class TornadoKit(AsyncioKit):
    name = "tornado"

    def connection(self, params: URLParameters, on_open: Callable[..., Any],
                   on_open_error: Callable[..., Any],
                   on_close: Callable[..., Any]) -> Connection:
        from tornado.ioloop import IOLoop

        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.tornado import TornadoConnection
        else:
            from amqpbase.adapters.tornado import TornadoConnection

        return TornadoConnection(params, on_open, on_open_error, on_close,
                                 custom_ioloop=IOLoop.current())

    def call_later(self, delay: float, callback: Callback) -> None:
        from tornado.ioloop import IOLoop

        IOLoop.current().call_later(delay, callback)


class TwistedKit(LoopKit):
    name = "twisted"

    def __init__(self) -> None:
        from twisted.internet import reactor

        self.reactor: Any = reactor

    def connection(self, params: URLParameters, on_open: Callable[..., Any],
                   on_open_error: Callable[..., Any],
                   on_close: Callable[..., Any]) -> Connection:
        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.twisted import TwistedConnection
        else:
            from amqpbase.adapters.twisted import TwistedConnection

        return TwistedConnection(params, on_open, on_open_error, on_close,
                                 custom_reactor=self.reactor)

    def call_later(self, delay: float, callback: Callback) -> None:
        self.reactor.callLater(delay, callback)

    def run(self, start: Callback, on_signal: Callback) -> None:
        reactor = self.reactor

        def handler(_signum: int, _frame: Any) -> None:
            reactor.callFromThread(on_signal)  # wakes the reactor (its waker)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        reactor.callWhenRunning(start)
        reactor.run(installSignalHandlers=False)

    def stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()


KITS = {"select": SelectKit, "asyncio": AsyncioKit, "tornado": TornadoKit,
        "twisted": TwistedKit}


class _Consumer:
    """One consumer's connection, channel and message callback."""

    def __init__(self, driver: "CallbackDriver", core: ConsumerCore) -> None:
        self.driver = driver
        self.core = core
        self.manual = not driver.run.options.autoack
        self.every = core.ack_every
        self.unacked = 0
        self.last_tag = 0
        self.tag = ""
        self.cancelled = False
        self.channel: Optional[Channel] = None

    def on_message(self, channel: Channel, method: Any, _properties: Any, body: bytes) -> None:
        if self.cancelled and self.manual:
            # Past its count (sent before our Basic.Cancel took effect): back to the queue
            # for the other consumers (unacked, it would wait for this channel's close).
            channel.basic_reject(method.delivery_tag, True)
            return
        done = self.core.record(body)
        if self.manual:
            self.unacked += 1
            if self.unacked >= self.every:
                channel.basic_ack(method.delivery_tag, self.every > 1)
                self.unacked = 0
            else:
                self.last_tag = method.delivery_tag
        if done:
            self.finish_acks()
            self.cancelled = True
            channel.basic_cancel(self.tag)

    def finish_acks(self) -> None:
        """Ack what a multiple-ack interval left unacked (before a cancel or close)."""
        channel = self.channel
        if self.unacked and channel is not None and channel.is_open:
            channel.basic_ack(self.last_tag, True)
            self.unacked = 0


class _Producer:
    """One producer's connection, channel and publish pump."""

    def __init__(self, driver: "CallbackDriver", core: ProducerCore) -> None:
        self.driver = driver
        self.core = core
        self.channel: Optional[Channel] = None
        self.connection: Optional[Connection] = None
        plan = driver.run.plan
        self.exchange = plan.exchange
        self.routing_key = plan.routing_key
        self.properties = plan.properties
        self.mandatory = driver.run.options.mandatory
        self.confirm = bool(driver.run.options.confirm)
        kit = driver.kit
        pump = self.pump
        # The window opened: pump from the loop (several settles, one pump).
        core.resume = lambda: kit.call_later(0, pump)

    def pump(self) -> None:
        core = self.core
        channel = self.channel
        if channel is None or not channel.is_open:
            return
        count, wait = core.allowance(_clock())
        if count:
            publish = channel.basic_publish
            body = core.next_body
            exchange, key, props, mandatory = (self.exchange, self.routing_key,
                                               self.properties, self.mandatory)
            sent = 0
            try:
                if self.confirm:
                    core.outstanding += count
                    settle = core.settle
                    for sent in range(count):  # noqa: B007 - read by the except
                        publish(exchange, key, body(), props, mandatory, settle)
                else:
                    for sent in range(count):  # noqa: B007 - read by the except
                        publish(exchange, key, body(), props, mandatory)
            except Exception as error:  # noqa: BLE001 - the channel ended under us
                if self.confirm:
                    core.outstanding -= count - sent
                core.seq -= 1  # the body made for the publish that raised never left
                self.driver.run.fail(f"producer {core.number}", error)
                return
            assert self.connection is not None
            backlog = self.connection.write_buffer_size > WRITE_BACKLOG
            self.driver.kit.call_later(0.005 if backlog else 0, self.pump)
        elif wait is not None:
            self.driver.kit.call_later(wait, self.pump)


class CallbackDriver:
    """Set-up, run and tear-down of a whole run on one loop."""

    def __init__(self, run: Run, kit: LoopKit) -> None:
        self.run = run
        self.kit = kit
        self.admin: Optional[Connection] = None
        self.admin_channel: Optional[Channel] = None
        self.live: Set[Connection] = set()
        self.consumers = [_Consumer(self, core) for core in run.consumers]
        self.producers = [_Producer(self, core) for core in run.producers]
        self.consuming = 0
        self.stopping = False
        self.closing = False
        self.cleaning = False

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.kit.call_later(POLL, self.poll)
        self.admin = self.kit.connection(
            parameters(self.run, 0, "set-up"), self.on_admin_open,
            self.on_admin_open_error, self.on_admin_closed)

    def on_admin_open_error(self, _connection: Connection, error: BaseException) -> None:
        if not self.closing:  # else: our own close() abandoned the open (stop in set-up)
            self.run.fail("set-up connection", error)
        self.done()

    def failed(self, what: str) -> Callable[..., None]:
        def on_error(connection: Connection, error: BaseException) -> None:
            self.live.discard(connection)
            if not self.closing:  # else: our own close() abandoned the open (stop in set-up)
                self.run.fail(what, error)
            self.maybe_cleanup()
        return on_error

    def on_admin_open(self, connection: Connection) -> None:
        connection.channel(on_open_callback=self.on_admin_channel)

    def on_admin_channel(self, channel: Channel) -> None:
        self.admin_channel = channel
        channel.add_on_close_callback(self.on_admin_channel_closed)
        plan = self.run.plan
        options = self.run.options
        steps: List[Callable[[Callable[..., Any]], Any]] = []
        if plan.declare_exchange:
            steps.append(lambda next_: channel.exchange_declare(
                plan.exchange, options.exchange_type, durable=plan.durable, callback=next_))
        steps.append(lambda next_: channel.queue_declare(
            plan.queue, passive=not plan.declare_queue, durable=plan.durable,
            arguments=plan.queue_arguments or None,
            callback=lambda ok: self.declared(ok, next_)))
        if plan.exchange and plan.declare_queue:
            steps.append(lambda next_: channel.queue_bind(
                plan.queue, plan.exchange, routing_key=plan.routing_key, callback=next_))
        self.chain(steps, self.open_consumers)

    def declared(self, ok: Any, next_: Callable[..., Any]) -> None:
        self.run.queue_was_empty = ok.method.message_count == 0
        next_(ok)

    def chain(self, steps: List[Callable[[Callable[..., Any]], Any]], done: Callback) -> None:
        """Run RPC ``steps`` one after the other, then ``done()``."""
        if self.stopping:
            return
        if not steps:
            done()
            return
        steps[0](lambda _reply: self.chain(steps[1:], done))

    def on_admin_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        if not self.cleaning:
            self.run.fail("set-up channel", reason)
        if self.cleaning:
            self.close_admin()

    def on_admin_closed(self, _connection: Connection, reason: BaseException) -> None:
        if not self.cleaning:
            self.run.fail("set-up connection", reason)
        self.done()

    def open_consumers(self) -> None:
        if not self.consumers:
            self.open_producers()
        for consumer in self.consumers:
            self.open_consumer(consumer)

    def open_consumer(self, consumer: _Consumer) -> None:
        run = self.run
        number = consumer.core.number

        def on_open(connection: Connection) -> None:
            connection.channel(on_open_callback=on_channel)

        def on_channel(channel: Channel) -> None:
            consumer.channel = channel
            channel.add_on_close_callback(self.channel_closed(f"consumer {number}"))
            if run.options.qos:
                channel.basic_qos(prefetch_count=run.options.qos, callback=lambda _ok: consume())
            else:
                consume()

        def consume() -> None:
            assert consumer.channel is not None
            consumer.tag = consumer.channel.basic_consume(
                run.plan.queue, consumer.on_message, auto_ack=run.options.autoack,
                arguments=run.plan.consumer_arguments, callback=lambda _ok: consuming())

        def consuming() -> None:
            self.consuming += 1
            if self.consuming == len(self.consumers):
                self.open_producers()

        self.connect(1 + number, f"consumer {number}", on_open)

    def connect(self, index: int, role: str, on_open: Callable[[Connection], Any]) -> None:
        if self.stopping:
            return
        connection = self.kit.connection(parameters(self.run, index, role), on_open,
                                         self.failed(f"{role} connection"),
                                         self.closed(role))
        self.live.add(connection)

    def closed(self, role: str) -> Callable[[Connection, BaseException], None]:
        def on_close(connection: Connection, reason: BaseException) -> None:
            self.live.discard(connection)
            if not self.closing:
                self.run.fail(f"{role} connection", reason)
            self.maybe_cleanup()
        return on_close

    def channel_closed(self, role: str) -> Callable[[Channel, BaseException], None]:
        def on_close(channel: Channel, reason: BaseException) -> None:
            if not self.closing:
                self.run.fail(f"{role} channel", reason)
                if channel.connection.is_open:
                    channel.connection.close()
        return on_close

    def open_producers(self) -> None:
        if not self.producers:
            self.run.begin()
        ready: List[_Producer] = []
        for producer in self.producers:
            self.open_producer(producer, ready)

    def open_producer(self, producer: _Producer, ready: List[_Producer]) -> None:
        run = self.run
        number = producer.core.number

        def on_open(connection: Connection) -> None:
            producer.connection = connection
            connection.channel(on_open_callback=on_channel)

        def on_channel(channel: Channel) -> None:
            producer.channel = channel
            channel.add_on_close_callback(self.channel_closed(f"producer {number}"))
            if run.options.mandatory and not run.options.confirm:
                channel.add_on_return_callback(producer.core.on_return)
            if run.options.confirm:
                channel.confirm_delivery(_ignore, callback=lambda _ok: go())
            else:
                go()

        def go() -> None:
            ready.append(producer)
            if len(ready) == len(self.producers):
                run.begin()  # the clock starts with every producer ready
                for each in ready:
                    each.pump()

        self.connect(1 + len(self.consumers) + number, f"producer {number}", on_open)

    # -- stop ----------------------------------------------------------------------------------

    def poll(self) -> None:
        if self.cleaning:
            return
        if self.run.poll():
            self.stopping = True
            if not self.closing and self.run.settled():
                self.close_all()
        self.kit.call_later(0.01 if self.stopping else POLL, self.poll)

    def close_all(self) -> None:
        self.closing = True
        for consumer in self.consumers:
            consumer.finish_acks()
        for connection in list(self.live):
            if not (connection.is_closing or connection.is_closed):
                connection.close()
        self.maybe_cleanup()

    def maybe_cleanup(self) -> None:
        if not self.closing or self.live or self.cleaning:
            return
        self.cleaning = True
        self.run.finish()
        channel = self.admin_channel
        if channel is None or not channel.is_open:
            self.close_admin()
            return
        run = self.run
        plan = run.plan
        steps: List[Callable[[Callable[..., Any]], Any]] = []
        if run.options.queue_type != "stream":
            def count(next_: Callable[..., Any]) -> None:
                def got(ok: Any) -> None:
                    if run.count_left(ok.method.message_count):
                        next_(ok)
                    else:
                        self.kit.call_later(COUNT_EVERY, lambda: count(next_))
                channel.queue_declare(plan.queue, passive=True, callback=got)
            steps.append(count)
        if plan.declare_queue and not run.options.keep:
            def delete_queue(next_: Callable[..., Any]) -> None:
                run.cleanup["deleted_queue"] = True
                channel.queue_delete(plan.queue, callback=next_)
            steps.append(delete_queue)
        if plan.declare_exchange and not run.options.keep:
            def delete_exchange(next_: Callable[..., Any]) -> None:
                run.cleanup["deleted_exchange"] = True
                channel.exchange_delete(plan.exchange, callback=next_)
            steps.append(delete_exchange)
        self.stopping = False  # chain() runs steps only while not stopping
        self.chain(steps, self.close_admin)

    def close_admin(self) -> None:
        admin = self.admin
        if admin is not None and not (admin.is_closing or admin.is_closed):
            admin.close()
        else:
            self.done()

    def done(self) -> None:
        if self.cleaning or not self.live:
            if not self.cleaning:
                # The set-up connection failed before anything else ran.
                self.closing = self.cleaning = True
                self.run.poll()  # records the stop reason ("error")
                self.run.finish()
            self.kit.stop()

    def on_signal(self) -> None:
        self.run.request_stop("signal")


def _ignore(_frame: Any) -> None:
    return None


def run_callback(run: Run) -> None:
    """Run ``run`` on its loop's callback API until it has stopped and cleaned up."""
    kit = KITS[run.options.loop]()
    driver = CallbackDriver(run, kit)
    kit.run(driver.start, driver.on_signal)
