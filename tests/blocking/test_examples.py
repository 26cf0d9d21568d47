"""The tutorial programs of docs/examples/blocking/, run unchanged as a user would run them
(``python docs/examples/blocking/x.py``) against the test broker (``AMQPBASE_URL``)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from .conftest import unique

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "blocking"
TIMEOUT = 20.0


class Program:
    """A long-running example (a consumer) whose output lines are read as they come."""

    def __init__(self, name: str, args: List[str], env: Dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *args], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line with {text!r}; output so far: {self.seen}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line

    def interrupt(self) -> int:
        """Ctrl-C, as the tutorials tell the user; returns the exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def env(broker: Any) -> Dict[str, str]:
    environment = dict(os.environ)
    environment["AMQPBASE_URL"] = broker.url
    return environment


#: The fixed queue names the tutorials declare (durable ones outlive the program).
TUTORIAL_QUEUES = ("hello", "task_queue", "rpc_queue")


@pytest.fixture(autouse=True)
def delete_tutorial_queues(broker: Any) -> Iterator[None]:
    """Each test leaves no tutorial queue behind: another test (or a doc example) may declare
    the same name with other arguments (a 406 for an inequivalent ``auto_delete``)."""
    yield
    import amqpbase

    with amqpbase.BlockingConnection(amqpbase.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        for name in TUTORIAL_QUEUES:
            channel.queue_delete(name)


@pytest.fixture
def programs() -> Iterator[List[Program]]:
    started: List[Program] = []
    yield started
    for program in started:
        program.kill()


def run(name: str, args: List[str], env: Dict[str, str]) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def start(programs: List[Program], name: str, args: List[str], env: Dict[str, str]) -> Program:
    program = Program(name, args, env)
    programs.append(program)
    return program


def test_hello_world(env: Dict[str, str], programs: List[Program], broker: Any) -> None:
    receiver = start(programs, "receive.py", [], env)
    receiver.wait_for("Waiting for messages")
    assert "Sent 'Hello World!'" in run("send.py", [], env)
    receiver.wait_for("Received Hello World!")
    assert receiver.interrupt() == 0
    receiver.wait_for("Interrupted")


def test_work_queue(env: Dict[str, str], programs: List[Program]) -> None:
    env = dict(env, WORK_SECONDS_PER_DOT="0.05")
    worker = start(programs, "worker.py", [], env)
    worker.wait_for("Waiting for messages")
    task = unique("task") + "..."
    assert f"Sent {task}" in run("new_task.py", [task], env)
    worker.wait_for(f"Received {task}")
    worker.wait_for("Done")
    assert worker.interrupt() == 0


def test_publish_subscribe(env: Dict[str, str], programs: List[Program]) -> None:
    subscribers = [start(programs, "receive_logs.py", [], env) for _ in range(2)]
    for subscriber in subscribers:
        subscriber.wait_for("Waiting for logs")
    message = unique("info: log")
    run("emit_log.py", [message], env)
    for subscriber in subscribers:
        subscriber.wait_for(message)
        assert subscriber.interrupt() == 0


def test_routing(env: Dict[str, str], programs: List[Program]) -> None:
    errors = start(programs, "receive_logs_direct.py", ["error"], env)
    everything = start(programs, "receive_logs_direct.py", ["info", "warning", "error"], env)
    errors.wait_for("Waiting for logs")
    everything.wait_for("Waiting for logs")
    info, error = unique("an info"), unique("an error")
    run("emit_log_direct.py", ["info", info], env)
    run("emit_log_direct.py", ["error", error], env)
    everything.wait_for(f"info:{info}")
    everything.wait_for(f"error:{error}")
    errors.wait_for(f"error:{error}")
    assert not any(info in line for line in errors.seen)  # arrived after the info, if at all


def test_topics(env: Dict[str, str], programs: List[Program]) -> None:
    kern = start(programs, "receive_logs_topic.py", ["kern.*"], env)
    critical = start(programs, "receive_logs_topic.py", ["*.critical"], env)
    kern.wait_for("Waiting for logs")
    critical.wait_for("Waiting for logs")
    first, second = unique("kernel panic"), unique("disk full")
    run("emit_log_topic.py", ["kern.critical", first], env)
    run("emit_log_topic.py", ["disk.critical", second], env)
    kern.wait_for(f"kern.critical:{first}")
    critical.wait_for(f"kern.critical:{first}")
    critical.wait_for(f"disk.critical:{second}")
    assert not any(second in line for line in kern.seen)


def test_rpc(env: Dict[str, str], programs: List[Program]) -> None:
    server = start(programs, "rpc_server.py", [], env)
    server.wait_for("Awaiting RPC requests")
    output = run("rpc_client.py", ["30"], env)
    assert " [.] Got 832040" in output
    server.wait_for("fib(30)")
    assert server.interrupt() == 0
