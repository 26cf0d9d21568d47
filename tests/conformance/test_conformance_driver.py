"""The drivers themselves: every other conformance test relies on these verbs, so a new loop's
driver is checked here first (no broker needed)."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

from .drivers import Driver


def test_run_until_returns_once_the_predicate_holds(driver: Driver) -> None:
    """run_until returns as soon as a callback scheduled with call_later made the predicate
    true (well before its deadline), and the callback ran on the loop thread."""
    ran: List[int] = []
    driver.call_later(0.05, lambda: ran.append(threading.get_ident()))
    start = time.monotonic()
    driver.run_until(lambda: ran, timeout=5.0, what="the timer")
    assert time.monotonic() - start < 2.0
    assert ran == [driver.loop_thread_ident]


def test_run_until_times_out_with_a_clear_message(driver: Driver) -> None:
    """A predicate that never holds: AssertionError after the deadline, naming the loop and
    what was awaited."""
    start = time.monotonic()
    with pytest.raises(AssertionError, match=r"\[\w+\] timed out after 0\.2s waiting for "
                                             r"a thing that never happens"):
        driver.run_until(lambda: False, timeout=0.2, what="a thing that never happens")
    assert 0.15 <= time.monotonic() - start < 2.0


def test_call_threadsafe_from_another_thread(driver: Driver) -> None:
    """call_threadsafe from a worker thread runs the callback on the loop thread."""
    ran: List[int] = []
    worker = threading.Thread(
        target=lambda: driver.call_threadsafe(lambda: ran.append(threading.get_ident())))
    worker.start()
    driver.run_until(lambda: ran, timeout=5.0, what="the thread-safe callback")
    worker.join(5)
    assert ran == [driver.loop_thread_ident]


def test_run_for_keeps_the_loop_running(driver: Driver) -> None:
    """run_for(0.2) runs the loop for about 0.2 s: timers due meanwhile fire, later ones do
    not."""
    fired: List[str] = []
    driver.call_later(0.05, lambda: fired.append("early"))
    driver.call_later(1.0, lambda: fired.append("late"))
    start = time.monotonic()
    driver.run_for(0.2)
    assert 0.18 <= time.monotonic() - start < 1.0
    assert fired == ["early"]


def test_tests_run_outside_the_reactor_greenlet(request: pytest.FixtureRequest) -> None:
    """With pytest-twisted loaded, conformance test bodies run on the main greenlet, not the
    reactor's, so a Twisted driver can wait with ``pytest_twisted.blockon`` (see
    ``conftest.pytest_pyfunc_call``)."""
    greenlet = pytest.importorskip("greenlet")
    pytest.importorskip("pytest_twisted")
    # pytest-twisted's own fixture for its reactor greenlet (None when it runs none)
    reactor_greenlet = request.getfixturevalue("twisted_greenlet")
    if reactor_greenlet is None:
        pytest.skip("pytest-twisted is not running a reactor greenlet in this session")
    assert greenlet.getcurrent() is not reactor_greenlet
