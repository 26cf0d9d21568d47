"""The test PKI of the broker-free TLS tests: one CA, a server and a client certificate.

Owns making the certificates (with ``cryptography``, into a folder the caller gives) and the
two ``ssl`` contexts built on them: :func:`server_context` for the loopback scripted peer
(``tests/faults/scripted_peer.py``), which requires a client certificate signed by the test CA
as a RabbitMQ TLS listener with ``fail_if_no_peer_cert`` does, and :func:`client_context` for
the client under test. It must not start servers or hold state: a test makes its PKI once (the
transport suite's ``pki`` fixture) and builds fresh contexts per peer. The TLS tests against
the broker use the certificates ``scripts/broker`` made for the node, not these.
"""

from __future__ import annotations

import datetime
import secrets
import ssl
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: The name in the server certificate (subject CN and DNS subjectAltName): the SNI a client
#: sends with ``server_hostname=SNI_NAME`` and the name its hostname check accepts.
SNI_NAME = "amqp.test"

#: The client certificate's subject as ``ssl.SSLSocket.getpeercert()`` reports it.
CLIENT_SUBJECT = ((("commonName", "amqpbase client"),),)

#: ``{"ca" | "server" | "client": (key_file, cert_file)}``, as :func:`make_pki` returns it.
PKI = Dict[str, Tuple[str, str]]

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, issuer: str, signer_key: Any = None, ca: bool = False,
           dns: Optional[str] = None) -> Tuple[Any, x509.Certificate]:
    """A new key and its certificate for ``subject``, signed by the CA ``issuer``'s
    ``signer_key`` (self-signed, as the CA itself, when None); valid from 5 minutes ago for a
    day."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        # Hostname checks use the subjectAltName only (RFC 6125; Python's ssl ignores the CN).
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


def make_pki(base: Path) -> PKI:
    """A new CA, a server certificate for :data:`SNI_NAME` and a client certificate, both
    signed by the CA, written under ``base`` (created if needed). Two calls make two CAs that
    do not trust each other (how a test gets an untrusted server)."""
    base.mkdir(parents=True, exist_ok=True)
    # Each CA has its own name: with a shared one, OpenSSL would take a trusted CA of that
    # name for the issuer and fail on the signature ("certificate signature failure") rather
    # than report an unknown issuer.
    ca_name = f"amqpbase test CA {secrets.token_hex(4)}"
    ca_key, ca_cert = _issue(ca_name, ca_name, ca=True)
    server_key, server_cert = _issue(SNI_NAME, ca_name, ca_key, dns=SNI_NAME)
    client_key, client_cert = _issue("amqpbase client", ca_name, ca_key)
    return {
        "ca": _write(base / "ca", ca_key, ca_cert),
        "server": _write(base / "server", server_key, server_cert),
        "client": _write(base / "client", client_key, client_cert),
    }


def server_context(pki: PKI) -> ssl.SSLContext:
    """A new server context with ``pki``'s server certificate that requires a client
    certificate signed by ``pki``'s CA (``CERT_REQUIRED``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"][1], pki["server"][0])
    context.load_verify_locations(pki["ca"][1])
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(pki: PKI, with_cert: bool) -> ssl.SSLContext:
    """A new client context that trusts ``pki``'s CA only (and checks the hostname), with
    ``pki``'s client certificate if ``with_cert``."""
    context = ssl.create_default_context(cafile=pki["ca"][1])
    if with_cert:
        context.load_cert_chain(pki["client"][1], pki["client"][0])
    return context
