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
- ``publish``: ``--batch`` publishes outside confirm mode (``await`` on the awaitable side);
- ``w1000``: the confirm-w1000 scenario's steady state, isolating the per-publish settlement
  cost: ``--window`` (1,000) confirmed publishes kept in flight, the "broker" acking them with
  ``Basic.Ack(multiple)`` frames of ``--per-ack`` (250) publishes each, as RabbitMQ does; the
  callback side refills the window from its ack callback (as ``scenarios.py`` does), the
  awaitable side from each future's done-callback, with the checks ``async_clients.py`` makes
  (``cancelled()``, ``exception()``), one loop turn per ack frame. ``--split`` also prints
  the settlement alone (an ack frame in, every callback run) per publish.

Run from the repository root: ``python -m benchmarks.awaitable_micro``. It measures only the
client library's Python work, not I/O; ``benchmarks.run`` gives the real figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, Callable, List, Tuple

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


def _window_callback(total: int, window: int, per_ack: int, split: bool) -> Any:
    """The callback API's confirm-w1000 loop; returns ``(run, settle_seconds)``. ``split``:
    the window is refilled by the driver after each ack frame (untimed in ``settle``), not
    from the callback, so ``settle`` is the settlement alone."""
    state = {"published": 0, "confirmed": 0, "target": 0}
    connection, broker, channel = _setup(lambda frame: on_ack(frame))
    publish = channel.basic_publish

    def on_ack(frame: Any) -> None:
        state["confirmed"] = frame.method.delivery_tag
        if not split:
            more()

    def more() -> None:
        published = state["published"]
        room = min(window - (published - state["confirmed"]), state["target"] - published)
        for _ in range(room):
            publish("", "q", BODY)
        state["published"] = published + max(room, 0)

    settle = [0.0]

    def run() -> None:
        state["target"] = state["published"] + total
        more()
        acked = state["confirmed"]
        while acked < state["target"]:
            acked = min(acked + per_ack, state["published"])
            start = time.perf_counter()
            broker.send(1, spec.Basic.Ack(acked, True))
            settle[0] += time.perf_counter() - start
            if split:
                more()
            connection.outbound.clear()

    return run, settle


def _window_awaitable(total: int, window: int, per_ack: int, split: bool) -> Any:
    from amqpbase.adapters.asyncio import FutureChannel

    loop = asyncio.new_event_loop()
    connection, broker, impl = _setup()
    channel = FutureChannel(impl, loop)
    confirming = channel.confirm_delivery()
    broker.send(1, spec.Confirm.SelectOk())
    loop.run_until_complete(confirming)
    state = {"published": 0, "in_flight": 0, "target": 0, "acked": 0}
    publish = channel.basic_publish

    def on_done(future: Any) -> None:  # async_clients.AsyncRun.publish_confirmed's
        state["in_flight"] -= 1
        if future.cancelled() or future.exception() is not None:
            raise AssertionError(future)
        state["acked"] += 1
        if not split:
            more()

    def more() -> None:
        while state["published"] < state["target"] and state["in_flight"] < window:
            future = publish("", "q", BODY)
            state["published"] += 1
            state["in_flight"] += 1
            future.add_done_callback(on_done)

    settle = [0.0]

    def run() -> None:
        state["target"] = state["published"] + total
        more()
        acked = impl._machine.next_publish_tag - 1 - state["in_flight"]
        while state["in_flight"]:
            acked = min(acked + per_ack, impl._machine.next_publish_tag - 1)
            start = time.perf_counter()
            broker.send(1, spec.Basic.Ack(acked, True))
            loop.call_soon(loop.stop)
            loop.run_forever()  # one turn: the futures' callbacks (which refill the window)
            settle[0] += time.perf_counter() - start
            if split:
                more()
            connection.outbound.clear()

    return run, settle, loop


def window(total: int, reps: int, window_size: int, per_ack: int,
           split: bool = False) -> Tuple[float, float, float, float]:
    """µs per message: callback and awaitable whole loop, then their settlement share (the
    latter meaningful with ``split``)."""
    run_c, settle_c = _window_callback(total, window_size, per_ack, split)
    run_a, settle_a, loop = _window_awaitable(total, window_size, per_ack, split)
    whole_c: List[float] = []
    whole_a: List[float] = []
    part_c: List[float] = []
    part_a: List[float] = []
    try:
        for _ in range(reps):  # interleaved: a busy machine slows both alike
            for run, settle, whole, part in ((run_c, settle_c, whole_c, part_c),
                                             (run_a, settle_a, whole_a, part_a)):
                settle[0] = 0.0
                start = time.perf_counter()
                run()
                whole.append(time.perf_counter() - start)
                part.append(settle[0])
    finally:
        loop.close()
    scale = 1e6 / total
    return (min(whole_c) * scale, min(whole_a) * scale, min(part_c) * scale,
            min(part_a) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--per-ack", type=int, default=250)
    parser.add_argument("--total", type=int, default=20_000)
    parser.add_argument("--split", action="store_true",
                        help="w1000: print the settlement share too")
    parser.add_argument("--only", choices=["confirm", "consume", "publish", "w1000"])
    args = parser.parse_args()
    if args.only in (None, "w1000"):
        reps = max(3, args.reps // 3)
        c, a, _sc, _sa = window(args.total, reps, args.window, args.per_ack)
        print(f"w1000    callback {c:6.2f} µs/msg  awaitable {a:6.2f} µs/msg  "
              f"ratio {a / c:4.2f}")
        if args.split:
            _c, _a, sc, sa = window(args.total, reps, args.window, args.per_ack, split=True)
            print(f"  settle callback {sc:6.2f} µs/msg  awaitable {sa:6.2f} µs/msg  "
                  f"(the rest, publishing: {_c - sc:5.2f} / {_a - sa:5.2f})")
        if args.only:
            return
    for name, callback, awaitable in (
        ("confirm", confirm_callback, confirm_awaitable),
        ("consume", consume_callback, consume_awaitable),
        ("publish", publish_callback, publish_awaitable),
    ):
        if args.only not in (None, name):
            continue
        c = callback(args.batch, args.reps)
        a = awaitable(args.batch, args.reps)
        print(f"{name:8s} callback {c:6.2f} µs/msg  awaitable {a:6.2f} µs/msg  "
              f"ratio {a / c:4.2f}")


if __name__ == "__main__":
    main()
