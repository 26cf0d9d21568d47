"""Loopback peers for the adapter tests (select, Tornado, Twisted): plain Python sockets on
127.0.0.1 in a thread, independent of the loop under test.

* :func:`free_port`: a port nobody listens on (a connect is refused).
* :class:`Server`: accepts one client and runs ``serve(sock)`` on it; ``join()`` re-raises
  what ``serve`` raised.
* :func:`self_signed` and :func:`tls_server`: a self-signed certificate for ``localhost`` and
  127.0.0.1, and a :class:`Server` speaking TLS with it. (The transport suite's CA, server
  and client certificates for SNI are in ``tests/pki.py``.)
* :func:`params`: ``ConnectionParameters`` for a loopback peer, with the tests' defaults.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

from amqpbase.parameters import ConnectionParameters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def params(port: int, host: str = "127.0.0.1", **kwargs: Any) -> ConnectionParameters:
    """One attempt, no stack timeout, ``socket_timeout`` 5 s, unless ``kwargs`` say otherwise."""
    kwargs.setdefault("socket_timeout", 5.0)
    kwargs.setdefault("stack_timeout", None)
    kwargs.setdefault("connection_attempts", 1)
    return ConnectionParameters(host=host, port=port, **kwargs)


class Server:
    """A loopback TCP server on a thread: accepts one client and runs ``serve(sock)``."""

    def __init__(self, serve: Callable[[socket.socket], None], backlog: int = 8) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(backlog)
        self.port = int(self.listener.getsockname()[1])
        self.received = bytearray()
        self.error: Optional[BaseException] = None
        self._serve = serve
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.listener.settimeout(20)
            client, _ = self.listener.accept()
            with client:
                client.settimeout(20)
                self._serve(client)
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def read_all(self, sock: socket.socket, expected: int, delay: float = 0.0) -> None:
        """Receive into ``received`` until it holds ``expected`` bytes or the client closes;
        ``delay`` seconds after each ``recv`` make a slow reader."""
        while len(self.received) < expected:
            chunk = sock.recv(65536)
            if not chunk:
                break
            self.received += chunk
            if delay:
                time.sleep(delay)

    def join(self) -> None:
        self.thread.join(20)
        self.listener.close()
        if self.error is not None:
            raise self.error


def self_signed(folder: Path) -> Tuple[Path, Path]:
    """A self-signed (CA) certificate for ``localhost`` and 127.0.0.1, and its key, written to
    ``folder`` as ``(cert.pem, key.pem)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return cert_file, key_file


def tls_server(
    cert_and_key: Tuple[Path, Path], serve: Callable[[ssl.SSLSocket], None]
) -> Server:
    """A :class:`Server` that does the TLS handshake with ``cert_and_key`` (see
    :func:`self_signed`), then runs ``serve`` on the TLS socket. A client that fails the
    handshake (it refused the certificate, as some tests want) ends the server quietly."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert_and_key)

    def run(sock: socket.socket) -> None:
        try:
            tls = context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            serve(tls)

    return Server(run)
