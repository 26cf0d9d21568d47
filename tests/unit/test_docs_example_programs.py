"""The README's first program and the programs in ``docs/examples/`` run against the broker.

Each ``docs/examples/*.py`` is a program of pika's kind (a RabbitMQ-tutorial or pika-example
style program) that runs unchanged on amqpbase except for its import lines: one per pika name
a ported program used to break on (``ExchangeType``, ``DeliveryMode``,
``TwistedProtocolConnection``). Each runs in a subprocess with ``AMQP_URL`` set to the test
broker's URL, must exit 0 within 30 s without a traceback, and prints what the test checks
(messages it got back from the broker). The README program also runs against a refused port,
where it must fail at once with the error rather than hang (pika's select behaviour).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
TIMEOUT = 30.0

#: program -> lines its output must contain (what the broker gave back).
EXPECTED: Dict[str, List[str]] = {
    "pubsub_exchange_type.py": ["[x] Sent 'info: Hello World!'",
                                "[x] Received b'info: Hello World!'"],
    "persistent_work_queue.py": ["[x] Sent 'task 1...'", "[x] Received b'task 1...'",
                                 "delivery_mode=2"],
    "twisted_client_creator.py": ["[x] Sent b'hello from ClientCreator'",
                                  "[x] Received b'hello from ClientCreator'"],
}


def run_program(path: Path, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["AMQP_URL"] = url
    env.pop("PYTHONSTARTUP", None)
    return subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def readme_program(tmp_path: Path) -> Path:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Using it\n\n```python\n(.*?)\n```", text, re.S)
    assert match is not None, "README.md: no python block under 'Using it'"
    script = tmp_path / "readme_first_example.py"
    script.write_text(match.group(1) + "\n", encoding="utf-8")
    return script


def test_every_example_program_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_program_runs(name: str, broker: Any, tmp_path: Path) -> None:
    proc = run_program(EXAMPLES / name, broker.url, tmp_path)
    report = f"{name} (exit {proc.returncode})\n--- stdout ---\n{proc.stdout}\n" \
             f"--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, report
    assert "Traceback" not in proc.stderr, report
    for line in EXPECTED[name]:
        assert line in proc.stdout, report


def test_readme_first_example_runs(broker: Any, tmp_path: Path) -> None:
    proc = run_program(readme_program(tmp_path), broker.url, tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_readme_first_example_fails_at_once_without_a_broker(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.monotonic()
    proc = run_program(readme_program(tmp_path), f"amqp://guest:guest@127.0.0.1:{port}/%2F",
                       tmp_path)
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, proc.stderr
    assert "amqpbase.exceptions.TCPConnectionRefusedError" in proc.stderr, proc.stderr
