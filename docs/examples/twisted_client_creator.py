"""pika's Twisted example: ``TwistedProtocolConnection`` as a Twisted protocol, connected by
``ClientCreator.connectTCP``; a topic exchange, a queue, prefetch 1, a consumer reading its
``ClosableDeferredQueue``. A pika program: only the import lines differ from pika's
(``import pika`` / ``from pika.adapters.twisted_connection import TwistedProtocolConnection``).

It publishes one message, reads it back, and stops. Run with ``AMQP_URL`` set to the broker's
URL (``bash scripts/broker start`` prints this repository's).
"""

import os

from twisted.internet import defer, protocol, reactor

import amqpbase as pika
from amqpbase.adapters.twisted import TwistedProtocolConnection

BODY = b"hello from ClientCreator"


@defer.inlineCallbacks
def run(connection):
    channel = yield connection.channel()
    yield channel.exchange_declare(exchange="topic_link", exchange_type="topic")
    yield channel.queue_declare(queue="hello", auto_delete=True, exclusive=False)
    yield channel.queue_bind(exchange="topic_link", queue="hello", routing_key="hello.world")
    yield channel.basic_qos(prefetch_count=1)
    queue_object, consumer_tag = yield channel.basic_consume(queue="hello", auto_ack=False)

    yield channel.basic_publish(exchange="topic_link", routing_key="hello.world", body=BODY)
    print(f" [x] Sent {BODY!r}")

    ch, method, properties, body = yield queue_object.get()
    print(f" [x] Received {body!r}")
    yield ch.basic_ack(delivery_tag=method.delivery_tag)
    yield connection.close()


def main():
    parameters = pika.URLParameters(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
    cc = protocol.ClientCreator(reactor, TwistedProtocolConnection, parameters)
    d = cc.connectTCP(parameters.host, parameters.port)
    d.addCallback(lambda protocol: protocol.ready)
    d.addCallback(run)
    d.addErrback(lambda failure: print(f"failed: {failure.value!r}"))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()


if __name__ == "__main__":
    main()
