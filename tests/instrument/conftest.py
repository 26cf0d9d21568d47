"""Fixtures of the instrumentation tests (metrics and tracing, issue 15).

The ONE body (``scenario.py``) runs on every loop driver of the conformance suite
(``driver``: select, Tornado, asyncio, Twisted) and on the flavours of the Twisted suite
(Deferred, awaitable on Tornado and on asyncio; ``flavours.py``), plus BlockingConnection. Both
suites' helpers are imported from their folders; driver and blocking tests run on the main
greenlet, as the conformance conftest explains (pytest-twisted would run them inside the
reactor greenlet, where the Twisted driver cannot wait).
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
import pytest_twisted

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "twisted"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from conformance.drivers import Driver, driver_class  # noqa: E402
from deferred_helpers import Amqp  # noqa: E402

DRIVERS: List[str] = [
    name.strip()
    for name in os.environ.get("AMQPBASE_DRIVERS", "select,tornado,asyncio,twisted").split(",")
    if name.strip()
]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """Driver and blocking tests run as plain functions on the main greenlet."""
    if not pyfuncitem.get_closest_marker("main_greenlet"):
        return None
    function = pyfuncitem.obj
    arguments = inspect.signature(function).parameters
    function(**{name: pyfuncitem.funcargs[name] for name in arguments
                if name in pyfuncitem.funcargs})
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "main_greenlet: run the body on the main greenlet")


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    instance = driver_class(request.param)()
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def amqp(broker: Any) -> Iterator[Amqp]:
    helper = Amqp(broker)
    try:
        yield helper
    finally:
        pytest_twisted.blockon(helper.cleanup())
