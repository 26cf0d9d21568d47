"""Fixtures for tests on the 3-node RabbitMQ cluster on loopback (issue 12; ``scripts/cluster``).

``cluster`` gives a test the running cluster as a :class:`Cluster`: per-node URLs, ports and
connection parameters, ``rabbitmqctl`` per node, and the faults (``kill``, ``restart``,
``stop_app``/``start_app``, ``freeze``/``thaw``). After a test that faulted a node, the fixture
brings every node back to running, so each test starts on a whole cluster.

The cluster's life is this package's (``cluster_nodes``, package scope): started by
``scripts/cluster start`` when the first test asks for it (a running cluster is reused), stopped
after the last test of the package unless it was already running before (or
``AMQPBASE_CLUSTER_KEEP=1``): three nodes do not idle beside the rest of the suite. A suite in
another folder (the recovery suite) re-exports both fixtures from its own conftest::

    from cluster.conftest import cluster, cluster_nodes  # noqa: F401

This module only manages and observes the nodes; it must not hold client logic (tests use
amqpbase's public API on their own). Faults that are timed (``kill``, ``freeze``) signal the
node's VM directly by its pid and return the instant of the signal.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from conftest import RABBITMQCTL, REPO, read_env_file
# The recovery suite (test_recovery_cluster.py) runs on the conformance loop drivers: their
# test-call hook (bodies run off the Twisted reactor's greenlet) and marker.
from conformance.conftest import pytest_configure, pytest_pyfunc_call  # noqa: F401

from amqpbase import ConnectionParameters

SCRIPT = REPO / "scripts" / "cluster"
NODE_NUMBERS = (1, 2, 3)
#: Erlang net_ticktime of the cluster's nodes (s): scripts/cluster's setting. A node frozen
#: for about that long is declared down by its peers; thawed, it finds the cluster partitioned.
NET_TICKTIME = int(os.environ.get("AMQPBASE_CLUSTER_NET_TICKTIME", "10"))


def cluster_state_dir() -> Path:
    return Path(os.environ.get("AMQPBASE_CLUSTER_DIR") or REPO / ".build" / "cluster")


def run_script(
    *args: str, timeout: float = 300.0, check: bool = True
) -> "subprocess.CompletedProcess[str]":
    """Run ``scripts/cluster ARGS``; raise ``RuntimeError`` with its output when it fails."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"scripts/cluster {' '.join(args)} failed with {proc.returncode}:\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return proc


class ClusterNode:
    """One node: ``number`` (1-3), ``name`` (Erlang node name), ``host``, ``port`` (AMQP),
    ``tls_port``, ``url``, and its saved environment ``env`` (for rabbitmqctl)."""

    def __init__(self, number: int, env: Dict[str, str]) -> None:
        self.number = number
        self.env = env
        self.name = env["RABBITMQ_NODENAME"]
        self.host = "127.0.0.1"
        self.port = int(env["RABBITMQ_NODE_PORT"])
        self.tls_port = int(env["RABBITMQ_SSL_PORT"])
        self.url = f"amqp://guest:guest@{self.host}:{self.port}/%2F"
        self.pid_file = Path(env["RABBITMQ_PID_FILE"])

    def parameters(self, **kwargs: Any) -> ConnectionParameters:
        """``ConnectionParameters`` for this node (guest/guest, vhost ``/``), plus ``kwargs``."""
        return ConnectionParameters(self.host, self.port, **kwargs)

    def vm_pid(self) -> Optional[int]:
        """The pid of the node's Erlang VM while it is alive (``None`` after a kill)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"beam" in cmdline else None

    def __repr__(self) -> str:
        return f"<ClusterNode {self.number} {self.name} port={self.port}>"


class Cluster:
    """The 3-node cluster. Nodes are numbered 1-3 as in ``scripts/cluster``."""

    def __init__(self, nodes: List[ClusterNode]) -> None:
        self.nodes = nodes
        #: Nodes a fault was applied to since the last :meth:`restore`.
        self.faulted: Set[int] = set()
        #: Node -> ``time.monotonic()`` of its last freeze.
        self.frozen_at: Dict[int, float] = {}

    @classmethod
    def from_state(cls, state_dir: Optional[Path] = None) -> "Cluster":
        base = state_dir or cluster_state_dir()
        return cls([ClusterNode(n, read_env_file(base / f"node{n}" / "node.env"))
                    for n in NODE_NUMBERS])

    def node(self, number: int) -> ClusterNode:
        if number not in NODE_NUMBERS:
            raise ValueError(f"node must be 1, 2 or 3, got {number!r}")
        return self.nodes[number - 1]

    @property
    def urls(self) -> List[str]:
        return [node.url for node in self.nodes]

    @property
    def ports(self) -> List[int]:
        return [node.port for node in self.nodes]

    def parameters(self, **kwargs: Any) -> List[ConnectionParameters]:
        """One ``ConnectionParameters`` per node (node 1 first), e.g. recovery endpoints."""
        return [node.parameters(**kwargs) for node in self.nodes]

    # rabbitmqctl

    def ctl(self, number: int, *args: str, timeout: float = 120.0) -> str:
        """Run ``rabbitmqctl -n <node N> ARGS`` with node N's environment; return stdout."""
        node = self.node(number)
        env = dict(os.environ)
        env.update(node.env)
        command = [RABBITMQCTL, "-n", node.name, *args]
        proc = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed with {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    def running_nodes(self, asking: int) -> List[str]:
        """Names of the nodes node ``asking`` sees running (``cluster_status``)."""
        status = json.loads(self.ctl(asking, "-q", "cluster_status", "--formatter", "json"))
        return sorted(str(name) for name in status["running_nodes"])

    def queue_info(self, queue: str, asking: Optional[int] = None) -> Dict[str, Any]:
        """``list_queues`` row of ``queue`` (name, type, leader, members, online, messages),
        asked of node ``asking`` or of the first node whose VM is not faulted."""
        number = asking if asking is not None else self._answering_node()
        rows = json.loads(self.ctl(number, "-q", "list_queues", "--formatter", "json", "name",
                                   "type", "leader", "members", "online", "messages"))
        for row in rows:
            if row["name"] == queue:
                return dict(row)
        raise AssertionError(f"queue {queue!r} not listed by node {number}: {rows}")

    def quorum_leader(self, queue: str) -> int:
        """Number of the node that hosts the leader of quorum queue ``queue``."""
        leader = self.queue_info(queue)["leader"]
        for node in self.nodes:
            if node.name == leader:
                return node.number
        raise AssertionError(f"leader {leader!r} of {queue!r} is not a node of this cluster")

    def _answering_node(self) -> int:
        for node in self.nodes:
            if node.number not in self.faulted and node.vm_pid() is not None:
                return node.number
        raise RuntimeError("no node of the cluster is up and unfaulted")

    # Faults. Each one marks the node so that the ``cluster`` fixture restores it.

    def kill(self, number: int) -> float:
        """SIGKILL node N's Erlang VM; return ``time.monotonic()`` of the signal, after the
        process is gone. (On loopback the kernel resets the node's client sockets at once.)"""
        node = self.node(number)
        pid = node.vm_pid()
        if pid is None:
            raise RuntimeError(f"node {number} has no running VM")
        self.faulted.add(number)
        sent = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.01)
        return sent

    def freeze(self, number: int) -> float:
        """SIGSTOP node N's VM (its sockets stay open, nothing answers); return the instant."""
        pid = self.node(number).vm_pid()
        if pid is None:
            raise RuntimeError(f"node {number} has no running VM")
        self.faulted.add(number)
        sent = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        self.frozen_at[number] = sent
        return sent

    def thaw(self, number: int) -> None:
        """SIGCONT node N's VM and wait until it answers rabbitmqctl."""
        run_script("thaw", str(number))

    def restart(self, number: int) -> None:
        """Bring node N back (start a killed/stopped VM, thaw, start_app) and wait until it
        runs in the cluster."""
        run_script("restart", str(number))

    def stop_app(self, number: int) -> None:
        """``rabbitmqctl stop_app`` on node N: the VM stays up, its AMQP listener closes."""
        self.faulted.add(number)
        run_script("stop_app", str(number))

    def start_app(self, number: int) -> None:
        """``rabbitmqctl start_app`` on node N; wait until it runs in the cluster."""
        run_script("start_app", str(number))

    def restore(self) -> None:
        """Every faulted node back to running in the cluster. Frozen nodes go first: a node
        that starts its app (or boots) waits for the tables of peers it believes up. One
        frozen for less than half of net_ticktime is thawed; one frozen longer is killed
        (its peers have declared it down, or are about to: thawed, it would find the cluster
        partitioned and autoheal would restart the losing side, maybe the node a client
        recovered onto). Then ``scripts/cluster restart`` for each faulted node (it starts
        killed nodes, start_apps stopped ones and waits until they run)."""
        if not self.faulted:
            return
        states = self.states()
        for number in sorted(self.faulted):
            if states.get(number) == "frozen":
                frozen_for = time.monotonic() - self.frozen_at.get(number, 0.0)
                if frozen_for < NET_TICKTIME / 2:
                    run_script("thaw", str(number))
                else:
                    self.kill(number)
        for number in sorted(self.faulted):
            run_script("restart", str(number))
        self.faulted.clear()

    def states(self) -> Dict[int, str]:
        """Node number -> ``running``, ``app-stopped``, ``frozen``, ``booting`` or ``down``
        (``scripts/cluster status``, which does not ask the nodes)."""
        out = run_script("status", check=False).stdout
        states: Dict[int, str] = {}
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) == 4:
                states[int(fields[0])] = fields[3]
        return states


@pytest.fixture(scope="package")
def cluster_nodes() -> Iterator[Cluster]:
    """The running cluster for this package's tests; stopped afterwards if this started it."""
    was_running = run_script("status", check=False).returncode == 0
    started = time.monotonic()
    run_script("start", timeout=600)
    if not was_running:
        record_measurement("cluster start (s)", time.monotonic() - started)
    cluster = Cluster.from_state()
    try:
        yield cluster
    finally:
        if not was_running and os.environ.get("AMQPBASE_CLUSTER_KEEP") != "1":
            run_script("stop", timeout=300, check=False)


@pytest.fixture
def cluster(cluster_nodes: Cluster) -> Iterator[Cluster]:
    """The cluster, whole: after the test, every node it faulted runs again."""
    cluster_nodes.faulted.clear()
    try:
        yield cluster_nodes
    finally:
        cluster_nodes.restore()


#: name -> values measured in this run, printed at the end (see pytest_terminal_summary).
_MEASUREMENTS: Dict[str, List[float]] = {}


def record_measurement(name: str, value: float) -> None:
    """Keep one measured value (seconds) for the end-of-run "cluster measurements" section."""
    _MEASUREMENTS.setdefault(name, []).append(value)


def measurements() -> Dict[str, Tuple[float, ...]]:
    return {name: tuple(values) for name, values in _MEASUREMENTS.items()}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _MEASUREMENTS:
        return
    terminalreporter.section("cluster measurements")
    for name, values in _MEASUREMENTS.items():
        each = ", ".join(f"{value:.3f}" for value in values)
        terminalreporter.write_line(
            f"{name}: median {statistics.median(values):.3f} over {len(values)} ({each})"
        )
