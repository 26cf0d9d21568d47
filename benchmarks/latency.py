"""Publish-to-consume latency under load, amqpbase and pika side by side (issue 16).

One subprocess per client, one loop per process. ``--connections`` connections (4) carry
``--publishers`` confirmed publishers (20; window ``--window`` = 100 unconfirmed) and as many
consumers (manual ack, prefetch ``--prefetch``), channel ``i`` on connection ``i % N``;
publisher ``i`` publishes to queue ``i``, consumer ``i`` consumes it. The body (256 B) carries
the publish time (``time.monotonic()``, same process) and a sequence number, so the consumer
measures publish-to-consume latency and checks that nothing was lost, duplicated or reordered.

``--rate R`` offers R msgs/s in total (a 5 ms pacing timer tops each publisher up to its
share; a full window holds it back and the lag is reported); ``--rate 0`` is saturation (each
confirm refills the window at once); ``--max-unconsumed N`` also holds a publisher while N of
its messages are unconsumed; ``--split`` puts publishers and consumers on separate connections.
The first ``--warmup`` seconds are not counted.

Besides p50/p99/max it records what explains a tail (``--probe``, on by default): the
queue depth over time (published minus consumed per queue, per 0.5 s bin), the per channel
rates per bin (min/max over channels), the loop lag (a 2 ms timer's lateness: how long one
loop iteration kept timers waiting), per read bytes and handling time (``_on_data_available``
wrapped per instance: one call per read, not per message), the longest gap between two
deliveries of one consumer, the broker's CPU (``/proc/<beam pid>/stat``) and the client's,
the time both waited for a CPU (``schedstat``) and the whole machine's busy CPUs; per bin
too (``series``). It must not touch the library's hot path: the probes are timers and one
wrapper per read.

    python -m benchmarks.latency --url URL [--rate 2000,8000,0] [--seconds 10] [--clients ...]
        [--connections 4] [--publishers 20] [--split] [--max-unconsumed N] [--json FILE]
        [--tree DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

CLIENTS = ("amqpbase-select", "amqpbase-tornado", "amqpbase-asyncio", "amqpbase-twisted",
           "pika-select", "pika-tornado", "pika-asyncio")
STAMP = struct.Struct(">dI")
BODY_SIZE = 256
BIN = 0.5
TICKS = os.sysconf("SC_CLK_TCK")


def pct(values: List[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted ``values`` (nearest rank), in ms."""
    if not values:
        return float("nan")
    return round(values[min(len(values) - 1, max(0, int(len(values) * q + 0.5) - 1))] * 1000, 2)


def proc_cpu(pid: Optional[int]) -> float:
    """utime + stime of process ``pid`` in seconds (0 when unknown)."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def runq_wait(pid: Optional[int]) -> float:
    """Seconds the threads of ``pid`` (``None``: this process) spent runnable but waiting for
    a CPU (``/proc/<pid>/task/*/schedstat``, second field, ns): on a shared machine the part
    of a latency that is nobody's code."""
    base = f"/proc/{pid or 'self'}/task"
    total = 0
    try:
        tasks = os.listdir(base)
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"{base}/{task}/schedstat") as stat:
                total += int(stat.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (``/proc/stat``: all but idle and
    iowait), to set against the client's and the broker's own."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


class Load:
    """The connections, publishers and consumers of one run (see the module docstring)."""

    def __init__(self, factory: Callable[..., Any], params: Any, args: argparse.Namespace,
                 call_later: Callable[..., Any],
                 stop: Callable[[], None], broker_pid: Optional[int]) -> None:
        self.factory, self.params, self.args = factory, params, args
        self.call_later, self.stop_loop, self.broker_pid = call_later, stop, broker_pid
        n = args.publishers
        self.prefix = f"amqpbase-latency-{os.getpid()}-{int(time.time())}"
        self.queues = [f"{self.prefix}-{i}" for i in range(n)]
        self.padding = b"x" * (BODY_SIZE - STAMP.size)
        self.connections: List[Any] = []
        self.pub_channels: List[Any] = [None] * n
        self.published = [0] * n          # per publisher, sequence numbers sent
        self.confirmed = [0] * n          # per publisher, highest delivery tag acked
        self.consumed = [0] * n           # per consumer
        self.expect_seq = [0] * n
        self.errors: List[str] = []
        self.nacks = 0
        self.ready = 0
        self.phase = "setup"
        self.saturate = args.rate <= 0
        # samples: (receive time, latency) per delivery; per-bin counters
        self.lat_t: List[float] = []
        self.lat_v: List[float] = []
        self.lat_q: List[List[float]] = [[] for _ in range(n)]
        self.bins: List[Dict[str, Any]] = []
        self.pub_bin = [0] * n
        self.con_bin = [0] * n
        self.last_delivery = [0.0] * n
        self.max_gap = [0.0] * n
        self.lags: List[float] = []
        self.bin_lag_max = 0.0
        self.read_sizes: List[int] = []
        self.read_times: List[float] = []
        self.pacing_lag_max = 0.0
        for _ in range(args.connections):
            conn = factory(params, on_open_callback=self.on_connection_open,
                           on_open_error_callback=lambda c, e: self.fail(f"open: {e!r}"),
                           on_close_callback=self.on_connection_closed)
            if args.probe:
                self.wrap_reads(conn)
            self.connections.append(conn)

    # ------------------------------------------------------------------ set-up

    def fail(self, text: str) -> None:
        self.errors.append(text)
        self.stop_loop()

    def on_connection_closed(self, conn: Any, reason: Any) -> None:
        if self.phase != "closing":
            self.fail(f"connection closed: {reason!r}")

    def wrap_reads(self, conn: Any) -> None:
        """Count each read's bytes and handling time (instance attribute: both libraries look
        ``_on_data_available`` up when the stream comes up, after this)."""
        inner = conn._on_data_available
        sizes, times, clock = self.read_sizes, self.read_times, time.perf_counter

        def on_data(data: Any) -> None:
            start = clock()
            inner(data)
            times.append(clock() - start)
            sizes.append(len(data))

        conn._on_data_available = on_data

    def on_connection_open(self, conn: Any) -> None:
        index = self.connections.index(conn)
        for i in range(self.args.publishers):
            if self.consumer_connection(i) == index:
                conn.channel(on_open_callback=lambda ch, i=i: self.on_consumer_channel(ch, i))
            if self.publisher_connection(i) == index:
                conn.channel(on_open_callback=lambda ch, i=i: self.on_publisher_channel(ch, i))

    def publisher_connection(self, i: int) -> int:
        """Shared (default): channel ``i`` on connection ``i % N``. Split: publishers on the
        first half of the connections, consumers on the second."""
        n: int = self.args.connections
        return i % (n // 2) if self.args.split else i % n

    def consumer_connection(self, i: int) -> int:
        n: int = self.args.connections
        return n // 2 + i % (n - n // 2) if self.args.split else i % n

    def on_consumer_channel(self, channel: Any, i: int) -> None:
        def declared(frame: Any) -> None:
            channel.basic_qos(prefetch_count=self.args.prefetch, callback=lambda f: consume())

        def consume() -> None:
            channel.basic_consume(self.queues[i], lambda ch, m, p, b: self.on_message(ch, m, b, i),
                                  auto_ack=False, callback=lambda f: self.one_ready())

        channel.queue_declare(self.queues[i], arguments={"x-expires": 120000},
                              callback=declared)

    def on_publisher_channel(self, channel: Any, i: int) -> None:
        def on_confirm(frame: Any) -> None:
            method = frame.method
            if method.NAME != "Basic.Ack":
                self.nacks += 1
            if method.delivery_tag > self.confirmed[i]:
                self.confirmed[i] = method.delivery_tag
            if self.saturate and self.phase in ("warmup", "measure"):
                self.top_up(i, self.args.window)

        self.pub_channels[i] = channel
        channel.confirm_delivery(on_confirm, callback=lambda f: self.one_ready())

    def one_ready(self) -> None:
        self.ready += 1
        if self.ready == 2 * self.args.publishers:
            self.start()

    # ------------------------------------------------------------------ load

    def start(self) -> None:
        self.phase = "warmup"
        self.started = time.monotonic()
        self.per_pub_rate = self.args.rate / self.args.publishers
        self.bin_start = self.started
        self.cpu0 = (os.times()[0] + os.times()[1], proc_cpu(self.broker_pid))
        self.call_later(self.args.warmup, self.start_measure)
        self.call_later(BIN, self.close_bin)
        if self.args.probe:
            self.lag_due = time.monotonic() + 0.002
            self.call_later(0.002, self.lag_tick)
        if self.saturate:
            for i in range(self.args.publishers):
                self.top_up(i, self.args.window)
        else:
            self.pace()

    def start_measure(self) -> None:
        self.phase = "measure"
        self.measure_start = time.monotonic()
        self.cpu_start = (sum(os.times()[:2]), proc_cpu(self.broker_pid))
        self.wait_start = (runq_wait(None), runq_wait(self.broker_pid))
        self.published_at_start = sum(self.published)
        self.call_later(self.args.seconds, self.stop_publishing)

    def top_up(self, i: int, upto: int) -> None:
        """Publish on publisher ``i`` until ``upto`` messages are sent in all (the window
        bounds it: at most ``window`` unconfirmed)."""
        channel, queue, pad = self.pub_channels[i], self.queues[i], self.padding
        seq = self.published[i]
        room = self.args.window - (seq - self.confirmed[i])
        if self.args.max_unconsumed:  # bound what is in the system, not only unconfirmed
            room = min(room, self.args.max_unconsumed - (seq - self.consumed[i]))
        n = min(room, upto)
        if n <= 0:
            return
        pack, now = STAMP.pack, time.monotonic
        for _ in range(n):
            channel.basic_publish("", queue, pack(now(), seq) + pad)
            seq += 1
        self.pub_bin[i] += seq - self.published[i]
        self.published[i] = seq

    def pace(self) -> None:
        if self.phase not in ("warmup", "measure"):
            return
        elapsed = time.monotonic() - self.started
        due = int(self.per_pub_rate * elapsed)
        for i in range(self.args.publishers):
            behind = due - self.published[i]
            if behind > 0:
                self.top_up(i, behind)
                left = due - self.published[i]
                if left > 0 and self.phase == "measure":
                    self.pacing_lag_max = max(self.pacing_lag_max, left / self.per_pub_rate)
        self.call_later(0.005, self.pace)

    def lag_tick(self) -> None:
        now = time.monotonic()
        if self.phase == "measure":
            self.lags.append(now - self.lag_due)
            if now - self.lag_due > self.bin_lag_max:
                self.bin_lag_max = now - self.lag_due
        if self.phase in ("warmup", "measure", "draining"):
            self.lag_due = now + 0.002
            self.call_later(0.002, self.lag_tick)

    def on_message(self, channel: Any, method: Any, body: bytes, i: int) -> None:
        now = time.monotonic()
        sent, seq = STAMP.unpack_from(body)
        if seq != self.expect_seq[i]:
            self.errors.append(f"queue {i}: sequence {seq}, expected {self.expect_seq[i]}")
        self.expect_seq[i] = seq + 1
        self.consumed[i] += 1
        self.con_bin[i] += 1
        if self.phase == "measure" and sent >= self.measure_start:
            self.lat_t.append(now - self.measure_start)
            self.lat_v.append(now - sent)
            self.lat_q[i].append(now - sent)
            gap = now - self.last_delivery[i]
            if gap > self.max_gap[i]:
                self.max_gap[i] = gap
        self.last_delivery[i] = now
        channel.basic_ack(method.delivery_tag)
        if self.args.max_unconsumed and self.saturate and self.phase in ("warmup", "measure"):
            self.top_up(i, self.args.window)

    def close_bin(self) -> None:
        now = time.monotonic()
        depth = sum(self.published) - sum(self.consumed)
        self.bins.append({
            "t": round(now - self.started, 2), "phase": self.phase,
            "published": sum(self.pub_bin), "consumed": sum(self.con_bin),
            "pub_min": min(self.pub_bin), "pub_max": max(self.pub_bin),
            "con_min": min(self.con_bin), "con_max": max(self.con_bin),
            "depth": depth,
            "queue_depth_max": max(p - c for p, c in zip(self.published, self.consumed)),
            "per_publisher": list(self.pub_bin),
            "per_queue_depth": [p - c for p, c in zip(self.published, self.consumed)],
            "loop_lag_max_ms": round(self.bin_lag_max * 1000, 1),
            "client_cpu": round(sum(os.times()[:2]), 3),
            "broker_cpu": round(proc_cpu(self.broker_pid), 3),
            "client_wait": round(runq_wait(None), 3),
            "broker_wait": round(runq_wait(self.broker_pid), 3),
            "machine_busy": round(machine_busy(), 3),
        })
        self.bin_lag_max = 0.0
        self.pub_bin = [0] * self.args.publishers
        self.con_bin = [0] * self.args.publishers
        if self.phase in ("warmup", "measure", "draining"):
            self.call_later(BIN, self.close_bin)

    def stop_publishing(self) -> None:
        self.phase = "draining"
        self.measure_end = time.monotonic()
        self.cpu_end = (sum(os.times()[:2]), proc_cpu(self.broker_pid))
        self.wait_end = (runq_wait(None), runq_wait(self.broker_pid))
        self.published_in_measure = sum(self.published) - self.published_at_start
        self.drain_deadline = self.measure_end + 30
        self.call_later(0.05, self.check_drained)

    def check_drained(self) -> None:
        done = self.consumed == self.published and all(
            c == p for c, p in zip(self.confirmed, self.published))
        if done or time.monotonic() > self.drain_deadline:
            if not done:
                self.errors.append(f"not drained: published {sum(self.published)}, consumed "
                                   f"{sum(self.consumed)}, confirmed {sum(self.confirmed)}")
            self.close_bin()
            self.phase = "closing"
            for channel in self.pub_channels:
                channel.queue_delete(channel_queue(self, channel))
            self.call_later(0.5, self.close_all)
        else:
            self.call_later(0.05, self.check_drained)

    def close_all(self) -> None:
        for conn in self.connections:
            if conn.is_open:
                conn.close()
        self.call_later(0.5, self.stop_loop)

    # ------------------------------------------------------------------ report

    def report(self) -> Dict[str, Any]:
        if not hasattr(self, "measure_end"):
            raise RuntimeError(f"did not finish: {self.errors[:3]}")
        seconds = self.measure_end - self.measure_start
        lat = sorted(self.lat_v)
        lags = sorted(self.lags)
        reads = sorted(self.read_times)
        measure_bins = [b for b in self.bins if b["phase"] == "measure"]
        late = [v for t, v in zip(self.lat_t, self.lat_v) if t > seconds / 2]
        early = [v for t, v in zip(self.lat_t, self.lat_v) if t <= seconds / 2]
        by_bin: Dict[int, List[float]] = {}
        for t, v in zip(self.lat_t, self.lat_v):
            by_bin.setdefault(int(t / BIN), []).append(v)
        series = []
        previous = None
        for b in self.bins:
            index = round((b["t"] - self.args.warmup) / BIN) - 1
            if b["phase"] == "measure" and previous is not None and index >= 0:
                values = sorted(by_bin.get(index, []))
                series.append({
                    "t": round(b["t"] - self.args.warmup, 1),
                    "msgs_per_s": round(b["consumed"] / BIN),
                    "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99),
                    "depth": b["depth"], "queue_depth_max": b["queue_depth_max"],
                    "loop_lag_max_ms": b["loop_lag_max_ms"],
                    "client_cpu": round((b["client_cpu"] - previous["client_cpu"]) / BIN, 2),
                    "broker_cpu": round((b["broker_cpu"] - previous["broker_cpu"]) / BIN, 2),
                    "client_wait": round((b["client_wait"] - previous["client_wait"]) / BIN, 2),
                    "broker_wait": round((b["broker_wait"] - previous["broker_wait"]) / BIN, 2),
                    "machine_busy": round((b["machine_busy"] - previous["machine_busy"]) / BIN,
                                          2),
                })
            previous = b
        return {
            "offered_per_s": self.args.rate, "seconds": round(seconds, 2),
            "series": series,
            "published_per_s": round(self.published_in_measure / seconds),
            "consumed_samples": len(lat),
            "p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9), "p99_ms": pct(lat, 0.99),
            "max_ms": pct(lat, 1.0),
            "p50_first_half_ms": pct(sorted(early), 0.5),
            "p50_second_half_ms": pct(sorted(late), 0.5),
            "client_cpu_us_per_msg": round((self.cpu_end[0] - self.cpu_start[0])
                                           / max(1, self.published_in_measure) * 1e6, 1),
            "client_cpu_share": round((self.cpu_end[0] - self.cpu_start[0]) / seconds, 2),
            "broker_cpu_share": round((self.cpu_end[1] - self.cpu_start[1]) / seconds, 2),
            "machine_busy_cores": round(sum(r["machine_busy"] for r in series)
                                        / max(1, len(series)), 2),
            "client_runq_wait_share": round((self.wait_end[0] - self.wait_start[0]) / seconds,
                                            2),
            "broker_runq_wait_share": round((self.wait_end[1] - self.wait_start[1]) / seconds,
                                            2),
            "depth_max": max((b["depth"] for b in measure_bins), default=0),
            "depth_end": measure_bins[-1]["depth"] if measure_bins else 0,
            "pacing_lag_max_ms": round(self.pacing_lag_max * 1000, 1),
            "loop_lag_ms": {"p50": pct(lags, 0.5), "p99": pct(lags, 0.99),
                            "max": pct(lags, 1.0)},
            "reads": len(reads),
            "read_kib_mean": round(sum(self.read_sizes) / max(1, len(reads)) / 1024, 1),
            "read_handling_ms": {"p50": pct(reads, 0.5), "p99": pct(reads, 0.99),
                                 "max": pct(reads, 1.0)},
            "consumer_max_gap_ms": {"min": round(min(self.max_gap) * 1000, 1),
                                    "max": round(max(self.max_gap) * 1000, 1)},
            "nacks": self.nacks, "errors": self.errors[:5],
            "lost_or_duplicated": sum(self.published) - sum(self.consumed),
            "split": self.args.split,
            "per_queue": [{"connection": self.consumer_connection(i), "msgs": len(q),
                           "p50_ms": pct(sorted(q), 0.5), "p99_ms": pct(sorted(q), 0.99)}
                          for i, q in enumerate(self.lat_q)],
            "bins": self.bins,
        }


def channel_queue(load: Load, channel: Any) -> str:
    return load.queues[load.pub_channels.index(channel)]


def run_client(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    library, loop = name.split("-")
    if library == "amqpbase":
        from amqpbase.parameters import URLParameters
    else:
        from pika import URLParameters  # type: ignore[no-redef]
    params = URLParameters(args.url)
    holder: List[Load] = []
    if loop == "select":
        if library == "amqpbase":
            from amqpbase.adapters.select import IOLoop, SelectConnection
        else:
            from pika.adapters.select_connection import (  # type: ignore[no-redef]
                IOLoop,
                SelectConnection,
            )
        ioloop = IOLoop()
        holder.append(Load(lambda p, **kw: SelectConnection(p, custom_ioloop=ioloop, **kw),
                           params, args, ioloop.call_later, ioloop.stop, args.broker_pid))
        ioloop.start()
    elif loop in ("tornado", "asyncio"):
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
        holder.append(Load(lambda p, **kw: cls(p, custom_ioloop=custom, **kw), params, args,
                           asyncio_loop.call_later, asyncio_loop.stop, args.broker_pid))
        asyncio_loop.run_forever()
    elif loop == "twisted" and library == "amqpbase":
        from twisted.internet import reactor

        from amqpbase.adapters.twisted import TwistedConnection

        holder.append(Load(lambda p, **kw: TwistedConnection(p, custom_reactor=reactor, **kw),
                           params, args, reactor.callLater,  # type: ignore[attr-defined]
                           reactor.stop, args.broker_pid))  # type: ignore[attr-defined]
        reactor.run()  # type: ignore[attr-defined]
    else:
        raise ValueError(f"unknown client {name!r}")
    return holder[0].report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--rate", default="2000,0",
                        help="offered msgs/s in total, comma separated; 0 = saturation")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--publishers", type=int, default=20)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--split", action="store_true",
                        help="publishers and consumers on separate connections")
    parser.add_argument("--max-unconsumed", type=int, default=0,
                        help="also hold a publisher while this many of its messages are not "
                             "yet consumed (0: only the confirm window bounds it)")
    parser.add_argument("--no-probe", dest="probe", action="store_false")
    parser.add_argument("--broker-pid", type=int)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--json")
    parser.add_argument("--tree", help="import amqpbase from this source tree")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.tree:
            from benchmarks import tree

            tree.use(args.tree)
        args.rate = float(args.rate)
        print(json.dumps(run_client(args.one, args)))
        return
    if args.broker_pid is None:
        from benchmarks.run import broker_dir, find_broker_pid

        args.broker_pid = find_broker_pid(broker_dir())
    rows: List[Dict[str, Any]] = []
    print(f"{'client':18} {'offered':>7} {'msgs/s':>7} {'p50':>7} {'p99':>7} {'max':>7} "
          f"{'depth':>6} {'lag99':>6} {'lagmax':>6} {'cli':>5} {'brk':>5} {'µs/msg':>6} "
          f"{'cliW':>5} {'brkW':>5}  load")
    for rep in range(args.reps):
        for rate in args.rate.split(","):
            for name in args.clients.split(","):
                load1 = os.getloadavg()[0]
                cmd = [sys.executable, "-m", "benchmarks.latency", "--url", args.url,
                       "--one", name, "--rate", rate, "--seconds", str(args.seconds),
                       "--warmup", str(args.warmup), "--connections", str(args.connections),
                       "--publishers", str(args.publishers), "--window", str(args.window),
                       "--prefetch", str(args.prefetch),
                       *(["--broker-pid", str(args.broker_pid)] if args.broker_pid else []),
                       *([] if args.probe else ["--no-probe"]),
                       *(["--split"] if args.split else []),
                       "--max-unconsumed", str(args.max_unconsumed),
                       *(["--tree", args.tree] if args.tree else [])]
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=args.seconds + args.warmup + 120)
                if proc.returncode != 0:
                    print(f"{name:18} {rate:>7} failed: {proc.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row.update(client=name, rep=rep, load_average=round(load1, 2),
                           layout="split" if args.split else "shared",
                           max_unconsumed=args.max_unconsumed)
                rows.append(row)
                lag = row["loop_lag_ms"]
                print(f"{name:18} {rate:>7} {row['published_per_s']:7d} {row['p50_ms']:7.1f} "
                      f"{row['p99_ms']:7.1f} {row['max_ms']:7.1f} {row['depth_max']:6d} "
                      f"{lag['p99']:6.1f} {lag['max']:6.1f} {row['client_cpu_share']:5.2f} "
                      f"{row['broker_cpu_share']:5.2f} {row['client_cpu_us_per_msg']:6.1f} "
                      f"{row['client_runq_wait_share']:5.2f} {row['broker_runq_wait_share']:5.2f}  "
                      f"{load1:.2f}{'  ERR ' + str(row['errors']) if row['errors'] else ''}",
                      flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
