"""The asyncio benchmark clients (issue 13), each written the way its users write it:

- ``amqpbase-awaitable``: amqpbase's awaitable API (``amqpbase.adapters.tornado.connect``,
  Tornado's IOLoop over this asyncio loop): a future per confirmed publish, ``async for`` over
  the consumer's ``MessageQueue`` with ``await message.ack()``;
- ``amqpbase-awaitable-asyncio``: the same code on ``amqpbase.adapters.asyncio.connect`` (the
  plain asyncio adapter, no Tornado);
- ``aiopika-asyncio``: aio-pika (``connect``, ``channel(publisher_confirms=...)``,
  ``default_exchange.publish``, ``queue.iterator()``);
- ``aiormq-asyncio``: aiormq (``channel.basic_publish``, ``basic_consume`` with an async
  callback).

A confirmed publish keeps ``window`` publishes in flight with done-callbacks that refill it
(the same scheme as the Deferred clients), so every client does the same work. The ``bench``
extra installs aio-pika (which brings aiormq). Scenarios: publish, confirm and consume kinds;
the memory scenarios run on the callback-API clients only. Used by :mod:`benchmarks.scenarios`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict

from benchmarks.scenarios import DEPTH_POLL_INTERVAL, DEPTH_POLLS, Run

ASYNC_CLIENTS = ("amqpbase-awaitable", "amqpbase-awaitable-asyncio", "aiopika-asyncio",
                 "aiormq-asyncio")


class AsyncRun(Run):
    """The shared skeleton: connect, declare, the timed region, the depth check, cleanup."""

    def __init__(self, url: str, deadline: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.deadline = deadline

    def execute(self) -> Dict[str, Any]:
        if self.scenario.kind.startswith("mem-"):
            raise SystemExit("memory scenarios run on the callback-API clients only")
        try:
            asyncio.run(asyncio.wait_for(self.main(), self.deadline))
        except asyncio.TimeoutError:
            self.fail(f"deadline passed: published {self.published}, received "
                      f"{self.received} of {self.count}")
        return self.result()

    async def main(self) -> None:
        await self.open()
        kind = self.scenario.kind
        if kind == "consume":
            depth = await self.declare(passive=True)
            if depth != self.count:
                raise RuntimeError(f"pre-filled queue holds {depth}")
            await self.qos(self.scenario.window)
            self.meter.start()
            await self.consume()
            self.meter.stop()
            await self.reopen()  # unacked messages are requeued by now
        else:
            await self.declare(passive=False)
            if kind == "confirm":
                await self.confirm_mode()
                self.meter.start()
                await self.publish_confirmed()
            else:
                self.meter.start()
                await self.publish()
                await self.declare(passive=True)  # a round trip: everything is written
            self.meter.stop()
        for _ in range(DEPTH_POLLS):  # the depth can lag a moment behind
            self.depth = await self.declare(passive=True)
            if self.depth == self.expected_depth():
                break
            await asyncio.sleep(DEPTH_POLL_INTERVAL)
        if not self.keep_queue:
            await self.delete()
        await self.close()

    async def publish(self) -> None:
        while self.published < self.count:
            for _ in range(min(self.batch, self.count - self.published)):
                await self.publish_one()
                self.published += 1
            await asyncio.sleep(0)  # let the loop write

    async def publish_confirmed(self) -> None:
        finished = asyncio.get_running_loop().create_future()
        in_flight = 0
        window = self.scenario.window

        def on_done(future: "asyncio.Future[Any]") -> None:
            nonlocal in_flight
            in_flight -= 1
            if future.cancelled() or future.exception() is not None:
                self.nacks += 1
                self.fail(f"publish failed: {future!r}")
            else:
                self.acked_floor += 1
            more()

        def more() -> None:
            nonlocal in_flight
            while self.published < self.count and in_flight < window:
                future = self.confirmed_publish()
                self.published += 1
                in_flight += 1
                future.add_done_callback(on_done)
            if in_flight == 0 and not finished.done():
                finished.set_result(None)

        more()
        await finished

    def check(self, body: bytes) -> None:
        self.received += 1
        if body != self.body:
            self.corrupt += 1

    # -- per library ----------------------------------------------------------------------
    async def open(self) -> None: raise NotImplementedError
    async def reopen(self) -> None: raise NotImplementedError
    async def declare(self, passive: bool) -> int: raise NotImplementedError
    async def qos(self, prefetch: int) -> None: raise NotImplementedError
    async def confirm_mode(self) -> None: raise NotImplementedError
    async def publish_one(self) -> None: raise NotImplementedError
    def confirmed_publish(self) -> "asyncio.Future[Any]": raise NotImplementedError
    async def consume(self) -> None: raise NotImplementedError
    async def delete(self) -> None: raise NotImplementedError
    async def close(self) -> None: raise NotImplementedError


class AmqpbaseAwaitableRun(AsyncRun):
    adapter = "tornado"  # whose connect(): "tornado" or "asyncio"

    async def open(self) -> None:
        from amqpbase import URLParameters

        if self.adapter == "asyncio":
            from amqpbase.adapters.asyncio import connect
        else:
            from amqpbase.adapters.tornado import connect

        self.connection = await connect(URLParameters(self.url))
        self.channel = await self.connection.channel()

    async def reopen(self) -> None:
        await self.channel.close()
        self.channel = await self.connection.channel()

    async def declare(self, passive: bool) -> int:
        ok = await self.channel.queue_declare(self.queue, passive=passive)
        return int(ok.method.message_count)

    async def qos(self, prefetch: int) -> None:
        await self.channel.basic_qos(prefetch_count=prefetch)

    async def confirm_mode(self) -> None:
        await self.channel.confirm_delivery()

    async def publish_one(self) -> None:
        await self.channel.basic_publish("", self.queue, self.body)  # already done

    def confirmed_publish(self) -> "asyncio.Future[Any]":
        return self.channel.basic_publish("", self.queue, self.body)

    async def consume(self) -> None:
        auto = self.scenario.ack == "auto"
        messages, tag = await self.channel.basic_consume(self.queue, auto_ack=auto)
        ack = self.scenario.ack
        async for message in messages:
            self.check(message.body)
            if ack == "each":
                await message.ack()
            elif ack == "multi100" and (self.received % 100 == 0
                                        or self.received == self.count):
                await message.ack(multiple=True)
            if self.received == self.count:
                await self.channel.basic_cancel(tag)

    async def delete(self) -> None:
        await self.channel.queue_delete(self.queue)

    async def close(self) -> None:
        await self.connection.close()


class AmqpbaseAwaitableTornadoRun(AmqpbaseAwaitableRun):
    adapter = "tornado"


class AmqpbaseAwaitableAsyncioRun(AmqpbaseAwaitableRun):
    adapter = "asyncio"


class AioPikaRun(AsyncRun):
    async def open(self) -> None:
        import aio_pika

        self.aio_pika = aio_pika
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=False)

    async def reopen(self) -> None:
        await self.channel.close()
        self.channel = await self.connection.channel(publisher_confirms=False)

    async def declare(self, passive: bool) -> int:
        queue = await self.channel.declare_queue(self.queue, passive=passive)
        return int(queue.declaration_result.message_count)

    async def qos(self, prefetch: int) -> None:
        await self.channel.set_qos(prefetch_count=prefetch)

    async def confirm_mode(self) -> None:
        await self.channel.close()
        self.channel = await self.connection.channel(publisher_confirms=True)

    async def publish_one(self) -> None:
        await self.channel.default_exchange.publish(
            self.aio_pika.Message(self.body), routing_key=self.queue)

    def confirmed_publish(self) -> "asyncio.Future[Any]":
        return asyncio.ensure_future(self.channel.default_exchange.publish(
            self.aio_pika.Message(self.body), routing_key=self.queue))

    async def consume(self) -> None:
        queue = await self.channel.declare_queue(self.queue, passive=True)
        auto = self.scenario.ack == "auto"
        ack = self.scenario.ack
        async with queue.iterator(no_ack=auto) as messages:
            async for message in messages:
                self.check(message.body)
                if ack == "each":
                    await message.ack()
                elif ack == "multi100" and (self.received % 100 == 0
                                            or self.received == self.count):
                    await message.ack(multiple=True)
                if self.received == self.count:
                    break

    async def delete(self) -> None:
        await self.channel.queue_delete(self.queue)

    async def close(self) -> None:
        await self.connection.close()


class AiormqRun(AsyncRun):
    async def open(self) -> None:
        import aiormq

        self.connection = await aiormq.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=False)

    async def reopen(self) -> None:
        await self.channel.close()
        self.channel = await self.connection.channel(publisher_confirms=False)

    async def declare(self, passive: bool) -> int:
        ok = await self.channel.queue_declare(self.queue, passive=passive)
        return int(ok.message_count)

    async def qos(self, prefetch: int) -> None:
        await self.channel.basic_qos(prefetch_count=prefetch)

    async def confirm_mode(self) -> None:
        await self.channel.close()
        self.channel = await self.connection.channel(publisher_confirms=True)

    async def publish_one(self) -> None:
        await self.channel.basic_publish(self.body, routing_key=self.queue)

    def confirmed_publish(self) -> "asyncio.Future[Any]":
        return asyncio.ensure_future(
            self.channel.basic_publish(self.body, routing_key=self.queue))

    async def consume(self) -> None:
        done = asyncio.get_running_loop().create_future()
        auto = self.scenario.ack == "auto"
        ack = self.scenario.ack
        channel = self.channel

        async def on_message(message: Any) -> None:
            self.check(message.body)
            tag = message.delivery.delivery_tag
            if ack == "each":
                await channel.basic_ack(tag)
            elif ack == "multi100" and (self.received % 100 == 0
                                        or self.received == self.count):
                await channel.basic_ack(tag, multiple=True)
            if self.received == self.count and not done.done():
                done.set_result(None)

        ok = await channel.basic_consume(self.queue, on_message, no_ack=auto)
        await done
        await channel.basic_cancel(ok.consumer_tag)

    async def delete(self) -> None:
        await self.channel.queue_delete(self.queue)

    async def close(self) -> None:
        await self.connection.close()


RUNS = {
    "amqpbase-awaitable": AmqpbaseAwaitableTornadoRun,
    "amqpbase-awaitable-asyncio": AmqpbaseAwaitableAsyncioRun,
    "aiopika-asyncio": AioPikaRun,
    "aiormq-asyncio": AiormqRun,
}
