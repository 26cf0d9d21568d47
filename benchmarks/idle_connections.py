"""Memory per idle connection, amqpbase and pika side by side (issue 16's first measurement).

For each client (one subprocess each, so nothing carries over): the RSS of the process with
its loop and library imported, after opening N connections on one loop and letting them sit
idle, and after closing them all (``gc.collect()`` then). The figure that matters is
``(open - base) / N``: what one more idle connection costs a service that holds one per tenant
or per worker. Both libraries are driven through the same pika 1.x callback API; only the
import and the loop runner differ.

    python -m benchmarks.idle_connections --url amqp://guest:guest@127.0.0.1:5672/%2F \
        [--count 500] [--clients amqpbase-select,pika-select,...] [--json FILE]
        [--tree DIR]   # amqpbase from another source tree (benchmarks/tree.py), e.g. an A/B
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

CLIENTS = (
    "amqpbase-select", "amqpbase-tornado", "amqpbase-asyncio", "amqpbase-twisted",
    "pika-select", "pika-tornado", "pika-asyncio",
)


def rss_kib() -> int:
    """The process's resident set size now (``VmRSS`` of ``/proc/self/status``), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Runner:
    """Open ``count`` connections with ``factory``, wait, close them, measuring RSS."""

    def __init__(self, factory: Callable[..., Any], params: Any, count: int,
                 run_until: Callable[[Callable[[], bool]], None]) -> None:
        self.factory, self.params, self.count, self.run_until = factory, params, count, run_until
        self.opened: List[Any] = []
        self.closed = 0
        self.errors: List[Any] = []

    def measure(self) -> Dict[str, Any]:
        gc.collect()
        base = rss_kib()
        for _ in range(self.count):
            self.factory(
                self.params,
                on_open_callback=self.opened.append,
                on_open_error_callback=lambda conn, error: self.errors.append(error),
                on_close_callback=self.on_close,
            )
        self.run_until(lambda: len(self.opened) + len(self.errors) >= self.count)
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} opens failed, first: {self.errors[0]!r}")
        idle_until = time.monotonic() + 1.0  # idle: heartbeats negotiated, nothing to read
        self.run_until(lambda: time.monotonic() >= idle_until)
        gc.collect()
        opened = rss_kib()
        for connection in self.opened:
            connection.close()
        self.run_until(lambda: self.closed >= self.count)
        del self.opened[:]
        gc.collect()
        closed = rss_kib()
        return {"count": self.count, "base_kib": base, "open_kib": opened, "closed_kib": closed,
                "per_connection_kib": round((opened - base) / self.count, 1),
                "kept_after_close_kib": closed - base}

    def on_close(self, connection: Any, reason: Any) -> None:
        self.closed += 1


def run_client(name: str, url: str, count: int) -> Dict[str, Any]:
    library, loop = name.split("-")
    if library == "amqpbase":
        from amqpbase.parameters import URLParameters
    else:
        from pika import URLParameters  # type: ignore[no-redef]
    params = URLParameters(url)
    params.heartbeat = 60
    if loop == "select":
        if library == "amqpbase":
            from amqpbase.adapters.select import IOLoop, SelectConnection
        else:
            from pika.adapters.select_connection import IOLoop  # type: ignore[no-redef]
            from pika.adapters.select_connection import SelectConnection  # type: ignore[no-redef]
        ioloop = IOLoop()

        def run_until_select(done: Callable[[], bool]) -> None:
            def check() -> None:
                if done():
                    ioloop.stop()
                else:
                    ioloop.call_later(0.01, check)
            ioloop.call_later(0, check)
            ioloop.start()

        factory = lambda p, **kw: SelectConnection(p, custom_ioloop=ioloop, **kw)  # noqa: E731
        return Runner(factory, params, count, run_until_select).measure()
    if loop in ("tornado", "asyncio"):
        import asyncio

        asyncio_loop = asyncio.new_event_loop()
        if loop == "tornado":
            from tornado.platform.asyncio import AsyncIOLoop

            custom: Any = AsyncIOLoop(asyncio_loop=asyncio_loop, make_current=False)
            if library == "amqpbase":
                from amqpbase.adapters.tornado import TornadoConnection as cls
            else:
                from pika.adapters.tornado_connection import TornadoConnection as cls  # type: ignore[no-redef]
        else:
            custom = asyncio_loop
            if library == "amqpbase":
                from amqpbase.adapters.asyncio import AsyncioConnection as cls  # type: ignore[assignment]
            else:
                from pika.adapters.asyncio_connection import AsyncioConnection as cls  # type: ignore[no-redef]

        def run_until_asyncio(done: Callable[[], bool]) -> None:
            async def wait() -> None:
                while not done():
                    await asyncio.sleep(0.01)
            asyncio_loop.run_until_complete(wait())

        factory = lambda p, **kw: cls(p, custom_ioloop=custom, **kw)  # noqa: E731
        return Runner(factory, params, count, run_until_asyncio).measure()
    if loop == "twisted" and library == "amqpbase":
        from twisted.internet import reactor

        from amqpbase.adapters.twisted import TwistedConnection

        results: List[Dict[str, Any]] = []

        def run_until_twisted(done: Callable[[], bool]) -> None:
            # The reactor runs once, for the whole measurement: see measure_in_reactor.
            while not done():
                reactor.iterate(0.01)  # type: ignore[attr-defined]

        def measure() -> None:
            results.append(Runner(lambda p, **kw: TwistedConnection(p, custom_reactor=reactor,
                                                                     **kw),
                                  params, count, run_until_twisted).measure())

        reactor.callWhenRunning(lambda: (measure(), reactor.stop()))  # type: ignore[attr-defined]
        reactor.run()  # type: ignore[attr-defined]
        return results[0]
    raise ValueError(f"unknown client {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--json")
    parser.add_argument("--tree", help="import amqpbase from this source tree")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a subprocess measuring one client
    args = parser.parse_args()
    if args.one:
        if args.tree:
            from benchmarks import tree

            tree.use(args.tree)
        print(json.dumps(run_client(args.one, args.url, args.count)))
        return
    rows: Dict[str, Any] = {}
    print(f"{'client':18} {'base MiB':>9} {'open MiB':>9} {'closed MiB':>11} "
          f"{'KiB/conn':>9} {'kept KiB':>9}   ({args.count} idle connections)")
    for name in args.clients.split(","):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.idle_connections", "--url",
                               args.url, "--count", str(args.count), "--one", name,
                               *(["--tree", args.tree] if args.tree else [])],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            print(f"{name:18} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        row = rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{name:18} {row['base_kib'] / 1024:9.1f} {row['open_kib'] / 1024:9.1f} "
              f"{row['closed_kib'] / 1024:11.1f} {row['per_connection_kib']:9.1f} "
              f"{row['kept_after_close_kib']:9d}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
