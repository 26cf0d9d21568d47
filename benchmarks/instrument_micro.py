"""In-memory cost of instrumentation per message (issue 15): no broker, no socket.

The real base ``Connection`` over ``tests/unit/harness.py``'s ``MemoryConnection`` (its
"broker" feeds frames through the real codec). Figures are ns per message, best of ``--reps``
batches of ``--batch`` messages:

- ``publish``: ``basic_publish`` of a 64-byte body outside confirm mode (the fast path);
- ``consume``: deliveries fed in one read, the consumer callback acks each one.

Modes: ``off`` (no observer: the default), ``metrics`` (``amqpbase.metrics.Metrics``),
``otel`` (``amqpbase.tracing.Tracing`` with the OpenTelemetry SDK, every span recorded and handed
synchronously to an exporter that drops it). ``--tree DIR`` imports amqpbase from another
source tree (``benchmarks.tree``; mode ``off`` only when that tree predates issue 15), so the
"off" path can be A/B'd against main:

    python -m benchmarks.instrument_micro --modes off metrics otel
    python -m benchmarks.instrument_micro --modes off --tree /tmp/main-tree
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Dict, List

BODY = b"x" * 64


def best(reps: int, batch: int, once: Callable[[], None]) -> float:
    times: List[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return min(times) / batch * 1e9


def observer(mode: str) -> Any:
    if mode == "off":
        return None
    from benchmarks.scenarios import make_observer

    return make_observer(mode)


def _setup(mode: str) -> Any:
    from amqpbase import spec
    from amqpbase.parameters import ConnectionParameters
    from tests.unit.harness import open_connection

    params = ConnectionParameters()
    watcher = observer(mode)
    if watcher is not None:
        params.observer = watcher
    connection, broker = open_connection(params)
    channel = broker.open_channel(1)
    channel.queue_declare("q", callback=lambda _f: None)
    broker.send(1, spec.Queue.DeclareOk("q", 0, 0))
    connection.outbound.clear()
    return connection, broker, channel


def publish(mode: str, batch: int, reps: int) -> float:
    connection, _broker, channel = _setup(mode)
    send = channel.basic_publish
    send("", "q", BODY)  # the first publish fills the head cache

    def once() -> None:
        for _ in range(batch):
            send("", "q", BODY)
        connection.outbound.clear()

    return best(reps, batch, once)


def consume(mode: str, batch: int, reps: int) -> float:
    from amqpbase import spec
    from amqpbase.frame import encode_content_frames

    connection, broker, channel = _setup(mode)

    def on_message(ch: Any, method: Any, _properties: Any, _body: bytes) -> None:
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume("q", on_message, consumer_tag="ctag")
    broker.send(1, spec.Basic.ConsumeOk("ctag"))

    def chunk(first: int) -> bytes:
        return b"".join(
            b"".join(bytes(c) for c in encode_content_frames(
                1, spec.Basic.Deliver("ctag", tag, False, "", "q"), spec.BasicProperties(),
                BODY, 131072))
            for tag in range(first, first + batch))

    chunks = [chunk(1 + i * batch) for i in range(reps)]

    def once() -> None:
        connection.feed(chunks.pop(0))
        connection.outbound.clear()

    return best(reps, batch, once)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["off", "metrics", "otel"])
    parser.add_argument("--batch", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--tree", help="import amqpbase from this source tree")
    args = parser.parse_args()
    if args.tree:
        from benchmarks import tree

        tree.use(args.tree)
    results: Dict[str, Dict[str, float]] = {}
    for mode in args.modes:
        results[mode] = {
            "publish_ns": round(publish(mode, args.batch, args.reps), 1),
            "consume_ack_ns": round(consume(mode, args.batch, args.reps), 1),
        }
    print(json.dumps({"tree": args.tree or "working tree", "results": results}))


if __name__ == "__main__":
    main()
