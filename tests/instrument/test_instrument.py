"""Metrics and tracing, one body (``scenario.py``) on every loop and flavour, against the real
broker: exact counters, and spans that follow the messaging semantic conventions."""

from __future__ import annotations

from typing import Any, Dict, Generator, List

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
    flavour: Any = FLAVOURS[name](amqp)
    connect = deferred_connect if name == "deferred" else flavour.connect_function
    scenario = Scenario(amqp.params)

    async def body(_flavour: Any) -> None:
        await scenario.body(FlavourClient(connect, name))

    yield flavour.run(body)


@pytest.mark.main_greenlet
def test_recovery_is_counted_once_and_nothing_twice(driver: Driver, amqp: Amqp) -> None:
    """A connection cut by the broker and recovered: connections_recovered 1, and the
    re-opened connection and channel are not counted as new ones."""
    from amqpbase import Recovery
    from amqpbase.metrics import Metrics

    metrics = Metrics()
    name = amqp.name("recovering")
    events: Dict[str, List[Any]] = {"open": [], "ok": [], "closed": [], "channel": []}
    connection = driver.connection_class(
        parameters=amqp.params(observer=metrics, connection_name=name),
        on_open_callback=events["open"].append,
        on_close_callback=lambda c, r: events["closed"].append(r),
        recovery=Recovery(initial_delay=0.05, max_delay=0.2),
        **{driver.loop_argument: driver.loop},
    )
    driver.connections.append(connection)
    connection.add_on_recovery_succeeded_callback(lambda c, report: events["ok"].append(report))
    driver.run_until(lambda: events["open"], what="the connection to open")
    connection.channel(on_open_callback=events["channel"].append)
    driver.run_until(lambda: events["channel"], what="the channel to open")
    pid = amqp.broker.connection_pid(name)
    amqp.broker.ctl("close_connection", pid, "instrument test cuts the link")
    driver.run_until(lambda: events["ok"], timeout=15, what="the recovery")
    connection.close()
    driver.run_until(lambda: events["closed"], what="the connection to close")
    values = metrics.snapshot()
    assert (values["connections_opened"], values["connections_recovered"],
            values["connections_closed"]) == (1, 1, 1)
    assert (values["channels_opened"], values["channels_closed"]) == (1, 1)
