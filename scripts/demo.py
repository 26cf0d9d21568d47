#!/usr/bin/env python3
"""Publish a batch with publisher confirms, consume it back, print the rates.

Written against the pika 1.x callback API (only the imports differ from a pika program):
SelectConnection -> channel -> queue_declare -> confirm_delivery -> basic_publish (a window of
unconfirmed messages kept in flight) -> basic_qos + basic_consume with multiple acks -> close.
Exits 0 when every message was confirmed by the broker and consumed back intact, 1 otherwise.

    python scripts/demo.py --url amqp://guest:guest@127.0.0.1:5672/%2F [--count N] [--size B]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, List, Optional, Set

from amqpbase import spec
from amqpbase.adapters.select import SelectConnection
from amqpbase.parameters import URLParameters


class Demo:
    def __init__(self, url: str, count: int, size: int, window: int, deadline: float) -> None:
        self.count, self.window = count, window
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
        self.connection = SelectConnection(
            URLParameters(url),
            on_open_callback=self.on_open,
            on_open_error_callback=self.on_open_error,
            on_close_callback=self.on_closed,
        )
        self.deadline = self.connection.ioloop.call_later(deadline, self.on_deadline)

    # connection and channel -------------------------------------------------------------

    def on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self.on_channel_open)

    def on_open_error(self, _connection: Any, error: BaseException) -> None:
        self.fail(f"could not connect: {error!r}")
        self.connection.ioloop.stop()

    def on_closed(self, _connection: Any, reason: BaseException) -> None:
        if self.consumed < self.count:
            self.fail(f"connection closed early: {reason!r}")
        self.connection.ioloop.stop()

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
        if self.consumed % 500 == 0 or self.consumed == self.count:
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
            self.connection.ioloop.stop()

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def run(self) -> int:
        self.connection.ioloop.start()
        self.connection.ioloop.remove_timeout(self.deadline)
        if self.error is None and self.corrupt:
            self.error = f"{self.corrupt} message bodies differ from what was published"
        if self.error is not None:
            print(f"demo FAILED: {self.error}", file=sys.stderr)
            return 1
        t_start, t_confirmed, t_consume, t_end = self.times
        size = len(self.body)
        print(
            f"published {self.count} messages of {size} B with publisher confirms in "
            f"{t_confirmed - t_start:.3f} s: {self.count / (t_confirmed - t_start):,.0f} msg/s"
        )
        print(
            f"consumed  {self.count} messages of {size} B (manual multiple acks) in "
            f"{t_end - t_consume:.3f} s: {self.count / (t_end - t_consume):,.0f} msg/s"
        )
        return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("AMQPBASE_TEST_URL"),
                        help="broker URL (default: $AMQPBASE_TEST_URL)")
    parser.add_argument("--count", type=int, default=20000, help="messages (default 20000)")
    parser.add_argument("--size", type=int, default=128, help="body bytes (default 128)")
    parser.add_argument("--window", type=int, default=2000,
                        help="unconfirmed messages in flight / consumer prefetch (default 2000)")
    parser.add_argument("--deadline", type=float, default=120.0,
                        help="give up after this many seconds (default 120)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url is required when AMQPBASE_TEST_URL is not set (scripts/dev demo sets it)")
    if args.count < 1 or args.size < 0 or args.window < 1:
        parser.error("--count and --window must be >= 1, --size >= 0")
    return Demo(args.url, args.count, args.size, args.window, args.deadline).run()


if __name__ == "__main__":
    sys.exit(main())
