"""The Twisted adapter: :class:`TwistedConnection` on a Twisted reactor.

- :class:`TwistedConnection` (``.connection``): the base ``Connection``'s hooks on the reactor
  (``custom_reactor``, else the global reactor, imported when a connection is built, never at
  import time: internals.md rule 4).
- ``TwistedProtocolConnection``, ``TwistedChannel``, ``ClosableDeferredQueue``
  (``.deferred_api``): the Deferred-flavoured API built on :class:`TwistedConnection`. They are
  imported on first access, so this package imports without that module's cost.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .connection import TwistedConnection

if TYPE_CHECKING:  # type checkers see the real classes; at run time __getattr__ imports them
    from .deferred_api import ClosableDeferredQueue, TwistedChannel, TwistedProtocolConnection

__all__ = [
    "ClosableDeferredQueue",
    "TwistedChannel",
    "TwistedConnection",
    "TwistedProtocolConnection",
]

_DEFERRED_API = frozenset({"ClosableDeferredQueue", "TwistedChannel", "TwistedProtocolConnection"})


def __getattr__(name: str) -> Any:
    """PEP 562: the Deferred-flavoured names come from ``.deferred_api`` on first access."""
    if name in _DEFERRED_API:
        module = importlib.import_module(".deferred_api", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
