"""Does a small publisher wait behind a large message on another channel? (issue 16)

One connection, two channels. Channel A publishes a 64 MiB message every ``--interval``
seconds (0.2: 320 MB/s offered), unconfirmed, to a routing key no queue is bound to (the
broker drops them: nothing piles up in memory). Channel B, in confirm
mode, publishes 64 B messages one at a time (the next after the previous one's Basic.Ack) and
records each publish-to-ack time. Reported: B's p50 / p99 / max with A idle (the baseline)
and with A streaming, in ms. One subprocess per client; both libraries through the pika 1.x
callback API (only imports and the loop runner differ).

    python -m benchmarks.interleave --url URL [--seconds 5] [--clients ...] [--tree DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

CLIENTS = ("amqpbase-select", "amqpbase-tornado", "amqpbase-asyncio", "amqpbase-twisted",
           "pika-select", "pika-asyncio")
LARGE = 64 * 1024 * 1024


class Probe:
    """Drives both channels on one connection (see the module docstring)."""

    #: Seconds between two large publishes.
    interval = 0.2

    def __init__(self, connection_factory: Callable[..., Any], params: Any, seconds: float,
                 stop_loop: Callable[[], None], call_later: Callable[[float, Any], Any]) -> None:
        self.seconds, self.stop_loop, self.call_later = seconds, stop_loop, call_later
        self.large = b"L" * LARGE
        self.latencies: Dict[str, List[float]] = {"idle": [], "streaming": []}
        self.phase = "idle"
        self.large_sent = 0
        self.sent_at = 0.0
        self.error: Any = None
        self.connection = connection_factory(
            params, on_open_callback=self.on_open,
            on_open_error_callback=lambda c, e: self.fail(e),
            on_close_callback=lambda c, r: self.fail(r) if self.phase != "done" else None)

    def fail(self, error: Any) -> None:
        self.error = error
        self.stop_loop()

    def on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self.on_large_channel)

    def on_large_channel(self, channel: Any) -> None:
        self.large_channel = channel
        self.connection.channel(on_open_callback=self.on_small_channel)

    def on_small_channel(self, channel: Any) -> None:
        self.small = channel
        channel.confirm_delivery(self.on_confirm, callback=lambda frame: self.start())

    def start(self) -> None:
        self.started = time.monotonic()
        self.call_later(self.seconds / 2, self.start_streaming)
        self.publish_small()

    def start_streaming(self) -> None:
        self.phase = "streaming"
        self.call_later(self.seconds / 2, self.finish)
        self.publish_large()

    def publish_large(self) -> None:
        if self.phase != "streaming":
            return
        self.large_channel.basic_publish("", "amqpbase-interleave-nowhere", self.large)
        self.large_sent += 1
        self.call_later(self.interval, self.publish_large)

    def publish_small(self) -> None:
        self.sent_at = time.monotonic()
        self.small.basic_publish("", "amqpbase-interleave-nowhere", b"s" * 64)

    def on_confirm(self, frame: Any) -> None:
        latencies = self.latencies.get(self.phase)
        if latencies is not None:
            latencies.append(time.monotonic() - self.sent_at)
        if self.phase != "done":
            self.publish_small()

    def finish(self) -> None:
        self.phase = "done"
        self.stop_loop()

    def report(self) -> Dict[str, Any]:
        if self.error is not None:
            raise RuntimeError(f"failed: {self.error!r}")
        out: Dict[str, Any] = {"large_messages": self.large_sent}
        for phase, values in self.latencies.items():
            values = sorted(values)
            out[phase] = {
                "count": len(values),
                "p50_ms": round(statistics.median(values) * 1000, 2),
                "p99_ms": round(values[int(len(values) * 0.99) - 1] * 1000, 2),
                "max_ms": round(values[-1] * 1000, 2),
            }
        return out


def run_client(name: str, url: str, seconds: float) -> Dict[str, Any]:
    library, loop = name.split("-")
    if library == "amqpbase":
        from amqpbase.parameters import URLParameters
    else:
        from pika import URLParameters  # type: ignore[no-redef]
    params = URLParameters(url)
    if loop == "select":
        if library == "amqpbase":
            from amqpbase.adapters.select import IOLoop, SelectConnection
        else:
            from pika.adapters.select_connection import IOLoop  # type: ignore[no-redef]
            from pika.adapters.select_connection import SelectConnection  # type: ignore[no-redef]
        ioloop = IOLoop()
        probe = Probe(lambda p, **kw: SelectConnection(p, custom_ioloop=ioloop, **kw), params,
                      seconds, ioloop.stop, ioloop.call_later)
        ioloop.start()
        return probe.report()
    if loop in ("tornado", "asyncio"):
        import asyncio

        asyncio_loop = asyncio.new_event_loop()
        if loop == "tornado":
            from tornado.platform.asyncio import AsyncIOLoop

            custom: Any = AsyncIOLoop(asyncio_loop=asyncio_loop, make_current=False)
            from amqpbase.adapters.tornado import TornadoConnection as cls
        else:
            custom = asyncio_loop
            if library == "amqpbase":
                from amqpbase.adapters.asyncio import AsyncioConnection as cls  # type: ignore[assignment]
            else:
                from pika.adapters.asyncio_connection import AsyncioConnection as cls  # type: ignore[no-redef]
        probe = Probe(lambda p, **kw: cls(p, custom_ioloop=custom, **kw), params, seconds,
                      asyncio_loop.stop, asyncio_loop.call_later)
        asyncio_loop.run_forever()
        return probe.report()
    if loop == "twisted":
        from twisted.internet import reactor

        from amqpbase.adapters.twisted import TwistedConnection

        probe = Probe(lambda p, **kw: TwistedConnection(p, custom_reactor=reactor, **kw), params,
                      seconds, reactor.stop, reactor.callLater)  # type: ignore[attr-defined]
        reactor.run()  # type: ignore[attr-defined]
        return probe.report()
    raise ValueError(f"unknown client {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--interval", type=float, default=Probe.interval)
    parser.add_argument("--tree", help="import amqpbase from this source tree")
    parser.add_argument("--json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.tree:
            from benchmarks import tree

            tree.use(args.tree)
        Probe.interval = args.interval
        print(json.dumps(run_client(args.one, args.url, args.seconds)))
        return
    rows: Dict[str, Any] = {}
    print(f"{'client':18} {'idle p50/p99/max ms':>22} {'streaming p50/p99/max ms':>26} "
          f"{'64 MiB msgs':>11}")
    for name in args.clients.split(","):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.interleave", "--url", args.url, "--seconds",
             str(args.seconds), "--interval", str(args.interval), "--one", name,
             *(["--tree", args.tree] if args.tree else [])],
            capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            print(f"{name:18} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        row = rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        idle, busy = row["idle"], row["streaming"]
        print(f"{name:18} {idle['p50_ms']:7.2f}/{idle['p99_ms']:6.2f}/{idle['max_ms']:7.2f} "
              f"{busy['p50_ms']:9.2f}/{busy['p99_ms']:7.2f}/{busy['max_ms']:7.2f} "
              f"{row['large_messages']:11d}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
