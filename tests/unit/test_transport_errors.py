"""The connect-error mapping every adapter shares (``adapters/_transport/errors.py``): the same
OS failure gives the same exception class and text on select, Tornado and Twisted."""

from __future__ import annotations

import errno
import os

from amqpbase import exceptions
from amqpbase.adapters._transport.errors import connect_error


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))  # PEP 3151: the matching subclass


def test_every_address_refused_is_tcp_connection_refused() -> None:
    errors = [_os_error(errno.ECONNREFUSED), ConnectionRefusedError(errno.ECONNREFUSED, "no")]
    error, cause = connect_error("h:1", "detail", errors)
    assert type(error) is exceptions.TCPConnectionRefusedError
    assert str(error) == "h:1: connection refused (detail)"
    assert cause is errors[-1]


def test_a_kernel_etimedout_is_a_socket_timeout_on_every_loop() -> None:
    timed_out = _os_error(errno.ETIMEDOUT)
    assert isinstance(timed_out, TimeoutError)
    error, cause = connect_error("h:1", "detail", [_os_error(errno.ECONNREFUSED), timed_out])
    assert type(error) is exceptions.SocketTimeoutError
    assert str(error) == "h:1: connect timed out (detail)"
    assert cause is timed_out


def test_anything_else_is_socket_connect_error_with_the_last_cause() -> None:
    unreachable = _os_error(errno.ENETUNREACH)
    error, cause = connect_error("h:1", "detail", [_os_error(errno.ECONNREFUSED), unreachable])
    assert type(error) is exceptions.SocketConnectError
    assert str(error) == "h:1: cannot connect (detail)"
    assert cause is unreachable
    error, cause = connect_error("h:1", "no address", [])
    assert type(error) is exceptions.SocketConnectError and cause is None
