"""Fixtures of the transport suite: one broker-free suite, parametrized over the three loops.

- ``driver``: a fresh conformance :class:`~conformance.drivers.Driver` per test (select,
  Tornado, Twisted; ``AMQPBASE_DRIVERS`` narrows a run, as for the conformance suite).
- ``pki``: the test CA and its server and client certificates (``tests/pki.py``), once per
  session; ``other_pki``: a second, unrelated CA and certificates (an untrusted server).

Test bodies run on the main greenlet (see ``conformance/conftest.py``,
``pytest_pyfunc_call``): pytest-twisted would otherwise run them inside the reactor greenlet,
where the Twisted driver cannot wait.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
# tests/ is on sys.path (rootless); the conformance suite's hook runs bodies on the main greenlet
from conformance.conftest import DRIVERS, pytest_pyfunc_call  # noqa: F401
from conformance.drivers import Driver, driver_class
from pki import PKI, make_pki


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    instance = driver_class(request.param)()
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder: Path = tmp_path_factory.mktemp("transport-pki")
    return make_pki(folder)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder: Path = tmp_path_factory.mktemp("transport-other-pki")
    return make_pki(folder)
