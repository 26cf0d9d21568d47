"""A RabbitMQ node of its own for the fault tests: they may stop, kill and restart it.

The conformance suite's ``broker`` node is shared by every test of the run, so no test may
take it down. The fault tests get a second node, managed by the same ``scripts/broker`` with
its state in ``<repo>/.build/broker-faults`` (``AMQPBASE_BROKER_DIR`` is set in the script's
environment only, never in this process, so the main ``broker`` fixture is unaffected).

``scripts/broker start`` is idempotent and a restarted node keeps its AMQP port, so the URL
(and the parameters a test built from it) stays valid across :meth:`FaultNode.restart`.

Fixtures (import them into the test module that uses them; ``tests/faults/conftest.py`` is
shared and does not register them):

- ``fault_node_session`` (session scope): starts the node once, stops it at the end of the run.
- ``fault_broker`` (function scope): the :class:`FaultNode`; after the test it makes sure the
  node runs again (a test that failed half-way through a fault leaves it stopped) and that
  its memory alarm is cleared.
- ``fault_session``: a conformance :class:`~conformance.conftest.Session` bound to the test's
  ``driver`` and the fault node (queues it declared are deleted afterwards).
- ``fault_memory_alarm``: a :class:`~conformance.conftest.MemoryAlarm` on the fault node,
  always cleared after the test (before ``fault_session`` cleans up).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional

import pytest
from conformance.conftest import MemoryAlarm, Session
from conformance.drivers import Driver

REPO = Path(__file__).resolve().parents[2]
#: State folder of the fault node (data, logs, saved ports, ``server.pid``): next to the
#: main node's folder when ``AMQPBASE_BROKER_DIR`` names one (so runs that use nodes of their
#: own never share a fault node), else ``.build/broker-faults``.
_MAIN_DIR = os.environ.get("AMQPBASE_BROKER_DIR")
STATE_DIR = Path(_MAIN_DIR + "-faults") if _MAIN_DIR else REPO / ".build" / "broker-faults"
BROKER_SCRIPT = REPO / "scripts" / "broker"


def _root_conftest() -> ModuleType:
    """``tests/conftest.py`` (its ``Broker`` class and env-file parser). pytest imports it as
    the module ``conftest``, a name other folders' conftest files (tests/twisted) reuse, so it
    is looked up by path and loaded under a name of its own if needed."""
    path = REPO / "tests" / "conftest.py"
    module = sys.modules.get("conftest")
    if module is not None and Path(getattr(module, "__file__", "")) == path:
        return module
    cached = sys.modules.get("_amqpbase_root_conftest")
    if cached is not None:
        return cached
    spec = importlib.util.spec_from_file_location("_amqpbase_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_amqpbase_root_conftest"] = module
    spec.loader.exec_module(module)
    return module


def _script(command: str, timeout: float = 180.0) -> str:
    """Run ``scripts/broker COMMAND`` for the fault node; return its stdout."""
    env = dict(os.environ)
    env["AMQPBASE_BROKER_DIR"] = str(STATE_DIR)
    env.pop("AMQPBASE_TEST_URL", None)
    proc = subprocess.run(
        ["bash", str(BROKER_SCRIPT), command], env=env, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/broker {command} (fault node) failed with "
                           f"{proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def accepts_tcp(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection now."""
    try:
        socket.create_connection((host, port), timeout).close()
    except OSError:
        return False
    return True


class FaultNode:
    """The fault tests' node: what ``tests/conftest.py::Broker`` offers (``url``, ``host``,
    ``port``, ``nodename``, :meth:`ctl`, :meth:`connection_pid`), plus the faults.

    Every method blocks until its effect holds (the node's AMQP listener is up again after
    :meth:`start_app`/:meth:`restart`, the Erlang VM is gone after :meth:`kill`), so a test
    can take times around the calls. ``disturbed`` is true from a fault until the node is
    back."""

    def __init__(self) -> None:
        self.disturbed = False
        self._broker: Any = None
        self._start()

    # ------------------------------------------------------------------ Broker's interface

    def _start(self) -> None:
        lines = [line for line in _script("start").splitlines() if line.startswith("amqp://")]
        if not lines:
            raise RuntimeError("scripts/broker start printed no URL for the fault node")
        root = _root_conftest()
        env: Dict[str, str] = root.read_env_file(STATE_DIR / "broker.env")
        self._broker = root.Broker(lines[-1], env)

    @property
    def url(self) -> str:
        return str(self._broker.url)

    @property
    def host(self) -> str:
        return str(self._broker.host)

    @property
    def port(self) -> int:
        return int(self._broker.port)

    @property
    def nodename(self) -> Optional[str]:
        return self._broker.nodename  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<FaultNode {self.url} node={self.nodename}>"

    def ctl(self, *args: str, timeout: float = 120.0) -> str:
        """``rabbitmqctl -n <fault node> ARGS``; stdout (``RuntimeError`` on failure)."""
        return str(self._broker.ctl(*args, timeout=timeout))

    def connection_pid(self, connection_name: str) -> str:
        """The broker pid of the connection with that ``connection_name`` client property."""
        return str(self._broker.connection_pid(connection_name))

    # ------------------------------------------------------------------ faults

    def stop_app(self) -> None:
        """``rabbitmqctl stop_app``: the RabbitMQ application stops (every client connection
        is closed by the broker), the Erlang VM keeps running; returns once it stopped."""
        self.disturbed = True
        self.ctl("stop_app")

    def start_app(self) -> None:
        """``rabbitmqctl start_app``; returns once the node accepts AMQP connections."""
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "60")
        self._wait_for_listener()
        self.disturbed = False

    def beam_pid(self) -> int:
        """The pid of the node's Erlang VM (``beam.smp``): ``scripts/broker`` starts the node
        with ``setsid``, so its VM is the ``beam.smp`` in the process group of
        ``server.pid`` (epmd, shared by every node on the machine, is not in it)."""
        leader = int((STATE_DIR / "server.pid").read_text().strip())
        group = os.getpgid(leader)
        proc = subprocess.run(["pgrep", "-g", str(group), "-x", "beam.smp"],
                              capture_output=True, text=True, timeout=10)
        pids = [int(pid) for pid in proc.stdout.split()]
        if len(pids) != 1:
            raise RuntimeError(f"expected one beam.smp in process group {group}, got {pids}")
        return pids[0]

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM (no AMQP close, no orderly TCP shutdown by RabbitMQ:
        the kernel closes its sockets); returns once the process is gone."""
        pid = self.beam_pid()
        self.disturbed = True
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)  # polling a process, not synchronising a test
        raise RuntimeError(f"beam.smp {pid} still alive 10 s after SIGKILL")

    def restart(self) -> None:
        """``scripts/broker start`` again (a dead node is started, with the same ports when
        they are free); returns once it accepts AMQP connections."""
        old_url = self.url
        self._start()
        self._wait_for_listener()
        self.disturbed = False
        if self.url != old_url:  # ports taken meanwhile: parameters built earlier are stale
            raise RuntimeError(f"the fault node came back on {self.url}, not {old_url}")

    def ensure_running(self) -> None:
        """Bring the node back whatever a test did to it (used after each test)."""
        if not self.disturbed and accepts_tcp(self.host, self.port):
            return
        try:
            self.start_app()  # stop_app only: the VM still runs
        except RuntimeError:
            self.restart()

    def _wait_for_listener(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not accepts_tcp(self.host, self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self} does not accept TCP connections")
            time.sleep(0.05)  # polling the node, not synchronising a test

    def stop(self) -> None:
        """Stop the node (end of the run)."""
        _script("stop")


#: The one :class:`FaultNode` of the run. Each test module that imports the fixtures gets
#: fixture definitions of its own, so the session fixture shares this instance between them.
_NODE: List[FaultNode] = []


@pytest.fixture(scope="session")
def fault_node_session() -> Iterator[FaultNode]:
    """The fault node, started once per run and stopped at its end."""
    if not _NODE:
        _NODE.append(FaultNode())
    node = _NODE[0]
    try:
        yield node
    finally:
        if _NODE:
            _NODE.clear()
            node.stop()


@pytest.fixture
def fault_broker(fault_node_session: FaultNode) -> Iterator[FaultNode]:
    """The fault node; running again (and without memory alarm) after the test."""
    node = fault_node_session
    node.ensure_running()
    try:
        yield node
    finally:
        node.ensure_running()


@pytest.fixture
def fault_session(driver: Driver, fault_broker: FaultNode) -> Iterator[Session]:
    """Conformance helpers bound to the test's driver and the fault node."""
    helper = Session(driver, fault_broker)
    try:
        yield helper
    finally:
        fault_broker.ensure_running()
        helper.cleanup()


@pytest.fixture
def fault_memory_alarm(fault_session: Session, fault_broker: FaultNode) -> Iterator[MemoryAlarm]:
    """The memory alarm of the fault node, cleared after the test whatever happened."""
    alarm = MemoryAlarm(fault_broker)
    try:
        yield alarm
    finally:
        if alarm.raised:
            alarm.clear()
