"""Topics, the publisher: "<facility>.<severity>" keys on the topic exchange "topic_logs"
(tutorial 5). Usage: emit_log_topic.py [routing.key] [message]"""
import os
import sys

import amqpbase
from amqpbase.exchange_type import ExchangeType

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
channel = connection.channel()
channel.exchange_declare(exchange="topic_logs", exchange_type=ExchangeType.topic)

routing_key = sys.argv[1] if len(sys.argv) > 1 else "anonymous.info"
message = " ".join(sys.argv[2:]) or "Hello World!"
channel.basic_publish(exchange="topic_logs", routing_key=routing_key, body=message)
print(f" [x] Sent {routing_key}:{message}", flush=True)
connection.close()
