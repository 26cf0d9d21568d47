"""``ExchangeType``: pika's names for the built-in exchange types (pika.exchange_type).

Owns the four type names every RabbitMQ node has (AMQP 0-9-1 3.1.3: direct, fanout, topic,
headers). A ``str`` Enum, as pika's: a member IS its string, so it goes anywhere an exchange
type string goes (``exchange_declare(exchange_type=ExchangeType.fanout)``,
``spec.Exchange.Declare(type=...)``) and is sent as that string. Plugin types
("x-delayed-message", ...) stay plain strings. No validation here.
"""

from enum import Enum


class ExchangeType(str, Enum):
    """The built-in exchange types; pika's names and values."""

    direct = "direct"
    fanout = "fanout"
    headers = "headers"
    topic = "topic"


__all__ = ["ExchangeType"]
