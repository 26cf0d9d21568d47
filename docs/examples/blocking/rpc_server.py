"""RPC, the server: answers "rpc_queue" requests with fib(n) on the request's reply_to queue,
with its correlation_id (tutorial 6)."""
import os
import sys

import amqpbase

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def main():
    connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
    channel = connection.channel()
    channel.queue_declare(queue="rpc_queue")

    def on_request(ch, method, props, body):
        n = int(body)
        print(f" [.] fib({n})", flush=True)
        ch.basic_publish(
            exchange="",
            routing_key=props.reply_to,
            properties=amqpbase.BasicProperties(correlation_id=props.correlation_id),
            body=str(fib(n)),
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="rpc_queue", on_message_callback=on_request)
    print(" [x] Awaiting RPC requests", flush=True)
    channel.start_consuming()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        sys.exit(0)
