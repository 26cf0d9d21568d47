"""TLS on every loop, against a loopback TLS peer (the test node has no TLS listener yet).

Each adapter must honour ``ssl_options`` from the parameters: verify the server with the
user's ``SSLContext``, send SNI (``server_hostname``), present the client certificate, and
report a refused handshake as the same exception class on every loop.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from amqpbase import exceptions
from amqpbase.parameters import ConnectionParameters, SSLOptions

from .drivers import Driver
from .tls_peer import SNI_NAME, TLSPeer, client_context, make_pki

PKI = Dict[str, Tuple[str, str]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _open_error(driver: Driver, port: int, context: ssl.SSLContext,
                server_hostname: str = SNI_NAME) -> BaseException:
    """Connect to the peer through TLS and return the error the open ended with."""
    errors: List[BaseException] = []

    def failed(connection: Any, error: BaseException) -> None:
        errors.append(error)

    params = ConnectionParameters(
        host="127.0.0.1",
        port=port,
        ssl_options=SSLOptions(context, server_hostname=server_hostname),
        socket_timeout=5,
        stack_timeout=10,
    )
    driver.connect(params, on_open_error_callback=failed)
    driver.run_until(lambda: errors, timeout=15, what="the TLS open attempt to end")
    return errors[0]


def test_tls_sends_sni_and_client_certificate(driver: Driver, pki: PKI) -> None:
    """SNI and the client certificate reach the peer; our protocol header goes out through
    TLS and the peer's answer comes back through it."""
    peer = TLSPeer(pki)
    error = _open_error(driver, peer.port, client_context(pki, with_cert=True))
    peer.thread.join(5)
    assert peer.error is None, peer.error
    assert peer.sni == [SNI_NAME]
    assert ((("commonName", "amqpbase client"),),) == peer.client_subject
    assert peer.received == b"AMQP\x00\x00\x09\x01"  # our protocol header, through TLS
    assert type(error) is exceptions.IncompatibleProtocolError  # the peer's reply came back


def test_tls_without_required_client_certificate_fails_precisely(driver: Driver,
                                                                 pki: PKI) -> None:
    """The peer refuses a client without a certificate: the open fails with an SSL error
    chained, whatever the loop."""
    peer = TLSPeer(pki)
    error = _open_error(driver, peer.port, client_context(pki, with_cert=False))
    peer.thread.join(5)
    # TLS 1.3: the server rejects the missing certificate after the client's handshake
    # finished, so the client sees it as a TLS alert on the stream (or during the handshake
    # with TLS 1.2). Either way the cause is an SSL error, chained.
    assert isinstance(error, (exceptions.TLSHandshakeError, exceptions.StreamLostError))
    assert isinstance(error.__cause__, (ssl.SSLError, OSError)), repr(error.__cause__)
    assert isinstance(peer.error, ssl.SSLError)


def test_tls_with_an_untrusted_server_is_a_handshake_error(driver: Driver, pki: PKI,
                                                           tmp_path: Path) -> None:
    """A server certificate from a CA the client does not trust: TLSHandshakeError with the
    certificate verification error chained, before any AMQP byte is sent."""
    other_ca = make_pki(tmp_path / "other")
    peer = TLSPeer(pki)
    error = _open_error(driver, peer.port, client_context(other_ca, with_cert=True))
    peer.thread.join(5)
    assert type(error) is exceptions.TLSHandshakeError
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError), repr(error.__cause__)
    assert peer.received == b""


def test_tls_server_name_must_match_the_certificate(driver: Driver, pki: PKI) -> None:
    """``server_hostname`` is checked against the certificate: a name it does not carry is a
    TLSHandshakeError (hostname mismatch), not a silent success."""
    peer = TLSPeer(pki)
    error = _open_error(driver, peer.port, client_context(pki, with_cert=True),
                        server_hostname="other.test")
    peer.thread.join(5)
    assert type(error) is exceptions.TLSHandshakeError
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError), repr(error.__cause__)
    assert peer.sni == ["other.test"]
