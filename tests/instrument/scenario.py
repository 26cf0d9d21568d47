"""ONE body for metrics and tracing, run against the real broker on every loop (the conformance
drivers) and on the Deferred, awaitable and blocking flavours (issue 15).

A *client* gives the body the same verbs on every flavour (``open``, ``declare``, ``confirm``,
``publish_all``, ``consume``, ``settle``, ``close``), each ``async``: the awaitable and
Deferred clients await their futures/Deferreds, the callback and blocking clients run their
loop inside the verb and never suspend (:func:`run_sync` drives such a body to its end).

The body publishes five messages in confirm mode (one a mandatory message nobody can route,
which RabbitMQ returns and acks), consumes the four routed ones with manual acks (ack, ack,
nack, reject), closes, and asserts every counter exactly and every span: names, kinds,
semantic-convention attributes, the confirm outcome on the producer spans, and that each
consumer span continues its producer's trace.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Coroutine, Dict, List, Optional, Tuple

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from amqpbase import spec
from amqpbase.instrument import Observers
from amqpbase.metrics import Metrics
from amqpbase.parameters import ConnectionParameters
from amqpbase.tracing import SEMCONV_VERSION, Tracing, message_context

#: (method, properties, body, the span current inside the delivery callback or None)
Message = Tuple[Any, spec.BasicProperties, bytes, Any]
Item = Tuple[str, str, bytes, Optional[spec.BasicProperties], bool]


def run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a body whose client never suspends (callback drivers, blocking) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("a synchronous client suspended the body")


def _current_span_context() -> Any:
    return trace.get_current_span().get_span_context()


class Scenario:
    """The observers, their in-memory sinks, and the body."""

    def __init__(self, make_params: Callable[..., ConnectionParameters]) -> None:
        self.metrics = Metrics()
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracing = Tracing(tracer_provider=provider)
        self.params = make_params(observer=Observers(self.metrics, self.tracing))
        token = uuid.uuid4().hex[:10]
        self.queue = f"amqpbase-instrument-{token}"
        self.unroutable = f"amqpbase-instrument-nowhere-{token}"

    async def body(self, client: Any) -> None:
        await client.open(self.params)
        await client.declare(self.queue)
        await client.confirm()
        caller_headers: Dict[str, Any] = {"app": "instrument-test"}
        caller_props = spec.BasicProperties(message_id="m0", correlation_id="conv-1",
                                            headers=caller_headers)
        items: List[Item] = [("", self.queue, b"m0", caller_props, False)]
        items += [("", self.queue, b"m%d" % n, spec.BasicProperties(message_id=f"m{n}"), False)
                  for n in (1, 2, 3)]
        items.append(("", self.unroutable, b"lost", spec.BasicProperties(message_id="m4"),
                      True))
        await client.publish_all(items)
        # Copy on write: the caller's properties and headers are untouched.
        assert caller_props.headers is caller_headers
        assert caller_headers == {"app": "instrument-test"}

        messages = await client.consume(self.queue, 4)
        assert sorted(m[1].message_id for m in messages) == ["m0", "m1", "m2", "m3"]
        by_id = {m[1].message_id: m for m in messages}
        await client.settle("ack", by_id["m0"][0].delivery_tag)
        await client.settle("ack", by_id["m1"][0].delivery_tag)
        await client.settle("nack", by_id["m2"][0].delivery_tag)
        await client.settle("reject", by_id["m3"][0].delivery_tag)
        await client.close()
        self.check_metrics()
        self.check_spans(messages)

    def check_metrics(self) -> None:
        values = self.metrics.snapshot()
        bytes_sent, bytes_received = values.pop("bytes_sent"), values.pop("bytes_received")
        assert bytes_sent > 500 and bytes_received > 500, (bytes_sent, bytes_received)
        assert values == {
            "connections_opened": 1, "connections_closed": 1, "connections_recovered": 0,
            "channels_opened": 1, "channels_closed": 1,
            "messages_published": 5, "messages_confirmed": 5, "messages_nacked": 0,
            "messages_returned": 1, "messages_confirm_lost": 0, "messages_consumed": 4,
            "messages_acked": 2, "messages_nacked_by_consumer": 1, "messages_rejected": 1,
            "blocked_seconds": 0,
        }  # fmt: skip

    def check_spans(self, messages: List[Message]) -> None:
        assert SEMCONV_VERSION == "1.27.0"
        spans = self.exporter.get_finished_spans()
        producers = {s.attributes["messaging.message.id"]: s for s in spans
                     if s.kind is SpanKind.PRODUCER}
        consumers = {s.attributes["messaging.message.id"]: s for s in spans
                     if s.kind is SpanKind.CONSUMER}
        assert len(spans) == 9 and sorted(producers) == ["m0", "m1", "m2", "m3", "m4"]
        assert sorted(consumers) == ["m0", "m1", "m2", "m3"]
        for message_id, span in producers.items():
            attributes = dict(span.attributes or {})
            routing_key = self.unroutable if message_id == "m4" else self.queue
            assert span.name == "publish amq.default"
            assert attributes["messaging.system"] == "rabbitmq"
            assert attributes["messaging.operation.name"] == "publish"
            assert attributes["messaging.operation.type"] == "send"
            assert attributes["messaging.destination.name"] == ""
            assert attributes["messaging.rabbitmq.destination.routing_key"] == routing_key
            assert attributes["messaging.message.body.size"] == (4 if message_id == "m4" else 2)
            assert attributes["messaging.rabbitmq.confirm"] == "ack"  # outcome on the span
            assert attributes["server.port"] == self.params.port
            if message_id == "m4":  # returned, then acked: an error with the return event
                assert span.status.status_code is StatusCode.ERROR
                assert [event.name for event in span.events] == ["basic.return"]
            else:
                assert span.status.status_code is StatusCode.UNSET
        assert producers["m0"].attributes["messaging.message.conversation_id"] == "conv-1"
        current = {m[1].message_id: m[3] for m in messages}
        for message_id, span in consumers.items():
            producer = producers[message_id]
            attributes = dict(span.attributes or {})
            assert span.name == f"process {self.queue}"
            assert attributes["messaging.operation.type"] == "process"
            assert attributes["messaging.destination.name"] == ""
            assert attributes["messaging.destination.subscription.name"] == self.queue
            assert attributes["messaging.rabbitmq.message.delivery_tag"] >= 1
            # continues the producer's trace: same trace, the producer span as parent + link
            assert span.context.trace_id == producer.context.trace_id
            assert span.parent is not None and span.parent.span_id == producer.context.span_id
            assert [link.context.span_id for link in span.links] == [producer.context.span_id]
            if current[message_id] is not None:  # push flavours: the span is current inside
                assert current[message_id].span_id == span.context.span_id
        for method, properties, _body, _current in messages:
            extracted = trace.get_current_span(message_context(properties)).get_span_context()
            assert extracted.span_id == producers[properties.message_id].context.span_id
            if properties.message_id == "m0":  # the caller's own header travelled too
                assert properties.headers["app"] == "instrument-test"


# ------------------------------------------------------------------------------------------
# Clients
# ------------------------------------------------------------------------------------------


class CallbackClient:
    """The callback API on a conformance driver's loop (select, Tornado, asyncio, Twisted)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.state: Dict[str, Any] = {}

    def _wait(self, predicate: Callable[[], Any], what: str) -> None:
        self.driver.run_until(predicate, 10.0, what=what)

    async def open(self, params: ConnectionParameters) -> None:
        state = self.state
        self.connection = self.driver.connect(
            params,
            on_open_callback=lambda c: state.setdefault("open", c),
            on_open_error_callback=lambda c, e: state.setdefault("error", e),
            on_close_callback=lambda c, r: state.setdefault("closed", r),
        )
        self._wait(lambda: "open" in state or "error" in state, "the connection to open")
        assert "error" not in state, state
        opened: List[Any] = []
        self.channel = self.connection.channel(on_open_callback=opened.append)
        self._wait(lambda: opened, "the channel to open")

    async def declare(self, queue: str) -> None:
        done: List[Any] = []
        self.channel.queue_declare(queue, exclusive=True, callback=done.append)
        self._wait(lambda: done, "Queue.DeclareOk")

    async def confirm(self) -> None:
        done: List[Any] = []
        self.channel.confirm_delivery(lambda _frame: None, callback=done.append)
        self._wait(lambda: done, "Confirm.SelectOk")

    async def publish_all(self, items: List[Item]) -> None:
        outcomes: List[Any] = []
        for exchange, key, body, properties, mandatory in items:
            self.channel.basic_publish(exchange, key, body, properties, mandatory,
                                       on_confirm=outcomes.append)
        self._wait(lambda: len(outcomes) == len(items), "every confirm")

    async def consume(self, queue: str, count: int) -> List[Message]:
        got: List[Message] = []

        def on_message(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            got.append((method, properties, body, _current_span_context()))

        self.channel.basic_consume(queue, on_message)
        self._wait(lambda: len(got) >= count, f"{count} deliveries")
        return got

    async def settle(self, kind: str, tag: int) -> None:
        if kind == "ack":
            self.channel.basic_ack(tag)
        else:
            getattr(self.channel, f"basic_{kind}")(tag, requeue=False)

    async def close(self) -> None:
        closed: List[Any] = []
        self.channel.add_on_close_callback(lambda c, r: closed.append(r))
        self.channel.close()
        self._wait(lambda: closed, "the channel to close")
        self.connection.close()
        self._wait(lambda: "closed" in self.state, "the connection to close")


class BlockingClient:
    """BlockingConnection, consuming with the ``consume()`` generator."""

    async def open(self, params: ConnectionParameters) -> None:
        from amqpbase.adapters.blocking import BlockingConnection

        self.connection = BlockingConnection(params)
        self.channel = self.connection.channel()

    async def declare(self, queue: str) -> None:
        self.channel.queue_declare(queue, exclusive=True)

    async def confirm(self) -> None:
        self.channel.confirm_delivery()

    async def publish_all(self, items: List[Item]) -> None:
        from amqpbase.exceptions import UnroutableError

        for exchange, key, body, properties, mandatory in items:
            try:
                self.channel.basic_publish(exchange, key, body, properties, mandatory)
            except UnroutableError:
                assert mandatory

    async def consume(self, queue: str, count: int) -> List[Message]:
        got: List[Message] = []
        for method, properties, body in self.channel.consume(queue, inactivity_timeout=10):
            assert method is not None, "no delivery in 10 s"
            got.append((method, properties, body, None))
            if len(got) == count:
                break
        self.channel.cancel()
        return got

    async def settle(self, kind: str, tag: int) -> None:
        if kind == "ack":
            self.channel.basic_ack(tag)
        else:
            getattr(self.channel, f"basic_{kind}")(tag, requeue=False)

    async def close(self) -> None:
        self.channel.close()
        self.connection.close()


class FlavourClient:
    """The Deferred API (``TwistedProtocolConnection``) or the awaitable API (``connect``):
    both return awaitables from the same verbs."""

    def __init__(self, connect: Callable[[ConnectionParameters], Any], kind: str) -> None:
        self._connect = connect
        self.kind = kind

    async def open(self, params: ConnectionParameters) -> None:
        self.connection = await self._connect(params)
        self.channel = await self.connection.channel()

    async def declare(self, queue: str) -> None:
        await self.channel.queue_declare(queue, exclusive=True)

    async def confirm(self) -> None:
        await self.channel.confirm_delivery()

    async def publish_all(self, items: List[Item]) -> None:
        from amqpbase.exceptions import UnroutableError

        confirms = [self.channel.basic_publish(*item) for item in items]
        for confirm, item in zip(confirms, items):
            try:
                await confirm
            except UnroutableError:
                assert item[4]

    async def consume(self, queue: str, count: int) -> List[Message]:
        messages, tag = await self.channel.basic_consume(queue)
        got: List[Message] = []
        while len(got) < count:
            message = await messages.get()
            got.append((message.method, message.properties, message.body, None))
        return got

    async def settle(self, kind: str, tag: int) -> None:
        if kind == "ack":
            result = self.channel.basic_ack(tag)
        else:
            result = getattr(self.channel, f"basic_{kind}")(tag, requeue=False)
        if result is not None:
            await result

    async def close(self) -> None:
        await self.channel.close()
        await self.connection.close()


async def deferred_connect(params: ConnectionParameters) -> Any:
    from amqpbase.adapters.twisted import TwistedProtocolConnection

    connection = TwistedProtocolConnection(params)
    await connection.ready
    return connection


__all__ = ["Scenario", "CallbackClient", "BlockingClient", "FlavourClient", "run_sync",
           "deferred_connect"]
