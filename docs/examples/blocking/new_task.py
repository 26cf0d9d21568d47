"""Work queues, the producer: a persistent task on the durable queue "task_queue" (tutorial 2).
The task is the command line; each "." in it is one second of work for the worker."""
import os
import sys

import amqpbase

URL = os.environ.get("AMQPBASE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

connection = amqpbase.BlockingConnection(amqpbase.URLParameters(URL))
channel = connection.channel()
channel.queue_declare(queue="task_queue", durable=True)

message = " ".join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(
    exchange="",
    routing_key="task_queue",
    body=message,
    properties=amqpbase.BasicProperties(delivery_mode=amqpbase.DeliveryMode.Persistent),
)
print(f" [x] Sent {message}", flush=True)
connection.close()
