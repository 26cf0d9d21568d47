"""TLS for the Twisted stream with the standard library's :mod:`ssl` over memory BIOs.

Twisted's own TLS (``twisted.protocols.tls``) is built on pyOpenSSL and cannot use a stdlib
:class:`ssl.SSLContext`; ``SSLOptions`` carries exactly such a context. So the stream runs the
user's context itself: ``context.wrap_bio()`` gives an :class:`ssl.SSLObject` whose ciphertext
goes through two :class:`ssl.MemoryBIO` buffers that the stream fills from ``dataReceived`` and
empties into ``transport.write``. Verification, SNI, client certificates and protocol versions
are whatever the user configured, as on the select adapter (``wrap_socket`` there).

This class knows nothing of Twisted or AMQP; errors are the :mod:`ssl` module's, raised to the
caller (the stream maps them to ``TLSHandshakeError``/``StreamLostError``).
"""

from __future__ import annotations

import ssl
from typing import Optional, Union

#: Plaintext bytes asked from the SSLObject per read (many TLS records: ≥ 128 KiB reads).
READ_SIZE = 256 * 1024


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
