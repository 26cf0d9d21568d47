"""Socket options every transport applies to a connected AMQP socket.

One function, so the three adapters agree on what ``ConnectionParameters.tcp_options`` does:
Nagle is turned off (an AMQP publish is several small frames that must leave at once), a
keepalive timing switches ``SO_KEEPALIVE`` on, and an option this platform does not know is
skipped with a warning instead of failing the connection.
"""

from __future__ import annotations

import logging
import socket
from typing import Mapping, Optional

#: The ``tcp_options`` names amqpbase applies (the names ``ConnectionParameters`` accepts).
TCP_OPTIONS = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT")
_KEEPALIVE_TIMINGS = {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"}


def apply_socket_options(
    sock: socket.socket, tcp_options: Optional[Mapping[str, int]], logger: logging.Logger
) -> None:
    """Set ``TCP_NODELAY`` and each of ``tcp_options`` on ``sock``; report unsupported
    options on ``logger`` (the adapter's own, so users find the warning where they look)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    options = dict(tcp_options or {})
    if _KEEPALIVE_TIMINGS & options.keys():
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in options.items():
        option = getattr(socket, name, None) if name in TCP_OPTIONS else None
        if option is None and name == "TCP_KEEPIDLE":
            option = getattr(socket, "TCP_KEEPALIVE", None)  # macOS spelling
        if option is None:
            logger.warning("TCP option %s=%r is not supported here; ignored", name, value)
        else:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
