"""Fixtures of the fault suite (issue 6): the conformance suite's drivers and helpers, reused.

Every fault test runs once per event loop, exactly like a conformance test: the ``driver``,
``session``, ``connection``, ``channel`` and ``memory_alarm`` fixtures, the check that no
unexpected ERROR was logged, and the hook that runs test bodies outside pytest-twisted's
reactor greenlet all come from ``tests/conformance/conftest.py`` (imported here, so pytest
registers them for this folder too). Fixtures that only the fault tests need live in their
own modules next to the tests that use them.
"""

from conformance.conftest import (  # noqa: F401  (re-exported fixtures and hooks)
    channel,
    connection,
    driver,
    memory_alarm,
    no_unexpected_error_logs,
    pytest_configure,
    pytest_pyfunc_call,
    session,
)
