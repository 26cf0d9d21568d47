"""The observers' edge cases without a broker: the real core over the unit tests' in-memory
connection (``tests/unit/harness.py``: its scripted "broker" feeds frames through the real
codec). What the broker-backed body cannot provoke on demand: RabbitMQ's multiple and tag-0
settlements, nacks, a consumer that raises, a publish that raises, a channel closing with
spans open, blocked time, an observer that raises."""

from __future__ import annotations

import logging
import time
from typing import Any, List, Optional, Tuple

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from amqpbase import exceptions, spec
from amqpbase.instrument import Observer, Observers
from amqpbase.metrics import Metrics
from amqpbase.parameters import ConnectionParameters
from amqpbase.protocol.recovery import Recovery
from amqpbase.tracing import Tracing
from unit.harness import MemoryConnection, ScriptedBroker


class Rig:
    def __init__(self, *extra: Observer, recovery: Optional[Recovery] = None) -> None:
        self.metrics = Metrics()
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracing = Tracing(tracer_provider=provider)
        params = ConnectionParameters(observer=Observers(*extra, self.metrics, self.tracing))
        self.connection = MemoryConnection(params, recovery=recovery)
        self.broker = ScriptedBroker(self.connection)
        self.broker.handshake()
        self.channel = self.broker.open_channel(1)

    def confirm_mode(self) -> None:
        self.channel.confirm_delivery(lambda _frame: None, callback=lambda _frame: None)
        self.broker.send(1, spec.Confirm.SelectOk())

    def counts(self) -> Any:
        return self.metrics.snapshot()

    def spans(self, kind: str) -> List[Any]:
        return [s for s in self.exporter.get_finished_spans() if s.kind.name == kind]


def _rig() -> Tuple[Rig, MemoryConnection, ScriptedBroker]:
    rig = Rig()
    return rig, rig.connection, rig.broker


def test_multiple_and_tag_zero_settlements_count_messages() -> None:
    rig, _connection, broker = _rig()
    rig.confirm_mode()
    for _ in range(6):
        rig.channel.basic_publish("", "q", b"x")
    assert rig.spans("PRODUCER") == []  # open until their confirms
    broker.send(1, spec.Basic.Ack(3, True))  # 1..3
    broker.send(1, spec.Basic.Nack(5, False, True))  # 5 alone
    broker.send(1, spec.Basic.Ack(5, False))  # settled already: ignored
    broker.send(1, spec.Basic.Ack(0, True))  # tag 0 + multiple: the rest (4, 6)
    counts = rig.counts()
    assert counts["messages_published"] == 6
    assert counts["messages_confirmed"] == 5 and counts["messages_nacked"] == 1
    spans = rig.spans("PRODUCER")
    assert len(spans) == 6
    outcomes = sorted((s.attributes["messaging.rabbitmq.message.delivery_tag"],
                       s.attributes["messaging.rabbitmq.confirm"], s.status.status_code.name)
                      for s in spans)
    assert outcomes == [(1, "ack", "UNSET"), (2, "ack", "UNSET"), (3, "ack", "UNSET"),
                        (4, "ack", "UNSET"), (5, "nack", "ERROR"), (6, "ack", "UNSET")]


def test_channel_close_ends_the_open_producer_spans_with_an_error() -> None:
    rig, _connection, broker = _rig()
    rig.confirm_mode()
    rig.channel.basic_publish("", "q", b"x")
    broker.send(1, spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 40))
    (span,) = rig.spans("PRODUCER")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ChannelClosedByBroker"
    counts = rig.counts()
    assert counts["channels_opened"] == 1 and counts["channels_closed"] == 1


def test_a_link_lost_under_recovery_ends_what_the_incarnation_left_unsettled() -> None:
    """Recovery suspends the channel: its outstanding publishes are counted as confirm-lost
    (never confirmed or nacked) and their spans end as errors; its unsettled deliveries are
    forgotten, so the next incarnation's settlements count only their own."""
    rig = Rig(recovery=Recovery(initial_delay=0.0))
    connection, broker = rig.connection, rig.broker
    rig.confirm_mode()
    for _ in range(3):
        rig.channel.basic_publish("", "q", b"x")
    broker.send(1, spec.Basic.Ack(1, False))
    rig.channel.basic_consume("q", lambda *args: None, consumer_tag="c")
    broker.send(1, spec.Basic.ConsumeOk("c"))
    broker.send_content(1, spec.Basic.Deliver("c", 1, False, "", "q"), spec.BasicProperties(),
                        b"m")
    assert rig.metrics.tracked() == (2, 1)
    connection.lose_stream(exceptions.StreamLostError("link cut"))

    counts = rig.counts()
    assert counts["messages_confirmed"] == 1 and counts["messages_nacked"] == 0
    assert counts["messages_confirm_lost"] == 2
    lost = [s for s in rig.spans("PRODUCER") if s.status.status_code is StatusCode.ERROR]
    assert sorted(s.attributes["messaging.rabbitmq.message.delivery_tag"] for s in lost) == [2, 3]
    assert {s.attributes["error.type"] for s in lost} == {"ConfirmLostError"}
    assert counts["channels_closed"] == 0  # suspended, not closed
    assert rig.metrics.tracked() == (0, 0)  # nothing of the old incarnation is held


def test_a_publish_that_raises_is_not_counted_and_its_span_records_it() -> None:
    rig, connection, _broker = _rig()
    before = len(connection.outbound)
    with pytest.raises(TypeError):
        not_properties: Any = {"not": "properties"}
        rig.channel.basic_publish("", "q", b"x", properties=not_properties)
    assert len(connection.outbound) == before
    (span,) = rig.spans("PRODUCER")
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert rig.counts()["messages_published"] == 0


def test_a_consumer_that_raises_is_logged_by_the_core_and_recorded_on_its_span(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig, _connection, broker = _rig()
    seen: List[Any] = []

    def consumer(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        from opentelemetry import trace

        seen.append(trace.get_current_span().get_span_context().span_id)
        raise RuntimeError("user bug")

    rig.channel.basic_consume("q", consumer, consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk("ctag"))
    with caplog.at_level(logging.ERROR, logger="amqpbase"):
        broker.send_content(1, spec.Basic.Deliver("ctag", 1, False, "ex", "rk"),
                            spec.BasicProperties(message_id="a"), b"body")
    (span,) = rig.spans("CONSUMER")
    assert seen == [span.context.span_id]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.parent is None and span.links == ()  # no producer context in the headers
    assert "Exception in user callback" in caplog.text
    assert rig.counts()["messages_consumed"] == 1


def test_consumer_settlements_count_the_deliveries_they_cover() -> None:
    rig, _connection, broker = _rig()
    rig.channel.basic_consume("q", lambda *args: None, consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk("ctag"))
    for tag in range(1, 7):
        broker.send_content(1, spec.Basic.Deliver("ctag", tag, False, "", "q"),
                            spec.BasicProperties(), b"x")
    rig.channel.basic_ack(3, multiple=True)  # 1..3
    rig.channel.basic_reject(5)
    rig.channel.basic_nack(0, multiple=True)  # the rest: 4, 6
    rig.channel.basic_ack(2)  # settled already: not counted again
    assert rig.metrics.tracked() == (0, 0)
    counts = rig.counts()
    assert counts["messages_consumed"] == 6
    assert (counts["messages_acked"], counts["messages_rejected"],
            counts["messages_nacked_by_consumer"]) == (3, 1, 2)


def test_auto_ack_deliveries_are_not_kept() -> None:
    rig, _connection, broker = _rig()
    rig.channel.basic_consume("q", lambda *args: None, auto_ack=True, consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk("ctag"))
    broker.send_content(1, spec.Basic.Deliver("ctag", 1, False, "", "q"),
                        spec.BasicProperties(), b"x")
    assert rig.counts()["messages_consumed"] == 1
    assert rig.metrics.tracked() == (0, 0)  # nothing held for an auto-ack consumer


def test_blocked_time_is_counted_until_unblocked_or_closed() -> None:
    rig, connection, broker = _rig()
    broker.send(0, spec.Connection.Blocked("low on memory"))
    time.sleep(0.05)
    broker.send(0, spec.Connection.Unblocked())
    first = rig.counts()["blocked_seconds"]
    assert 0.05 <= first < 5
    broker.send(0, spec.Connection.Blocked("again"))
    time.sleep(0.02)
    connection.close()
    broker.send(1, spec.Channel.CloseOk())
    broker.send(0, spec.Connection.CloseOk())
    connection.clock.advance(0)
    counts = rig.counts()
    assert counts["blocked_seconds"] >= first + 0.02
    assert counts["connections_closed"] == 1 and counts["channels_closed"] == 1
    assert counts["bytes_sent"] == connection.bytes_sent > 0
    assert counts["bytes_received"] == connection.bytes_received > 0


def test_an_observer_that_raises_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Observer):
        def publish(self, *args: Any) -> Any:
            raise RuntimeError("observer bug")

        def published(self, *args: Any) -> None:
            raise RuntimeError("observer bug")

    rig = Rig(Broken())
    before = len(rig.connection.outbound)
    with caplog.at_level(logging.ERROR, logger="amqpbase"):
        rig.channel.basic_publish("", "q", b"x")
    assert len(rig.connection.outbound) == before + 1  # sent all the same
    assert caplog.text.count("Exception in observer hook publish") == 1
