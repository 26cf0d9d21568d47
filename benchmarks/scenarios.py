"""The benchmark worker: run ONE (client, scenario) in this process and print one JSON line.

    python -m benchmarks.scenarios --client amqpbase-select --scenario pub64 \
        --url amqp://guest:guest@127.0.0.1:5672/%2F [--count N] [--broker-pid PID]

The runner (``benchmarks.run``) starts a fresh process of this module for every run, so no
run inherits a warmed-up interpreter, a loop or a reactor from another. Every run uses a fresh
queue (unique name), checks the broker's view afterwards (queue depth after publishing, empty
after consuming, no nacks) and deletes the queue.

The timed region covers only the client under test doing the scenario's work; the figures
(wall time, this process's getrusage user+sys, the broker's /proc/<pid>/stat utime+stime) are
deltas over exactly that region. Consume scenarios get their queue filled beforehand by a
separate process (this module with ``--prefill``, amqpbase on the select loop with publisher
confirms).

The five callback-API clients (amqpbase on select/Tornado/Twisted, pika on select/Tornado)
share one driver (:class:`CallbackRun`): the pika 1.x callback API is the same on all of them.
pika on Twisted is used the way a pika Twisted user writes it: ``TwistedProtocolConnection``
and its Deferred API (:class:`benchmarks.pika_twisted.PikaTwistedRun`).

With ``--tree DIR`` (A/B runs, ``benchmarks.run --ab``) amqpbase is imported from that source
tree (:mod:`benchmarks.tree`), and the run fails when any amqpbase module came from elsewhere;
this worker itself is always the caller's. The JSON says where amqpbase came from (``tree``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from benchmarks import tree as library_tree

CLIENTS = (
    "amqpbase-select", "amqpbase-tornado", "amqpbase-twisted",
    "pika-select", "pika-tornado", "pika-twisted",
    # issue 13: amqpbase's Deferred and awaitable APIs, and the asyncio libraries
    # (benchmarks/async_clients.py; aio-pika and aiormq come with the bench extra).
    "amqpbase-deferred", "amqpbase-awaitable", "aiopika-asyncio", "aiormq-asyncio",
    # the plain asyncio loop (no Tornado): the callback API on AsyncioConnection and the
    # awaitable API on amqpbase.adapters.asyncio.connect
    "amqpbase-asyncio", "amqpbase-awaitable-asyncio",
    # issue 15: the callback API with instrumentation installed (ConnectionParameters
    # observer): "+metrics" counts into amqpbase.metrics' in-process collector, "+otel" traces
    # with the OpenTelemetry SDK (every span recorded and exported to a sink that drops it)
    "amqpbase-select+metrics", "amqpbase-select+otel",
    "amqpbase-tornado+metrics", "amqpbase-tornado+otel",
)
#: The clients that are not the callback API: no memory scenarios.
API_CLIENTS = ("pika-twisted", "amqpbase-deferred", "amqpbase-awaitable",
               "amqpbase-awaitable-asyncio", "aiopika-asyncio", "aiormq-asyncio")
MIB = 1024 * 1024
DEPTH_POLLS = 100  # look at the queue depth at most this many times ...
DEPTH_POLL_INTERVAL = 0.05  # ... this many seconds apart


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "publish" | "confirm" | "consume" | "mem-publish" | "mem-consume"
    count: int  # messages in full mode
    quick_count: int  # messages in quick mode
    size: int  # body bytes
    window: int = 0  # unconfirmed messages in flight (confirm) / prefetch (consume)
    ack: str = ""  # consume: "each" | "multi100" | "auto"
    full_only: bool = False  # memory scenarios: not in quick mode


SCENARIOS: Dict[str, Scenario] = {s.name: s for s in (
    Scenario("pub64", "publish", 100_000, 20_000, 64),
    Scenario("pub1M", "publish", 2_000, 200, MIB),
    Scenario("confirm-w1000", "confirm", 100_000, 20_000, 64, window=1000),
    Scenario("confirm-w1", "confirm", 20_000, 2_000, 64, window=1),
    Scenario("consume-each", "consume", 100_000, 20_000, 64, window=1000, ack="each"),
    Scenario("consume-multi100", "consume", 100_000, 20_000, 64, window=1000, ack="multi100"),
    Scenario("consume-auto", "consume", 100_000, 20_000, 64, window=1000, ack="auto"),
    Scenario("mem-publish-1G", "mem-publish", 16_384, 1_024, 64 * 1024, full_only=True),
    # The same bounded by publisher confirms instead (at most 64 x 64 KiB unconfirmed).
    Scenario("mem-publish-1G-w64", "mem-publish", 16_384, 1_024, 64 * 1024, window=64,
             full_only=True),
    Scenario("mem-consume-1M", "mem-consume", 1_000_000, 100_000, 64, window=1000,
             ack="multi100", full_only=True),
)}


# ------------------------------------------------------------------------------------------
# measuring


def broker_cpu_ticks(pid: Optional[int]) -> Optional[int]:
    """utime + stime of the broker process in clock ticks (None when unknown)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    except (OSError, IndexError, ValueError):
        return None


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Meter:
    """Wall time, own CPU and broker CPU over the timed region."""

    def __init__(self, broker_pid: Optional[int]) -> None:
        self.broker_pid = broker_pid
        self.t0 = self.t1 = 0.0
        self.cpu0 = self.cpu1 = 0.0
        self.b0: Optional[int] = None
        self.b1: Optional[int] = None

    @staticmethod
    def _cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def start(self) -> None:
        self.b0 = broker_cpu_ticks(self.broker_pid)
        self.cpu0 = self._cpu()
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        if self.t1:
            return
        self.t1 = time.perf_counter()
        self.cpu1 = self._cpu()
        self.b1 = broker_cpu_ticks(self.broker_pid)

    def figures(self, count: int) -> Dict[str, Any]:
        elapsed = self.t1 - self.t0
        out: Dict[str, Any] = {
            "elapsed_s": elapsed,
            "msgs_per_s": count / elapsed if elapsed > 0 else None,
            "client_cpu_us_per_msg": (self.cpu1 - self.cpu0) * 1e6 / count,
            "broker_cpu_us_per_msg": None,
        }
        if self.b0 is not None and self.b1 is not None:
            ticks = os.sysconf("SC_CLK_TCK")
            out["broker_cpu_us_per_msg"] = (self.b1 - self.b0) / ticks * 1e6 / count
        return out


# ------------------------------------------------------------------------------------------
# loops (what a run needs from an event loop: a connection on it, call soon/later, run, stop)


def make_observer(instrument: str) -> Any:
    """The observer of a ``+metrics`` / ``+otel`` client variant (issue 15)."""
    if instrument == "metrics":
        from amqpbase.metrics import Metrics

        return Metrics()
    if instrument == "otel":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult

        from amqpbase.tracing import Tracing

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        # Every span is made, ended and handed to the exporter, synchronously (a batch
        # processor's queue overflows at these rates and drops spans, which would flatter
        # the figure); the exporter's own cost (network, serialisation) is left out.
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        return Tracing(tracer_provider=provider)
    raise ValueError(f"unknown instrumentation {instrument!r}")


class Loop:
    #: "" or the client variant's instrumentation ("metrics", "otel"; amqpbase only)
    instrument = ""

    def __init__(self, library: str) -> None:
        self.library = library

    def connect(self, url: str, **callbacks: Any) -> Any:
        raise NotImplementedError

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def call_soon(self, callback: Callable[[], Any]) -> None:
        self.call_later(0, callback)

    def run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def params(self, url: str) -> Any:
        if self.library == "pika":
            import pika

            return pika.URLParameters(url)
        from amqpbase.parameters import URLParameters

        params = URLParameters(url)
        if self.instrument:
            params.observer = make_observer(self.instrument)
        return params


class SelectLoop(Loop):
    def __init__(self, library: str) -> None:
        super().__init__(library)
        if library == "pika":
            from pika.adapters.select_connection import IOLoop as PikaIOLoop

            self.ioloop: Any = PikaIOLoop()
        else:
            from amqpbase.adapters.select import IOLoop

            self.ioloop = IOLoop()

    def connect(self, url: str, **callbacks: Any) -> Any:
        if self.library == "pika":
            from pika import SelectConnection as PikaSelect

            return PikaSelect(self.params(url), custom_ioloop=self.ioloop, **callbacks)
        from amqpbase.adapters.select import SelectConnection

        return SelectConnection(self.params(url), custom_ioloop=self.ioloop, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def run(self) -> None:
        self.ioloop.start()

    def stop(self) -> None:
        self.ioloop.stop()


class TornadoLoop(Loop):
    """Tornado's IOLoop on a fresh asyncio loop; both libraries get it as ``custom_ioloop``."""

    def __init__(self, library: str) -> None:
        super().__init__(library)
        import asyncio

        from tornado.platform.asyncio import AsyncIOLoop

        self.asyncio_loop = asyncio.new_event_loop()
        self.ioloop = AsyncIOLoop(asyncio_loop=self.asyncio_loop, make_current=False)
        self.done = self.asyncio_loop.create_future()

    def connect(self, url: str, **callbacks: Any) -> Any:
        if self.library == "pika":
            from pika.adapters.tornado_connection import TornadoConnection as PikaTornado

            return PikaTornado(self.params(url), custom_ioloop=self.ioloop, **callbacks)
        from amqpbase.adapters.tornado import TornadoConnection

        return TornadoConnection(self.params(url), custom_ioloop=self.ioloop, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.ioloop.call_later(delay, callback)

    def call_soon(self, callback: Callable[[], Any]) -> None:
        self.ioloop.add_callback(callback)

    def run(self) -> None:
        self.asyncio_loop.run_until_complete(self.done)
        self.ioloop.close(all_fds=True)

    def stop(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class AsyncioLoop(Loop):
    """A fresh plain asyncio loop (no Tornado) given to ``AsyncioConnection`` as
    ``custom_ioloop`` (amqpbase only: pika 1.x's asyncio adapter is not a client here)."""

    def __init__(self, library: str) -> None:
        super().__init__(library)
        import asyncio

        self.asyncio_loop = asyncio.new_event_loop()
        self.done = self.asyncio_loop.create_future()

    def connect(self, url: str, **callbacks: Any) -> Any:
        from amqpbase.adapters.asyncio import AsyncioConnection

        return AsyncioConnection(self.params(url), custom_ioloop=self.asyncio_loop, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.asyncio_loop.call_later(delay, callback)

    def call_soon(self, callback: Callable[[], Any]) -> None:
        self.asyncio_loop.call_soon(callback)

    def run(self) -> None:
        self.asyncio_loop.run_until_complete(self.done)
        self.asyncio_loop.close()

    def stop(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class TwistedLoop(Loop):
    def __init__(self, library: str) -> None:
        super().__init__(library)
        from twisted.internet import reactor

        self.reactor: Any = reactor

    def connect(self, url: str, **callbacks: Any) -> Any:
        from amqpbase.adapters.twisted import TwistedConnection

        return TwistedConnection(self.params(url), custom_reactor=self.reactor, **callbacks)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.reactor.callLater(delay, callback)

    def run(self) -> None:
        self.reactor.run()

    def stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()


LOOPS = {"select": SelectLoop, "tornado": TornadoLoop, "twisted": TwistedLoop,
         "asyncio": AsyncioLoop}


# ------------------------------------------------------------------------------------------
# shared bookkeeping


class Run:
    """One scenario: bookkeeping and results shared by both drivers."""

    def __init__(self, scenario: Scenario, count: int, queue: str, broker_pid: Optional[int],
                 keep_queue: bool = False) -> None:
        self.scenario = scenario
        self.count = count
        self.queue = queue
        self.keep_queue = keep_queue
        self.body = (b"amqpbase-bench:" * (scenario.size // 15 + 1))[: scenario.size]
        self.meter = Meter(broker_pid)
        self.published = 0
        self.acked_floor = 0  # every delivery tag <= this one is confirmed
        self.acked_above: set[int] = set()
        self.nacks = 0
        self.received = 0
        self.corrupt = 0
        self.depth: Optional[int] = None  # queue depth seen at the check
        self.error: Optional[str] = None
        self.extra: Dict[str, Any] = {}
        self.depth_polls = 0
        # Publish in bounded batches per loop turn (~256 KiB of bodies), so the loop writes
        # between batches; a whole 2 GiB run is never queued in memory at once.
        self.batch = max(1, (256 * 1024) // max(1, scenario.size))

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def confirmed(self) -> int:
        return self.acked_floor + len(self.acked_above)

    def on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            if tag > self.acked_floor:
                self.acked_floor = tag
                self.acked_above = {t for t in self.acked_above if t > tag}
        elif tag > self.acked_floor:
            self.acked_above.add(tag)

    def expected_depth(self) -> int:
        return self.count if self.scenario.kind in ("publish", "confirm", "mem-publish") else 0

    def result(self) -> Dict[str, Any]:
        checks: Dict[str, Any] = {
            "depth_expected": self.expected_depth(), "depth": self.depth,
            "depth_polls": self.depth_polls, "nacks": self.nacks,
        }
        if self.scenario.kind in ("consume", "mem-consume"):
            checks.update(received=self.received, corrupt=self.corrupt)
        ok = self.error is None and self.depth == self.expected_depth() and self.nacks == 0
        if self.scenario.kind in ("consume", "mem-consume"):
            ok = ok and self.received == self.count and self.corrupt == 0
        if self.error is None and not ok:
            self.error = f"correctness check failed: {checks}"
        out: Dict[str, Any] = {"count": self.count, "size": self.scenario.size,
                               "ok": ok, "error": self.error, "checks": checks}
        if ok:
            out.update(self.meter.figures(self.count))
        out.update(self.extra)
        return out


# ------------------------------------------------------------------------------------------
# the callback API (amqpbase on every loop, pika on select and Tornado)


class CallbackRun(Run):
    def __init__(self, loop: Loop, url: str, deadline: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loop = loop
        self.channel: Any = None
        self.consumer_tag: Optional[str] = None
        self.pressure = False  # the backpressure callback fired during this batch
        self.paused = False  # mem-publish: waiting for the drained callback to resume
        self.pauses = 0
        self.write_buffer_peak = 0  # mem-publish: most bytes seen in the write buffer
        self.rss_samples: List[int] = []
        self.connection = loop.connect(url, on_open_callback=self.on_open,
                                       on_open_error_callback=self.on_open_error,
                                       on_close_callback=self.on_closed)
        self.deadline = loop.call_later(deadline, self.on_deadline)

    # connection, channel, queue ----------------------------------------------------------

    def on_open(self, connection: Any) -> None:
        if self.scenario.kind == "mem-publish":
            # docs/guide-select.md, Backpressure: pause on the callback, resume on the drain
            # (threshold: 400 x the average frame, about 8.5 MiB with 64 KiB bodies)
            connection.set_backpressure_multiplier(400)
            connection.add_backpressure_callback(self.on_backpressure)
            connection.add_backpressure_drained_callback(self.on_drained)
        connection.channel(on_open_callback=self.on_channel_open)

    def on_open_error(self, _connection: Any, error: BaseException) -> None:
        self.fail(f"could not connect: {error!r}")
        self.loop.stop()

    def on_closed(self, _connection: Any, reason: BaseException) -> None:
        if self.depth is None:
            self.fail(f"connection closed early: {reason!r}")
        self.loop.stop()

    def on_deadline(self) -> None:
        self.fail(f"deadline passed: published {self.published}, confirmed "
                  f"{self.confirmed()}, received {self.received} of {self.count}")
        if self.connection.is_open:
            self.connection.close()
        else:
            self.loop.stop()

    def on_channel_open(self, channel: Any) -> None:
        self.channel = channel
        consuming = self.scenario.kind in ("consume", "mem-consume")
        channel.queue_declare(self.queue, passive=consuming, callback=self.on_declared)

    def on_declared(self, frame: Any) -> None:
        kind = self.scenario.kind
        if kind in ("consume", "mem-consume"):
            if frame.method.message_count != self.count:
                self.fail(f"pre-filled queue holds {frame.method.message_count} messages, "
                          f"not {self.count}")
                self.connection.close()
                return
            self.channel.basic_qos(prefetch_count=self.scenario.window, callback=self.on_qos)
        elif kind == "confirm" or self.scenario.window:  # confirms (mem-publish-1G-w64 too)
            self.channel.confirm_delivery(self.on_confirm, callback=self.on_confirm_mode)
        else:
            self.rss_samples.append(rss_bytes())
            self.meter.start()
            self.publish_batch()

    # publishing --------------------------------------------------------------------------

    def on_backpressure(self) -> None:
        self.pressure = True

    def on_drained(self) -> None:
        if self.paused:  # mem-publish-1G only (the -w64 variant never pauses)
            self.paused = False
            self.publish_batch()

    def publish_batch(self) -> None:
        publish, queue, body = self.channel.basic_publish, self.queue, self.body
        n = min(self.batch, self.count - self.published)
        self.pressure = False
        for _ in range(n):
            publish("", queue, body)
            self.published += 1
            if self.pressure:
                break
        if self.scenario.kind == "mem-publish":
            self.write_buffer_peak = max(self.write_buffer_peak,
                                         self.connection.write_buffer_size)
        if self.published < self.count:
            if self.pressure:  # documented pattern: pause; the drained callback resumes
                self.rss_samples.append(rss_bytes())
                self.paused = True
                self.pauses += 1
            else:
                self.loop.call_soon(self.publish_batch)
        else:
            # A synchronous RPC on the same channel: once it returns, the broker has read
            # every frame published before it.
            self.channel.queue_declare(self.queue, passive=True, callback=self.on_published)

    def on_published(self, frame: Any) -> None:
        self.meter.stop()
        self.finish(frame.method.message_count)

    def on_confirm_mode(self, _frame: Any) -> None:
        self.rss_samples.append(rss_bytes())
        self.meter.start()
        self.publish_window()

    def publish_window(self) -> None:
        limit = min(self.count, self.confirmed() + self.nacks + self.scenario.window)
        publish, queue, body = self.channel.basic_publish, self.queue, self.body
        while self.published < limit:
            publish("", queue, body)
            self.published += 1

    def on_confirm(self, frame: Any) -> None:
        method = frame.method
        if type(method).__name__ == "Nack":
            self.nacks += 1
            self.fail(f"broker nacked delivery tag {method.delivery_tag}")
        else:
            self.on_ack(method.delivery_tag, method.multiple)
        if self.confirmed() + self.nacks >= self.count:
            if not self.meter.t1:
                self.meter.stop()
                self.channel.queue_declare(self.queue, passive=True,
                                           callback=lambda f: self.finish(f.method.message_count))
        else:
            self.publish_window()

    # consuming ---------------------------------------------------------------------------

    def on_qos(self, _frame: Any) -> None:
        auto = self.scenario.ack == "auto"
        self.rss_samples.append(rss_bytes())
        self.meter.start()
        self.consumer_tag = self.channel.basic_consume(self.queue, self.on_message,
                                                       auto_ack=auto)

    def on_message(self, channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        self.received += 1
        if body != self.body:
            self.corrupt += 1
        ack = self.scenario.ack
        if ack == "each":
            channel.basic_ack(method.delivery_tag)
        elif ack == "multi100" and (self.received % 100 == 0 or self.received == self.count):
            channel.basic_ack(method.delivery_tag, multiple=True)
        if self.scenario.kind == "mem-consume" and self.received % 50_000 == 0:
            self.rss_samples.append(rss_bytes())
        if self.received == self.count:
            # The synchronous RPC on the same channel: the broker has read every ack.
            channel.basic_cancel(self.consumer_tag, callback=self.on_cancelled)

    def on_cancelled(self, _frame: Any) -> None:
        self.meter.stop()
        # Closing the channel requeues anything left unacknowledged; a fresh channel then
        # sees the queue empty only if every message was consumed and acknowledged.
        self.channel.add_on_close_callback(self.on_consume_channel_closed)
        self.channel.close()

    def on_consume_channel_closed(self, _channel: Any, _reason: Any) -> None:
        self.connection.channel(on_open_callback=self.on_check_channel)

    def on_check_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.queue_declare(self.queue, passive=True,
                              callback=lambda f: self.finish(f.method.message_count))

    # the end -----------------------------------------------------------------------------

    def finish(self, depth: int) -> None:
        # The broker routes a publish to the queue process asynchronously: the depth can lag
        # for a moment after the channel answered, so look again (outside the timed region).
        self.depth_polls += 1
        if depth != self.expected_depth() and self.depth_polls < DEPTH_POLLS:
            self.loop.call_later(DEPTH_POLL_INTERVAL, lambda: self.channel.queue_declare(
                self.queue, passive=True, callback=lambda f: self.finish(f.method.message_count)))
            return
        self.depth = depth
        self.rss_samples.append(rss_bytes())
        if self.keep_queue:
            self.connection.close()
        else:
            self.channel.queue_delete(self.queue, callback=lambda _f: self.connection.close())

    def execute(self) -> Dict[str, Any]:
        self.loop.run()
        if self.scenario.kind.startswith("mem-"):
            self.extra.update(memory_figures(self.scenario, self.rss_samples))
        if self.scenario.kind == "mem-publish" and not self.scenario.window:
            self.extra.update(pauses=self.pauses,
                              write_buffer_peak_mib=self.write_buffer_peak / MIB)
        return self.result()


def memory_figures(scenario: Scenario, samples: List[int]) -> Dict[str, Any]:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    out: Dict[str, Any] = {"rss_start_mib": samples[0] / MIB if samples else None,
                           "rss_peak_mib": peak / MIB,
                           "rss_end_mib": samples[-1] / MIB if samples else None}
    if scenario.kind == "mem-consume" and len(samples) >= 4:
        warm = samples[2]  # after the first 100,000 messages
        out["rss_after_warmup_mib"] = warm / MIB
        out["rss_growth_after_warmup_mib"] = (max(samples[2:]) - warm) / MIB
    return out


# ------------------------------------------------------------------------------------------
# entry


def prefill(url: str, queue: str, count: int, size: int, timeout: float,
            tree: Optional[str] = None) -> None:
    """Fill ``queue`` in a separate process (amqpbase, select loop, confirms, window 1000).

    ``tree``: the source tree that process imports amqpbase from (default: as installed).
    """
    command = [sys.executable, "-m", "benchmarks.scenarios", "--prefill", "--client",
               "amqpbase-select", "--scenario", "confirm-w1000", "--url", url,
               "--count", str(count), "--size", str(size), "--queue", queue]
    if tree:
        command += ["--tree", tree]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or not result.get("ok"):
        raise RuntimeError(f"pre-fill failed: {result.get('error')} {proc.stderr[-2000:]}")


def run_one(client: str, scenario_name: str, url: str, count: Optional[int] = None,
            broker_pid: Optional[int] = None, queue: Optional[str] = None,
            keep_queue: bool = False, size: Optional[int] = None,
            deadline: float = 600.0, prefill_tree: Optional[str] = None) -> Dict[str, Any]:
    scenario = SCENARIOS[scenario_name]
    if size is not None:
        scenario = Scenario(scenario.name, scenario.kind, scenario.count, scenario.quick_count,
                            size, scenario.window, scenario.ack, scenario.full_only)
    count = count or scenario.count
    queue = queue or f"bench-{scenario.name}-{client}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    library, loop_name = client.split("-", 1)
    loop_name, _, instrument = loop_name.partition("+")
    header = {"client": client, "library": library, "loop": loop_name,
              "scenario": scenario.name, "queue": queue}
    if scenario.kind in ("consume", "mem-consume"):
        prefill(url, queue, count, scenario.size, deadline, prefill_tree)
    kwargs = dict(scenario=scenario, count=count, queue=queue, broker_pid=broker_pid,
                  keep_queue=keep_queue)
    if client in ("pika-twisted", "amqpbase-deferred"):
        if scenario.kind.startswith("mem-"):
            raise SystemExit("memory scenarios run on the callback-API clients only")
        from benchmarks.pika_twisted import PikaTwistedRun

        run: Any = PikaTwistedRun(url=url, deadline=deadline, library=library, **kwargs)
    elif client in API_CLIENTS:
        from benchmarks.async_clients import RUNS

        run = RUNS[client](url=url, deadline=deadline, **kwargs)
    else:
        loop = LOOPS[loop_name](library)
        loop.instrument = instrument
        run = CallbackRun(loop, url, deadline, **kwargs)
    return {**header, **run.execute()}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark scenario, print JSON.")
    parser.add_argument("--client", choices=CLIENTS, required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--url", default=os.environ.get("AMQPBASE_TEST_URL"))
    parser.add_argument("--count", type=int, help="messages (default: the scenario's full count)")
    parser.add_argument("--size", type=int, help="body bytes (default: the scenario's)")
    parser.add_argument("--broker-pid", type=int, help="broker OS pid for broker CPU figures")
    parser.add_argument("--queue", help="queue name (default: a fresh unique one)")
    parser.add_argument("--prefill", action="store_true",
                        help="publish only and keep the queue (used for consume scenarios)")
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument("--tree", help="import amqpbase from this source tree (A/B runs); "
                        "the consume scenarios' pre-fill uses this worker's own tree")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url is required when AMQPBASE_TEST_URL is not set")
    try:
        if args.tree:
            library_tree.use(args.tree)
        # Both sides of an A/B run consume queues filled by the same code: this worker's tree.
        own_tree = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        result = run_one(args.client, args.scenario, args.url, args.count, args.broker_pid,
                         args.queue, keep_queue=args.prefill, size=args.size,
                         deadline=args.deadline, prefill_tree=own_tree if args.tree else None)
    except Exception as exc:  # reported as a failed run, not a traceback the runner parses
        result = {"client": args.client, "scenario": args.scenario, "ok": False,
                  "error": f"{type(exc).__name__}: {exc}"}
    result["tree"] = origin = library_tree.report(args.tree)
    if origin["foreign"] and result.get("ok"):
        result["ok"] = False
        result["error"] = f"amqpbase modules from outside {args.tree}: {origin['foreign']}"
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
