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

import inspect
from pathlib import Path
from typing import Iterator, Optional

import pytest
from conformance.conftest import DRIVERS  # tests/ is on sys.path (rootless)
from conformance.drivers import Driver, driver_class
from pki import PKI, make_pki


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """Run each test body as a plain function on the main greenlet (``blockon`` works there)."""
    function = pyfuncitem.obj
    if inspect.iscoroutinefunction(function):
        return None
    funcargs = pyfuncitem.funcargs
    # The function's own arguments (pytest's funcargs also hold the autouse fixtures); one
    # with a default that no fixture or parameter provides keeps its default, as in pytest.
    arguments = inspect.signature(function).parameters
    function(**{name: funcargs[name] for name in arguments if name in funcargs})
    return True


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
