"""In-memory A/B of the awaitable API's cost per message against the callback API (issue 13).

No broker and no socket: the real base ``Connection`` over ``tests/unit/harness.py``'s
``MemoryConnection`` (its "broker" feeds frames through the real codec), with a plain asyncio
loop for the futures. Each figure is µs per message, best of ``--reps`` batches of
``--batch`` messages:

- ``confirm``: ``--batch`` confirmed publishes, then one ``Basic.Ack(multiple)`` covering them;
  the callback side counts acks in its ack callback, the awaitable side adds a done-callback
  to each publish's future (as ``async_clients.py`` does) and runs the loop until all ran;
- ``consume``: ``--batch`` deliveries fed in one read; the callback side acks each in its
  consumer callback, the awaitable side is a task doing ``async for ... await message.ack()``;
- ``publish``: ``--batch`` publishes outside confirm mode (``await`` on the awaitable side).

Run from the repository root: ``python -m benchmarks.awaitable_micro``. It measures only the
client library's Python work, not I/O; ``benchmarks.run`` gives the real figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, Callable, List

from amqpbase import spec
from amqpbase.frame import encode_content_frames
from tests.unit.harness import open_connection

BODY = b"x" * 64


def _setup(on_ack_nack: Any = None) -> Any:
    connection, broker = open_connection()
    channel = broker.open_channel(1)
    if on_ack_nack is not None:
        channel.confirm_delivery(on_ack_nack, callback=lambda _f: None)
        broker.send(1, spec.Confirm.SelectOk())
    channel.queue_declare("q", callback=lambda _f: None)
    broker.send(1, spec.Queue.DeclareOk("q", 0, 0))
    connection.outbound.clear()
    return connection, broker, channel


def best(reps: int, batch: int, once: Callable[[], None]) -> float:
    times: List[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return min(times) / batch * 1e6


def confirm_callback(batch: int, reps: int) -> float:
    acked = [0]

    def on_ack(frame: Any) -> None:
        acked[0] += 1

    connection, broker, channel = _setup(on_ack)
    publish = channel.basic_publish

    def once() -> None:
        for _ in range(batch):
            publish("", "q", BODY)
        broker.send(1, spec.Basic.Ack(channel._machine.next_publish_tag - 1, True))
        connection.outbound.clear()

    return best(reps, batch, once)


def confirm_awaitable(batch: int, reps: int) -> float:
    from amqpbase.adapters.asyncio import FutureChannel

    loop = asyncio.new_event_loop()
    connection, broker, impl = _setup()
    channel = FutureChannel(impl, loop)
    confirming = channel.confirm_delivery()
    broker.send(1, spec.Confirm.SelectOk())
    loop.run_until_complete(confirming)
    done = [0]

    def on_done(_future: Any) -> None:
        done[0] += 1

    async def settle(target: int) -> None:
        while done[0] < target:
            await asyncio.sleep(0)

    def once() -> None:
        target = done[0] + batch
        for _ in range(batch):
            channel.basic_publish("", "q", BODY).add_done_callback(on_done)
        broker.send(1, spec.Basic.Ack(impl._machine.next_publish_tag - 1, True))
        loop.run_until_complete(settle(target))
        connection.outbound.clear()

    try:
        return best(reps, batch, once)
    finally:
        loop.close()


def _deliveries(batch: int, first_tag: int) -> bytes:
    return b"".join(
        b"".join(bytes(c) for c in encode_content_frames(
            1, spec.Basic.Deliver("ctag", tag, False, "", "q"), spec.BasicProperties(), BODY,
            131072))
        for tag in range(first_tag, first_tag + batch))


def consume_callback(batch: int, reps: int) -> float:
    connection, broker, channel = _setup()
    received = [0]

    def on_message(ch: Any, method: Any, _properties: Any, _body: bytes) -> None:
        received[0] += 1
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume("q", on_message, consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk("ctag"))
    chunks = [_deliveries(batch, 1 + i * batch) for i in range(reps)]

    def once() -> None:
        connection.feed(chunks.pop(0))
        connection.outbound.clear()

    return best(reps, batch, once)


def consume_awaitable(batch: int, reps: int) -> float:
    from amqpbase.adapters.asyncio import FutureChannel

    loop = asyncio.new_event_loop()
    connection, broker, impl = _setup()
    channel = FutureChannel(impl, loop)
    received = [0]

    async def start() -> Any:
        consumed = channel.basic_consume("q", consumer_tag="ctag")
        broker.send(1, spec.Basic.ConsumeOk("ctag"))
        messages, _tag = await consumed
        return messages

    messages = loop.run_until_complete(start())

    async def consume() -> None:
        async for message in messages:
            received[0] += 1
            await message.ack()

    task = loop.create_task(consume())
    chunks = [_deliveries(batch, 1 + i * batch) for i in range(reps)]

    async def until(target: int) -> None:
        while received[0] < target:
            await asyncio.sleep(0)

    def once() -> None:
        target = received[0] + batch
        connection.feed(chunks.pop(0))
        loop.run_until_complete(until(target))
        connection.outbound.clear()

    try:
        return best(reps, batch, once)
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def publish_callback(batch: int, reps: int) -> float:
    connection, _broker, channel = _setup()
    publish = channel.basic_publish

    def once() -> None:
        for _ in range(batch):
            publish("", "q", BODY)
        connection.outbound.clear()

    return best(reps, batch, once)


def publish_awaitable(batch: int, reps: int) -> float:
    from amqpbase.adapters.asyncio import FutureChannel

    loop = asyncio.new_event_loop()
    connection, _broker, impl = _setup()
    channel = FutureChannel(impl, loop)

    async def run() -> None:
        publish = channel.basic_publish
        for _ in range(batch):
            await publish("", "q", BODY)

    def once() -> None:
        loop.run_until_complete(run())
        connection.outbound.clear()

    try:
        return best(reps, batch, once)
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    for name, callback, awaitable in (
        ("confirm", confirm_callback, confirm_awaitable),
        ("consume", consume_callback, consume_awaitable),
        ("publish", publish_callback, publish_awaitable),
    ):
        c = callback(args.batch, args.reps)
        a = awaitable(args.batch, args.reps)
        print(f"{name:8s} callback {c:6.2f} µs/msg  awaitable {a:6.2f} µs/msg  "
              f"ratio {a / c:4.2f}")


if __name__ == "__main__":
    main()
