"""Routing, the publisher: severity as the routing key of the direct exchange "direct_logs"
(tutorial 4). Usage: emit_log_direct.py [info|warning|error] [message]"""
import os
import sys

import amqpbase
from amqpbase.exchange_type import ExchangeType

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
channel = connection.channel()
channel.exchange_declare(exchange="direct_logs", exchange_type=ExchangeType.direct)

severity = sys.argv[1] if len(sys.argv) > 1 else "info"
message = " ".join(sys.argv[2:]) or "Hello World!"
channel.basic_publish(exchange="direct_logs", routing_key=severity, body=message)
print(f" [x] Sent {severity}:{message}", flush=True)
connection.close()
