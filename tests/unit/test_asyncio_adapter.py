"""The asyncio adapter's own rules: which loop it runs on, and that a connection built the way
pika's asyncio examples build one (outside any loop, then ``connection.ioloop.run_forever()``)
opens. Everything else it shares with the other loops and is checked by the conformance,
transport and fault suites (the ``asyncio`` driver)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, List

import pytest

from amqpbase import exceptions
from amqpbase.adapters.asyncio import AsyncioConnection

from .loopback import free_port, params


def test_the_running_loop_is_taken_when_no_custom_ioloop_is_given() -> None:
    loop = asyncio.new_event_loop()
    seen: List[Any] = []
    errors: List[BaseException] = []

    async def main() -> None:
        connection = AsyncioConnection(params(free_port()),
                                       on_open_error_callback=lambda c, e: errors.append(e))
        seen.append(connection.ioloop)
        while not errors:
            await asyncio.sleep(0.005)

    try:
        loop.run_until_complete(asyncio.wait_for(main(), 10))
    finally:
        loop.close()
    assert seen == [loop]
    assert type(errors[0]) is exceptions.TCPConnectionRefusedError


def test_outside_a_loop_it_takes_the_threads_loop_which_the_program_then_runs() -> None:
    """pika's asyncio examples: build the connection, then ``connection.ioloop.run_forever()``;
    the open error reaches ``on_open_error_callback`` from that loop."""
    errors: List[BaseException] = []
    outcome: List[Any] = []

    def in_a_fresh_thread() -> None:  # a thread of its own: no current loop set beforehand
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            connection = AsyncioConnection(
                params(free_port()),
                on_open_error_callback=lambda c, e: (errors.append(e), c.ioloop.stop()))
            outcome.append(connection.ioloop is loop)
            connection.ioloop.call_later(10, connection.ioloop.stop)
            connection.ioloop.run_forever()
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    worker = threading.Thread(target=in_a_fresh_thread)
    worker.start()
    worker.join(15)
    assert outcome == [True]
    assert type(errors[0]) is exceptions.TCPConnectionRefusedError


def test_custom_ioloop_must_be_an_asyncio_loop_and_a_thread_without_one_is_told() -> None:
    with pytest.raises(TypeError, match="custom_ioloop must be an asyncio event loop"):
        AsyncioConnection(params(free_port()), custom_ioloop=object())  # type: ignore[arg-type]
    raised: List[BaseException] = []

    def in_a_fresh_thread() -> None:  # not the main thread: asyncio makes no loop for it
        try:
            AsyncioConnection(params(free_port()))
        except RuntimeError as error:
            raised.append(error)

    worker = threading.Thread(target=in_a_fresh_thread)
    worker.start()
    worker.join(5)
    assert len(raised) == 1 and "custom_ioloop" in str(raised[0])
