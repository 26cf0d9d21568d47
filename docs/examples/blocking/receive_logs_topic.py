"""Topics, a subscriber: binding keys with "*" (one word) and "#" (zero or more words).
Usage: receive_logs_topic.py <binding_key> [<binding_key> ...]"""
import os
import sys

import amqpbase
from amqpbase.exchange_type import ExchangeType

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def main():
    binding_keys = sys.argv[1:]
    if not binding_keys:
        sys.stderr.write(f"Usage: {sys.argv[0]} [binding_key]...\n")
        sys.exit(1)
    connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
    channel = connection.channel()
    channel.exchange_declare(exchange="topic_logs", exchange_type=ExchangeType.topic)
    queue_name = channel.queue_declare("", exclusive=True).method.queue
    for binding_key in binding_keys:
        channel.queue_bind(exchange="topic_logs", queue=queue_name, routing_key=binding_key)
    print(" [*] Waiting for logs. To exit press CTRL+C", flush=True)

    def callback(ch, method, properties, body):
        print(f" [x] {method.routing_key}:{body.decode()}", flush=True)

    channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
    channel.start_consuming()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        sys.exit(0)
