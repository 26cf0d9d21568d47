"""Publish/subscribe on a fanout exchange (RabbitMQ tutorial 3) on SelectConnection, with
pika's ``ExchangeType``. A pika program: only the two import lines differ from pika's
(``import pika`` / ``from pika.exchange_type import ExchangeType``).

The subscriber's exclusive queue is bound first, then the emitter publishes one log line,
the subscriber prints it and the program closes. Run with ``AMQP_URL`` set to the broker's
URL (``bash scripts/broker start`` prints this repository's).
"""

import os

import amqpbase as pika
from amqpbase.exchange_type import ExchangeType

MESSAGE = "info: Hello World!"


class LogsDemo:
    def __init__(self, url):
        self.channel = None
        self.connection = pika.SelectConnection(
            pika.URLParameters(url),
            on_open_callback=self.on_connection_open,
            on_close_callback=self.on_connection_closed,
        )

    def on_connection_open(self, connection):
        connection.channel(on_open_callback=self.on_channel_open)

    def on_connection_closed(self, connection, reason):
        connection.ioloop.stop()

    def on_channel_open(self, channel):
        self.channel = channel
        channel.exchange_declare(exchange="logs", exchange_type=ExchangeType.fanout,
                                 callback=self.on_exchange_declared)

    def on_exchange_declared(self, _frame):
        self.channel.queue_declare(queue="", exclusive=True, callback=self.on_queue_declared)

    def on_queue_declared(self, frame):
        queue_name = frame.method.queue
        self.channel.queue_bind(exchange="logs", queue=queue_name,
                                callback=lambda _frame: self.on_bound(queue_name))

    def on_bound(self, queue_name):
        self.channel.basic_consume(queue=queue_name, on_message_callback=self.on_message,
                                   auto_ack=True)
        self.channel.basic_publish(exchange="logs", routing_key="", body=MESSAGE)
        print(f" [x] Sent {MESSAGE!r}")

    def on_message(self, channel, method, properties, body):
        print(f" [x] Received {body!r}")
        self.connection.close()


def main():
    demo = LogsDemo(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
    demo.connection.ioloop.start()


if __name__ == "__main__":
    main()
