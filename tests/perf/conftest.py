"""Fixtures of the load tool's suite: run ``python -m amqpbase.perf`` against the session's
broker as a subprocess (as an operator does; Twisted's reactor cannot be restarted in one
process anyway) and read its ``--json`` result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import pytest

from amqpbase import URLParameters
from amqpbase.adapters.blocking import BlockingConnection
from amqpbase.exceptions import ChannelClosedByBroker


@dataclass
class Outcome:
    """A finished run: exit status, the JSON result (None without --json) and stderr."""

    code: int
    result: Optional[Dict[str, Any]]
    stderr: str
    stdout: str


def command(url: str, args: List[str]) -> List[str]:
    return [sys.executable, "-m", "amqpbase.perf", "--uri", url, *args]


def run_perf(url: str, args: List[str], timeout: float = 30.0) -> Outcome:
    done = subprocess.run(command(url, args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    result = json.loads(done.stdout) if "--json" in args and done.stdout.strip() else None
    return Outcome(done.returncode, result, done.stderr, done.stdout)


def signal_run(url: str, args: List[str], signum: int = signal.SIGTERM,
               after_lines: int = 1, timeout: float = 20.0) -> "tuple[Outcome, float]":
    """Start a run, send ``signum`` once it has printed ``after_lines`` live lines, and
    return its outcome and the seconds from the signal to its exit."""
    process = subprocess.Popen(command(url, [*args, "--json"]), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stderr is not None and process.stdout is not None
    lines: List[str] = []
    deadline = time.monotonic() + timeout
    while len([line for line in lines if line.startswith("time ")]) < after_lines:
        line = process.stderr.readline()
        if not line or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no live line: {''.join(lines)}")
        lines.append(line)
    signalled = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=timeout)
    took = time.monotonic() - signalled
    return Outcome(process.returncode, json.loads(stdout), "".join(lines) + stderr,
                   stdout), took


@pytest.fixture
def url(broker: Any) -> str:
    return str(broker.url)


@pytest.fixture
def perf(url: str) -> Callable[..., Outcome]:
    def run(*args: str, timeout: float = 30.0) -> Outcome:
        return run_perf(url, list(args), timeout)
    return run


@pytest.fixture
def queue_exists(url: str) -> Callable[[str], bool]:
    def exists(name: str) -> bool:
        with BlockingConnection(URLParameters(url)) as connection:
            try:
                connection.channel().queue_declare(name, passive=True)
            except ChannelClosedByBroker as error:
                assert error.reply_code == 404
                return False
            return True
    return exists


__all__ = ["Outcome", "run_perf", "signal_run", "signal"]
