"""Work queues, the worker: one task at a time (prefetch 1), acknowledged when done.

A task may take longer than the heartbeat interval: the connection's I/O thread answers the
broker's heartbeats while the callback sleeps."""
import os
import sys
import time

import amqpbase

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def main():
    connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(queue="task_queue", durable=True)
    print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()}", flush=True)
        time.sleep(body.count(b".") * float(os.environ.get("WORK_SECONDS_PER_DOT", "1")))
        print(" [x] Done", flush=True)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="task_queue", on_message_callback=callback)
    channel.start_consuming()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        sys.exit(0)
