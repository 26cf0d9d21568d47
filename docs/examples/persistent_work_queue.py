"""A persistent work queue (RabbitMQ tutorial 2) on SelectConnection, with pika's
``DeliveryMode``: a durable queue, a task published with
``BasicProperties(delivery_mode=DeliveryMode.Persistent)``, a worker with prefetch 1 that
acks after the work. A pika program: only the import line differs (``import pika``).

Run with ``AMQP_URL`` set to the broker's URL (``bash scripts/broker start`` prints this
repository's). The queue is deleted at the end so the program can run again.
"""

import os
import time

import amqpbase as pika

QUEUE = "task_queue"
TASK = "task 1..."


class WorkQueue:
    def __init__(self, url):
        self.channel = None
        self.connection = pika.SelectConnection(
            pika.URLParameters(url),
            on_open_callback=lambda connection: connection.channel(
                on_open_callback=self.on_channel_open),
            on_close_callback=lambda connection, reason: connection.ioloop.stop(),
        )

    def on_channel_open(self, channel):
        self.channel = channel
        channel.queue_declare(queue=QUEUE, durable=True, callback=self.on_queue_declared)

    def on_queue_declared(self, _frame):
        # The publisher (new_task.py in the tutorial).
        self.channel.basic_publish(
            exchange="",
            routing_key=QUEUE,
            body=TASK,
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        )
        print(f" [x] Sent {TASK!r}")
        # The worker (worker.py in the tutorial).
        self.channel.basic_qos(prefetch_count=1, callback=self.on_qos)

    def on_qos(self, _frame):
        self.channel.basic_consume(queue=QUEUE, on_message_callback=self.on_task)

    def on_task(self, channel, method, properties, body):
        print(f" [x] Received {body!r} delivery_mode={properties.delivery_mode}")
        time.sleep(body.count(b".") * 0.01)  # the "work"
        channel.basic_ack(delivery_tag=method.delivery_tag)
        print(" [x] Done")
        channel.queue_delete(queue=QUEUE, callback=lambda _frame: self.connection.close())


def main():
    WorkQueue(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))\
        .connection.ioloop.start()


if __name__ == "__main__":
    main()
