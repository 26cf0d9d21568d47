#!/usr/bin/env python3
"""The client program of the fuzz corpus: recorded against RabbitMQ, replayed by the fuzzer.

``scripts/capture_corpus.py`` runs :class:`Scenario` with ``SelectConnection`` against a real
node and records the broker's bytes; ``scripts/fuzz.py`` runs the same :class:`Scenario` on
an in-memory connection fed those bytes (mutated). The scenario is driven only by callbacks,
so a replay of the recorded stream drives it exactly as the real broker did, and every
action it takes depends only on what it was told.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Callable, Dict, List, Optional, Tuple

from amqpbase import exceptions, spec
from amqpbase.credentials import PlainCredentials
from amqpbase.parameters import ConnectionParameters

QUEUE = "amqpbase-fuzz-consume"
GET_QUEUE = "amqpbase-fuzz-get"
MISSING_QUEUE = "amqpbase-fuzz-missing"
EVERY_FIELD_TYPE = {
    "str": "text ✓", "bytes": b"\x00\xffraw", "int8": -5, "int32": 70000, "int64": 2**40,
    "bool": True, "float": 1.5, "decimal": decimal.Decimal("3.14"), "none": None,
    "time": datetime.datetime(2026, 1, 2, 3, 4, 5), "list": [1, "two", [3.0, False]],
    "table": {"nested": {"deeper": b"x"}, "empty": {}},
}
MESSAGES: List[Tuple[Optional[spec.BasicProperties], bytes]] = [
    (None, b"no properties"),
    (spec.BasicProperties(content_type="application/json", headers=EVERY_FIELD_TYPE),
     b'{"k": 1}'),
    (spec.BasicProperties(content_type="text/plain", content_encoding="utf-8",
                          delivery_mode=2, priority=7, correlation_id="corr-1",
                          reply_to="amqpbase-fuzz-replies", expiration="60000",
                          message_id="msg-1", timestamp=1_700_000_000, type="kind",
                          user_id="guest", app_id="capture"), b"all the properties"),
    (spec.BasicProperties(headers={"x-list": [{"a": 1}, [], b""], "k": "v"}), b""),
    (spec.BasicProperties(delivery_mode=1), bytes(range(256)) * 40),  # 10240: several frames
]


class Scenario:
    """One client session, driven only by callbacks (so a replay of the recorded broker
    stream drives it exactly as the real broker did): confirms, a consumer, a mandatory
    unroutable publish (Basic.Return), basic_get GetOk then GetEmpty, a passive declare of a
    missing queue (the broker closes channel 1 with 404), then channel 2 with basic_qos.
    ``done`` is set at the end. A call refused because a mutated stream closed things first
    is counted in ``refused`` (the refusal is the library working)."""

    def __init__(self) -> None:
        self.done = False
        self.acked = 0
        self.deliveries = 0
        self.returns = 0
        self.got: List[bytes] = []
        self.phase = 0
        self.refused = 0
        self.connection: Any = None
        self.ch1: Any = None

    def _do(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except (exceptions.ChannelWrongStateError, exceptions.ConnectionWrongStateError,
                exceptions.ChannelClosed, exceptions.DuplicateGetOkCallback,
                exceptions.MethodNotImplemented):  # a Start without publisher_confirms
            self.refused += 1

    def on_open(self, connection: Any) -> None:
        self.connection = connection
        self._do(lambda: connection.channel(1, self.on_ch1_open))

    def on_ch1_open(self, channel: Any) -> None:
        self.ch1 = channel
        channel.add_on_return_callback(self.on_return)
        channel.add_on_close_callback(self.on_ch1_closed)
        self._do(lambda: channel.confirm_delivery(self.on_confirm, callback=self.on_select_ok))

    def on_select_ok(self, _frame: Any) -> None:
        self._do(lambda: self.ch1.queue_declare(QUEUE, exclusive=True,
                                                callback=self.on_declared))

    def on_declared(self, _frame: Any) -> None:
        self._do(lambda: self.ch1.basic_consume(QUEUE, self.on_message, consumer_tag="ctag",
                                                callback=self.on_consume_ok))

    def on_consume_ok(self, _frame: Any) -> None:
        def publish() -> None:
            for properties, body in MESSAGES:
                self.ch1.basic_publish("", QUEUE, body, properties)
            self.ch1.basic_publish("", "amqpbase-fuzz-nowhere", b"unroutable", MESSAGES[2][0],
                                   mandatory=True)
        self.phase = 1
        self._do(publish)

    def on_confirm(self, method_frame: Any) -> None:
        self.acked = max(self.acked, int(method_frame.method.delivery_tag))
        self._progress()

    def on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.deliveries += 1
        self._do(lambda: channel.basic_ack(method.delivery_tag))
        self._progress()

    def on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.returns += 1

    def _progress(self) -> None:
        if self.phase == 1 and self.acked >= len(MESSAGES) + 1 \
                and self.deliveries >= len(MESSAGES):
            self.phase = 2
            self._do(lambda: self.ch1.queue_declare(GET_QUEUE, exclusive=True,
                                                    callback=self.on_get_queue))
        elif self.phase == 3 and self.acked >= len(MESSAGES) + 2:
            self.phase = 4
            self._do(lambda: self.ch1.basic_get(GET_QUEUE, self.on_get_ok))

    def on_get_queue(self, _frame: Any) -> None:
        self.phase = 3
        self._do(lambda: self.ch1.basic_publish("", GET_QUEUE, b"to get", MESSAGES[1][0]))

    def on_get_ok(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.got.append(body)

        def get_again() -> None:
            channel.basic_ack(method.delivery_tag)
            channel.add_callback(self.on_get_empty, [spec.Basic.GetEmpty])
            channel.basic_get(GET_QUEUE, self.on_get_ok)
        self._do(get_again)

    def on_get_empty(self, _frame: Any) -> None:
        self._do(lambda: self.ch1.queue_declare(MISSING_QUEUE, passive=True))

    def on_ch1_closed(self, _channel: Any, reason: BaseException) -> None:
        if isinstance(reason, exceptions.ChannelClosedByBroker) and self.connection.is_open:
            self._do(lambda: self.connection.channel(2, self.on_ch2_open))

    def on_ch2_open(self, channel: Any) -> None:
        self._do(lambda: channel.basic_qos(prefetch_count=5, callback=self.on_qos_ok))

    def on_qos_ok(self, _frame: Any) -> None:
        self.done = True


def scenario_params(frame_max: int, **overrides: Any) -> ConnectionParameters:
    """The client parameters of the capture and of every fuzz input (heartbeats off: the
    recorded stream must not depend on timing)."""
    values: Dict[str, Any] = dict(host="127.0.0.1", credentials=PlainCredentials("guest", "guest"),
                                  frame_max=frame_max, heartbeat=0, connection_attempts=1,
                                  client_properties={"connection_name": "amqpbase-fuzz"})
    values.update(overrides)
    return ConnectionParameters(**values)
