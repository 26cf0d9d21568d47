"""Why a connection could not be opened: each failure gives one precise exception class
(with the broker's own reply where there is one), reported once to the open-error callback,
never to on_close; retries and ``create_connection`` over several parameter sets."""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from typing import Any, Iterator, List, Tuple

import pytest

from amqpbase import exceptions
from amqpbase.connection import Connection
from amqpbase.credentials import PlainCredentials

from faults.scripted_peer import ScriptedPeer

from .conftest import Events, Session

pytestmark = pytest.mark.broker


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback TCP listener that completes TCP handshakes (kernel backlog) but never
    accepts and never speaks AMQP. Yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture
def full_backlog_listener() -> Iterator[int]:
    """A loopback listener whose accept queue is full, so a new TCP connect to it hangs in
    SYN-SENT (Linux drops the SYN): a connect timeout without leaving loopback."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers: List[socket.socket] = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            filler.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], [filler], [], 0.2)
            if not writable:
                break  # this connect hangs: the accept queue is full
        else:
            pytest.skip("this kernel completes every loopback connect; no connect timeout")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


class CountingListener:
    """A loopback listener that accepts each TCP connection and closes it at once (a broker
    dying during the handshake), counting the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def open_and_fail(session: Session, timeout: float = 5.0, **overrides: Any
                  ) -> Tuple[Connection, Events, BaseException, float]:
    """Start a connection with ``overrides`` and run until the open fails; returns the
    connection, its events, the single error and the seconds it took."""
    connection, events = session.connect(session.params(**overrides))
    start = time.monotonic()
    session.driver.run_until(lambda: events.settled, timeout, what="the open to fail")
    elapsed = time.monotonic() - start
    assert events.opened == [], "the connection opened, but it should have failed"
    session.driver.run_for(0.05)  # nothing else is reported afterwards
    assert len(events.open_errors) == 1, events.open_errors
    assert events.closed == [], "on_close must not run for a connection that never opened"
    assert connection.is_closed
    return connection, events, events.open_errors[0], elapsed


def test_wrong_password_is_probable_authentication_error(session: Session) -> None:
    """Wrong password: ``ProbableAuthenticationError`` carrying the broker's own
    Connection.Close: reply_code 403 and RabbitMQ's ACCESS_REFUSED text."""
    _, _, error, _ = open_and_fail(session, credentials=PlainCredentials("guest", "wrong"))
    assert type(error) is exceptions.ProbableAuthenticationError
    assert error.reply_code == 403
    assert error.reply_text.startswith("ACCESS_REFUSED"), error.reply_text
    assert "PLAIN" in error.reply_text


def test_authentication_failure_is_not_retried(session: Session) -> None:
    """connection_attempts=3: a refused login is definitive, so it is reported once, at once,
    without waiting ``retry_delay`` between useless attempts."""
    _, _, error, elapsed = open_and_fail(
        session, credentials=PlainCredentials("guest", "wrong"), connection_attempts=3,
        retry_delay=1.0)
    assert type(error) is exceptions.ProbableAuthenticationError
    assert elapsed < 1.0, elapsed


def test_unknown_vhost_is_probable_access_denied_error(session: Session) -> None:
    """Unknown virtual host: ``ProbableAccessDeniedError`` with the broker's 530 NOT_ALLOWED
    reply naming the vhost."""
    vhost = session.name("vhost")
    _, _, error, _ = open_and_fail(session, virtual_host=vhost)
    assert type(error) is exceptions.ProbableAccessDeniedError
    assert error.reply_code == 530
    assert error.reply_text.startswith("NOT_ALLOWED"), error.reply_text
    assert vhost in error.reply_text


def test_refused_port_is_tcp_connection_refused(session: Session) -> None:
    """Nobody listening: ``TCPConnectionRefusedError`` with the OS error (ECONNREFUSED)
    chained as ``__cause__``."""
    _, _, error, _ = open_and_fail(session, port=free_port())
    assert type(error) is exceptions.TCPConnectionRefusedError
    assert isinstance(error.__cause__, OSError)
    assert error.__cause__.errno == errno.ECONNREFUSED


def test_silent_peer_is_stack_timeout(session: Session, silent_listener: int) -> None:
    """A peer that accepts TCP but never answers the protocol header: the open gives up after
    ``stack_timeout`` (0.5 s here) with ``StackTimeoutError``."""
    _, _, error, elapsed = open_and_fail(session, port=silent_listener, stack_timeout=0.5,
                                         socket_timeout=0.3)
    assert type(error) is exceptions.StackTimeoutError
    assert 0.45 <= elapsed < 3.0, elapsed


def test_tcp_connect_timeout_is_socket_timeout(session: Session,
                                               full_backlog_listener: int) -> None:
    """A TCP connect that never completes: after ``socket_timeout`` (0.3 s) the open fails
    with ``SocketTimeoutError`` (before the 5 s stack timeout)."""
    _, _, error, elapsed = open_and_fail(session, port=full_backlog_listener,
                                         socket_timeout=0.3, stack_timeout=5.0)
    assert type(error) is exceptions.SocketTimeoutError
    assert 0.25 <= elapsed < 3.0, elapsed


def test_unresolvable_host_is_name_resolution_error(session: Session) -> None:
    """A host name getaddrinfo() rejects locally (319 characters, over DNS's 253), so no query
    leaves the machine (tests send traffic to loopback only; 'nonexistent.invalid' would ask
    the configured resolver): ``NameResolutionError`` with ``socket.gaierror`` chained."""
    _, _, error, _ = open_and_fail(session, host=".".join(["a" * 63] * 5))
    assert type(error) is exceptions.NameResolutionError
    assert isinstance(error.__cause__, socket.gaierror)


def test_peer_speaking_another_amqp_version(session: Session) -> None:
    """A server that answers our ``AMQP 0-9-1`` header with its own ``AMQP 0-8`` header (the
    AMQP way to refuse a version): ``IncompatibleProtocolError``, reported at once and not
    retried."""
    peer = ScriptedPeer(lambda peer: peer.send_raw(b"AMQP\x01\x01\x08\x00"))
    try:
        _, _, error, elapsed = open_and_fail(session, port=peer.port, connection_attempts=3,
                                             retry_delay=1.0)
        assert peer.done.wait(5), "the peer did not see the client hang up"
        peer.check()  # nothing went wrong on the peer's side
    finally:
        peer.close()
    assert peer.protocol_header == b"AMQP\x00\x00\x09\x01"
    assert peer.client_eof and peer.frames == []  # refused at once: nothing after the header
    assert type(error) is exceptions.IncompatibleProtocolError
    assert elapsed < 1.0


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",  # an HTTP port
    b"SSH-2.0-OpenSSH_9.2p1\r\n",  # a wrong port
    b"\x15\x03\x03\x00\x02\x02\x32",  # a TLS port: its alert record
], ids=["http", "ssh", "tls"])
def test_peer_that_is_not_amqp(session: Session, answer: bytes) -> None:
    """A server that is not AMQP at all answers our protocol header: the first bytes cannot
    be a frame, so the open fails with ``IncompatibleProtocolError`` (an
    ``AMQPConnectionError``; the codec's ``InvalidFrameError``, reply code 501, is its
    cause), at once and without retries (a different answer cannot come from the same
    server), and no Connection.Close is sent to it."""
    peer = ScriptedPeer(lambda peer: peer.send_raw(answer))
    try:
        _, _, error, elapsed = open_and_fail(session, port=peer.port, connection_attempts=3,
                                             retry_delay=1.0)
        assert peer.done.wait(5), "the peer did not see the client hang up"
        peer.check()
    finally:
        peer.close()
    assert peer.client_eof and peer.frames == []  # no Close to a peer that is not AMQP
    assert type(error) is exceptions.IncompatibleProtocolError, repr(error)
    assert isinstance(error, exceptions.AMQPConnectionError)
    assert "does not speak AMQP 0-9-1" in str(error)
    assert isinstance(error.__cause__, exceptions.InvalidFrameError), repr(error.__cause__)
    assert error.__cause__.reply_code == 501
    assert elapsed < 1.0


def test_broker_refusing_our_header_with_its_own(session: Session) -> None:
    """RabbitMQ's answer to a protocol header it does not accept is its own header,
    b"AMQP\\x00\\x00\\x09\\x01", then it closes: ``IncompatibleProtocolError`` at once,
    not retried, with a text that does not claim "0-9-1, not 0-9-1"."""
    peer = ScriptedPeer(lambda peer: peer.send_raw(b"AMQP\x00\x00\x09\x01"))
    try:
        _, _, error, elapsed = open_and_fail(session, port=peer.port, connection_attempts=3,
                                             retry_delay=1.0)
        assert peer.done.wait(5), "the peer did not see the client hang up"
        peer.check()
    finally:
        peer.close()
    assert peer.client_eof and peer.frames == []
    assert type(error) is exceptions.IncompatibleProtocolError
    assert "refused our protocol header" in str(error)
    assert elapsed < 1.0


def test_connection_attempts_retry_with_delay(session: Session) -> None:
    """connection_attempts=3, retry_delay=0.2 against a refused port: three attempts (two
    delays, so at least 0.4 s), then ONE open error of the precise class."""
    _, _, error, elapsed = open_and_fail(session, port=free_port(), connection_attempts=3,
                                         retry_delay=0.2)
    assert type(error) is exceptions.TCPConnectionRefusedError
    assert 0.38 <= elapsed < 3.0, elapsed


def test_connection_attempts_counted_by_the_peer(session: Session) -> None:
    """connection_attempts=3 against a peer that drops every connection during the handshake:
    the peer sees exactly three TCP connections and the single error is ``StreamLostError``."""
    listener = CountingListener()
    try:
        _, _, error, _ = open_and_fail(session, port=listener.port, connection_attempts=3,
                                       retry_delay=0.1)
    finally:
        listener.close()
    assert type(error) is exceptions.StreamLostError
    assert listener.accepted == 3


def test_close_between_attempts_aborts_the_retries(session: Session) -> None:
    """close() while waiting ``retry_delay`` between attempts: the open error callback gets
    ``ConnectionOpenAborted`` at once (not after the delay), and no further attempt is made."""
    listener = CountingListener()
    try:
        connection, events = session.connect(session.params(
            port=listener.port, connection_attempts=3, retry_delay=0.6))
        session.driver.run_until(lambda: listener.accepted == 1, what="the first attempt")
        session.driver.run_for(0.1)  # the attempt has failed; the retry timer is pending
        assert not events.settled
        start = time.monotonic()
        connection.close()
        session.driver.run_until(lambda: events.settled, what="the abort to be reported")
        assert time.monotonic() - start < 0.3
        session.driver.run_for(0.7)  # past the retry delay
    finally:
        listener.close()
    assert [type(e) for e in events.open_errors] == [exceptions.ConnectionOpenAborted]
    assert listener.accepted == 1
    assert events.closed == [] and connection.is_closed


def test_close_while_connecting_aborts(session: Session, full_backlog_listener: int) -> None:
    """close() while the TCP connect is still in progress: ``ConnectionOpenAborted`` to the
    open-error callback, promptly, instead of a socket timeout later."""
    connection, events = session.connect(session.params(port=full_backlog_listener,
                                                        socket_timeout=3.0))
    session.driver.run_for(0.1)
    assert not events.settled
    start = time.monotonic()
    connection.close()
    session.driver.run_until(lambda: events.settled, what="the abort to be reported")
    assert time.monotonic() - start < 0.5
    assert [type(e) for e in events.open_errors] == [exceptions.ConnectionOpenAborted]
    session.driver.run_until(lambda: connection.is_closed)


def test_create_connection_abort(session: Session) -> None:
    """workflow.abort() while create_connection waits between cycles: on_done gets
    ``AMQPConnectionWorkflowAborted`` promptly, once."""
    results: List[Any] = []
    config = session.params(port=free_port(), connection_attempts=3, retry_delay=0.6)
    workflow = session.driver.create_connection([config], results.append)
    session.driver.run_for(0.2)  # the first attempt was refused; the pause is running
    assert results == []
    start = time.monotonic()
    workflow.abort()
    session.driver.run_until(lambda: results, what="on_done after abort()")
    assert time.monotonic() - start < 0.3
    session.driver.run_for(0.7)
    assert len(results) == 1
    assert type(results[0]) is exceptions.AMQPConnectionWorkflowAborted


def test_create_connection_falls_back_to_the_next_parameters(session: Session) -> None:
    """create_connection([refused, good]): on_done gets the connection opened with the second
    parameter set, open and usable."""
    bad = session.params(port=free_port())
    good = session.params()
    results: List[Any] = []
    session.driver.create_connection([bad, good], results.append)
    session.driver.run_until(lambda: results, what="create_connection's on_done")
    connection = results[0]
    assert isinstance(connection, Connection), results
    assert connection.is_open
    assert connection.params.port == int(session.broker.port)
    ch = session.open_channel(connection)
    assert ch.is_open


def test_create_connection_all_failed_lists_each_cause(session: Session) -> None:
    """create_connection with only failing parameter sets: on_done gets
    ``AMQPConnectionWorkflowFailed`` whose ``exceptions`` hold each attempt's precise cause,
    in order."""
    configs = [session.params(port=free_port()), session.params(port=free_port())]
    results: List[Any] = []
    session.driver.create_connection(configs, results.append)
    session.driver.run_until(lambda: results, what="create_connection's on_done")
    failure = results[0]
    assert type(failure) is exceptions.AMQPConnectionWorkflowFailed, failure
    assert len(failure.exceptions) == 2
    assert all(type(e) is exceptions.TCPConnectionRefusedError for e in failure.exceptions)
    assert str(configs[0].port) in str(failure.exceptions[0])
    assert str(configs[1].port) in str(failure.exceptions[1])


def test_create_connection_stops_at_a_refused_login(session: Session) -> None:
    """create_connection([wrong password, good]): as amqpbase's workflow documents, a refused
    login ends the workflow at once (pika 1.x would go on to the next set); on_done gets
    ``AMQPConnectionWorkflowFailed`` holding just the ``ProbableAuthenticationError``."""
    configs = [session.params(credentials=PlainCredentials("guest", "wrong")), session.params()]
    results: List[Any] = []
    session.driver.create_connection(configs, results.append)
    session.driver.run_until(lambda: results, what="create_connection's on_done")
    failure = results[0]
    assert type(failure) is exceptions.AMQPConnectionWorkflowFailed, failure
    assert [type(e) for e in failure.exceptions] == [exceptions.ProbableAuthenticationError]


def test_create_connection_moves_past_a_constructor_that_raises(session: Session) -> None:
    """pika's workflow: the adapter class's constructor raises for the first parameter set
    (here a subclass refusing its port); that attempt fails and the second set opens. The
    names come from pika's import path."""
    from amqpbase.adapters.utils.connection_workflow import AMQPConnectionWorkflowFailed

    bad_port = free_port()
    refused = ValueError(f"port {bad_port} refused by the constructor")

    class Picky(session.driver.connection_class):  # type: ignore[name-defined,misc]
        def __init__(self, parameters: Any = None, *args: Any, **kwargs: Any) -> None:
            if parameters.port == bad_port:
                raise refused
            super().__init__(parameters, *args, **kwargs)

    results: List[Any] = []
    configs = [session.params(port=bad_port), session.params()]
    Picky.create_connection(configs, results.append, custom_ioloop=session.driver.loop)
    assert results == []  # reported from the loop, not from inside create_connection
    session.driver.run_until(lambda: results, what="create_connection's on_done")
    connection = results[0]
    session.driver.connections.append(connection)
    assert isinstance(connection, Picky) and connection.is_open, results
    assert connection.params.port == int(session.broker.port)

    # Only the refusing set: connection_attempts=2 cycles of the last set, then the failure.
    results.clear()
    start = time.monotonic()
    Picky.create_connection([session.params(port=bad_port, connection_attempts=2,
                                            retry_delay=0.2)],
                            results.append, custom_ioloop=session.driver.loop)
    session.driver.run_until(lambda: results, what="create_connection's on_done")
    assert time.monotonic() - start >= 0.19
    failure = results[0]
    assert type(failure) is AMQPConnectionWorkflowFailed, failure
    assert list(failure.exceptions) == [refused, refused]
