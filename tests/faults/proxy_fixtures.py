"""The ``proxy`` fixture of the link-fault tests: a :class:`~faults.proxy.LinkProxy` in front
of the test broker, closed (thread joined, sockets closed) after the test.

Test modules import the fixture function (``from faults.proxy_fixtures import
proxy_fixture``; the fixture is named ``proxy``), since
``tests/faults/conftest.py`` is shared with other fault tests. :func:`via` gives the session's
connection parameters aimed at the proxy instead of the broker.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from amqpbase.parameters import ConnectionParameters

from .proxy import LinkProxy


@pytest.fixture(name="proxy")
def proxy_fixture(broker: Any) -> Iterator[LinkProxy]:
    """A proxy forwarding to the broker; every fault control is thread-safe and applied by
    the time it returns."""
    instance = LinkProxy((broker.host, int(broker.port)))
    try:
        yield instance
    finally:
        instance.close()


def via(proxy: LinkProxy, session: Any, **overrides: Any) -> ConnectionParameters:
    """``session.params(**overrides)`` connecting through ``proxy`` (127.0.0.1:proxy.port)."""
    params: ConnectionParameters = session.params(host="127.0.0.1", port=proxy.port, **overrides)
    return params
