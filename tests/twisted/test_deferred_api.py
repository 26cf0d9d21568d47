"""TwistedProtocolConnection against the real broker: ``ready`` and ``closed`` for every way a
connection can start and end, and ``channel()``.

``ready``/``closed`` hand out a new Deferred per access: every consumer gets the outcome, even
long after it happened, and an outcome nobody asked for is never reported as an unhandled
error (the autouse fixture fails a test on any "Unhandled error in Deferred").
"""

from __future__ import annotations

import gc
import socket
from typing import Any, Generator

import pytest
import pytest_twisted
from deferred_helpers import Amqp, event_deferred, failure_of, the_reactor, within
from twisted.internet import defer, protocol

from amqpbase import exceptions, spec
from amqpbase.adapters.twisted import TwistedChannel, TwistedProtocolConnection
from amqpbase.credentials import PlainCredentials

pytestmark = pytest.mark.broker


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_twisted.inlineCallbacks
def test_ready_fires_with_the_connection_for_every_consumer(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    connection = amqp.connect()
    early = connection.ready  # asked before the open completes
    opened = yield within(connection.ready)
    assert opened is connection
    assert connection.is_open and not connection.is_closing and not connection.is_closed
    assert (yield within(early)) is connection
    # A callback returning None on one Deferred must not eat the result of the next one.
    seen = []
    connection.ready.addCallback(seen.append)
    assert seen == [connection]
    assert (yield connection.ready) is connection
    assert (yield connection.ready) is connection
    assert connection.server_properties["product"] == "RabbitMQ"
    assert connection.reactor is the_reactor()


@pytest_twisted.inlineCallbacks
def test_wrong_password_fails_ready_with_probable_authentication_error(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    connection = amqp.connect(amqp.params(credentials=PlainCredentials("guest", "wrong")))
    error = yield failure_of(connection.ready)
    assert type(error) is exceptions.ProbableAuthenticationError
    assert error.reply_code == 403
    assert "ACCESS_REFUSED" in error.reply_text
    # Asked later, the same exception again; ``closed`` fails with it too (never opened).
    assert (yield failure_of(connection.ready)) is error
    assert (yield failure_of(connection.closed)) is error
    assert connection.is_closed


@pytest_twisted.inlineCallbacks
def test_wrong_vhost_fails_ready_with_probable_access_denied_error(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    connection = amqp.connect(amqp.params(virtual_host=amqp.name("no-such-vhost")))
    error = yield failure_of(connection.ready)
    assert type(error) is exceptions.ProbableAccessDeniedError
    assert error.reply_code == 530


@pytest_twisted.inlineCallbacks
def test_refused_port_fails_ready_with_tcp_connection_refused(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    connection = amqp.connect(amqp.params(host="127.0.0.1", port=free_port()))
    error = yield failure_of(connection.ready)
    assert type(error) is exceptions.TCPConnectionRefusedError
    # channel() on a connection that never opened fails with the same cause.
    assert (yield failure_of(connection.channel())) is error


@pytest_twisted.inlineCallbacks
def test_silent_server_fails_ready_with_stack_timeout(amqp: Amqp) -> Generator[Any, Any, None]:
    """A peer that accepts TCP but never speaks AMQP: the open gives up after
    ``stack_timeout`` with ``StackTimeoutError``."""
    reactor = the_reactor()
    port = reactor.listenTCP(
        0, protocol.Factory.forProtocol(protocol.Protocol), interface="127.0.0.1"
    )
    try:
        params = amqp.params(host="127.0.0.1", port=port.getHost().port, stack_timeout=0.5)
        connection = amqp.connect(params)
        error = yield failure_of(connection.ready)
        assert type(error) is exceptions.StackTimeoutError
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_failed_open_nobody_asked_about_logs_no_unhandled_error(
    amqp: Amqp, no_unexpected_errors: Any
) -> Generator[Any, Any, None]:
    """An open error that no one asked for through ``ready``/``closed`` creates no failed
    Deferred (the autouse fixture also checks, after a gc pass)."""
    connection = amqp.connect(amqp.params(host="127.0.0.1", port=free_port()))
    failed, on_error = event_deferred()
    connection.impl.add_on_open_error_callback(on_error, remove_default=False)
    _impl, error = yield within(failed)
    assert type(error) is exceptions.TCPConnectionRefusedError
    del connection
    gc.collect()
    assert no_unexpected_errors == []


@pytest_twisted.inlineCallbacks
def test_close_fires_closed_with_connection_closed_by_client(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    connection = yield amqp.open()
    watcher = connection.closed
    reason = yield within(connection.close())
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert (reason.reply_code, reason.reply_text) == (200, "Normal shutdown")
    assert (yield within(watcher)) is reason
    assert (yield connection.closed) is reason
    # close() again: no error, the same outcome.
    assert (yield connection.close()) is reason
    assert connection.is_closed
    # A channel asked for afterwards fails with the reason the connection ended.
    assert (yield failure_of(connection.channel())) is reason


@pytest_twisted.inlineCallbacks
def test_close_with_reply_code_and_open_channels(amqp: Amqp) -> Generator[Any, Any, None]:
    """close() closes the channels first (each with ChannelClosedByClient) and a consumer's
    waiting get() fails with that reason."""
    connection = yield amqp.open()
    channel = yield amqp.open_channel(connection)
    queue = yield amqp.declare_queue(channel)
    messages, _tag = yield within(channel.basic_consume(queue))
    waiting = messages.get()
    reason = yield within(connection.close(320, "going away"))
    assert type(reason) is exceptions.ConnectionClosedByClient
    assert (reason.reply_code, reason.reply_text) == (320, "going away")
    channel_reason = yield failure_of(waiting)
    assert type(channel_reason) is exceptions.ChannelClosedByClient
    assert (yield within(channel.closed)) is channel_reason
    assert channel.is_closed


@pytest_twisted.inlineCallbacks
def test_close_while_opening_fires_closed_with_open_aborted(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    connection = amqp.connect()
    reason = yield within(connection.close())
    assert type(reason) is exceptions.ConnectionOpenAborted
    assert type((yield failure_of(connection.ready))) is exceptions.ConnectionOpenAborted


@pytest_twisted.inlineCallbacks
def test_close_with_bad_arguments_gives_a_failed_deferred(amqp: Amqp) -> Generator[Any, Any, None]:
    connection = yield amqp.open()
    error = yield failure_of(connection.close(reply_code="200"))  # type: ignore[arg-type]
    assert type(error) is TypeError
    assert connection.is_open


@pytest_twisted.inlineCallbacks
def test_broker_close_fails_closed_and_everything_pending(amqp: Amqp) -> Generator[Any, Any, None]:
    """``rabbitmqctl close_connection``: ``closed`` FAILS with ConnectionClosedByBroker (320),
    and so do a channel's ``closed`` and a consumer's waiting get()."""
    name = amqp.name("conn")
    connection = yield amqp.open(amqp.params(connection_name=name))
    channel = yield amqp.open_channel(connection)
    queue = yield amqp.declare_queue(channel)
    messages, _tag = yield within(channel.basic_consume(queue))
    waiting = messages.get()
    watcher = connection.closed
    pid = yield amqp.connection_pid(name)
    yield amqp.ctl("close_connection", pid, "test says bye")
    reason = yield failure_of(watcher)
    assert type(reason) is exceptions.ConnectionClosedByBroker
    assert reason.reply_code == spec.CONNECTION_FORCED
    assert "test says bye" in reason.reply_text
    assert (yield failure_of(connection.closed)) is reason
    assert (yield failure_of(waiting)) is reason
    assert (yield failure_of(messages.get())) is reason
    assert (yield failure_of(channel.closed)) is reason
    assert (yield within(channel.on_closed)) is reason  # pika's on_closed always fires
    assert (yield failure_of(channel.queue_declare(queue, passive=True))) is reason
    assert connection.is_closed


@pytest_twisted.inlineCallbacks
def test_channel_fires_with_an_open_twisted_channel(amqp: Amqp) -> Generator[Any, Any, None]:
    connection = amqp.connect()
    # Asked while the connection is still opening: it waits for ready.
    first = yield within(connection.channel())
    assert isinstance(first, TwistedChannel)
    assert first.is_open and first.channel_number == 1
    second = yield within(connection.channel(7))
    assert second.channel_number == 7 and second.is_open
    error = yield failure_of(connection.channel(7))  # in use
    assert isinstance(error, exceptions.InvalidChannelNumber)
    assert first.connection is connection.impl


@pytest_twisted.inlineCallbacks
def test_cancelling_ready_and_channel_deferreds_is_safe(amqp: Amqp) -> Generator[Any, Any, None]:
    connection = amqp.connect()
    abandoned = connection.ready
    abandoned.cancel()
    assert type((yield failure_of(abandoned))) is defer.CancelledError
    assert (yield within(connection.ready)) is connection  # the open went on
    opening = connection.channel()
    opening.cancel()  # closes the channel being opened
    assert type((yield failure_of(opening))) is defer.CancelledError
    channel = yield within(connection.channel())
    assert channel.is_open
    ok = yield within(channel.queue_declare("", exclusive=True))
    assert isinstance(ok.method, spec.Queue.DeclareOk)
    watcher = connection.closed
    watcher.cancel()
    assert type((yield failure_of(watcher))) is defer.CancelledError
    reason = yield within(connection.close())
    assert type(reason) is exceptions.ConnectionClosedByClient


@pytest_twisted.inlineCallbacks
def test_exception_in_a_user_callback_does_not_break_the_connection(
    amqp: Amqp,
) -> Generator[Any, Any, None]:
    """A callback the user chains on one of our Deferreds raises: the error stays in that
    Deferred (Twisted's business); the connection and channel carry on."""
    connection = yield amqp.open()
    channel = yield amqp.open_channel(connection)
    broken = connection.ready.addCallback(lambda _connection: 1 / 0)
    assert type((yield failure_of(broken))) is ZeroDivisionError
    broken = channel.queue_declare("", exclusive=True).addCallback(lambda _frame: 1 / 0)
    assert type((yield failure_of(broken))) is ZeroDivisionError
    ok = yield within(channel.queue_declare("", exclusive=True))
    assert isinstance(ok.method, spec.Queue.DeclareOk)
    assert connection.is_open and channel.is_open


def test_protocol_connection_is_exported_lazily() -> None:
    import amqpbase.adapters.twisted as package
    from amqpbase.adapters.twisted import deferred_api

    assert package.TwistedProtocolConnection is deferred_api.TwistedProtocolConnection
    assert package.ClosableDeferredQueue is deferred_api.ClosableDeferredQueue
    assert package.TwistedChannel is deferred_api.TwistedChannel
    assert TwistedProtocolConnection is deferred_api.TwistedProtocolConnection
