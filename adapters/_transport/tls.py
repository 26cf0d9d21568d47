"""TLS set-up every transport shares: the SNI name, and a TLS session over memory BIOs.

* :func:`server_hostname`: the name sent as SNI and checked against the certificate, the same
  on every loop: ``ssl_options.server_hostname``, else the host connected to. The user's own
  :class:`ssl.SSLContext` is used as it is (``wrap_socket`` in the socket transport of select,
  Tornado and asyncio, :class:`TLSSession` on Twisted); the TLS error texts are in ``errors.py``.
* :class:`TLSSession`, for a loop whose stream is not a socket (Twisted). Twisted's own TLS
  (``twisted.protocols.tls``) is built on pyOpenSSL and cannot use a stdlib
  :class:`ssl.SSLContext`; ``SSLOptions`` carries exactly such a context. So the transport
  runs the user's context itself: ``context.wrap_bio()`` gives an :class:`ssl.SSLObject` whose
  ciphertext goes through two :class:`ssl.MemoryBIO` buffers that the transport fills from
  ``dataReceived`` and empties into ``transport.write``. Verification, SNI, client
  certificates and protocol versions are whatever the user configured, as on select.

This module knows nothing of a loop or AMQP; errors are the :mod:`ssl` module's, raised to the
caller (the transport maps them to ``TLSHandshakeError``/``StreamLostError``).
"""

from __future__ import annotations

import ssl
from typing import Any, Optional, Union

from .limits import READ_SIZE


def server_hostname(params: Any) -> str:
    """The SNI name (and the name the certificate must carry) for ``params``."""
    return str(params.ssl_options.server_hostname or params.host)


class TLSSession:
    """One client-side TLS session over memory BIOs (see the module docstring).

    ``wrap_bio`` errors (``ValueError``, ``ssl.SSLError``) propagate from the constructor.
    """

    def __init__(self, context: ssl.SSLContext, server_hostname: Optional[str]) -> None:
        self.incoming = ssl.MemoryBIO()  # ciphertext received, not yet consumed by OpenSSL
        self.outgoing = ssl.MemoryBIO()  # ciphertext OpenSSL produced, not yet written
        self.sslobj = context.wrap_bio(
            self.incoming, self.outgoing, server_side=False, server_hostname=server_hostname
        )

    def feed(self, ciphertext: bytes) -> None:
        """Hand received ciphertext to OpenSSL (consumed by the next handshake step or read)."""
        self.incoming.write(ciphertext)

    def feed_eof(self) -> None:
        """The peer closed TCP: the next handshake step or read reports how (a clean
        close_notify reads as end of stream; anything else raises ``ssl.SSLEOFError``)."""
        self.incoming.write_eof()

    def handshake(self) -> bool:
        """Advance the handshake: True once complete, False while it waits for peer bytes.
        Raises ``ssl.SSLError`` (e.g. ``SSLCertVerificationError``) when it fails."""
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def encrypt(self, plaintext: Union[bytes, bytearray, memoryview]) -> None:
        """Encrypt all of ``plaintext`` into the outgoing BIO (a memory BIO never refuses)."""
        view = memoryview(plaintext)
        while view:
            written = self.sslobj.write(view)
            view = view[written:]

    def decrypt(self) -> Optional[bytes]:
        """The next plaintext available: ``b""`` when OpenSSL needs more ciphertext, ``None``
        at the end of the TLS stream (close_notify). Raises ``ssl.SSLError`` on a TLS error
        (an alert from the peer, a truncated stream after :meth:`feed_eof`)."""
        try:
            data = self.sslobj.read(READ_SIZE)
        except ssl.SSLWantReadError:
            return b""
        except ssl.SSLZeroReturnError:
            return None
        return data if data else None

    def take_output(self) -> bytes:
        """Ciphertext waiting to be sent (``b""`` when none)."""
        return self.outgoing.read() if self.outgoing.pending else b""


__all__ = ["TLSSession", "server_hostname"]
