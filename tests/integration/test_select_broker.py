"""SelectConnection against the real broker: write coalescing measured on real publishes.

The socket class is a ``socket.socket`` subclass whose ``sendmsg`` counts its calls (and what
each one carried) and then makes the real system call, so the count is the number of send
system calls the adapter made.
"""

from __future__ import annotations

import socket
from typing import Any, List, Tuple

import pytest

from amqpbase import spec
from amqpbase.adapters.select import IOLoop, SelectConnection
from amqpbase.parameters import URLParameters


class CountingSocket(socket.socket):
    """A real socket that records (buffers, bytes offered, bytes sent) per sendmsg call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sendmsg_calls: List[Tuple[int, int, int]] = []

    def sendmsg(self, buffers: Any, *args: Any) -> int:  # type: ignore[override]
        buffers = list(buffers)
        offered = sum(memoryview(b).nbytes for b in buffers)
        sent = super().sendmsg(buffers, *args)
        self.sendmsg_calls.append((len(buffers), offered, sent))
        return sent


def run_loop(loop: IOLoop, timeout: float) -> None:
    expired: List[bool] = []
    handle = loop.call_later(timeout, lambda: (expired.append(True), loop.stop()))
    loop.start()
    loop.remove_timeout(handle)
    assert not expired, f"the loop was not stopped within {timeout}s"


@pytest.fixture
def loop() -> Any:
    ioloop = IOLoop()
    yield ioloop
    ioloop.close()


def test_a_batch_of_publishes_leaves_in_one_sendmsg(broker: Any, loop: IOLoop) -> None:
    batch = 1000
    body = b"x" * 64
    state: dict[str, Any] = {"acked": 0, "calls_at_publish": None, "closed": None}
    queue = "amqpbase-select-coalescing"

    def on_open(connection: Any) -> None:
        connection.channel(on_open_callback=on_channel)

    def on_channel(channel: Any) -> None:
        state["channel"] = channel
        channel.queue_declare(queue, exclusive=True, callback=lambda _f: confirm(channel))

    def confirm(channel: Any) -> None:
        channel.confirm_delivery(on_ack, callback=lambda _f: publish(channel))

    def publish(channel: Any) -> None:
        sock = conn.transport.sock
        assert isinstance(sock, CountingSocket)
        state["sock"] = sock
        state["calls_at_publish"] = len(sock.sendmsg_calls)
        for _ in range(batch):  # 1000 basic_publish calls in one callback
            channel.basic_publish("", queue, body)
        assert len(sock.sendmsg_calls) == state["calls_at_publish"]  # no syscall yet

    def on_ack(method_frame: Any) -> None:
        method = method_frame.method
        assert isinstance(method, spec.Basic.Ack)
        state["acked"] = method.delivery_tag if method.multiple else state["acked"] + 1
        if state["acked"] == batch:
            loop.stop()

    conn = SelectConnection(
        URLParameters(broker.url),
        on_open_callback=on_open,
        on_open_error_callback=lambda c, e: pytest.fail(f"open failed: {e!r}"),
        custom_ioloop=loop,
    )
    conn.transport.socket_class = CountingSocket
    run_loop(loop, timeout=30)
    sock = state["sock"]
    calls: List[Tuple[int, int, int]] = sock.sendmsg_calls[state["calls_at_publish"] :]
    buffers, offered, sent = calls[0]
    # One publish of a small body is one buffer (method + header + body frames together).
    assert buffers == batch
    assert sent == offered
    assert state["acked"] == batch
    conn.add_on_close_callback(lambda c, r: loop.stop())
    conn.close()
    run_loop(loop, timeout=15)


def test_broker_ctl_sees_the_connection(broker: Any, loop: IOLoop) -> None:
    seen: List[str] = []

    def on_open(connection: Any) -> None:
        seen.append(broker.ctl("list_connections", "-q", "peer_port", "state"))
        connection.close()

    conn = SelectConnection(
        URLParameters(broker.url),
        on_open_callback=on_open,
        on_close_callback=lambda c, r: loop.stop(),
        custom_ioloop=loop,
    )
    run_loop(loop, timeout=30)
    assert conn.is_closed
    assert "running" in seen[0]
