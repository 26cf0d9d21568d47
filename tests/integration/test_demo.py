"""The README's first command runs ``scripts/demo.py``: keep it working on every loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_demo_confirms_and_consumes_on_every_loop(broker: Any) -> None:
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--url", broker.url, "--count", "500", "--window", "100"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for adapter in ("select", "tornado", "asyncio", "twisted"):
        assert any(line.strip().startswith(f"{adapter}: published 500 messages")
                   for line in lines), proc.stdout
        assert any(line.strip().startswith(f"{adapter}: consumed  500 messages")
                   for line in lines), proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_demo_reports_a_failure_with_a_non_zero_status(broker: Any) -> None:
    """A wrong password: the demo says why and exits 1 (it never reports success it lacks)."""
    url = broker.url.replace("guest:guest@", "guest:wrong@")
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--url", url, "--adapter", "tornado", "--count", "10"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "tornado: demo FAILED: could not connect: ProbableAuthenticationError" in proc.stderr
