#!/usr/bin/env python3
"""Publish a batch with publisher confirms, consume it back, print the rates: on each loop.

Written once against the pika 1.x callback API (only the imports differ from a pika program)
and run on the select loop, Tornado's IOLoop, a plain asyncio loop and the Twisted reactor in turn (one process
each: a reactor cannot be restarted): connection -> channel -> queue_declare ->
confirm_delivery -> basic_publish (a window of unconfirmed messages kept in flight) ->
basic_qos + basic_consume with multiple acks -> close. Exits 0 when, on every loop, every
message was confirmed by the broker and consumed back intact, 1 otherwise.

    python scripts/demo.py --url amqp://guest:guest@127.0.0.1:5672/%2F [--adapter NAME]
                           [--count N] [--size B]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any, Callable, List, Optional, Set

from amqpbase import spec
from amqpbase.connection import Connection
from amqpbase.parameters import URLParameters

ADAPTERS = ("select", "tornado", "asyncio", "twisted")


class Loop:
    """What the demo needs from an event loop: a connection on it, a timer, run and stop."""

    def connect(self, params: URLParameters, **callbacks: Any) -> Connection:
        raise NotImplementedError

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def remove_timeout(self, handle: Any) -> None:
        raise NotImplementedError

    def run(self) -> None:
        """Run the loop until :meth:`stop`."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class SelectLoop(Loop):
    def __init__(self) -> None:
        from amqpbase.adapters.select import IOLoop

        self.ioloop = IOLoop()

    def connect(self, params: URLParameters, **callbacks: Any) -> Connection:
        from amqpbase.adapters.select import SelectConnection

        return SelectConnection(params, custom_ioloop=self.ioloop, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def remove_timeout(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def run(self) -> None:
        self.ioloop.start()

    def stop(self) -> None:
        self.ioloop.stop()


class TornadoLoop(Loop):
    """Tornado's IOLoop on a fresh asyncio loop (what ``asyncio.run`` of a Tornado app has)."""

    def __init__(self) -> None:
        import asyncio

        from tornado.platform.asyncio import AsyncIOLoop

        self.asyncio_loop = asyncio.new_event_loop()
        self.ioloop = AsyncIOLoop(asyncio_loop=self.asyncio_loop, make_current=False)
        self.done = self.asyncio_loop.create_future()

    def connect(self, params: URLParameters, **callbacks: Any) -> Connection:
        from amqpbase.adapters.tornado import TornadoConnection

        return TornadoConnection(params, custom_ioloop=self.ioloop, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def remove_timeout(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    def run(self) -> None:
        self.asyncio_loop.run_until_complete(self.done)
        self.ioloop.close(all_fds=True)

    def stop(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class AsyncioLoop(TornadoLoop):
    """A plain asyncio loop (no Tornado): ``AsyncioConnection``."""

    def connect(self, params: URLParameters, **callbacks: Any) -> Connection:
        from amqpbase.adapters.asyncio import AsyncioConnection

        return AsyncioConnection(params, custom_ioloop=self.asyncio_loop, **callbacks)


class TwistedLoop(Loop):
    """The global Twisted reactor (imported here, not at module import)."""

    def __init__(self) -> None:
        from twisted.internet import reactor

        self.reactor: Any = reactor

    def connect(self, params: URLParameters, **callbacks: Any) -> Connection:
        from amqpbase.adapters.twisted import TwistedConnection

        return TwistedConnection(params, custom_reactor=self.reactor, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.reactor.callLater(delay, callback)

    def remove_timeout(self, handle: Any) -> None:
        if handle.active():
            handle.cancel()

    def run(self) -> None:
        self.reactor.run()

    def stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()


LOOPS = {"select": SelectLoop, "tornado": TornadoLoop, "asyncio": AsyncioLoop,
         "twisted": TwistedLoop}


class Demo:
    def __init__(self, name: str, url: str, count: int, size: int, window: int,
                 deadline: float) -> None:
        self.name = name
        self.loop = LOOPS[name]()
        self.count, self.window = count, window
        self.ack_every = max(1, min(500, window // 2))
        self.body = (b"amqpbase-demo " * (size // 14 + 1))[:size]
        self.queue = f"amqpbase-demo-{os.getpid()}"
        self.channel: Any = None
        self.published = 0
        self.acked_floor = 0  # every tag <= this one is confirmed (multiple acks)
        self.acked_singles: Set[int] = set()  # confirmed tags above the floor
        self.nacked = 0
        self.consumed = 0
        self.corrupt = 0
        self.times: List[float] = []
        self.error: Optional[str] = None
        self.connection = self.loop.connect(
            URLParameters(url),
            on_open_callback=self.on_open,
            on_open_error_callback=self.on_open_error,
            on_close_callback=self.on_closed,
        )
        self.deadline = self.loop.call_later(deadline, self.on_deadline)

    # connection and channel -------------------------------------------------------------

    def on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self.on_channel_open)

    def on_open_error(self, _connection: Any, error: BaseException) -> None:
        self.fail(f"could not connect: {error!r}")
        self.loop.stop()

    def on_closed(self, _connection: Any, reason: BaseException) -> None:
        if self.consumed < self.count:
            self.fail(f"connection closed early: {reason!r}")
        self.loop.stop()

    def on_channel_open(self, channel: Any) -> None:
        self.channel = channel
        channel.queue_declare(self.queue, exclusive=True, callback=self.on_queue_declared)

    def on_queue_declared(self, _frame: Any) -> None:
        self.channel.confirm_delivery(self.on_confirm, callback=self.on_confirm_mode)

    # publishing -------------------------------------------------------------------------

    def on_confirm_mode(self, _frame: Any) -> None:
        self.times.append(time.perf_counter())
        self.publish_more()

    def confirmed(self) -> int:
        return self.acked_floor + len(self.acked_singles)

    def publish_more(self) -> None:
        limit = min(self.count, self.confirmed() + self.nacked + self.window)
        publish = self.channel.basic_publish
        body, queue = self.body, self.queue
        while self.published < limit:
            publish("", queue, body)
            self.published += 1

    def on_confirm(self, method_frame: Any) -> None:
        method = method_frame.method
        if isinstance(method, spec.Basic.Nack):
            self.nacked += 1
            self.fail(f"broker nacked delivery tag {method.delivery_tag}")
            return
        tag = method.delivery_tag
        if method.multiple:
            if tag > self.acked_floor:
                self.acked_floor = tag
                self.acked_singles = {t for t in self.acked_singles if t > tag}
        elif tag > self.acked_floor:
            self.acked_singles.add(tag)
        if self.confirmed() >= self.count:
            self.times.append(time.perf_counter())
            self.channel.basic_qos(prefetch_count=self.window, callback=self.on_qos)
        else:
            self.publish_more()

    # consuming --------------------------------------------------------------------------

    def on_qos(self, _frame: Any) -> None:
        self.times.append(time.perf_counter())
        self.channel.basic_consume(self.queue, self.on_message)

    def on_message(self, channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        self.consumed += 1
        if body != self.body:
            self.corrupt += 1
        # Ack often enough that the prefetch window (basic_qos) never fills up.
        if self.consumed % self.ack_every == 0 or self.consumed == self.count:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if self.consumed == self.count:
            self.times.append(time.perf_counter())
            self.connection.close()

    # ending -----------------------------------------------------------------------------

    def on_deadline(self) -> None:
        self.fail(
            f"deadline passed: published {self.published}, confirmed {self.confirmed()}, "
            f"consumed {self.consumed} of {self.count}"
        )
        if self.connection.is_open:
            self.connection.close()
        else:
            self.loop.stop()

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def run(self) -> int:
        self.loop.run()
        self.loop.remove_timeout(self.deadline)
        if self.error is None and self.corrupt:
            self.error = f"{self.corrupt} message bodies differ from what was published"
        if self.error is not None:
            print(f"{self.name}: demo FAILED: {self.error}", file=sys.stderr)
            return 1
        t_start, t_confirmed, t_consume, t_end = self.times
        size = len(self.body)
        print(
            f"{self.name:>7}: published {self.count} messages of {size} B with publisher "
            f"confirms in {t_confirmed - t_start:.3f} s: "
            f"{self.count / (t_confirmed - t_start):,.0f} msg/s"
        )
        print(
            f"{self.name:>7}: consumed  {self.count} messages of {size} B (manual multiple acks) "
            f"in {t_end - t_consume:.3f} s: {self.count / (t_end - t_consume):,.0f} msg/s"
        )
        return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("AMQPBASE_TEST_URL"),
                        help="broker URL (default: $AMQPBASE_TEST_URL)")
    parser.add_argument("--adapter", choices=("all",) + ADAPTERS, default="all",
                        help="the loop to run on (default: all three, one process each)")
    parser.add_argument("--count", type=int, default=20000, help="messages (default 20000)")
    parser.add_argument("--size", type=int, default=128, help="body bytes (default 128)")
    parser.add_argument("--window", type=int, default=2000,
                        help="unconfirmed messages in flight / consumer prefetch (default 2000)")
    parser.add_argument("--deadline", type=float, default=120.0,
                        help="give up after this many seconds (default 120)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url is required when AMQPBASE_TEST_URL is not set "
                     "(scripts/dev demo sets it)")
    if args.count < 1 or args.size < 0 or args.window < 1:
        parser.error("--count and --window must be >= 1, --size >= 0")
    if args.adapter != "all":
        return Demo(args.adapter, args.url, args.count, args.size, args.window,
                    args.deadline).run()
    status = 0
    for adapter in ADAPTERS:  # a process each: the Twisted reactor cannot be restarted
        command = [sys.executable, os.path.abspath(__file__), "--adapter", adapter,
                   "--url", args.url, "--count", str(args.count), "--size", str(args.size),
                   "--window", str(args.window), "--deadline", str(args.deadline)]
        status = max(status, subprocess.run(command, stdin=subprocess.DEVNULL).returncode)
    return status


if __name__ == "__main__":
    sys.exit(main())
