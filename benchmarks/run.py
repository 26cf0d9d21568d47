"""Run the benchmark suite (issue 5) and write the results to benchmarks/results/.

    python -m benchmarks.run [--quick] [--scenarios S ...] [--clients C ...] [--reps N]
                             [--url URL] [--broker-pid PID] [--out DIR]
                             [--ab REV [--with-pika]]

Every (client, scenario) run is a fresh process of ``benchmarks.scenarios`` on a fresh queue.
Runs are interleaved: each repetition runs every configuration once, then the next repetition
runs them all again. One process at a time (the broker and the client share the machine).

Full mode: the issue's counts, 3 repetitions, every scenario including the memory ones
(amqpbase only). Quick mode: a fifth or a tenth of the counts, 1 repetition, no memory
scenarios. Writes ``<mode>.json`` (every run), ``<mode>.md`` (the table) and ``<mode>.png``
(bar chart, when matplotlib is installed) to the output directory: ``benchmarks/results/``
for a full run, ``.build/bench/`` (gitignored: a quick run leaves the tree clean) for a
quick one, unless ``--out`` says otherwise.

With ``--ab REV`` the run compares the working tree's amqpbase with amqpbase at git revision
REV instead of with pika (:mod:`benchmarks.ab`): both sides interleaved on the same broker,
amqpbase clients only unless ``--with-pika``; it writes ``ab.json`` and ``ab.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from benchmarks.scenarios import CLIENTS, SCENARIOS

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
#: Where --quick writes by default: development numbers, not results to keep, so a quick run
#: leaves the tree clean (.build/ is gitignored). Full runs write to RESULTS.
QUICK_RESULTS = REPO / ".build" / "bench"
MEMORY_CLIENTS = ("amqpbase-select", "amqpbase-tornado", "amqpbase-twisted")


def broker_dir() -> Path:
    return Path(os.environ.get("AMQPBASE_BROKER_DIR") or REPO / ".build" / "broker")


def broker_url() -> Optional[str]:
    url = os.environ.get("AMQPBASE_TEST_URL")
    if url:
        return url
    proc = subprocess.run(["bash", str(REPO / "scripts" / "broker"), "url"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or None


def find_broker_pid(state_dir: Path) -> Optional[int]:
    """The beam.smp process of the node whose state lives in ``state_dir``.

    Matched by the node name from ``broker.env`` (``scripts/broker env``) or by the node's
    ``-home <state dir>`` argument in /proc/<pid>/cmdline.
    """
    nodename = None
    env_file = state_dir / "broker.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith("RABBITMQ_NODENAME="):
                nodename = line.split("=", 1)[1].strip("'\"")
    wanted = {str(state_dir), str(state_dir.resolve())}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not args or not args[0].endswith(b"beam.smp"):
            continue
        words = [a.decode(errors="replace") for a in args]
        if nodename and any(nodename in w for w in words):
            return int(entry.name)
        for i, word in enumerate(words[:-1]):
            if word == "-home" and words[i + 1] in wanted:
                return int(entry.name)
    return None


def run_config(client: str, scenario: str, count: int, url: str, broker_pid: Optional[int],
               timeout: float, tree: Optional[Path] = None) -> Dict[str, Any]:
    """One run of this tree's worker; ``tree``: import amqpbase from that source tree."""
    command = [sys.executable, "-m", "benchmarks.scenarios", "--client", client,
               "--scenario", scenario, "--url", url, "--count", str(count),
               "--deadline", str(timeout)]
    if broker_pid:
        command += ["--broker-pid", str(broker_pid)]
    if tree is not None:
        command += ["--tree", str(tree)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                              timeout=timeout + 60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"client": client, "scenario": scenario, "ok": False,
                "error": f"worker timed out after {timeout + 60:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            result: Dict[str, Any] = json.loads(line)
            return result
    return {"client": client, "scenario": scenario, "ok": False,
            "error": f"worker exit {proc.returncode}, no JSON: {proc.stderr[-1500:]}"}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="small counts, 1 repetition, no memory scenarios (~1 minute)")
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), metavar="S",
                        help=f"subset of: {' '.join(SCENARIOS)}")
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, metavar="C",
                        help=f"subset of: {' '.join(CLIENTS)}")
    parser.add_argument("--reps", type=int, help="repetitions (default: 3, quick: 1)")
    parser.add_argument("--count-scale", type=float, default=1.0,
                        help="multiply every message count by this (default 1)")
    parser.add_argument("--url",
                        help="broker URL (default: $AMQPBASE_TEST_URL or scripts/broker url)")
    parser.add_argument("--broker-pid", type=int,
                        help="broker beam.smp pid (default: found from $AMQPBASE_BROKER_DIR)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: benchmarks/results; with --quick "
                        ".build/bench, outside version control)")
    parser.add_argument("--name", help="output file stem (default: quick or full)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    parser.add_argument("--ab", metavar="REV",
                        help="A/B: the working tree's amqpbase (after) against amqpbase at git "
                        "revision REV (before), interleaved; writes ab.md (see benchmarks/ab.py)")
    parser.add_argument("--with-pika", action="store_true",
                        help="with --ab: run the pika clients too (identical on both sides: a "
                        "control for the noise)")
    args = parser.parse_args(argv)
    if args.with_pika and not args.ab:
        parser.error("--with-pika belongs to --ab (a plain run includes pika anyway)")
    if args.out is None:
        args.out = QUICK_RESULTS if args.quick else RESULTS

    url = args.url or broker_url()
    if not url:
        parser.error("no broker: pass --url, set AMQPBASE_TEST_URL or start scripts/broker")
    broker_pid = args.broker_pid or find_broker_pid(broker_dir())
    if not broker_pid:
        print("run: broker pid not found: no broker CPU figures", file=sys.stderr)
    reps = args.reps or (1 if args.quick else 3)
    scenario_names = args.scenarios or [
        name for name, s in SCENARIOS.items() if not (args.quick and s.full_only)]
    clients = args.clients or [c for c in CLIENTS if not args.ab or args.with_pika
                               or c.startswith("amqpbase-")]
    configs = []
    for name in scenario_names:
        scenario = SCENARIOS[name]
        count = max(1, int((scenario.quick_count if args.quick else scenario.count)
                           * args.count_scale))
        for client in clients:
            if scenario.full_only and client not in MEMORY_CLIENTS:
                continue
            configs.append((client, name, count))

    if args.ab:
        from benchmarks import ab

        ab_meta, ab_runs = ab.run_ab(args.ab, configs, reps, url, broker_pid, args.timeout,
                                     "quick" if args.quick else "full")
        md = ab.write(ab_meta, ab_runs, args.out, args.name or "ab")
        print(md.read_text())
        print(f"run: wrote {md} and {md.with_suffix('.json')}", file=sys.stderr)
        return 1 if any(not r.get("ok") for r in ab_runs) else 0

    started = time.time()
    runs: List[Dict[str, Any]] = []
    for rep in range(1, reps + 1):  # interleaved: every configuration once per repetition
        for client, name, count in configs:
            t0 = time.perf_counter()
            result = run_config(client, name, count, url, broker_pid, args.timeout)
            result["rep"] = rep
            runs.append(result)
            if result.get("ok"):
                note = (f"{result['msgs_per_s']:>10,.0f} msg/s  client "
                        f"{result['client_cpu_us_per_msg']:6.2f} us/msg")
            else:
                note = f"FAILED: {result.get('error')}"
            print(f"run: rep {rep}/{reps} {name:<17} {client:<17} "
                  f"({time.perf_counter() - t0:5.1f} s) {note}", file=sys.stderr, flush=True)

    mode = "quick" if args.quick else "full"
    meta = {
        "mode": mode, "reps": reps, "url": url, "broker_pid": broker_pid,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "git": git_describe(), "versions": versions(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.name or mode
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    from benchmarks import report

    written = report.write(meta, runs, args.out, stem)
    for path in written:
        print(f"run: wrote {path}", file=sys.stderr)
    failed = [r for r in runs if not r.get("ok")]
    if failed:
        print(f"run: {len(failed)} run(s) failed the correctness checks", file=sys.stderr)
    return 1 if failed else 0


def git_describe() -> str:
    proc = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True)
    return proc.stdout.strip()


def versions() -> Dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("amqpbase", "pika", "tornado", "Twisted"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


if __name__ == "__main__":
    sys.exit(main())
