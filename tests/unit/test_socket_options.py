"""``tcp_options`` as every adapter applies them (``adapters/_transport/sockopts.py``)."""

from __future__ import annotations

import logging
import socket

import pytest

from amqpbase.adapters._transport.sockopts import apply_socket_options

LOGGER = logging.getLogger("amqpbase.test.socket_options")


def test_nodelay_keepalive_and_timings_are_set() -> None:
    options = {"TCP_KEEPIDLE": 61, "TCP_KEEPINTVL": 11, "TCP_KEEPCNT": 4, "TCP_USER_TIMEOUT": 9000}
    with socket.socket() as sock:
        apply_socket_options(sock, options, LOGGER)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        seen = [sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name)) for name in options]
    assert seen == [61, 11, 4, 9000]


def test_without_options_only_nodelay_is_set() -> None:
    with socket.socket() as sock:
        apply_socket_options(sock, None, LOGGER)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)


def test_an_option_this_platform_lacks_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock, caplog.at_level(logging.WARNING, logger=LOGGER.name):
        apply_socket_options(sock, {"TCP_NO_SUCH_OPTION": 1, "TCP_KEEPCNT": 3}, LOGGER)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    assert [r.getMessage() for r in caplog.records] == [
        "TCP option TCP_NO_SUCH_OPTION=1 is not supported here; ignored"]
