"""A/B runs: the working tree's amqpbase ("after") against a git revision's ("before").

    python -m benchmarks.run --ab REV [--quick] [--with-pika] [...]   # measure, write ab.md
    python -m benchmarks.ab benchmarks/results/ab.json                  # re-render the table

REV is exported with ``git archive`` (only ``amqpbase/``, ``adapters/`` and pyproject.toml)
into ``.build/ab/<commit>/``. Both sides run the SAME worker (this tree's
``benchmarks.scenarios``) in a fresh process per run, on the same broker, interleaved: every
configuration runs both sides back to back, the side that goes first alternating from one
configuration and repetition to the next (A B, B A, ...). Only the library under test
differs: the worker gets ``--tree`` and imports amqpbase from there (:mod:`benchmarks.tree`);
each run reports where amqpbase and amqpbase.adapters came from and the runner fails the run
when that is not the intended tree.

This module owns the export, the A/B schedule and the A/B tables. It must not measure
anything itself (the worker does) nor import amqpbase.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.report import LOOPS, cell, median, ordered, values
from benchmarks.run import REPO, run_config, versions
from benchmarks.scenarios import CLIENTS, SCENARIOS

SIDES = ("before", "after")
THRESHOLD = 1.03  # issue 11: no scenario's client CPU per message worse by more than 3 %
EXPORTED = ("amqpbase", "adapters", "pyproject.toml")  # what the library needs of a revision
CPU = "client_cpu_us_per_msg"


def git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"ab: git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def export_revision(rev: str, into: Optional[Path] = None) -> Tuple[str, Path]:
    """Export the library of ``rev`` to ``<into>/<commit>`` (reused when already there)."""
    proc = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                           f"{rev}^{{commit}}"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"ab: {rev!r} is not a commit of {REPO}")
    sha = proc.stdout.strip()
    base = into or REPO / ".build" / "ab"
    dest = base / sha
    if (dest / ".exported").exists():
        return sha, dest
    names = set(git("ls-tree", "--name-only", sha).splitlines())
    paths = [p for p in EXPORTED if p in names]
    if "amqpbase" not in paths:
        raise SystemExit(f"ab: {rev} ({sha[:12]}) has no amqpbase/ folder")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", sha, *paths],
                             capture_output=True, check=True).stdout
    base.mkdir(parents=True, exist_ok=True)
    # Extract beside the destination and rename: a concurrent run never sees half a tree.
    tmp = base / f".{sha}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:  # Python without the extraction filters; the archive is our own commit
            tar.extractall(tmp)
    (tmp / ".exported").write_text(f"{rev}\n{sha}\n")
    try:
        tmp.rename(dest)
    except OSError:  # another run exported it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return sha, dest


def tree_problem(result: Dict[str, Any], tree: Path) -> Optional[str]:
    """Why this run's amqpbase did not come from ``tree`` (None when it did)."""
    origin = result.get("tree") or {}
    root = os.path.realpath(tree)
    want = {"amqpbase_file": os.path.join(root, "amqpbase", "__init__.py"),
            "adapters_file": os.path.join(root, "adapters", "__init__.py")}
    if origin.get("root") != root:
        return f"worker imported from tree {origin.get('root')}, not {root}"
    for key, path in want.items():
        if origin.get(key) != path:
            return f"{key} is {origin.get(key)}, not {path}"
    if origin.get("foreign"):
        return f"modules from elsewhere: {origin['foreign']}"
    return None


def run_ab(rev: str, configs: Sequence[Tuple[str, str, int]], reps: int, url: str,
           broker_pid: Optional[int], timeout: float, mode: str) -> Tuple[Dict[str, Any],
                                                                          List[Dict[str, Any]]]:
    sha, before_tree = export_revision(rev)
    trees = {"before": before_tree, "after": REPO}
    print(f"ab: before = {rev} ({sha[:12]}) from {before_tree}; after = the working tree "
          f"{REPO}", file=sys.stderr)
    started = time.time()
    runs: List[Dict[str, Any]] = []
    turn = 0
    for rep in range(1, reps + 1):
        for client, name, count in configs:
            order = SIDES if turn % 2 == 0 else SIDES[::-1]  # A B, then B A, ...
            turn += 1
            for side in order:
                t0 = time.perf_counter()
                result = run_config(client, name, count, url, broker_pid, timeout,
                                    tree=trees[side])
                result.update(rep=rep, side=side)
                problem = tree_problem(result, trees[side])
                if problem:
                    result["ok"] = False
                    result["error"] = f"wrong library tree: {problem}"
                runs.append(result)
                if result.get("ok"):
                    note = (f"{result['msgs_per_s']:>10,.0f} msg/s  client "
                            f"{result[CPU]:6.2f} us/msg")
                else:
                    note = f"FAILED: {result.get('error')}"
                print(f"ab: rep {rep}/{reps} {name:<17} {client:<17} {side:<6} "
                      f"({time.perf_counter() - t0:5.1f} s) {note}", file=sys.stderr,
                      flush=True)
    dirty = git("status", "--porcelain", "--", "amqpbase", "adapters").splitlines()
    meta = {
        "mode": f"ab-{mode}", "reps": reps, "url": url, "broker_pid": broker_pid,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "versions": versions(),
        "before": {"rev": rev, "commit": sha, "subject": git("log", "-1", "--format=%s", sha),
                   "tree": str(before_tree)},
        "after": {"git": git("describe", "--always", "--dirty"), "tree": str(REPO),
                  "uncommitted_library_files": len(dirty)},
    }
    return meta, runs


# ------------------------------------------------------------------------------------------
# tables


def paired_ratios(runs: List[Dict[str, Any]]) -> List[float]:
    """after / before client CPU of each repetition (both sides ran back to back)."""
    by_rep: Dict[int, Dict[str, float]] = {}
    for r in runs:
        if r.get("ok") and r.get(CPU):
            by_rep.setdefault(int(r["rep"]), {})[r["side"]] = r[CPU]
    return [p["after"] / p["before"] for p in by_rep.values() if "after" in p and "before" in p]


def ratio_cell(ratio: Optional[float]) -> str:
    if ratio is None:
        return "–"
    return f"**{ratio:.3f}** ⚠" if ratio > THRESHOLD else f"{ratio:.3f}"


def markdown(meta: Dict[str, Any], runs: List[Dict[str, Any]]) -> str:
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["client"]), []).append(r)
    before, after, v = meta["before"], meta["after"], meta.get("versions", {})
    dirty = after.get("uncommitted_library_files", 0)
    subject = before["subject"] if len(before["subject"]) <= 72 else before["subject"][:71] + "…"
    lines = [
        f"# amqpbase A/B benchmark ({meta['mode']})",
        "",
        f"**before** = `{before['rev']}` ({before['commit'][:12]}: {subject}), "
        f"exported to `{before['tree']}`; **after** = the working tree `{after['tree']}` "
        f"(git {after['git']}"
        + (f", {dirty} uncommitted file(s) in amqpbase/ and adapters/" if dirty else "")
        + f"). {meta['started']}, {meta['reps']} repetition(s); both sides of every "
        "configuration run back to back, the first side alternating (A B, B A, ...); a fresh "
        f"process and queue per run; {meta['duration_s']} s in all. Python {meta['python']} on "
        f"{meta['machine']} ({meta['cpus']} CPUs), pika {v.get('pika')}, tornado "
        f"{v.get('tornado')}, Twisted {v.get('Twisted')}. Cells: median [min–max] over the "
        "repetitions. after/before: ratio of the client CPU medians, ⚠ above "
        f"{THRESHOLD} (issue 11's 3 % rule); paired: after/before of each repetition; "
        "min/min: after/before of each side's least disturbed run.",
        "",
    ]
    all_pairs = [x for rs in groups.values() for x in paired_ratios(rs)]
    if all_pairs:
        lines += [f"Paired after/before client CPU over every configuration ({len(all_pairs)} "
                  f"pairs): median {statistics.median(all_pairs):.3f}, min "
                  f"{min(all_pairs):.3f}, max {max(all_pairs):.3f}; "
                  f"{sum(1 for x in all_pairs if x > THRESHOLD)} above {THRESHOLD}, "
                  f"{sum(1 for x in all_pairs if x < 1 / THRESHOLD)} below "
                  f"{1 / THRESHOLD:.3f}. With the same code on both sides (`--ab HEAD`) "
                  "this spread is the noise floor.", ""]
    flagged = []
    for loop in LOOPS:
        clients = [c for c in CLIENTS if c.endswith("-" + loop)]
        rows = []
        for name in ordered([r["scenario"] for r in runs], list(SCENARIOS)):
            for client in clients:
                rs = groups.get((name, client))
                if not rs:
                    continue
                side = {s: [r for r in rs if r.get("side") == s] for s in SIDES}
                vb, va = values(side["before"], CPU), values(side["after"], CPU)
                mb, ma = median(vb), median(va)
                least_b, least_a = min(vb, default=0.0), min(va, default=0.0)
                floor = f"{least_a / least_b:.3f}" if least_a and least_b else "–"
                ratio = ma / mb if ma is not None and mb else None
                if ratio is not None and ratio > THRESHOLD:
                    flagged.append(f"{name} on {client}: {ratio:.3f}")
                pairs = paired_ratios(rs)
                label = name if client.startswith("amqpbase") else f"{name} · pika (control)"
                counts = sorted({int(r["count"]) for r in rs if r.get("count")})
                ok = ", ".join(f"{sum(1 for r in side[s] if r.get('ok'))}/{len(side[s])}"
                               for s in SIDES)
                rows.append(
                    f"| {label} | {','.join(f'{c:,}' for c in counts) or '–'} | "
                    f"{cell(vb, '{:.2f}')} | {cell(va, '{:.2f}')} | {ratio_cell(ratio)} | "
                    f"{cell(pairs, '{:.3f}')} | "
                    f"{floor} | "
                    f"{cell(values(side['before'], 'msgs_per_s'), '{:,.0f}')} | "
                    f"{cell(values(side['after'], 'msgs_per_s'), '{:,.0f}')} | "
                    f"{ok} |")
        if rows:
            lines += [f"## {loop}", "",
                      "| scenario | messages | before client CPU µs/msg | after client CPU "
                      "µs/msg | after/before | paired after/before | min/min | before "
                      "msgs/s | after msgs/s | ok runs before/after |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, ""]
    if any(SCENARIOS[r["scenario"]].kind.startswith("mem-") for r in runs):
        lines += ["## Memory (peak RSS MiB)", "",
                  "| scenario | client | before | after | after/before |",
                  "|---|---|---:|---:|---:|"]
        for (name, client), rs in sorted(groups.items()):
            if not SCENARIOS[name].kind.startswith("mem-"):
                continue
            b = values([r for r in rs if r.get("side") == "before"], "rss_peak_mib")
            a = values([r for r in rs if r.get("side") == "after"], "rss_peak_mib")
            peak = f"{statistics.median(a) / statistics.median(b):.3f}" if a and b else "–"
            lines.append(f"| {name} | {client} | {cell(b, '{:.1f}')} | {cell(a, '{:.1f}')} | "
                         f"{peak} |")
        lines.append("")
    lines += ["## Summary", ""]
    lines += ([f"- client CPU after/before above {THRESHOLD}: " + "; ".join(flagged)]
              if flagged else [f"- no client CPU after/before ratio above {THRESHOLD}"])
    origins = set()
    for r in runs:
        origin = r.get("tree") or {}
        origins.add((str(r.get("side")), os.path.dirname(str(origin.get("amqpbase_file"))),
                     os.path.dirname(str(origin.get("adapters_file")))))
    lines += [f"- {side} runs imported amqpbase from `{pkg}` and amqpbase.adapters from `{adp}`"
              for side, pkg, adp in sorted(origins)]
    failed = [r for r in runs if not r.get("ok")]
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [f"- rep {r.get('rep')} {r.get('side')} {r['scenario']} {r['client']}: "
                  f"{r.get('error')}" for r in failed]
    lines.append("")
    return "\n".join(lines)


def write(meta: Dict[str, Any], runs: List[Dict[str, Any]], out: Path, stem: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    md = out / f"{stem}.md"
    md.write_text(markdown(meta, runs))
    return md


def main(argv: Optional[List[str]] = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m benchmarks.ab RESULTS.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    data = json.loads(path.read_text())
    print(write(data["meta"], data["runs"], path.parent, path.stem))
    return 0


if __name__ == "__main__":
    sys.exit(main())
