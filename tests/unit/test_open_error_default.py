"""With no ``on_open_error_callback``, a failed open is not lost: on the select loop the error
is raised out of ``ioloop.start()`` (pika's select behaviour), and on a loop we do not own
(Tornado here; Twisted in ``tests/twisted/test_protocol_connection.py``) it is logged at ERROR
with a message that says what to do. Real loopback sockets: a port nobody listens on.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, List

import pytest

from amqpbase import exceptions
from amqpbase.adapters.select import IOLoop, SelectConnection

from .loopback import params


def refused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def test_stop_with_error_makes_start_raise_once(caplog: pytest.LogCaptureFixture) -> None:
    loop = IOLoop()
    try:
        first, second = RuntimeError("first"), RuntimeError("second")
        loop.call_later(0, lambda: loop.stop_with_error(first))
        loop.call_later(0, lambda: loop.stop_with_error(second))  # the first error wins
        with pytest.raises(RuntimeError) as raised:
            loop.start()
        assert raised.value is first
        loop.call_later(0, loop.stop)  # raised once: the next run stops normally
        loop.start()
    finally:
        loop.close()


def test_select_raises_the_open_error_out_of_start(caplog: pytest.LogCaptureFixture) -> None:
    """The README's first program against an unreachable broker: no hang, the precise
    error out of ``start()`` (an AMQPConnectionError, as pika's), and logged at ERROR."""
    closed: List[Any] = []
    connection = SelectConnection(params(refused_port()),
                                  on_close_callback=lambda conn, reason: closed.append(reason))
    guard = connection.ioloop.call_later(10, connection.ioloop.stop)
    started = time.monotonic()
    try:
        with caplog.at_level(logging.ERROR):
            with pytest.raises(exceptions.AMQPConnectionError) as raised:
                connection.ioloop.start()
    finally:
        connection.ioloop.remove_timeout(guard)
    assert time.monotonic() - started < 5
    assert type(raised.value) is exceptions.TCPConnectionRefusedError
    assert connection.is_closed and closed == []  # open errors never go to on_close
    assert any("no on_open_error_callback" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)
    connection.ioloop.close()


def test_select_with_an_open_error_callback_does_not_raise() -> None:
    errors: List[BaseException] = []
    ioloop = IOLoop()
    SelectConnection(params(refused_port()), custom_ioloop=ioloop,
                     on_open_error_callback=lambda conn, exc: (errors.append(exc), ioloop.stop()))
    guard = ioloop.call_later(10, ioloop.stop)
    ioloop.start()  # returns: the user's callback handled it
    ioloop.remove_timeout(guard)
    assert [type(e) for e in errors] == [exceptions.TCPConnectionRefusedError]
    ioloop.close()


def test_tornado_logs_the_open_error_at_error(caplog: pytest.LogCaptureFixture) -> None:
    """Tornado's loop is not ours: nothing is raised into it; the ERROR record says what
    failed and what to pass."""
    import asyncio

    from tornado.ioloop import IOLoop as TornadoIOLoop

    from amqpbase.adapters.tornado import TornadoConnection

    async def main() -> TornadoConnection:
        connection = TornadoConnection(params(refused_port()),
                                       custom_ioloop=TornadoIOLoop.current())
        deadline = time.monotonic() + 5
        while not connection.is_closed and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return connection

    with caplog.at_level(logging.ERROR):
        connection = asyncio.run(main())
    assert connection.is_closed
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = record.getMessage()
    assert "Could not open" in text and "TCPConnectionRefusedError" in text
    assert "no on_open_error_callback" in text
