"""TLS and credentials against the real RabbitMQ node, on every loop.

The node's TLS listener (``scripts/broker``: ``Broker.tls_port``) presents a certificate for
``localhost`` / ``127.0.0.1`` signed by the run's own test CA, asks every client for a
certificate (``verify_peer``, ``fail_if_no_peer_cert = false``) and offers SASL EXTERNAL
(plugin ``rabbitmq_auth_mechanism_ssl``, ``ssl_cert_login_from = common_name``). What the broker
saw is read back from the broker itself: the ``rabbitmqctl list_connections`` items ``ssl``,
``ssl_protocol``, ``peer_cert_subject``, ``auth_mechanism`` and ``user``, and the SNI name from
the connection's TLS socket (``ssl:connection_information/2`` through ``rabbitmqctl eval``;
``list_connections`` has no SNI column).

The last test checks password hygiene over real opens, a refused login and a close: no
password appears in any log record (every logger at DEBUG, Twisted's log too), repr/str or
exception text.
"""

from __future__ import annotations

import logging
import re
import ssl
import traceback
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from amqpbase import exceptions
from amqpbase.connection import Connection
from amqpbase.credentials import ExternalCredentials, PlainCredentials
from amqpbase.parameters import ConnectionParameters, SSLOptions, URLParameters

from .conftest import Session

pytestmark = pytest.mark.broker

#: The name in the server certificate (SAN DNS), sent as SNI.
SERVER_NAME = "localhost"


def tls_context(session: Session, ca: str = "ca.pem", client_cert: bool = True) -> ssl.SSLContext:
    """A client context trusting ``ca`` (a file of the node's test PKI), with the test client
    certificate (CN ``Broker.TLS_CLIENT_USER``) unless ``client_cert`` is False."""
    broker = session.broker
    context = ssl.create_default_context(cafile=broker.tls_file(ca))
    if client_cert:
        context.load_cert_chain(broker.tls_file("client.pem"), broker.tls_file("client.key"))
    return context


def tls_params(session: Session, context: ssl.SSLContext,
               server_hostname: Optional[str] = SERVER_NAME, **overrides: Any
               ) -> ConnectionParameters:
    """Parameters for the node's TLS port (short timeouts, unique connection_name)."""
    port = session.broker.tls_port
    if port is None:
        raise RuntimeError(f"{session.broker!r} has no TLS listener: scripts/broker start")
    return session.params(port=port, ssl_options=SSLOptions(context, server_hostname),
                          **overrides)


def open_error(session: Session, params: ConnectionParameters) -> BaseException:
    """Open with ``params``, which must fail: the one error reported to on_open_error."""
    connection, events = session.connect(params)
    session.driver.run_until(lambda: events.settled, what="the open attempt to end")
    assert events.opened == [], "the connection opened, but it should have failed"
    assert len(events.open_errors) == 1, events.open_errors
    assert connection.is_closed
    return events.open_errors[0]


def connection_name(params: ConnectionParameters) -> str:
    return str(params.client_properties["connection_name"])  # type: ignore[index]


def broker_tls_view(session: Session, name: str) -> Dict[str, str]:
    """What the broker knows about the connection named ``name``: the ``list_connections``
    items ``ssl``, ``ssl_protocol``, ``peer_cert_subject``, ``auth_mechanism``, ``user`` (as
    rabbitmqctl prints them), plus ``sni``: the SNI name the broker's TLS socket received, or
    ``none``. One ``rabbitmqctl eval`` (the reader process keeps its socket in its state)."""
    assert re.fullmatch(r"[\w.-]+", name), name  # spliced into Erlang source below
    expression = f"""
        Items = [ssl, ssl_protocol, peer_cert_subject, auth_mechanism, user],
        Show = fun(V) when is_binary(V) -> V; (V) -> io_lib:format("~p", [V]) end,
        Named = fun(P) ->
            Props = proplists:get_value(client_properties,
                                        rabbit_reader:info(P, [client_properties]), []),
            lists:member({{<<"connection_name">>, longstr, <<"{name}">>}}, Props)
        end,
        [begin
            [io:format("~s=~ts~n", [K, Show(V)]) || {{K, V}} <- rabbit_reader:info(P, Items)],
            {{_, _, State}} = sys:get_state(P),
            Sni = case [E || E <- tuple_to_list(State), is_tuple(E), tuple_size(E) > 0,
                             element(1, E) =:= sslsocket] of
                [Sock] -> {{ok, Info}} = ssl:connection_information(Sock, [sni_hostname]),
                          proplists:get_value(sni_hostname, Info, none);
                [] -> none
            end,
            io:format("sni=~ts~n", [Show(Sni)])
         end || P <- rabbit_networking:connections(), Named(P)],
        ok."""
    out = session.broker.ctl("eval", expression)
    view = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert view, f"connection {name} not found by the broker:\n{out}"
    return {key: value.strip('"') for key, value in view.items()}


def declare_round_trip(session: Session, connection: Connection) -> None:
    """RPCs on a channel of ``connection`` work (data flows both ways, the user has rights):
    a server-named exclusive queue (gone with the connection, so no cleanup is needed)."""
    channel = session.open_channel(connection)
    ok = session.rpc(channel.queue_declare, "", exclusive=True)
    assert ok.method.queue.startswith("amq.gen-"), ok.method


# -- Server verification, SNI, client certificate ----------------------------------------------


def test_tls_broker_verified_sni_and_client_certificate(session: Session) -> None:
    """The right CA verifies the broker; the broker sees TLS, the SNI name ``localhost`` and
    the client certificate's subject; PLAIN still works over TLS."""
    params = tls_params(session, tls_context(session))
    connection, _ = session.open_connection(params)
    declare_round_trip(session, connection)
    view = broker_tls_view(session, connection_name(params))
    assert view["ssl"] == "true"
    assert view["ssl_protocol"] in ("'tlsv1.3'", "'tlsv1.2'"), view
    assert view["sni"] == SERVER_NAME
    assert view["peer_cert_subject"] == f"CN={session.broker.TLS_CLIENT_USER}"
    assert (view["auth_mechanism"], view["user"]) == ("PLAIN", "guest")


def test_tls_broker_ip_host_without_client_certificate(session: Session) -> None:
    """No ``server_hostname`` and host ``127.0.0.1``: the certificate is checked against its
    IP SAN and no SNI is sent (RFC 6066 3: SNI carries host names, never IP literals); without
    a client certificate the broker lets the client in (``fail_if_no_peer_cert = false``)."""
    params = tls_params(session, tls_context(session, client_cert=False), server_hostname=None)
    connection, _ = session.open_connection(params)
    view = broker_tls_view(session, connection_name(params))
    assert view["ssl"] == "true"
    assert view["sni"] == "none"
    assert view["peer_cert_subject"] == "''"  # the atom '': no certificate
    assert connection.is_open


def test_tls_broker_wrong_ca_is_handshake_error(session: Session) -> None:
    """A CA that did not sign the broker's certificate: ``TLSHandshakeError`` with the
    certificate verification error chained."""
    error = open_error(session, tls_params(session, tls_context(session, ca="other-ca.pem")))
    assert type(error) is exceptions.TLSHandshakeError
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError), repr(error.__cause__)
    # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: RabbitMQ sends its chain up to its CA (from
    # ssl_options.cacertfile), a self-signed root the client does not trust.
    assert error.__cause__.verify_code == 19, error.__cause__


def test_tls_broker_hostname_mismatch_is_handshake_error(session: Session) -> None:
    """``server_hostname`` is what the certificate is checked against: a name it does not
    carry fails verification (the name sent as SNI is the one verified)."""
    error = open_error(session, tls_params(session, tls_context(session),
                                           server_hostname="other.test"))
    assert type(error) is exceptions.TLSHandshakeError
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError), repr(error.__cause__)
    assert "other.test" in str(error.__cause__)


# -- SASL EXTERNAL --------------------------------------------------------------------------


def test_external_auth_logs_in_as_the_certificate_cn(session: Session) -> None:
    """``ExternalCredentials`` with the client certificate: the broker logs the connection in
    with EXTERNAL as the user named by the certificate's CN (which has no password)."""
    params = tls_params(session, tls_context(session), credentials=ExternalCredentials())
    connection, _ = session.open_connection(params)
    declare_round_trip(session, connection)
    mechanism, user, subject = session.connection_info(
        connection_name(params), "auth_mechanism", "user", "peer_cert_subject")
    assert (mechanism, user) == ("EXTERNAL", session.broker.TLS_CLIENT_USER)
    assert subject == f"CN={session.broker.TLS_CLIENT_USER}"


def test_external_auth_without_client_certificate_is_refused(session: Session) -> None:
    """EXTERNAL over TLS without a client certificate: the broker offers EXTERNAL but refuses
    the login (Connection.Close 403, RabbitMQ's own text): ``ProbableAuthenticationError``."""
    error = open_error(session, tls_params(session, tls_context(session, client_cert=False),
                                           credentials=ExternalCredentials()))
    assert type(error) is exceptions.ProbableAuthenticationError
    assert error.reply_code == 403
    assert error.reply_text.startswith("ACCESS_REFUSED"), error.reply_text
    assert "EXTERNAL" in error.reply_text


def test_external_auth_over_plain_tcp_is_not_offered(session: Session) -> None:
    """Over plain TCP RabbitMQ does not offer EXTERNAL (there is no certificate):
    ``AuthenticationError('EXTERNAL')``, no retry."""
    error = open_error(session, session.params(credentials=ExternalCredentials(),
                                               connection_attempts=2))
    assert type(error) is exceptions.AuthenticationError
    assert error.args[0] == "EXTERNAL"


# -- Password hygiene -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secret_user(broker: Any) -> Iterator[Tuple[str, str]]:
    """A broker user with a distinctive password (so any occurrence of it is a leak);
    deleted afterwards."""
    token = uuid.uuid4().hex[:10]
    user, password = f"amqpbase-secret-{token}", f"Pw{uuid.uuid4().hex}"
    broker.ctl("add_user", user, password)
    try:
        broker.ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
        yield user, password
    finally:
        broker.ctl("delete_user", user)


class _TwistedLogTexts:
    """Formats every event of Twisted's global log publisher while installed (Twisted logs
    through its own system, not :mod:`logging`)."""

    def __init__(self) -> None:
        self.texts: List[str] = []

    def __call__(self, event: Dict[str, Any]) -> None:
        from twisted.logger import formatEvent

        self.texts.append(formatEvent(event) + repr(event.get("log_failure", "")))


def _exception_texts(error: BaseException) -> List[str]:
    """str, repr and the formatted traceback of ``error`` and its whole cause/context chain."""
    texts = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    seen: List[BaseException] = []
    current: Optional[BaseException] = error
    while current is not None and current not in seen:
        seen.append(current)
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


def test_passwords_never_appear_in_logs_reprs_or_errors(
        session: Session, secret_user: Tuple[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    """A full open (password in the URL), publish and close, then refused logins with wrong
    passwords (``PlainCredentials`` and URL): with every logger at DEBUG, no password shows up
    in a log record (message, arguments, traceback), in the repr/str of parameters,
    credentials and connections, nor in an exception's text or chained causes."""
    from twisted.logger import globalLogPublisher

    user, password = secret_user
    wrong, wrong_in_url = f"Wr{uuid.uuid4().hex}", f"Wu{uuid.uuid4().hex}"
    secrets = (password, wrong, wrong_in_url)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="amqpbase")
    twisted_log = _TwistedLogTexts()
    globalLogPublisher.addObserver(twisted_log)
    texts: List[str] = []
    try:
        base = f"amqp://{user}:{{}}@127.0.0.1:{session.broker.port}/%2F"
        query = "?socket_timeout=2&stack_timeout=5&heartbeat=1"
        good = URLParameters(base.format(password) + query)
        good.client_properties = {"connection_name": session.name("conn")}
        connection, events = session.open_connection(good)
        channel = session.open_channel(connection)
        channel.basic_publish("", session.name("nowhere"), b"body")
        texts += [repr(good), str(good), repr(good.credentials), str(good.credentials),
                  repr(connection), str(connection), repr(channel)]
        connection.close()
        session.driver.run_until(lambda: events.closed, what="the connection to close")
        texts += _exception_texts(events.closed[0]) + [repr(connection)]

        for params in (session.params(credentials=PlainCredentials(user, wrong)),
                       URLParameters(base.format(wrong_in_url) + query)):
            error = open_error(session, params)
            assert type(error) is exceptions.ProbableAuthenticationError, repr(error)
            texts += _exception_texts(error)
            texts += [repr(params), str(params), repr(params.credentials)]
    finally:
        globalLogPublisher.removeObserver(twisted_log)

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s %(args)r")
    records = caplog.get_records("call")
    texts += [formatter.format(record) for record in records] + twisted_log.texts
    # The capture really saw the library's own DEBUG/INFO records and both refusals.
    assert any(r.name.startswith("amqpbase") and r.levelno <= logging.INFO for r in records)
    assert sum("ACCESS_REFUSED" in text for text in texts) >= 2
    leaks = [text for text in texts for secret in secrets if secret in text]
    assert leaks == [], f"a password leaked in: {leaks}"
