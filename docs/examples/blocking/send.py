"""Hello world, the sender: publish one message to the queue "hello" (RabbitMQ tutorial 1)."""
import os

import amqpbase

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
channel = connection.channel()
channel.queue_declare(queue="hello")
channel.basic_publish(exchange="", routing_key="hello", body=b"Hello World!")
print(" [x] Sent 'Hello World!'", flush=True)
connection.close()
