"""A loopback TLS peer and the certificates it needs, for the TLS conformance tests.

The peer is a real ``ssl`` server in a thread. It requires a client certificate signed by the
test CA, records the SNI name the client sent, reads the AMQP protocol header through TLS and
answers with another protocol version, so an adapter's connection ends with
``IncompatibleProtocolError`` — proof that bytes went both ways through the TLS stream.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SNI_NAME = "amqp.test"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    signer_key: Any = None,
    issuer: Optional[x509.Name] = None,
    ca: bool = False,
    dns: Optional[str] = None,
    key: Any = None,
) -> Tuple[Any, x509.Certificate]:
    """A key and certificate for ``subject``, signed by ``signer_key`` (self-signed if None)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    return key, builder.sign(signer_key or key, hashes.SHA256())


def _write(path: Path, key: Any, cert: x509.Certificate) -> Tuple[str, str]:
    key_file, cert_file = path.with_suffix(".key"), path.with_suffix(".pem")
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def make_pki(base: Path) -> Dict[str, Tuple[str, str]]:
    """A CA, a server certificate for SNI_NAME and a client certificate, all CA-signed, as
    ``{"ca"|"server"|"client": (key_file, cert_file)}`` under ``base`` (created if needed)."""
    base.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _issue("amqpbase test CA", ca=True)
    server_key, server_cert = _issue(SNI_NAME, ca_key, _name("amqpbase test CA"), dns=SNI_NAME)
    client_key, client_cert = _issue("amqpbase client", ca_key, _name("amqpbase test CA"))
    return {
        "ca": _write(base / "ca", ca_key, ca_cert),
        "server": _write(base / "server", server_key, server_cert),
        "client": _write(base / "client", client_key, client_cert),
    }


class TLSPeer:
    """One-shot loopback TLS server requiring a client certificate."""

    def __init__(self, pki: Dict[str, Tuple[str, str]]) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki["server"][1], pki["server"][0])
        context.load_verify_locations(pki["ca"][1])
        context.verify_mode = ssl.CERT_REQUIRED
        self.sni: List[Optional[str]] = []

        def record_sni(sock: ssl.SSLObject, name: Optional[str], ctx: ssl.SSLContext) -> None:
            self.sni.append(name)

        context.sni_callback = record_sni
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.client_subject: Any = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(10)
        try:
            raw, _ = self.listener.accept()
            with self.context.wrap_socket(raw, server_side=True) as tls:
                tls.settimeout(10)
                self.client_subject = tls.getpeercert()["subject"]  # type: ignore[index]
                while len(self.received) < 8:
                    chunk = tls.recv(8 - len(self.received))
                    if not chunk:
                        break
                    self.received += chunk
                tls.sendall(b"AMQP\x00\x00\x08\x00")
        except BaseException as error:  # noqa: B036 - reported to the test
            self.error = error
        finally:
            self.listener.close()


def client_context(pki: Dict[str, Tuple[str, str]], with_cert: bool) -> ssl.SSLContext:
    """A client context trusting the test CA, with the client certificate if ``with_cert``."""
    context = ssl.create_default_context(cafile=pki["ca"][1])
    if with_cert:
        context.load_cert_chain(pki["client"][1], pki["client"][0])
    return context
