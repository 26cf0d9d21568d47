"""Fixtures of the recovery suite (issue 12): the conformance suite's drivers and helpers,
reused, so every recovery test runs once per event loop against the test node."""

from conformance.conftest import (  # noqa: F401  (re-exported fixtures and hooks)
    driver,
    no_unexpected_error_logs,
    pytest_configure,
    pytest_pyfunc_call,
    session,
)
