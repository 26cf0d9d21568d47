"""TwistedProtocolConnection as the Twisted ``Protocol`` pika documents: Twisted connects, the
connection runs AMQP on the transport it is given, and never opens one of its own.

The parameters name a port nobody listens on: a connection of our own would fail, so an open
connection proves the given transport carries it; each test also checks that the stream the
connection runs on IS Twisted's transport. Both reactor modes (the second pass of
``scripts/dev test`` runs tests/twisted on the asyncio reactor).
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Generator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp, failure_of, the_reactor, within
from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint

from amqpbase import exceptions
from amqpbase.adapters.twisted import TwistedConnection, TwistedProtocolConnection

pytestmark = pytest.mark.broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@defer.inlineCallbacks
def round_trip(connection: TwistedProtocolConnection, amqp: Amqp,
               body: bytes) -> Generator[Any, Any, bytes]:
    """Publish ``body`` to a fresh queue and get it back: AMQP really runs."""
    channel = yield within(connection.channel())
    queue = amqp.name("q")
    yield within(channel.queue_declare(queue, auto_delete=True))
    yield within(channel.confirm_delivery())
    yield within(channel.basic_publish("", queue, body))
    _channel, _method, _properties, got = yield within(channel.basic_get(queue, auto_ack=True))
    yield within(channel.queue_delete(queue))
    return got


def assert_runs_on(connection: TwistedProtocolConnection) -> None:
    """The AMQP stream is the transport Twisted gave the protocol: no second connection."""
    assert connection.transport is not None
    assert connection.impl.transport.transport is connection.transport


@pytest_twisted.inlineCallbacks
def test_client_creator_connect_tcp(amqp: Amqp) -> Generator[Any, Any, None]:
    """pika's documented usage, unchanged but for the import."""
    params = amqp.params(port=free_port())  # a connection of its own would be refused
    creator = protocol.ClientCreator(the_reactor(), TwistedProtocolConnection, params)
    conn = yield within(creator.connectTCP(amqp.broker.host, int(amqp.broker.port)))
    assert isinstance(conn, TwistedProtocolConnection)
    amqp.connections.append(conn)
    opened = yield within(conn.ready)
    assert opened is conn and conn.is_open  # ready fires with the connection, as pika's
    assert_runs_on(conn)
    assert (yield round_trip(conn, amqp, b"over ClientCreator")) == b"over ClientCreator"
    transport = conn.transport
    reason = yield within(conn.close())
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert conn.is_closed
    yield within(deferLater(0.05))
    assert not transport.connected  # closing AMQP closed Twisted's transport


def deferLater(seconds: float) -> "defer.Deferred[None]":  # noqa: N802 - Twisted's style
    from twisted.internet import task

    return task.deferLater(the_reactor(), seconds, lambda: None)


@pytest_twisted.inlineCallbacks
def test_endpoint_connect_with_factory_for_protocol(amqp: Amqp) -> Generator[Any, Any, None]:
    """``endpoint.connect(Factory.forProtocol(TwistedProtocolConnection))``: built with no
    arguments (default parameters: localhost:5672, where no broker of this test listens);
    the endpoint's transport carries it."""
    endpoint = TCP4ClientEndpoint(the_reactor(), amqp.broker.host, int(amqp.broker.port))
    conn = yield within(endpoint.connect(
        protocol.Factory.forProtocol(TwistedProtocolConnection)))
    amqp.connections.append(conn)
    yield within(conn.ready)
    assert_runs_on(conn)
    assert conn.params.port == 5672 != int(amqp.broker.port)
    assert (yield round_trip(conn, amqp, b"over an endpoint")) == b"over an endpoint"
    yield within(conn.close())


class Factory(protocol.ClientFactory):
    """A factory of the user's that builds the connection and uses it before returning it."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self.built: List[TwistedProtocolConnection] = []
        self.ready: List[Any] = []

    def buildProtocol(self, addr: Any) -> TwistedProtocolConnection:  # noqa: N802
        conn = TwistedProtocolConnection(self.params)
        conn.ready.addCallback(self.ready.append)  # used before Twisted attaches it
        self.built.append(conn)
        return conn


@pytest_twisted.inlineCallbacks
def test_a_factory_that_uses_the_connection_in_build_protocol(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    factory = Factory(amqp.params(port=free_port()))
    endpoint = TCP4ClientEndpoint(the_reactor(), amqp.broker.host, int(amqp.broker.port))
    conn = yield within(endpoint.connect(factory))
    amqp.connections.append(conn)
    yield within(conn.ready)
    assert factory.built == [conn] and factory.ready == [conn]
    assert_runs_on(conn)
    yield within(conn.close())


@pytest_twisted.inlineCallbacks
def test_a_lost_transport_fails_closed_with_stream_lost(amqp: Amqp) -> Generator[Any, Any, None]:
    creator = protocol.ClientCreator(the_reactor(), TwistedProtocolConnection,
                                     amqp.params(port=free_port()))
    conn = yield within(creator.connectTCP(amqp.broker.host, int(amqp.broker.port)))
    yield within(conn.ready)
    conn.transport.abortConnection()  # the user (or the network) ends the transport
    error = yield failure_of(conn.closed)
    assert type(error) is exceptions.StreamLostError
    assert conn.is_closed
    assert type((yield failure_of(conn.channel()))) is exceptions.StreamLostError


@pytest_twisted.inlineCallbacks
def test_a_peer_that_is_not_amqp_fails_ready(amqp: Amqp) -> Generator[Any, Any, None]:
    """The transport Twisted connected leads to something that is not a broker: ``ready``
    fails with the open error, and nothing reconnects by itself."""

    class Http(protocol.Protocol):
        def dataReceived(self, data: bytes) -> None:  # noqa: N802
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    server = the_reactor().listenTCP(0, protocol.Factory.forProtocol(Http),
                                     interface="127.0.0.1")
    try:
        creator = protocol.ClientCreator(the_reactor(), TwistedProtocolConnection,
                                         amqp.params(port=free_port(), connection_attempts=3,
                                                     retry_delay=0.1))
        conn = yield within(creator.connectTCP("127.0.0.1", server.getHost().port))
        error = yield failure_of(conn.ready)
        assert type(error) is exceptions.IncompatibleProtocolError
        assert conn.is_closed
    finally:
        yield server.stopListening()


@pytest_twisted.inlineCallbacks
def test_built_on_its_own_it_connects_by_itself(amqp: Amqp) -> Generator[Any, Any, None]:
    """Today's way still works: parameters only, no Twisted connect of the user's."""
    conn = amqp.connect()
    yield within(conn.ready)
    assert conn.transport is None  # no Protocol transport: its own stream
    assert (yield round_trip(conn, amqp, b"by itself")) == b"by itself"


@pytest.mark.allow_errors  # the ERROR record is what this test checks
@pytest_twisted.inlineCallbacks
def test_callback_api_open_error_without_callback_is_logged_at_error(
    amqp: Amqp, caplog: pytest.LogCaptureFixture,
) -> Generator[Any, Any, None]:
    """A loop we do not own: with no on_open_error_callback, the failed open is logged at
    ERROR with what failed and what to pass (select raises it out of ioloop.start())."""
    with caplog.at_level(logging.ERROR):
        conn = TwistedConnection(amqp.params(host="127.0.0.1", port=free_port()))
        while not conn.is_closed:
            yield within(deferLater(0.02))
    texts = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("Could not open" in t and "TCPConnectionRefusedError" in t
               and "no on_open_error_callback" in t for t in texts), texts
