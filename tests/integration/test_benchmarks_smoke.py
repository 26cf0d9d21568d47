"""The benchmark worker (benchmarks/scenarios.py) runs and checks itself: a tiny count, fast.

The full suite (``python -m benchmarks.run``) is not run in CI; this keeps its worker from
rotting. No matplotlib needed: only the report imports it, lazily.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("elapsed_s", "msgs_per_s", "client_cpu_us_per_msg", "broker_cpu_us_per_msg")


def run_worker(broker: Any, scenario: str, count: int) -> Dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scenarios", "--client", "amqpbase-select",
         "--scenario", scenario, "--url", broker.url, "--count", str(count), "--deadline", "20"],
        capture_output=True, text=True, timeout=30, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result: Dict[str, Any] = json.loads(lines[-1])
    assert proc.returncode == 0, result
    return result


@pytest.mark.parametrize("scenario, depth", [("pub64", 2000), ("consume-auto", 0)])
def test_worker_prints_figures_and_passes_its_checks(broker: Any, scenario: str,
                                                      depth: int) -> None:
    started = time.monotonic()
    result = run_worker(broker, scenario, 2000)
    assert result["ok"] is True and result["error"] is None, result
    assert result["client"] == "amqpbase-select" and result["scenario"] == scenario
    assert result["count"] == 2000
    checks = result["checks"]
    assert checks["depth"] == checks["depth_expected"] == depth
    assert checks["nacks"] == 0
    if scenario.startswith("consume"):
        assert checks["received"] == 2000 and checks["corrupt"] == 0
    for key in FIGURES:
        assert key in result, key
    assert result["msgs_per_s"] > 0 and result["client_cpu_us_per_msg"] >= 0
    assert time.monotonic() - started < 10
