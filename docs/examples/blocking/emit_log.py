"""Publish/subscribe, the publisher: one message to the fanout exchange "logs" (tutorial 3)."""
import os
import sys

import amqpbase
from amqpbase.exchange_type import ExchangeType

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
channel = connection.channel()
channel.exchange_declare(exchange="logs", exchange_type=ExchangeType.fanout)

message = " ".join(sys.argv[1:]) or "info: Hello World!"
channel.basic_publish(exchange="logs", routing_key="", body=message)
print(f" [x] Sent {message}", flush=True)
connection.close()
