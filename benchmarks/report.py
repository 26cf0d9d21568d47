"""Turn the runs of ``benchmarks.run`` into a markdown table and a PNG bar chart.

    python -m benchmarks.report benchmarks/results/quick.json   # re-render from saved runs

matplotlib is imported only to draw the chart (the ``bench`` extra installs it); without it
the markdown is still written.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

FIGURES = (
    ("msgs_per_s", "msgs/s", "{:,.0f}"),
    ("client_cpu_us_per_msg", "client CPU µs/msg", "{:.2f}"),
    ("broker_cpu_us_per_msg", "broker CPU µs/msg", "{:.1f}"),
)
LOOPS = ("select", "tornado", "twisted")


def ordered(items: Sequence[str], order: Sequence[str]) -> List[str]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(set(items), key=lambda n: (rank.get(n, len(rank)), n))


def values(runs: List[Dict[str, Any]], key: str) -> List[float]:
    return [r[key] for r in runs if r.get("ok") and r.get(key) is not None]


def median(xs: List[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def cell(xs: List[float], fmt: str) -> str:
    if not xs:
        return "–"
    text = fmt.format(statistics.median(xs))
    if len(xs) > 1:
        text += f" [{fmt.format(min(xs))}–{fmt.format(max(xs))}]"
    return text


def group(runs: List[Dict[str, Any]]) -> Dict[Tuple[str, str], List[Dict[str, Any]]]:
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["client"]), []).append(run)
    return groups


def markdown(meta: Dict[str, Any], runs: List[Dict[str, Any]]) -> str:
    from benchmarks.scenarios import CLIENTS, SCENARIOS

    groups = group(runs)
    speed = [r for r in runs if not SCENARIOS[r["scenario"]].kind.startswith("mem-")]
    memory = [r for r in runs if SCENARIOS[r["scenario"]].kind.startswith("mem-")]
    v = meta.get("versions", {})
    lines = [
        f"# amqpbase benchmarks ({meta['mode']} mode)",
        "",
        f"{meta['started']}, {meta['reps']} repetition(s), interleaved, a fresh process and a "
        f"fresh queue per run; {meta['duration_s']} s in all. Python {meta['python']} on "
        f"{meta['machine']} ({meta['cpus']} CPUs), amqpbase {v.get('amqpbase')} "
        f"(git {meta['git']}), pika {v.get('pika')}, tornado {v.get('tornado')}, "
        f"Twisted {v.get('Twisted')}. Cells: median [min–max]. Figures: see "
        "benchmarks/README.md. `python -m benchmarks.run"
        + (" --quick" if meta["mode"] == "quick" else "") + "` wrote this file.",
        "",
    ]
    if speed:
        lines += ["## Figures per client", "",
                  "| scenario | messages | client | " + " | ".join(t for _, t, _ in FIGURES)
                  + " | ok runs |",
                  "|---|---:|---|" + "---:|" * len(FIGURES) + "---:|"]
        for name in ordered([r["scenario"] for r in speed], list(SCENARIOS)):
            for client in ordered([c for (s, c) in groups if s == name], CLIENTS):
                rs = groups[(name, client)]
                counts = sorted({int(r["count"]) for r in rs if r.get("count")})
                cells = [cell(values(rs, key), fmt) for key, _, fmt in FIGURES]
                ok = sum(1 for r in rs if r.get("ok"))
                lines.append(f"| {name} | {','.join(f'{c:,}' for c in counts) or '–'} | "
                             f"{client} | " + " | ".join(cells) + f" | {ok}/{len(rs)} |")
        lines += ["", "## amqpbase / pika (ratio of the medians)", "",
                  "Client CPU and broker CPU: below 1 means amqpbase spends less per message. "
                  "msgs/s: above 1 means amqpbase is faster.", "",
                  "| scenario | loop | client CPU µs/msg | msgs/s | broker CPU µs/msg |",
                  "|---|---|---:|---:|---:|"]
        for name in ordered([r["scenario"] for r in speed], list(SCENARIOS)):
            for loop in LOOPS:
                a, p = groups.get((name, f"amqpbase-{loop}")), groups.get((name, f"pika-{loop}"))
                if not a or not p:
                    continue
                ratios = []
                for key in ("client_cpu_us_per_msg", "msgs_per_s", "broker_cpu_us_per_msg"):
                    ma, mp = median(values(a, key)), median(values(p, key))
                    ratios.append(f"{ma / mp:.2f}" if ma is not None and mp else "–")
                lines.append(f"| {name} | {loop} | " + " | ".join(ratios) + " |")
        lines.append("")
    if memory:
        lines += ["## Memory", "",
                  "mem-publish-1G: 1 GiB published (64 KiB bodies) as fast as the backpressure "
                  "callback allows (docs/guide-select.md, Backpressure); mem-publish-1G-w64: "
                  "the same with publisher confirms, at most 64 unconfirmed. mem-consume-1M: "
                  "1,000,000 messages consumed; growth = highest RSS after the first 100,000 "
                  "messages minus RSS then.", "",
                  "| scenario | client | messages | RSS at start MiB | peak RSS MiB | "
                  "growth after warm-up MiB | msgs/s | ok runs |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for (name, client), rs in sorted(group(memory).items()):
            ok = sum(1 for r in rs if r.get("ok"))
            lines.append(
                f"| {name} | {client} | {rs[0].get('count', 0):,} | "
                f"{cell(values(rs, 'rss_start_mib'), '{:.1f}')} | "
                f"{cell(values(rs, 'rss_peak_mib'), '{:.1f}')} | "
                f"{cell(values(rs, 'rss_growth_after_warmup_mib'), '{:.2f}')} | "
                f"{cell(values(rs, 'msgs_per_s'), '{:,.0f}')} | {ok}/{len(rs)} |")
        lines.append("")
    failed = [r for r in runs if not r.get("ok")]
    if failed:
        lines += ["## Failed runs", ""]
        lines += [f"- rep {r.get('rep')} {r['scenario']} {r['client']}: {r.get('error')}"
                  for r in failed]
        lines.append("")
    return "\n".join(lines)


def chart(runs: List[Dict[str, Any]], path: Path, title: str) -> bool:
    """Grouped bars (one group per scenario, one bar per client) of client CPU and msgs/s."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib is not installed: no chart (pip install -e '.[bench]')",
              file=sys.stderr)
        return False
    from benchmarks.scenarios import CLIENTS, SCENARIOS

    speed = [r for r in runs if not SCENARIOS[r["scenario"]].kind.startswith("mem-")]
    if not speed:
        return False
    groups = group(speed)
    scenarios = ordered([r["scenario"] for r in speed], list(SCENARIOS))
    clients = ordered([r["client"] for r in speed], CLIENTS)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.6 * len(scenarios)), 8))
    width = 0.8 / len(clients)
    colors = {"amqpbase": ("#08519c", "#3182bd", "#6baed6"),
              "pika": ("#a63603", "#e6550d", "#fd8d3c")}
    for ax, (key, label) in zip(axes, (("client_cpu_us_per_msg", "client CPU µs/msg"),
                                       ("msgs_per_s", "msgs/s"))):
        for i, client in enumerate(clients):
            library, loop = client.split("-", 1)
            heights = [median(values(groups.get((s, client), []), key)) or 0 for s in scenarios]
            xs = [j + (i - (len(clients) - 1) / 2) * width for j in range(len(scenarios))]
            # The API clients' "loops" (awaitable, deferred, asyncio, ...) take the first shade.
            shade = colors.get(library, ("#555",) * 3)[
                LOOPS.index(loop) % 3 if loop in LOOPS else 0]
            ax.bar(xs, heights, width, label=client, color=shade)
        ax.set_yscale("log")
        ax.set_ylabel(label + " (log)")
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(title)
    axes[0].legend(ncol=3, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(meta: Dict[str, Any], runs: List[Dict[str, Any]], out: Path, stem: str) -> List[Path]:
    md = out / f"{stem}.md"
    png = out / f"{stem}.png"
    text = markdown(meta, runs)
    if chart(runs, png, f"amqpbase vs pika ({meta['mode']} mode, median of {meta['reps']})"):
        text += f"\n![client CPU and msgs/s per scenario]({png.name})\n"
    md.write_text(text)
    return [md, png] if png.exists() else [md]


def main(argv: Optional[List[str]] = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m benchmarks.report RESULTS.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    data = json.loads(path.read_text())
    for written in write(data["meta"], data["runs"], path.parent, path.stem):
        print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
