"""Scale: what one more connection, channel or consumer costs, amqpbase and pika (issue 16).

Three shapes, each at several sizes, one subprocess per (client, shape, size) so nothing
carries over, one loop per process, both libraries through the pika 1.x callback API:

* ``connections``: N connections opened at once on one loop (1 / 100 / 500);
* ``channels``: N channels opened at once on one connection (10 / 500 / 2047, RabbitMQ's
  default ``channel_max``);
* ``consumers``: N ``basic_consume`` on one channel of one connection, one queue (1,000).

For each: the wall time from the first call to the last open/ConsumeOk callback, the client
CPU (user + sys, ``getrusage``) over the same region and the RSS growth (``VmRSS``, after
``gc.collect()``), each also per unit. The set-up waits on the broker (the 2-core machine is
shared with it), so CPU per unit is the figure the client controls. Writes JSON and, with
``--out``, ``scale.md`` and ``scale.png`` (matplotlib). It measures set-up and holding only:
no messages flow (throughput is ``run.py``'s, latency ``latency.py``'s), and matplotlib is
imported only to render.

    python -m benchmarks.scale --url URL [--clients ...] [--shapes connections,channels,...]
        [--reps 1] [--out benchmarks/results] [--tree DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from benchmarks.idle_connections import rss_kib

CLIENTS = ("amqpbase-select", "amqpbase-tornado", "amqpbase-asyncio", "amqpbase-twisted",
           "pika-select", "pika-tornado", "pika-asyncio")
SHAPES: Dict[str, Tuple[int, ...]] = {
    "connections": (1, 100, 500), "channels": (10, 500, 2047), "consumers": (1000,)}

RunUntil = Callable[[Callable[[], bool]], None]


def cpu() -> float:
    """User + sys CPU seconds of this process (getrusage: microseconds, not clock ticks)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


RunInLoop = Callable[[Callable[[], None]], None]


def loop_for(name: str) -> Tuple[Callable[..., Any], Any, RunUntil, RunInLoop]:
    """(connection factory, params class, run_until, run_in_loop) for client ``name``."""
    library, loop = name.split("-")
    if library == "amqpbase":
        from amqpbase.parameters import URLParameters
    else:
        from pika import URLParameters  # type: ignore[no-redef]
    if loop == "select":
        if library == "amqpbase":
            from amqpbase.adapters.select import IOLoop, SelectConnection
        else:
            from pika.adapters.select_connection import (  # type: ignore[no-redef]
                IOLoop,
                SelectConnection,
            )
        ioloop = IOLoop()

        def run_until_select(done: Callable[[], bool]) -> None:
            def check() -> None:
                if done():
                    ioloop.stop()
                else:
                    ioloop.call_later(0.002, check)
            ioloop.call_later(0, check)
            ioloop.start()

        return (lambda p, **kw: SelectConnection(p, custom_ioloop=ioloop, **kw), URLParameters,
                run_until_select, lambda body: body())
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
                    await asyncio.sleep(0.002)
            asyncio_loop.run_until_complete(wait())

        return (lambda p, **kw: cls(p, custom_ioloop=custom, **kw), URLParameters,
                run_until_asyncio, lambda body: body())
    if loop == "twisted" and library == "amqpbase":
        from twisted.internet import reactor

        from amqpbase.adapters.twisted import TwistedConnection

        def run_until_twisted(done: Callable[[], bool]) -> None:
            while not done():
                reactor.iterate(0.002)  # type: ignore[attr-defined]

        def run_in_reactor(body: Callable[[], None]) -> None:
            # The reactor runs once, for the whole measurement (it cannot be restarted).
            reactor.callWhenRunning(lambda: (body(), reactor.stop()))  # type: ignore[attr-defined]
            reactor.run()  # type: ignore[attr-defined]

        return (lambda p, **kw: TwistedConnection(p, custom_reactor=reactor, **kw),
                URLParameters, run_until_twisted, run_in_reactor)
    raise ValueError(f"unknown client {name!r}")


def measure(name: str, shape: str, count: int, url: str) -> Dict[str, Any]:
    factory, params_cls, run_until, run_in_loop = loop_for(name)
    params = params_cls(url)
    params.heartbeat = 60
    if shape == "channels":
        params.channel_max = max(count, 2047)
    result: Dict[str, Any] = {}
    errors: List[Any] = []

    def open_connections(n: int) -> List[Any]:
        opened: List[Any] = []
        for _ in range(n):
            factory(params, on_open_callback=opened.append,
                    on_open_error_callback=lambda c, e: errors.append(e),
                    on_close_callback=lambda c, r: errors.append(r) if not closing else None)
        run_until(lambda: len(opened) + len(errors) >= n)
        if errors:
            raise RuntimeError(f"{len(errors)} failures, first: {errors[0]!r}")
        return opened

    closing = False

    def body() -> None:
        nonlocal closing
        units: List[Any] = []
        if shape == "connections":
            gc.collect()
            rss0, cpu0, t0 = rss_kib(), cpu(), time.monotonic()
            conns = open_connections(count)
            t1, cpu1 = time.monotonic(), cpu()
        else:
            conns = open_connections(1)
            conn = conns[0]
            if shape == "consumers":
                holder: List[Any] = []
                conn.channel(on_open_callback=holder.append)
                run_until(lambda: bool(holder))
                channel = holder[0]
                queue = f"amqpbase-scale-{os.getpid()}"
                channel.queue_declare(queue, exclusive=True, callback=holder.append)
                run_until(lambda: len(holder) == 2)
            gc.collect()
            rss0, cpu0, t0 = rss_kib(), cpu(), time.monotonic()
            if shape == "channels":
                for _ in range(count):
                    conn.channel(on_open_callback=units.append)
            else:
                for i in range(count):
                    channel.basic_consume(queue, lambda *a: None, consumer_tag=f"c{i}",
                                          callback=units.append)
            run_until(lambda: len(units) >= count or bool(errors))
            if errors:
                raise RuntimeError(f"failed: {errors[0]!r}")
            t1, cpu1 = time.monotonic(), cpu()
        gc.collect()
        rss1 = rss_kib()
        result.update(
            count=count, seconds=round(t1 - t0, 3), cpu_s=round(cpu1 - cpu0, 3),
            rss_kib=rss1 - rss0, ms_per_unit=round((t1 - t0) / count * 1000, 3),
            cpu_ms_per_unit=round((cpu1 - cpu0) / count * 1000, 3),
            rss_kib_per_unit=round((rss1 - rss0) / count, 2))
        closing = True
        for c in conns:
            c.close()
        closed_at = time.monotonic()
        run_until(lambda: all(c.is_closed for c in conns) or time.monotonic() > closed_at + 30)

    run_in_loop(body)
    if not result:
        raise RuntimeError(f"no result: {errors[:1]!r}")
    return result


def render(rows: List[Dict[str, Any]], out: Path, note: str) -> None:
    """``scale.md`` (tables) and ``scale.png`` (per unit CPU and RSS against the count)."""
    def cell(values: List[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.3g}"
        return f"{statistics.median(values):.3g} [{min(values):.3g}–{max(values):.3g}]"

    groups: Dict[Tuple[str, int, str], List[Dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["shape"], row["count"], row["client"]), []).append(row)
    lines = ["# Scale: connections, channels and consumers (issue 16)", "", note, ""]
    for shape, counts in SHAPES.items():
        lines += [f"## {shape}", "",
                  "| client | count | set-up s | client CPU s | CPU ms per unit | "
                  "RSS KiB per unit |", "|---|---:|---:|---:|---:|---:|"]
        for count in counts:
            for client in CLIENTS:
                runs = groups.get((shape, count, client))
                if not runs:
                    continue
                lines.append(
                    f"| {client} | {count} | {cell([r['seconds'] for r in runs])} | "
                    f"{cell([r['cpu_s'] for r in runs])} | "
                    f"{cell([r['cpu_ms_per_unit'] for r in runs])} | "
                    f"{cell([r['rss_kib_per_unit'] for r in runs])} |")
        lines.append("")
    (out / "scale.md").write_text("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for col, (shape, counts) in enumerate(SHAPES.items()):
        for client in CLIENTS:
            xs, cpus, rss = [], [], []
            for count in counts:
                runs = groups.get((shape, count, client))
                if runs:
                    xs.append(count)
                    cpus.append(statistics.median(r["cpu_ms_per_unit"] for r in runs))
                    rss.append(statistics.median(r["rss_kib_per_unit"] for r in runs))
            if not xs:
                continue
            style = "-o" if client.startswith("amqpbase") else "--s"
            if len(counts) == 1:  # one size: bars, one per client
                axes[0][col].bar(client.replace("-", "\n"), cpus[0])
                axes[1][col].bar(client.replace("-", "\n"), rss[0])
            else:
                axes[0][col].plot(xs, cpus, style, label=client)
                axes[1][col].plot(xs, rss, style, label=client)
        axes[0][col].set_title(f"{shape}: client CPU ms per unit (set-up)")
        axes[1][col].set_title(f"{shape}: RSS KiB per unit")
        for r in (0, 1):
            if len(counts) > 1:
                axes[r][col].set_xscale("log")
                axes[r][col].set_xlabel(shape)
            else:
                axes[r][col].tick_params(axis="x", labelsize=7)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--out", help="write scale.json, scale.md and scale.png here")
    parser.add_argument("--render", help="re-render from this scale.json")
    parser.add_argument("--tree", help="import amqpbase from this source tree")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # "client:shape:count"
    args = parser.parse_args()
    if args.one:
        if args.tree:
            from benchmarks import tree

            tree.use(args.tree)
        name, shape, count = args.one.split(":")
        print(json.dumps(measure(name, shape, int(count), args.url)))
        return
    rows: List[Dict[str, Any]]
    loads: List[float]
    if args.render:
        rows = json.loads(Path(args.render).read_text())
        loads = [row["load_average"] for row in rows]
        render(rows, Path(args.render).parent, note_for(max(r["rep"] for r in rows) + 1, loads))
        return
    rows, loads = [], []
    print(f"{'client':18} {'shape':12} {'count':>5} {'set-up s':>9} {'CPU s':>7} "
          f"{'CPU ms/unit':>11} {'RSS KiB/unit':>12}  load")
    for rep in range(args.reps):
        for shape in args.shapes.split(","):
            for count in SHAPES[shape]:
                for name in args.clients.split(","):
                    load = os.getloadavg()[0]
                    loads.append(load)
                    proc = subprocess.run(
                        [sys.executable, "-m", "benchmarks.scale", "--url", args.url,
                         "--one", f"{name}:{shape}:{count}",
                         *(["--tree", args.tree] if args.tree else [])],
                        capture_output=True, text=True, timeout=600)
                    if proc.returncode != 0:
                        print(f"{name:18} {shape:12} {count:5d} failed: "
                              f"{proc.stderr.strip().splitlines()[-1:]}")
                        continue
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    row.update(client=name, shape=shape, rep=rep, load_average=round(load, 2))
                    rows.append(row)
                    print(f"{name:18} {shape:12} {count:5d} {row['seconds']:9.3f} "
                          f"{row['cpu_s']:7.3f} {row['cpu_ms_per_unit']:11.3f} "
                          f"{row['rss_kib_per_unit']:12.2f}  {load:.2f}", flush=True)
    if args.out:
        out = Path(args.out)
        (out / "scale.json").write_text(json.dumps(rows, indent=2))
        render(rows, out, note_for(args.reps, loads))


def note_for(reps: int, loads: List[float]) -> str:
    return (f"`python -m benchmarks.scale --url URL --reps {reps}` (one subprocess per row, one "
            f"loop per process, broker on the same 2-core machine). Load average during the "
            f"runs {min(loads):.1f}–{max(loads):.1f} (shared machine). Cells are median "
            f"[min–max] over the repetitions. Chart: `scale.png`; what it shows: "
            f"`scale-analysis.md`.")


if __name__ == "__main__":
    main()
