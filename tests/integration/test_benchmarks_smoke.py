"""The benchmark worker (benchmarks/scenarios.py) runs and checks itself: a tiny count, fast.

The full suite (``python -m benchmarks.run``) is not run in CI; this keeps its worker from
rotting. No matplotlib needed: only the report imports it, lazily. The A/B mode
(``--ab REV``) runs tiny against HEAD here: both columns in the table, and each side's
amqpbase from its own tree, with the two checks that would catch a side importing the wrong
one (the worker's and the runner's) shown to fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from benchmarks.ab import tree_problem

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


def test_ab_run_measures_each_side_with_its_own_tree(broker: Any, tmp_path: Path) -> None:
    """``--ab HEAD``: the same code on both sides, but from two trees, each provably used."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--ab", "HEAD", "--quick", "--scenarios",
         "pub64", "consume-auto", "--clients", "amqpbase-select", "--count-scale", "0.1",
         "--url", broker.url, "--out", str(tmp_path), "--timeout", "30"],
        capture_output=True, text=True, timeout=180, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    trees = {"before": os.path.realpath(REPO / ".build" / "ab" / head),
             "after": os.path.realpath(REPO)}
    data = json.loads((tmp_path / "ab.json").read_text())
    assert data["meta"]["before"]["commit"] == head
    runs = data["runs"]
    assert sorted((r["scenario"], r["side"]) for r in runs) == [
        ("consume-auto", "after"), ("consume-auto", "before"),
        ("pub64", "after"), ("pub64", "before")]
    for run in runs:
        assert run["ok"] is True, run
        origin, root = run["tree"], trees[run["side"]]
        assert origin["root"] == root
        assert origin["amqpbase_file"] == os.path.join(root, "amqpbase", "__init__.py")
        assert origin["adapters_file"] == os.path.join(root, "adapters", "__init__.py")
        assert origin["foreign"] == [] and origin["modules"] > 10
    table = (tmp_path / "ab.md").read_text()
    assert proc.stdout.strip() == table.strip()  # printed as well
    assert "| before client CPU µs/msg | after client CPU µs/msg | after/before |" in table
    for name in ("pub64", "consume-auto"):
        row = re.search(rf"^\| {name} \| 2,000 \| ([0-9.]+) \| ([0-9.]+) \| "
                        r"(?:\*\*)?([0-9.]+)", table, re.M)
        assert row, table
        before, after, ratio = (float(x) for x in row.groups())
        assert before > 0 and after > 0 and abs(ratio - after / before) < 0.02
    assert f"before runs imported amqpbase from `{trees['before']}/amqpbase`" in table
    assert f"after runs imported amqpbase from `{trees['after']}/amqpbase`" in table


def test_worker_fails_when_amqpbase_adapters_comes_from_another_tree(tmp_path: Path) -> None:
    """A tree without adapters/: the installed amqpbase.adapters would fill in (the trap a
    plain PYTHONPATH falls into); the worker must refuse to run, naming it."""
    shutil.copytree(REPO / "amqpbase", tmp_path / "amqpbase",
                    ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scenarios", "--client", "amqpbase-select",
         "--scenario", "pub64", "--url", "amqp://guest:guest@127.0.0.1:1/%2F", "--count", "10",
         "--tree", str(tmp_path)],
        capture_output=True, text=True, timeout=30, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    result = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 1 and result["ok"] is False
    assert result["error"].startswith("TreeError: amqpbase.adapters was imported from "), result
    assert result["tree"]["amqpbase_file"] == str(tmp_path.resolve() / "amqpbase/__init__.py")
    assert any(f.startswith("amqpbase.adapters ") for f in result["tree"]["foreign"]), result


def test_runner_rejects_a_run_that_reports_another_tree(tmp_path: Path) -> None:
    """The runner checks each worker's report against the tree it asked for."""
    root = os.path.realpath(tmp_path)
    good = {"root": root, "amqpbase_file": os.path.join(root, "amqpbase", "__init__.py"),
            "adapters_file": os.path.join(root, "adapters", "__init__.py"), "foreign": []}
    assert tree_problem({"tree": good}, tmp_path) is None
    other = os.path.realpath(REPO)
    assert tree_problem({"tree": {**good, "root": other}}, tmp_path)
    assert tree_problem({"tree": {**good, "adapters_file": os.path.join(
        other, "adapters", "__init__.py")}}, tmp_path)
    assert tree_problem({"tree": {**good, "foreign": ["amqpbase.spec (/x)"]}}, tmp_path)
    assert tree_problem({}, tmp_path)  # a worker that did not say
