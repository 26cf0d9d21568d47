"""The issue-16 benchmark modules (benchmarks/latency.py, benchmarks/scale.py) run and check
themselves: one tiny run each, so they do not rot. Not the figures: those need a quiet machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[2]


def run_one(module: str, *args: str) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    lines: List[str] = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result: Dict[str, Any] = json.loads(lines[-1])
    return result


def test_latency_run_delivers_everything_in_order_and_reports_its_probes(broker: Any) -> None:
    row = run_one("benchmarks.latency", "--url", broker.url, "--one", "amqpbase-select",
                  "--rate", "400", "--seconds", "1", "--warmup", "0.3", "--connections", "2",
                  "--publishers", "4")
    assert row["errors"] == [] and row["nacks"] == 0 and row["lost_or_duplicated"] == 0, row
    assert 200 <= row["published_per_s"] <= 600, row["published_per_s"]
    assert row["consumed_samples"] > 0
    assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert row["reads"] > 0 and row["loop_lag_ms"]["max"] >= 0
    assert len(row["per_queue"]) == 4 and {q["connection"] for q in row["per_queue"]} == {0, 1}
    assert row["series"], "no per-bin series"


def test_scale_run_opens_the_channels_and_measures_them(broker: Any) -> None:
    row = run_one("benchmarks.scale", "--url", broker.url, "--one",
                  "amqpbase-select:channels:20")
    assert row["count"] == 20
    assert row["seconds"] > 0 and row["cpu_s"] > 0
    # cpu_s is rounded to 1 ms, the per-unit figure is not: 0.5 ms / 20 of slack
    assert abs(row["cpu_ms_per_unit"] - row["cpu_s"] / 20 * 1000) <= 0.026
