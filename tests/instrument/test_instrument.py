"""Metrics and tracing, one body (``scenario.py``) on every loop and flavour, against the real
broker: exact counters, and spans that follow the messaging semantic conventions."""

from __future__ import annotations

from typing import Any, Generator

import pytest
import pytest_twisted
from deferred_helpers import Amqp
from flavours import FLAVOURS
from scenario import (
    BlockingClient,
    CallbackClient,
    FlavourClient,
    Scenario,
    deferred_connect,
    run_sync,
)

from conformance.drivers import Driver

pytestmark = pytest.mark.broker


@pytest.mark.main_greenlet
def test_every_loop(driver: Driver, amqp: Amqp) -> None:
    scenario = Scenario(amqp.params)
    run_sync(scenario.body(CallbackClient(driver)))


@pytest.mark.main_greenlet
def test_blocking(amqp: Amqp) -> None:
    scenario = Scenario(amqp.params)
    run_sync(scenario.body(BlockingClient()))


@pytest.mark.parametrize("name", sorted(FLAVOURS))
@pytest_twisted.inlineCallbacks
def test_flavour(name: str, amqp: Amqp) -> Generator[Any, Any, None]:
    flavour = FLAVOURS[name](amqp)
    connect = deferred_connect if name == "deferred" else flavour.connect_function  # type: ignore[attr-defined]
    scenario = Scenario(amqp.params)

    async def body(_flavour: Any) -> None:
        await scenario.body(FlavourClient(connect, name))

    yield flavour.run(body)
