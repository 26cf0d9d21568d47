"""``BlockingConnection(..., recovery=Recovery(...))`` against the test node (issue 12).

The broker cuts the link (``rabbitmqctl close_all_connections``: Connection.Close 320). The
recovery's endpoint order is a callable that keeps offering a closed port while the test
``holds`` it, so the test can act while the connection is recovering for as long as it
needs: calls raise ``ConnectionRecoveringError``/``ChannelRecoveringError`` (nothing is
buffered), ``process_data_events`` keeps working and runs the recovery callbacks on the
user's thread; once released, the same ``consume()`` generator yields the next message.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any, Callable, List, Sequence

import pytest

from amqpbase import Recovery, URLParameters, exceptions
from amqpbase.adapters.blocking import BlockingConnection
from amqpbase.parameters import Parameters


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


class Gate:
    """An ``endpoint_order`` that offers only a closed port while ``held``."""

    def __init__(self, away: Parameters) -> None:
        self.away = away
        self.held = False

    def __call__(self, endpoints: Sequence[Parameters], lost: Any) -> List[Parameters]:
        return [self.away] if self.held else list(endpoints)


def _until(conn: BlockingConnection, condition: Callable[[], Any], what: str,
           timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        conn.process_data_events(0.05)


def _consumer_tags(broker: Any, queue: str) -> List[str]:
    listing = broker.ctl("list_consumers", "-q", "--no-table-headers", "queue_name",
                         "consumer_tag")
    rows = [line.split("\t") for line in listing.splitlines() if line.strip()]
    return [tag.strip() for name, tag in rows if name.strip() == queue]


@pytest.mark.allow_error_logs  # the refused attempts to the closed port
def test_blocking_connection_recovers_and_refuses_calls_meanwhile(broker: Any) -> None:
    params = URLParameters(broker.url)
    gate = Gate(URLParameters(f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F"))
    conn = BlockingConnection(params, recovery=Recovery(
        endpoints=[params], endpoint_order=gate, initial_delay=0.05, max_delay=0.1))
    user_thread = threading.get_ident()
    events: List[Any] = []

    def record(kind: str) -> Callable[..., None]:
        def callback(connection: Any, *args: Any) -> None:
            assert connection is conn
            events.append((kind, threading.get_ident(), args))
        return callback

    conn.add_on_recovery_started_callback(record("started"))
    conn.add_on_recovery_attempt_failed_callback(record("attempt"))
    conn.add_on_recovery_succeeded_callback(record("ok"))
    conn.add_on_recovery_failed_callback(record("failed"))
    try:
        channel = conn.channel()
        queue = f"amqpbase-test-blocking-recovery-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish("", queue, b"before")
        messages = channel.consume(queue, inactivity_timeout=0.1, consumer_tag="blocking-c")
        first = next(m for m in messages if m[0] is not None)
        assert first[2] == b"before"
        channel.basic_ack(first[0].delivery_tag)

        gate.held = True
        broker.ctl("close_all_connections", "blocking recovery test cuts the link")
        _until(conn, lambda: [e for e in events if e[0] == "attempt"], "a failed attempt")
        # recovering: nothing is buffered, everything raises at once
        assert conn.recovering and not conn.is_open and not conn.is_closed
        assert not channel.is_open
        with pytest.raises(exceptions.ChannelRecoveringError):
            channel.basic_publish("", queue, b"lost?")
        with pytest.raises(exceptions.ChannelRecoveringError):
            channel.basic_ack(first[0].delivery_tag)
        with pytest.raises(exceptions.ChannelRecoveringError):
            channel.queue_declare(queue, passive=True)
        with pytest.raises(exceptions.ConnectionRecoveringError):
            conn.channel()
        conn.process_data_events(0.1)  # keeps working while recovering
        assert events[0][0] == "started"
        assert isinstance(events[0][2][0], exceptions.ConnectionClosedByBroker)

        gate.held = False
        _until(conn, lambda: [e for e in events if e[0] == "ok"], "the recovery")
        assert conn.is_open and not conn.recovering and channel.is_open
        channel.basic_publish("", queue, b"after")
        # the same generator carries on with the resumed consumer (original tag)
        second = next(m for m in messages if m[0] is not None)
        assert second[2] == b"after"
        channel.basic_ack(second[0].delivery_tag)
        # a tag of the lost link: refused on the I/O thread (nothing sent); like every
        # fire-and-forget call's error, the channel's next call raises it
        channel.basic_ack(first[0].delivery_tag)
        with pytest.raises(exceptions.StaleDeliveryTagError):
            channel.queue_declare(queue, passive=True)
        assert channel.is_open
        assert _consumer_tags(broker, queue) == ["blocking-c"]
        # every recovery callback ran on the user's thread
        assert {e[1] for e in events} == {user_thread}
        assert [e[0] for e in events if e[0] != "attempt"] == ["started", "ok"]
        report = events[-1][2][0]
        assert report.consumers_resumed == 1
        channel.cancel()
    finally:
        if not conn.is_closed:
            conn.close()
    assert conn.is_closed


@pytest.mark.allow_error_logs
def test_blocking_connection_recovery_gives_up_with_recovery_failed_error(broker: Any) -> None:
    params = URLParameters(broker.url)
    away = URLParameters(f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F")
    conn = BlockingConnection(params, recovery=Recovery(
        endpoints=[away], initial_delay=0.05, max_delay=0.1, give_up_after=0.5))
    failed: List[Any] = []
    conn.add_on_recovery_failed_callback(lambda c, exc: failed.append((threading.get_ident(),
                                                                       exc)))
    channel = conn.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", queue, b"x")
    messages = channel.consume(queue, inactivity_timeout=0.1)
    assert next(m for m in messages if m[0] is not None)[2] == b"x"
    broker.ctl("close_all_connections", "blocking recovery test cuts the link")
    with pytest.raises(exceptions.RecoveryFailedError):
        for _ in messages:  # the generator waits through the recovery, then raises
            pass
    assert conn.is_closed and not conn.recovering
    assert len(failed) == 1 and failed[0][0] == threading.get_ident()
    assert isinstance(failed[0][1], exceptions.RecoveryFailedError)
    with pytest.raises(exceptions.ConnectionWrongStateError):
        conn.channel()
