"""The sizes every transport shares: how much one read asks for and how small writes are joined.

One module so that the three loops cannot drift apart (the 256 KiB read size used to be
defined four times). Only numbers live here.
"""

from __future__ import annotations

#: Bytes asked for per read: the socket transport's per-thread receive
#: buffer, Twisted's ``transport.bufferSize``, and the plaintext read from an ``SSLObject``
#: (internals.md rule 5: reads are large, >= 128 KiB).
READ_SIZE = 256 * 1024

#: A queued buffer under this size (frame headers, small publishes) is joined with its small
#: neighbours before a write that has no ``sendmsg`` (TLS, Twisted's ``transport.write``); a larger one
#: (a body slice) goes as it is, never copied. 16 KiB is one TLS record's plaintext maximum
#: (RFC 8446 section 5.1), so a joined run fills records without splitting a small buffer.
JOIN_BELOW = 16 * 1024

#: A run of small buffers stops being joined once it reaches this size.
JOINED_MAX = 256 * 1024

__all__ = ["JOINED_MAX", "JOIN_BELOW", "READ_SIZE"]
