"""Publish/subscribe, a subscriber: an exclusive server-named queue bound to "logs"."""
import os
import sys

import amqpbase
from amqpbase.exchange_type import ExchangeType

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def main():
    connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
    channel = connection.channel()
    channel.exchange_declare(exchange="logs", exchange_type=ExchangeType.fanout)
    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue
    channel.queue_bind(exchange="logs", queue=queue_name)
    print(" [*] Waiting for logs. To exit press CTRL+C", flush=True)

    def callback(ch, method, properties, body):
        print(f" [x] {body.decode()}", flush=True)

    channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
    channel.start_consuming()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        sys.exit(0)
