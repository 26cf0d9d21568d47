"""pika on Twisted, the way a pika Twisted user writes it: ``TwistedProtocolConnection``
(connected with ``ClientCreator(...).connectTCP``) and its Deferred API, in a coroutine driven
by ``ensureDeferred``: a Deferred per confirmed publish, ``queue_object.get()`` per delivery.
Used by :mod:`benchmarks.scenarios` for the ``pika-twisted`` client, and with
``library="amqpbase"`` for ``amqpbase-deferred``: the same code on amqpbase's Deferred API
(its ``TwistedProtocolConnection`` connects itself; the rest is pika's API).
"""

from __future__ import annotations

from typing import Any, Dict

from benchmarks.scenarios import DEPTH_POLL_INTERVAL, DEPTH_POLLS, Run


class PikaTwistedRun(Run):
    def __init__(self, url: str, deadline: float, library: str = "pika", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self.library = library
        if library == "amqpbase":
            from amqpbase import URLParameters

            self.params = URLParameters(url)
        else:
            import pika

            self.params = pika.URLParameters(url)
        self.deadline = deadline

    def execute(self) -> Dict[str, Any]:
        from twisted.internet import defer

        def done(_: Any) -> None:
            if self.reactor.running:
                self.reactor.stop()

        def failed(failure: Any) -> None:
            self.fail(f"{failure.type.__name__}: {failure.value!r}")
            done(None)

        d = defer.ensureDeferred(self.main())
        d.addCallbacks(done, failed)
        def on_deadline() -> None:
            self.fail(f"deadline passed: published {self.published}, received "
                      f"{self.received} of {self.count}")
            done(None)

        timer = self.reactor.callLater(self.deadline, on_deadline)
        self.reactor.run()
        if timer.active():
            timer.cancel()
        return self.result()

    async def main(self) -> None:
        from twisted.internet import protocol, task

        if self.library == "amqpbase":
            from amqpbase.adapters.twisted import TwistedProtocolConnection as Amqpbase

            conn: Any = Amqpbase(self.params)
        else:
            from pika.adapters.twisted_connection import TwistedProtocolConnection

            creator = protocol.ClientCreator(  # type: ignore[no-untyped-call]
                self.reactor, TwistedProtocolConnection, self.params)
            conn = await creator.connectTCP(  # type: ignore[no-untyped-call]
                self.params.host, self.params.port)
        await conn.ready
        channel = await conn.channel()
        kind = self.scenario.kind
        if kind == "consume":
            frame = await channel.queue_declare(self.queue, passive=True)
            if frame.method.message_count != self.count:
                raise RuntimeError(f"pre-filled queue holds {frame.method.message_count}")
            await channel.basic_qos(prefetch_count=self.scenario.window)
            self.meter.start()
            await self.consume(channel)
            self.meter.stop()
            channel.close()
            await channel.on_closed  # unacked messages are requeued by now
            channel = await conn.channel()
        else:
            await channel.queue_declare(self.queue)
            if kind == "confirm":
                await channel.confirm_delivery()
                self.meter.start()
                await self.publish_confirmed(channel)
            else:
                self.meter.start()
                await self.publish(channel)
                await channel.queue_declare(self.queue, passive=True)
            self.meter.stop()
        for _ in range(DEPTH_POLLS):  # the depth can lag a moment behind (see finish())
            frame = await channel.queue_declare(self.queue, passive=True)
            self.depth = frame.method.message_count
            if self.depth == self.expected_depth():
                break
            await task.deferLater(self.reactor, DEPTH_POLL_INTERVAL, lambda: None)
        if not self.keep_queue:
            await channel.queue_delete(self.queue)
        conn.close()
        await conn.closed

    async def publish(self, channel: Any) -> None:
        from twisted.internet import task

        while self.published < self.count:
            for _ in range(min(self.batch, self.count - self.published)):
                channel.basic_publish("", self.queue, self.body)
                self.published += 1
            await task.deferLater(self.reactor, 0, lambda: None)  # let the reactor write

    async def publish_confirmed(self, channel: Any) -> None:
        from twisted.internet import defer

        finished: defer.Deferred[None] = defer.Deferred()
        in_flight = 0

        def on_ack(_: Any) -> None:
            nonlocal in_flight
            in_flight -= 1
            self.acked_floor += 1
            more()

        def on_nack(failure: Any) -> None:
            nonlocal in_flight
            in_flight -= 1
            self.nacks += 1
            self.fail(f"publish failed: {failure.value!r}")
            more()

        def more() -> None:
            nonlocal in_flight
            while self.published < self.count and in_flight < self.scenario.window:
                d = channel.basic_publish("", self.queue, self.body)
                self.published += 1
                in_flight += 1
                d.addCallbacks(on_ack, on_nack)
            if in_flight == 0 and not finished.called:
                finished.callback(None)

        more()
        await finished

    async def consume(self, channel: Any) -> None:
        auto = self.scenario.ack == "auto"
        queue_object, tag = await channel.basic_consume(self.queue, auto_ack=auto)
        while self.received < self.count:
            _ch, method, _props, body = await queue_object.get()
            self.received += 1
            if body != self.body:
                self.corrupt += 1
            if self.scenario.ack == "each":
                channel.basic_ack(method.delivery_tag)
            elif self.scenario.ack == "multi100" and (
                    self.received % 100 == 0 or self.received == self.count):
                channel.basic_ack(method.delivery_tag, multiple=True)
        await channel.basic_cancel(tag)
