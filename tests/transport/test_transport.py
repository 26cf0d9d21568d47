"""The transport on every loop, against the loopback scripted peer (no broker).

One test body per behaviour, run on select, Tornado and Twisted through the conformance
drivers. The connections are the real adapter classes with the real base ``Connection``; a
:func:`probe` subclass only *observes* the up-calls (records them, then lets the base act) and
flags one made from inside a down-call, which the hook contract forbids. The peer is
``tests/faults/scripted_peer.py`` (the one scripted peer of the tree), in plain TCP or TLS.
Waits are on state set by callbacks (``driver.run_until``), never sleeps.

What each transport promises here (``docs/internals.md``, "The hook contract"): connect errors
with the same class, cause and text on every loop; TLS with the user's context, SNI and
client certificate, and its failures (untrusted server, wrong name, a client certificate the
server requires and does not get) told apart precisely; every emitted byte in order, bodies
by reference; a full socket that waits, then drains once; ``_on_stream_terminated`` exactly
once per stream, from the loop, never from inside ``_adapter_disconnect_stream``; a repeat
disconnect is a no-op.
"""

from __future__ import annotations

import errno
import hashlib
import socket
import ssl
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
from conformance.drivers import Driver
from faults.scripted_peer import ScriptedPeer
from pki import CLIENT_SUBJECT, PKI, SNI_NAME, client_context, server_context

from amqpbase import exceptions, frame, spec
from amqpbase.connection import Connection
from amqpbase.parameters import ConnectionParameters, SSLOptions

_PROBES: Dict[type, type] = {}

#: OpenSSL's verify codes (``x509_vfy.h``) in ``SSLCertVerificationError.verify_code``. A
#: chain that ends at a CA the client does not trust: X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
#: (19) when the server sends its CA along (OpenSSL completes the server's chain from its
#: verify locations, as ``tests/pki.py``'s server context has), X509_V_ERR_UNABLE_TO_GET_
#: ISSUER_CERT_LOCALLY (20) when it sends its own certificate only.
UNTRUSTED_CHAIN = (19, 20)
#: A certificate not valid for ``server_hostname``.
X509_V_ERR_HOSTNAME_MISMATCH = 62


def probe(driver: Driver) -> Any:
    """The driver's connection class, observed: ``events`` (up-call names in order),
    ``terminations``, ``drained`` (count)."""
    base = driver.connection_class
    cls = _PROBES.get(base)
    if cls is not None:
        return cls

    class Probe(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.events: List[str] = []
            self.terminations: List[Optional[BaseException]] = []
            self.drained = 0
            self.in_downcall = False
            super().__init__(*args, **kwargs)

        def _on_stream_connected(self) -> None:
            self.events.append("connected")
            super()._on_stream_connected()

        def _on_stream_terminated(self, error: Optional[BaseException]) -> None:
            assert not self.in_downcall, "_on_stream_terminated from inside a down-call"
            self.events.append("terminated")
            self.terminations.append(error)
            super()._on_stream_terminated(error)

        def _on_write_buffer_drained(self) -> None:
            self.drained += 1
            super()._on_write_buffer_drained()

        def _adapter_disconnect_stream(self) -> None:
            self.in_downcall = True
            try:
                super()._adapter_disconnect_stream()
            finally:
                self.in_downcall = False

    _PROBES[base] = Probe
    return Probe


def params(port: int, host: str = "127.0.0.1", **kwargs: Any) -> ConnectionParameters:
    kwargs.setdefault("socket_timeout", 5.0)
    kwargs.setdefault("stack_timeout", None)
    kwargs.setdefault("connection_attempts", 1)
    return ConnectionParameters(host=host, port=port, **kwargs)


def connect(driver: Driver, parameters: ConnectionParameters) -> Tuple[Any, Dict[str, Any]]:
    """A probe connection on ``driver``'s loop; ``outcome`` gets "open", "error", "closed"."""
    outcome: Dict[str, Any] = {}
    conn = probe(driver)(
        parameters=parameters,
        on_open_callback=lambda c: outcome.setdefault("open", c),
        on_open_error_callback=lambda c, e: outcome.setdefault("error", e),
        on_close_callback=lambda c, e: outcome.setdefault("closed", e),
        **{driver.loop_argument: driver.loop},
    )
    driver.connections.append(conn)
    return conn, outcome


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bodies(peer: ScriptedPeer) -> List[bytes]:
    """The bodies of the client's publishes, in the order the peer received them."""
    found: List[bytes] = []
    for got in peer.frames:
        if isinstance(got, frame.Method) and isinstance(got.method, spec.Basic.Publish):
            found.append(b"")
        elif isinstance(got, frame.Body):
            found[-1] += bytes(got.fragment)
    return found


def open_channel(driver: Driver, conn: Connection, outcome: Dict[str, Any]) -> Any:
    driver.run_until(lambda: outcome, what="the connection to open")
    assert "open" in outcome, outcome
    opened: List[Any] = []
    conn.channel(on_open_callback=opened.append)
    driver.run_until(lambda: opened, what="the channel to open")
    return opened[0]


def serve_one_channel(peer: ScriptedPeer) -> None:
    peer.handshake()
    peer.open_channel()


# ------------------------------------------------------------------------------------------
# connecting
# ------------------------------------------------------------------------------------------


def test_a_refused_port_is_tcp_connection_refused(driver: Driver) -> None:
    port = free_port()
    conn, outcome = connect(driver, params(port))
    driver.run_until(lambda: outcome, what="the open to fail")
    error = outcome["error"]
    assert type(error) is exceptions.TCPConnectionRefusedError
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert error.__cause__.errno == errno.ECONNREFUSED
    assert str(error).startswith(f"127.0.0.1:{port}: connection refused (")
    assert conn.events == ["terminated"]  # one outcome, no connected stream before it


def test_a_socket_timeout_too_short_for_the_connect_times_out_even_on_loopback(
    driver: Driver,
) -> None:
    """A listener that would accept at once: a connect that took longer than
    ``socket_timeout`` (1 µs here) is a timeout even when the loop sees it complete before
    the timer runs (on loopback it completes on the very next poll)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        conn, outcome = connect(driver, params(port, socket_timeout=0.000001))
        driver.run_until(lambda: outcome, what="the open to fail")
    error = outcome["error"]
    assert type(error) is exceptions.SocketTimeoutError, repr(error)
    assert isinstance(error.__cause__, socket.timeout)
    assert str(error).startswith(f"127.0.0.1:{port}: connect timed out (")
    assert conn.events == ["terminated"]


def test_close_while_connecting_reports_the_abort_once_later(driver: Driver) -> None:
    conn, outcome = connect(driver, params(free_port()))
    original = conn._adapter_connect_stream

    def connect_then_close() -> None:
        original()
        # Every loop resolves first, off the loop thread.
        assert conn.transport.state.name == "RESOLVING"
        conn.close()  # the base aborts the open: _adapter_disconnect_stream()
        assert conn.terminations == []  # never from inside the down-call

    conn._adapter_connect_stream = connect_then_close
    driver.run_until(lambda: outcome, what="the open to be aborted")
    driver.run_for(0.2)  # a late DNS answer or connect result changes nothing
    assert conn.terminations == [None] and conn.events == ["terminated"]
    assert [type(e) for e in outcome.values()] == [exceptions.ConnectionOpenAborted]


# ------------------------------------------------------------------------------------------
# TLS
# ------------------------------------------------------------------------------------------


#: Our protocol header, AMQP 0-9-1 (section 4.2.2), as the peer must receive it.
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


def test_tls_open_with_sni_client_certificate_and_large_bodies_in_order(
        driver: Driver, pki: PKI) -> None:
    """A full AMQP open over TLS with the user's context: SNI is ``server_hostname``, the
    client certificate reaches the peer (which requires one signed by the test CA), our
    protocol header goes out through TLS and the peer's frames come back through it; 8 MiB of
    body slices and small publishes around them arrive intact and in order."""
    peer = ScriptedPeer(serve_one_channel, tls=server_context(pki))
    options = SSLOptions(client_context(pki, with_cert=True), server_hostname=SNI_NAME)
    conn, outcome = connect(driver, params(peer.port, ssl_options=options))
    channel = open_channel(driver, conn, outcome)
    large = bytes(range(256)) * 32768  # 8 MiB
    sent = [b"first", large, b"last"]
    for body in sent:
        channel.basic_publish("", "q", body)
    conn.close()
    driver.run_until(lambda: "closed" in outcome and peer.done.is_set(), timeout=30)
    peer.check()
    assert peer.sni == [SNI_NAME]
    assert peer.client_subject == CLIENT_SUBJECT
    assert peer.protocol_header == PROTOCOL_HEADER
    assert bodies(peer) == sent
    assert conn.terminations == [None]


def test_tls_a_version_refusal_comes_back_through_tls(driver: Driver, pki: PKI) -> None:
    """The peer answers our protocol header, through TLS, with its own (AMQP 0-8: the AMQP way
    to refuse a version, section 4.2.2): ``IncompatibleProtocolError``, so the header went out
    and the answer came back through the TLS stream even before any frame."""
    peer = ScriptedPeer(lambda p: p.send_raw(b"AMQP\x00\x00\x08\x00"),
                        tls=server_context(pki))
    options = SSLOptions(client_context(pki, with_cert=True), server_hostname=SNI_NAME)
    conn, outcome = connect(driver, params(peer.port, ssl_options=options))
    driver.run_until(lambda: outcome and peer.done.is_set(), what="the refused open")
    peer.check()
    assert peer.sni == [SNI_NAME]
    assert peer.client_subject == CLIENT_SUBJECT
    assert peer.protocol_header == PROTOCOL_HEADER
    assert peer.frames == []
    assert [type(e) for e in outcome.values()] == [exceptions.IncompatibleProtocolError]
    assert peer.client_eof  # the client closed the stream
    assert len(conn.terminations) == 1


def test_tls_without_a_required_client_certificate_fails_precisely(driver: Driver,
                                                                   pki: PKI) -> None:
    """The peer requires a client certificate and the client has none: the open fails with
    the SSL error chained, whatever the loop, and the peer refused the handshake."""
    peer = ScriptedPeer(serve_one_channel, tls=server_context(pki))
    options = SSLOptions(client_context(pki, with_cert=False), server_hostname=SNI_NAME)
    conn, outcome = connect(driver, params(peer.port, ssl_options=options))
    driver.run_until(lambda: outcome and peer.done.is_set(), what="the open to fail")
    error = outcome["error"]
    # TLS 1.3 (RFC 8446 section 4.4.2.4): the server rejects the missing certificate after the
    # client's side of the handshake finished, so the client sees the alert on the stream
    # (during the handshake with TLS 1.2). Either way the cause is an SSL error, chained.
    assert isinstance(error, (exceptions.TLSHandshakeError, exceptions.StreamLostError))
    assert isinstance(error.__cause__, (ssl.SSLError, OSError)), repr(error.__cause__)
    assert list(outcome) == ["error"]
    assert len(conn.terminations) == 1
    peer.check()
    assert isinstance(peer.tls_failed, ssl.SSLError)
    assert peer.tls_failed.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE", peer.tls_failed
    assert peer.sni == [SNI_NAME]
    assert peer.protocol_header == b""


def test_tls_an_untrusted_server_is_a_handshake_error(driver: Driver, pki: PKI,
                                                      other_pki: PKI) -> None:
    """A server certificate from a CA the client does not trust (the client's own certificate
    is the right one): ``TLSHandshakeError`` with the verification error chained, before any
    AMQP byte is sent."""
    peer = ScriptedPeer(serve_one_channel, tls=server_context(pki))
    context = client_context(other_pki, with_cert=False)  # trusts the other CA only
    context.load_cert_chain(pki["client"][1], pki["client"][0])
    options = SSLOptions(context, server_hostname=SNI_NAME)
    conn, outcome = connect(driver, params(peer.port, ssl_options=options))
    driver.run_until(lambda: outcome, what="the open to fail")
    error = outcome["error"]
    assert type(error) is exceptions.TLSHandshakeError
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError), repr(error.__cause__)
    assert error.__cause__.verify_code in UNTRUSTED_CHAIN, error.__cause__.verify_message
    assert str(error).startswith(f"127.0.0.1:{peer.port}: TLS handshake failed: ")
    assert conn.events == ["terminated"]
    assert peer.done.wait(5)
    peer.check()
    assert peer.tls_failed is not None
    assert peer.protocol_header == b""
    peer.close()


def test_tls_server_name_must_match_the_certificate(driver: Driver, pki: PKI) -> None:
    """``server_hostname`` is sent as SNI and checked against the certificate: a name it does
    not carry is a ``TLSHandshakeError`` (hostname mismatch), not a silent success."""
    peer = ScriptedPeer(serve_one_channel, tls=server_context(pki))
    options = SSLOptions(client_context(pki, with_cert=True), server_hostname="other.test")
    conn, outcome = connect(driver, params(peer.port, ssl_options=options))
    driver.run_until(lambda: outcome, what="the open to fail")
    error = outcome["error"]
    assert type(error) is exceptions.TLSHandshakeError
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError), repr(error.__cause__)
    assert error.__cause__.verify_code == X509_V_ERR_HOSTNAME_MISMATCH, (
        error.__cause__.verify_message)
    assert conn.events == ["terminated"]
    assert peer.done.wait(5)
    peer.check()
    assert peer.sni == ["other.test"]
    assert peer.tls_failed is not None
    assert peer.protocol_header == b""
    peer.close()


def test_a_tls_handshake_without_answer_times_out(driver: Driver, pki: PKI) -> None:
    """TCP connects, the peer never answers the ClientHello: ``SocketTimeoutError`` after
    ``socket_timeout`` (which bounds the handshake on its own), cause ``socket.timeout``."""
    listener = socket.create_server(("127.0.0.1", 0))  # kernel backlog: connects, never speaks
    port = listener.getsockname()[1]
    options = SSLOptions(client_context(pki, with_cert=False), server_hostname=SNI_NAME)
    start = time.monotonic()
    try:
        conn, outcome = connect(driver, params(port, ssl_options=options, socket_timeout=0.5))
        driver.run_until(lambda: outcome, what="the handshake to time out")
    finally:
        listener.close()
    elapsed = time.monotonic() - start
    error = outcome["error"]
    assert type(error) is exceptions.SocketTimeoutError
    assert str(error) == f"127.0.0.1:{port}: TLS handshake timed out"
    assert isinstance(error.__cause__, socket.timeout)
    assert str(error.__cause__) == "no answer within socket_timeout=0.5s"
    assert conn.events == ["terminated"]
    assert 0.45 <= elapsed < 2.0, elapsed


# ------------------------------------------------------------------------------------------
# writes
# ------------------------------------------------------------------------------------------


def test_emitted_bytes_leave_in_order_and_bodies_by_reference(driver: Driver) -> None:
    """2000 small publishes and 1 MiB bodies (memoryview slices of the caller's body, queued by
    reference) in one callback: the peer receives every body, in order."""
    peer = ScriptedPeer(serve_one_channel)
    conn, outcome = connect(driver, params(peer.port))
    channel = open_channel(driver, conn, outcome)
    large = bytearray(bytes(range(256)) * 4096)
    sent: List[bytes] = []
    for i in range(2000):
        body = b"%06d" % i
        if i % 500 == 0:
            body = bytes(large)
        channel.basic_publish("", "q", body)
        sent.append(body)
    queued = conn.transport.queue.buffers
    assert len(queued) > 0 and conn._adapter_get_write_buffer_size() > len(large)
    conn.close()
    driver.run_until(lambda: "closed" in outcome and peer.done.is_set(), timeout=30)
    peer.check()
    assert bodies(peer) == sent
    assert conn.terminations == [None]


def test_a_full_socket_waits_then_drains_once_in_order(driver: Driver) -> None:
    """32 MiB (more than any loopback send + receive buffers) to a peer that does not read at
    first: the kernel takes part, the rest waits in the write buffer; once the peer reads,
    everything arrives in order and ``_on_write_buffer_drained`` comes once."""
    start_reading = threading.Event()

    def script(peer: ScriptedPeer) -> None:
        serve_one_channel(peer)
        start_reading.wait(20)

    peer = ScriptedPeer(script, eof_timeout=30)
    conn, outcome = connect(driver, params(peer.port))
    channel = open_channel(driver, conn, outcome)
    block = bytes(range(256)) * 512  # 128 KiB
    body = b"".join(block[i:] + block[:i] for i in range(256))  # 32 MiB, no repeated pattern
    drained = conn.drained
    # The frames as the base emits them, through the hook (a channel would pace a body this
    # large, a slice per drain: that is the link's business, tested in test_pacing.py).
    for chunk in frame.encode_content_frames(channel.channel_number, spec.Basic.Publish(0, "", "q"),
                                             None, body, 4096):
        conn._adapter_emit_data(chunk)
    total = conn._adapter_get_write_buffer_size()
    assert total > len(body)  # frames around the body
    try:
        driver.run_until(lambda: 0 < conn._adapter_get_write_buffer_size() < total,
                         what="the kernel to take part of the body")
        driver.run_for(0.2)
        assert conn._adapter_get_write_buffer_size() > 0  # the rest waits, no drain yet
        assert conn.drained == drained
    finally:
        start_reading.set()
    driver.run_until(lambda: conn.drained > drained, timeout=30, what="the drain")
    assert conn._adapter_get_write_buffer_size() == 0
    driver.run_for(0.05)
    assert conn.drained == drained + 1  # once per emptied buffer
    conn.close()
    driver.run_until(lambda: "closed" in outcome and peer.done.is_set(), timeout=30)
    peer.check()
    [received] = bodies(peer)
    assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()


# ------------------------------------------------------------------------------------------
# ending a stream
# ------------------------------------------------------------------------------------------


def test_disconnect_twice_terminates_once_from_the_loop(driver: Driver) -> None:
    peer = ScriptedPeer(lambda p: p.handshake())
    conn, outcome = connect(driver, params(peer.port))
    driver.run_until(lambda: outcome, what="the connection to open")
    conn._adapter_disconnect_stream()
    conn._adapter_disconnect_stream()  # a repeat: no-op
    assert conn.terminations == []  # later, from the loop, not from inside the down-call
    driver.run_until(lambda: conn.terminations, what="the termination")
    driver.run_for(0.05)
    assert conn.terminations == [None]
    conn._adapter_disconnect_stream()  # after the stream ended: no-op
    driver.run_for(0.05)
    assert conn.terminations == [None]
    assert conn.transport.state.name == "IDLE"
    peer.done.wait(5)
    peer.check()
    assert peer.client_eof


def test_the_last_bytes_before_disconnect_still_leave(driver: Driver) -> None:
    """What is emitted just before ``_adapter_disconnect_stream`` (a Connection.CloseOk, say)
    gets one last non-blocking write."""
    peer = ScriptedPeer(lambda p: p.handshake())
    conn, outcome = connect(driver, params(peer.port))
    driver.run_until(lambda: outcome, what="the connection to open")
    conn._adapter_emit_data(frame.encode_method_frame(0, spec.Connection.CloseOk()))
    conn._adapter_disconnect_stream()
    driver.run_until(lambda: conn.terminations and peer.done.is_set())
    peer.check()
    assert isinstance(peer.methods()[-1], spec.Connection.CloseOk)


@pytest.mark.parametrize("reset", [False, True], ids=["peer-closes", "peer-resets"])
def test_a_lost_stream_is_stream_lost_error_with_the_os_error(driver: Driver,
                                                               reset: bool) -> None:
    def script(peer: ScriptedPeer) -> None:
        peer.handshake()
        peer.hang_up(reset)
        raise EOFError("closed on purpose")

    peer = ScriptedPeer(script)
    conn, outcome = connect(driver, params(peer.port))
    driver.run_until(lambda: conn.terminations, what="the lost stream")
    [error] = conn.terminations
    assert type(error) is exceptions.StreamLostError
    assert str(error).startswith(f"127.0.0.1:{peer.port}: stream lost: ")
    if reset:
        assert isinstance(error.__cause__, ConnectionError)
        if driver.name != "twisted":  # Twisted reports a reset without its errno
            assert isinstance(error.__cause__, ConnectionResetError)
    else:
        assert type(error.__cause__) is ConnectionError
        assert str(error.__cause__).startswith("end of stream")
        if driver.name == "twisted":  # Twisted's own reason, one level further
            from twisted.internet.error import ConnectionDone

            assert isinstance(error.__cause__.__cause__, ConnectionDone)
