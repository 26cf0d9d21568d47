"""amqpbase: an AMQP 0-9-1 client for RabbitMQ with one protocol core and three loop adapters.

The names a pika user expects are here, so porting is an import change::

    from amqpbase import SelectConnection, URLParameters, BasicProperties, DeliveryMode
    from amqpbase import BlockingConnection     # pika.BlockingConnection

``DeliveryMode`` is here as in pika; ``ExchangeType`` lives in ``amqpbase.exchange_type`` as in
pika (``pika.exchange_type``) and is also exported here.

The Tornado and Twisted adapters live in ``amqpbase.adapters.tornado`` and
``amqpbase.adapters.twisted`` and are imported only when asked for (no loop is imported by
``import amqpbase``).
"""

import importlib

from amqpbase import exceptions, spec
from amqpbase.channel import Channel
from amqpbase.connection import Connection
from amqpbase.connection_state import ConnectionState
from amqpbase.credentials import ExternalCredentials, PlainCredentials
from amqpbase.delivery_mode import DeliveryMode
from amqpbase.exchange_type import ExchangeType
from amqpbase.parameters import ConnectionParameters, SSLOptions, URLParameters
from amqpbase.protocol.recovery import Recovery, RecoveryReport
from amqpbase.spec import BasicProperties
from amqpbase.streams import (
    StreamOffset,
    delivered_offset,
    stream_consume_arguments,
    stream_queue_arguments,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``SelectConnection``, ``IOLoop`` and ``BlockingConnection`` load on first use (pika
    exports them here)."""
    if name in ("SelectConnection", "IOLoop"):
        # import_module: mypy cannot follow the package-dir mapping of amqpbase.adapters
        select = importlib.import_module("amqpbase.adapters.select")
        return getattr(select, name)
    if name == "BlockingConnection":
        blocking = importlib.import_module("amqpbase.adapters.blocking")
        return getattr(blocking, name)
    raise AttributeError(f"module 'amqpbase' has no attribute {name!r}")


__all__ = [
    "BasicProperties",
    "BlockingConnection",
    "Channel",
    "Connection",
    "ConnectionParameters",
    "ConnectionState",
    "DeliveryMode",
    "ExchangeType",
    "ExternalCredentials",
    "IOLoop",
    "PlainCredentials",
    "Recovery",
    "RecoveryReport",
    "SSLOptions",
    "SelectConnection",
    "StreamOffset",
    "URLParameters",
    "__version__",
    "delivered_offset",
    "exceptions",
    "spec",
    "stream_consume_arguments",
    "stream_queue_arguments",
]
