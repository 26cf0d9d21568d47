"""pika's ``ExchangeType`` and ``DeliveryMode``: where pika has them, and accepted where pika
programs pass them (the exchange type as its string on the wire, the delivery mode as its int).

Broker-free: the bytes are compared with those the plain string / int give. The broker round
trip is in ``tests/conformance/test_conformance_pika_names.py``.
"""

from __future__ import annotations

import amqpbase
from amqpbase import spec
from amqpbase.delivery_mode import DeliveryMode
from amqpbase.exchange_type import ExchangeType
from amqpbase.fieldtable import encode_properties_checked


def test_names_and_values_are_pikas() -> None:
    assert [(m.name, m.value) for m in DeliveryMode] == [("Transient", 1), ("Persistent", 2)]
    assert [(m.name, m.value) for m in ExchangeType] == [
        ("direct", "direct"), ("fanout", "fanout"), ("headers", "headers"), ("topic", "topic")
    ]
    # pika.DeliveryMode is at the top level; pika.exchange_type.ExchangeType in its module.
    assert amqpbase.DeliveryMode is DeliveryMode
    assert amqpbase.ExchangeType is ExchangeType
    assert "DeliveryMode" in amqpbase.__all__
    # ExchangeType is a str (pika: class ExchangeType(str, Enum)); DeliveryMode is not an int.
    assert isinstance(ExchangeType.topic, str) and ExchangeType.topic == "topic"
    assert not isinstance(DeliveryMode.Persistent, int)


def test_basic_properties_take_a_delivery_mode_member_and_store_its_value() -> None:
    props = spec.BasicProperties(delivery_mode=DeliveryMode.Persistent)
    assert props.delivery_mode == 2 and type(props.delivery_mode) is int  # pika stores .value
    assert props.encode() == spec.BasicProperties(delivery_mode=2).encode()
    transient = spec.BasicProperties(content_type="text/plain",
                                     delivery_mode=DeliveryMode.Transient)
    assert transient.delivery_mode == 1
    decoded, _ = spec.BasicProperties.decode(transient.encode(), 0)
    assert decoded.delivery_mode == 1 and decoded.content_type == "text/plain"
    assert amqpbase.BasicProperties(delivery_mode=None).delivery_mode is None


def test_a_delivery_mode_member_assigned_after_construction_is_encoded_as_its_value() -> None:
    props = spec.BasicProperties(priority=3)
    props.delivery_mode = DeliveryMode.Persistent  # type: ignore[assignment]
    expected = spec.BasicProperties(priority=3, delivery_mode=2).encode()
    assert props.encode() == expected
    assert encode_properties_checked(props) == expected


def test_exchange_declare_method_takes_an_exchange_type_member() -> None:
    for member in ExchangeType:
        by_member = spec.Exchange.Declare(exchange="x", type=member).encode()
        assert by_member == spec.Exchange.Declare(exchange="x", type=member.value).encode()
        assert member.value.encode() in by_member
