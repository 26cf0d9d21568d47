"""``DeliveryMode``: pika's names for ``BasicProperties.delivery_mode`` (pika.delivery_mode).

Owns the two values of the AMQP 0-9-1 ``delivery-mode`` property (1 = non-persistent,
2 = persistent; RabbitMQ writes a persistent message to disk when its queue is durable). It is
pika's plain ``Enum``, not an ``IntEnum``: ``BasicProperties`` stores the member's ``.value``
(as pika does), so ``props.delivery_mode == 2`` after ``delivery_mode=DeliveryMode.Persistent``.
No codec here: the generated ``spec.BasicProperties`` does the conversion.
"""

from enum import Enum


class DeliveryMode(Enum):
    """``BasicProperties(delivery_mode=DeliveryMode.Persistent)``; pika's names and values."""

    Transient = 1
    Persistent = 2


__all__ = ["DeliveryMode"]
