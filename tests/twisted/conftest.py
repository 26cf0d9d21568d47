"""Fixtures for the Deferred-flavoured Twisted API tests (real RabbitMQ, pytest-twisted).

Tests are ``@pytest_twisted.inlineCallbacks`` generators running on pytest-twisted's reactor
(the default one, or asyncio's with ``--reactor=asyncio``); helpers live in
``deferred_helpers.py``.

- ``amqp``: an :class:`~deferred_helpers.Amqp` bound to the session ``broker``: parameters with
  short timeouts and a unique ``connection_name``, connections that are closed after the test,
  queue names that are deleted after the test, ``rabbitmqctl`` off the reactor thread.
- ``memory_alarm``: RabbitMQ's memory alarm, always cleared after the test.
- autouse ``no_unexpected_errors``: a test fails when Twisted logged an error (an "Unhandled
  error in Deferred" included: a Deferred of ours failing with nobody asking) or amqpbase
  logged at ERROR, unless it is marked ``allow_errors``.
"""

from __future__ import annotations

import gc
import logging
from typing import Any, Iterator, List

import pytest
import pytest_twisted
from deferred_helpers import Amqp, MemoryAlarm
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import provider


@pytest.fixture
def amqp(broker: Any) -> Iterator[Amqp]:
    helper = Amqp(broker)
    try:
        yield helper
    finally:
        pytest_twisted.blockon(helper.cleanup())


@pytest.fixture
def memory_alarm(amqp: Amqp) -> Iterator[MemoryAlarm]:
    """Torn down before ``amqp``, so the cleanup runs against an unblocked broker."""
    alarm = MemoryAlarm(amqp)
    try:
        yield alarm
    finally:
        if alarm.raised:
            pytest_twisted.blockon(alarm.clear())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_errors: the test provokes error logs on purpose (Twisted or amqpbase ERROR)",
    )


@pytest.fixture(autouse=True)
def no_unexpected_errors(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[List[LogEvent]]:
    """Collect Twisted error events (e.g. "Unhandled error in Deferred", logged when a failed
    Deferred is garbage-collected) and amqpbase ERROR records; fail the test if there are any,
    unless it is marked ``allow_errors``. Yields the Twisted events (tests may inspect them)."""
    events: List[LogEvent] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("isError") or "log_failure" in event:
            events.append(event)

    caplog.set_level(logging.WARNING, logger="amqpbase")
    globalLogPublisher.addObserver(observe)
    try:
        yield events
        gc.collect()  # unreferenced failed Deferreds report themselves now
    finally:
        globalLogPublisher.removeObserver(observe)
    if request.node.get_closest_marker("allow_errors"):
        return
    problems = [_describe(event) for event in events]
    problems += [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR and record.name.startswith("amqpbase")
    ]
    if problems:
        pytest.fail("errors were logged:\n" + "\n".join(problems), pytrace=False)


def _describe(event: LogEvent) -> str:
    failure = event.get("log_failure")
    text = str(event.get("log_format") or event.get("message") or "")
    return f"{text} {failure.getErrorMessage() if failure is not None else ''}".strip()
