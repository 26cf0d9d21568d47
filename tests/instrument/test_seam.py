"""The seam's rules without a broker: nothing installed means nothing changed on the
per-message paths; the Outstanding bookkeeping follows RabbitMQ's multiple-ack rules; the
Prometheus exporter exposes the counters with no per-message labels; the parameter is
validated."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from opentelemetry.sdk.trace import TracerProvider

from amqpbase import ConnectionParameters, spec
from amqpbase.channel import Channel
from amqpbase.instrument import Observer, Observers, Outstanding
from amqpbase.metrics import COUNTERS, CounterCollector, Metrics, PrometheusExporter
from amqpbase.tracing import Tracing
from unit.harness import open_connection


def _channel(observer: Any) -> Channel:
    connection, broker = open_connection(ConnectionParameters(observer=observer))
    channel: Channel = broker.open_channel(1)
    return channel


def test_without_observer_the_per_message_methods_are_the_class_functions() -> None:
    channel = _channel(None)
    for name in ("basic_publish", "basic_ack", "basic_nack", "basic_reject"):
        assert name not in vars(channel)
        assert getattr(channel, name).__func__ is getattr(Channel, name)
    assert channel.callback_counts == {"on_close": 0, "on_return": 0}


def test_with_observer_they_are_replaced_once() -> None:
    channel = _channel(Metrics())
    for name in ("basic_publish", "basic_ack", "basic_nack", "basic_reject"):
        assert getattr(channel, name).__func__ is not getattr(Channel, name)
        assert name in vars(channel)
    assert channel.callback_counts["Basic.Ack"] == 1
    assert channel.callback_counts["Basic.Nack"] == 1


def test_observer_parameter_is_validated() -> None:
    with pytest.raises(TypeError, match="observer"):
        ConnectionParameters(observer=object())
    params = ConnectionParameters()
    assert params.observer is None
    metrics = Metrics()
    params.observer = metrics
    assert params.observer is metrics
    with pytest.raises(TypeError):
        Observers(Metrics(), "tracing")  # type: ignore[arg-type]


def test_outstanding_follows_multiple_settlements() -> None:
    outstanding = Outstanding()
    for tag in range(1, 8):
        outstanding.add(tag, tag * 10)
    assert outstanding.settle(3, False) == [30]
    assert outstanding.settle(3, False) == []  # settled already: ignored
    assert outstanding.settle(4, True) == [10, 20, 40]
    assert outstanding.settle(0, True) == [50, 60, 70]  # tag 0 + multiple: all
    assert len(outstanding) == 0


def test_prometheus_exporter_reads_the_counters_at_scrape() -> None:
    registry = CollectorRegistry()
    metrics = Metrics()
    PrometheusExporter(metrics, registry=registry, labels={"app": "orders"})
    metrics.collector.add("messages_published", 3)
    text = generate_latest(registry).decode()
    assert 'amqpbase_messages_published_total{app="orders"} 3.0' in text
    assert text.count("# TYPE amqpbase_") == len(COUNTERS)
    assert isinstance(metrics.collector, CounterCollector)


def test_tracing_publish_copies_on_write() -> None:
    class Params:
        host, port = "localhost", 5672

    class FakeChannel:
        class connection:  # noqa: N801 - the attribute's name
            params = Params

    tracing = Tracing(tracer_provider=TracerProvider())
    headers = {"a": 1}
    properties = spec.BasicProperties(headers=headers, message_id="x")
    sent, token = tracing.publish(FakeChannel, "ex", "rk", b"body", properties)
    assert sent is not properties and sent is not None
    assert properties.headers is headers and headers == {"a": 1}
    assert sent.headers["a"] == 1 and "traceparent" in sent.headers
    tracing.published(FakeChannel, token, 0, None)
    bare, token = tracing.publish(FakeChannel, "ex", "rk", b"body", None)
    assert bare is not None and "traceparent" in bare.headers
    tracing.published(FakeChannel, token, 0, None)
    # No recording span (no SDK): nothing to inject, the caller's object goes out as is.
    same, token = Tracing().publish(FakeChannel, "ex", "rk", b"body", properties)
    assert same is properties


def test_base_observer_hooks_are_no_ops() -> None:
    observer = Observer()
    assert observer.publish(None, "", "", b"", None) == (None, None)
    assert observer.deliver(None, "q", True, None, None, b"") is None
