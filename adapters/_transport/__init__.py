"""What every adapter shares: one transport, three loops (``docs/internals.md``, "The hook
contract" and "Transports").

An adapter is a thin connection class (the base ``Connection``'s hooks, one call each), a
:class:`~.loop.Loop` over its event loop, and a :class:`~.transport.Transport` subclass that
connects, reads and writes the loop's way. Everything the loops must agree on is here, once:

- ``transport.py``: :class:`Transport` (stream lifecycle table, ``emit``, flush scheduling,
  drain accounting, ``disconnect``, delivery of received bytes, the resolver's answer and the
  address-by-address connect errors);
- ``loop.py``: the loop interface, :class:`Loop`;
- ``queue.py``: :class:`WriteQueue`, the write queue (by reference; ``sendmsg`` batches; pieces);
- ``strategies.py``: the direct-sendmsg and flush-after-read strategies, chosen per loop;
- ``errors.py``: connect-error mapping and every error text (resolve, connect, TLS, lost);
- ``tls.py``: SNI (:func:`server_hostname`) and :class:`TLSSession` (memory BIOs);
- ``sockopts.py``: :func:`apply_socket_options`; ``limits.py``: read and join sizes.

Nothing here imports a loop (select, Tornado, Twisted) or knows AMQP.
"""

from .errors import connect_error, connect_failure
from .limits import JOIN_BELOW, JOINED_MAX, READ_SIZE
from .loop import Loop
from .queue import WriteQueue
from .sockopts import apply_socket_options
from .strategies import Strategies
from .tls import TLSSession, server_hostname
from .transport import (
    STREAM_TRANSITIONS,
    Buffer,
    StreamState,
    Transport,
)

__all__ = [
    "Buffer",
    "JOINED_MAX",
    "JOIN_BELOW",
    "Loop",
    "READ_SIZE",
    "STREAM_TRANSITIONS",
    "Strategies",
    "StreamState",
    "TLSSession",
    "Transport",
    "WriteQueue",
    "apply_socket_options",
    "connect_error",
    "connect_failure",
    "server_hostname",
]
