"""Hello world, the receiver: print what arrives on the queue "hello" until Ctrl-C."""
import os
import sys

import amqpbase

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def main():
    connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(queue="hello")

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()}", flush=True)

    channel.basic_consume(queue="hello", on_message_callback=callback, auto_ack=True)
    print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
    channel.start_consuming()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        sys.exit(0)
