"""OpenTelemetry tracing (issue 15): an :class:`~amqpbase.instrument.Observer` that makes a
PRODUCER span per publish and a CONSUMER span per delivery, following OpenTelemetry's
messaging semantic conventions (v1.27.0 attribute names: ``messaging.operation.name`` /
``messaging.operation.type``; docs/tracing.md lists every attribute), and carries the trace
context in the message headers (the global propagator, W3C ``traceparent`` by default).

Owns: span names and attributes, header injection (copy on write: the caller's
``BasicProperties`` and headers dict are never changed), extraction on delivery
(:func:`message_context`, also for pull-style flavours whose processing is outside our
callback), and ending each producer span: at once outside confirm mode, at the broker's
confirm (ack, nack, or the channel's close) in confirm mode.

Must not: be imported by the core; needs the ``amqpbase[otel]`` extra (``opentelemetry-api``).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from amqpbase import spec
from amqpbase.instrument import Observer, Outstanding

__all__ = ["Tracing", "message_context", "SEMCONV_VERSION"]

#: The OpenTelemetry semantic-conventions version whose messaging names are emitted.
SEMCONV_VERSION = "1.27.0"

_BasicProperties = spec.BasicProperties


class _HeadersGetter(Getter[Any]):
    """Reads a propagation field from AMQP headers (a longstr may arrive as bytes)."""

    def get(self, carrier: Any, key: str) -> Optional[List[str]]:
        value = carrier.get(key)
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        return [str(value)]

    def keys(self, carrier: Any) -> List[str]:
        return list(carrier.keys())


_GETTER = _HeadersGetter()


def message_context(properties: Optional[spec.BasicProperties]) -> Any:
    """The OpenTelemetry context a message's headers carry (the producer's span), or None.
    For pull-style flavours (the Deferred and awaitable consumer queues, BlockingChannel's
    ``consume()``) whose processing runs outside the delivery callback: start your own span
    with ``context=message_context(properties)``."""
    headers = properties.headers if properties is not None else None
    if not headers:
        return None
    return propagate.extract(headers, getter=_GETTER)


def _temporary(queue: str) -> bool:
    # A server-named queue (RabbitMQ names them amq.gen-...) is a temporary destination: the
    # conventions keep it out of span names (cardinality).
    return not queue or queue.startswith("amq.gen-")


class Tracing(Observer):
    """Install with ``ConnectionParameters(observer=Tracing())`` (with metrics:
    ``Observers(Metrics(), Tracing())``). ``tracer_provider``: the global one unless given.
    ``confirm_in_span``: in confirm mode a producer span stays open until the broker's
    confirm and records its outcome (default); False ends it when the message is sent and
    adds the outcome nowhere."""

    def __init__(self, tracer_provider: Any = None, confirm_in_span: bool = True) -> None:
        from amqpbase import __version__ as version

        self.tracer = trace.get_tracer("amqpbase", version, tracer_provider)
        self.confirm_in_span = bool(confirm_in_span)
        # channel -> tag -> (span, exchange, routing key): producer spans awaiting a confirm
        self._pending: Dict[Any, Outstanding] = {}

    # ---- helpers -----------------------------------------------------------------------

    @staticmethod
    def _server(channel: Any) -> Dict[str, Any]:
        params = channel.connection.params
        return {"server.address": params.host, "server.port": params.port}

    @staticmethod
    def _message_attributes(attributes: Dict[str, Any], properties: Any, body: Any) -> None:
        if isinstance(properties, _BasicProperties):
            if properties.message_id is not None:
                attributes["messaging.message.id"] = str(properties.message_id)
            if properties.correlation_id is not None:
                attributes["messaging.message.conversation_id"] = str(properties.correlation_id)
        if isinstance(body, str):
            body = body.encode("utf-8")
        attributes["messaging.message.body.size"] = len(body)

    # ---- producer ----------------------------------------------------------------------

    def publish(self, channel: Any, exchange: str, routing_key: str, body: Any,
                properties: Optional[spec.BasicProperties]
                ) -> Tuple[Optional[spec.BasicProperties], Any]:
        attributes: Dict[str, Any] = {
            "messaging.system": "rabbitmq",
            "messaging.operation.name": "publish",
            "messaging.operation.type": "send",
            "messaging.destination.name": exchange,
        }
        if routing_key:
            attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
        attributes.update(self._server(channel))
        self._message_attributes(attributes, properties, body)
        span = self.tracer.start_span(
            f"publish {exchange or 'amq.default'}", kind=SpanKind.PRODUCER,
            attributes=attributes)
        carrier: Dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        if carrier and (properties is None or isinstance(properties, _BasicProperties)):
            # Copy on write: a new BasicProperties with a new headers dict. (Anything else
            # goes out as given: basic_publish refuses it, and the span records that.)
            properties = _BasicProperties() if properties is None else copy.copy(properties)
            headers = dict(properties.headers) if properties.headers else {}
            headers.update(carrier)
            properties.headers = headers
        return properties, (span, exchange, routing_key)

    def published(self, channel: Any, token: Any, delivery_tag: int,
                  error: Optional[BaseException]) -> None:
        if token is None:
            return
        span = token[0]
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__qualname__)
            span.end()
        elif delivery_tag and self.confirm_in_span:
            span.set_attribute("messaging.rabbitmq.message.delivery_tag", delivery_tag)
            pending = self._pending.get(channel)
            if pending is None:
                pending = self._pending[channel] = Outstanding()
            pending.values[delivery_tag] = token
        else:
            span.end()

    def confirmed(self, channel: Any, delivery_tag: int, multiple: bool, acked: bool) -> None:
        pending = self._pending.get(channel)
        if pending is None:
            return
        for span, _exchange, _key in pending.settle(delivery_tag, multiple):
            span.set_attribute("messaging.rabbitmq.confirm", "ack" if acked else "nack")
            if not acked:
                span.set_status(Status(StatusCode.ERROR, "nacked by the broker"))
                span.set_attribute("error.type", "nack")
            span.end()

    def returned(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        # RabbitMQ returns an unroutable mandatory message BEFORE the ack that confirms it:
        # the earliest open span with the same exchange and routing key is that publish.
        pending = self._pending.get(channel)
        if pending is None:
            return
        for span, exchange, routing_key in pending.values.values():
            if exchange == method.exchange and routing_key == method.routing_key:
                span.add_event("basic.return", {"reply_code": method.reply_code,
                                                "reply_text": method.reply_text})
                span.set_status(Status(StatusCode.ERROR, "returned: unroutable"))
                span.set_attribute("error.type", "unroutable")
                return

    def channel_closed(self, channel: Any, reason: BaseException) -> None:
        self._end_pending(channel, reason, "channel closed before the confirm")

    def channel_suspended(self, channel: Any, lost: Any) -> None:
        self._end_pending(channel, lost, "confirm lost: the link dropped")

    def _end_pending(self, channel: Any, reason: BaseException, description: str) -> None:
        """End the channel's producer spans still waiting for a confirm, as errors."""
        pending = self._pending.pop(channel, None)
        if pending is None:
            return
        for span, _exchange, _key in pending.clear():
            span.set_status(Status(StatusCode.ERROR, description))
            span.set_attribute("error.type", type(reason).__qualname__)
            span.end()

    # ---- consumer ----------------------------------------------------------------------

    def deliver(self, channel: Any, queue: str, auto_ack: bool, method: Any, properties: Any,
                body: bytes) -> Any:
        attributes: Dict[str, Any] = {
            "messaging.system": "rabbitmq",
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": method.exchange,
            "messaging.rabbitmq.message.delivery_tag": method.delivery_tag,
        }
        if method.routing_key:
            attributes["messaging.rabbitmq.destination.routing_key"] = method.routing_key
        if queue:
            attributes["messaging.destination.subscription.name"] = queue
        attributes.update(self._server(channel))
        self._message_attributes(attributes, properties, body)
        parent = message_context(properties)
        links: Tuple[Link, ...] = ()
        if parent is not None:
            producer = trace.get_current_span(parent).get_span_context()
            if producer.is_valid:
                links = (Link(producer),)
            else:
                parent = None
        name = "process (temporary)" if _temporary(queue) else f"process {queue}"
        # Continues the producer's trace (its span is the parent) and links it, as the
        # conventions ask of a "process" span for one message.
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.CONSUMER,
                                      attributes=attributes, links=links)
        return span, otel_context.attach(trace.set_span_in_context(span))

    def delivered(self, channel: Any, token: Any, error: Optional[BaseException]) -> None:
        span, attached = token
        otel_context.detach(attached)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__qualname__)
        span.end()
