"""Session-wide test fixtures: the real RabbitMQ node (README.md, "Try it": a dedicated node started by scripts/broker).

``broker`` (session scope) gives tests the node's AMQP URL and a ``ctl(*args)`` that runs
``rabbitmqctl`` against it. The node is the one ``scripts/broker`` manages: the fixture uses
``AMQPBASE_TEST_URL`` when set (``scripts/dev test`` exports it), otherwise it runs
``scripts/broker start`` (idempotent: a running node is reused). Tests that do not request the
fixture never start a broker. Every test that uses it is marked ``broker`` automatically, so
``pytest -m "not broker"`` runs without RabbitMQ.

The node also has a TLS listener (``Broker.tls_port``) with certificates from a test CA that
``scripts/broker start`` makes in the node's state folder (``Broker.tls_file(name)``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def broker_state_dir() -> Path:
    return Path(os.environ.get("AMQPBASE_BROKER_DIR") or REPO / ".build" / "broker")


def read_env_file(path: Path) -> Dict[str, str]:
    """Parse the ``KEY='value'`` lines ``scripts/broker`` saves for the node."""
    env: Dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        parts = shlex.split(value)
        env[key.strip()] = parts[0] if parts else ""
    return env


class Broker:
    """The test node: ``url``, ``host``, ``port``, ``nodename``, :meth:`ctl`, and its TLS
    listener: ``tls_port`` (``None`` when unknown) and :meth:`tls_file`."""

    #: CN of the test client certificate = the broker user SASL EXTERNAL logs it in as
    #: (``scripts/broker`` creates it without a password).
    TLS_CLIENT_USER = "amqpbase-client"

    def __init__(self, url: str, node_env: Optional[Dict[str, str]]) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5672
        self._node_env = node_env
        self.nodename = (node_env or {}).get("RABBITMQ_NODENAME")
        ssl_port = (node_env or {}).get("RABBITMQ_SSL_PORT")
        #: The TLS listener on 127.0.0.1 (server certificate for localhost and 127.0.0.1).
        self.tls_port: Optional[int] = int(ssl_port) if ssl_port else None
        #: Where ``scripts/broker`` keeps the node's test PKI (in its state folder, the HOME
        #: of the node's env).
        home = (node_env or {}).get("HOME")
        self.tls_dir = (Path(home) if home else broker_state_dir()) / "tls"

    def tls_file(self, name: str) -> str:
        """Path of one test PKI file: ``ca.pem`` (the CA the server certificate is signed
        by), ``other-ca.pem`` (an unrelated CA), ``client.pem``/``client.key`` (CN
        :attr:`TLS_CLIENT_USER`), ``server.pem``. Raises ``RuntimeError`` when the node has no
        TLS listener known to this run, or the file is missing."""
        path = self.tls_dir / name
        if self.tls_port is None or not path.is_file():
            raise RuntimeError(
                f"no TLS listener or no {name} for {self.url} in {self.tls_dir}: "
                "restart the node with scripts/broker start"
            )
        return str(path)

    def __repr__(self) -> str:
        return f"<Broker {self.url} node={self.nodename}>"

    def ctl(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``rabbitmqctl -n <node> ARGS`` with the node's environment; return stdout.

        Raises ``RuntimeError`` (with the command's output) when it fails, and when the node's
        environment is unknown (``AMQPBASE_TEST_URL`` points at a broker that
        ``scripts/broker`` did not start: set ``AMQPBASE_BROKER_DIR`` to its state folder).
        """
        if self._node_env is None or not self.nodename:
            raise RuntimeError(
                f"no broker env in {broker_state_dir()}: rabbitmqctl cannot reach {self.url}"
            )
        env = dict(os.environ)
        env.update(self._node_env)
        command: List[str] = [RABBITMQCTL, "-n", self.nodename, *args]
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(command)} failed with {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    def connection_pid(self, connection_name: str) -> str:
        """The broker's pid of the connection whose ``connection_name`` client property is
        ``connection_name`` (``rabbitmqctl list_connections pid client_properties``), for
        ``ctl("close_connection", pid, ...)``."""
        out = self.ctl("list_connections", "-q", "--no-table-headers", "pid",
                       "client_properties")
        for line in out.splitlines():
            if f'{{"connection_name","{connection_name}"}}' in line:
                return str(line.split("\t", 1)[0].strip())
        raise AssertionError(f"connection {connection_name!r} not listed by rabbitmqctl:\n{out}")


def _start_broker() -> str:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "broker"), "start"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/broker start failed:\n{proc.stdout}{proc.stderr}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("amqp://")]
    if not lines:
        raise RuntimeError(f"scripts/broker start printed no URL:\n{proc.stdout}{proc.stderr}")
    return lines[-1]


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    url = os.environ.get("AMQPBASE_TEST_URL") or _start_broker()
    env_file = broker_state_dir() / "broker.env"
    node_env = read_env_file(env_file) if env_file.exists() else None
    if node_env is not None and urlsplit(url).port != int(node_env.get("RABBITMQ_NODE_PORT", "0")):
        node_env = None  # the saved env belongs to another node than the URL's
    yield Broker(url, node_env)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs the 3-node cluster (scripts/cluster)")


#: nodeid -> the event-loop driver a test runs on (tests parametrized with ``driver``).
_LOOP_OF: Dict[str, str] = {}
#: driver -> outcome ("passed", "failed", "skipped") -> count, for the end-of-run summary.
_LOOP_OUTCOMES: Dict[str, Dict[str, int]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    for item in items:
        if "broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)
        if "cluster" in getattr(item, "fixturenames", ()):  # tests/cluster: 3 RabbitMQ nodes
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.broker)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "driver" in callspec.params:
            _LOOP_OF[item.nodeid] = str(callspec.params["driver"])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each loop-parametrized test once: its call outcome, or a setup that failed or
    skipped it."""
    loop = _LOOP_OF.get(report.nodeid)
    if loop is None or not (report.when == "call" or report.outcome != "passed"):
        return
    if report.when == "teardown" and report.outcome == "failed":
        outcome = "error"
    else:
        outcome = report.outcome
    counts = _LOOP_OUTCOMES.setdefault(loop, {})
    counts[outcome] = counts.get(outcome, 0) + 1


def _loops_disagree() -> bool:
    passed = {counts.get("passed", 0) for counts in _LOOP_OUTCOMES.values()}
    return len(passed) > 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print how many loop-parametrized tests passed on each loop (the suite promises the
    same count on every loop)."""
    if not _LOOP_OUTCOMES:
        return
    reporter = terminalreporter
    reporter.section("tests per event loop")
    for loop in sorted(_LOOP_OUTCOMES):
        counts = _LOOP_OUTCOMES[loop]
        detail = ", ".join(f"{counts[key]} {key}" for key in sorted(counts))
        reporter.write_line(f"{loop:>8}: {detail}")
    if _loops_disagree():
        reporter.write_line("the loops do not pass the same number of tests: run fails",
                            red=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run in which the loops passed different numbers of tests fails, even if every
    difference was a skip."""
    if _loops_disagree() and exitstatus == 0:
        session.exitstatus = 1
