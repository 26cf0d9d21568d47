"""User-callback isolation (internals.md rule 7).

Every call into user code goes through :func:`invoke`: an exception raised by the callback is
logged with its traceback and swallowed, so it never kills the connection or skips the other
callbacks registered for the same event.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

LOGGER = logging.getLogger("amqpbase.callbacks")


def invoke(callback: Callable[..., Any], *args: Any) -> Optional[BaseException]:
    """Call ``callback(*args)``; log and return the exception it raised, else return None.

    Returns the exception so a caller that must close the connection because of it can chain
    it as ``__cause__``.
    """
    try:
        callback(*args)
    except Exception as exc:  # noqa: BLE001 - isolating user code is the point
        LOGGER.exception("Exception in user callback %r", callback)
        return exc
    return None


def require_callable(callback: Any, name: str = "callback") -> None:
    """Refuse a non-callable user callback up front with a ``TypeError`` naming the argument
    (so a bad callback fails at the call that registers it, not later inside the loop)."""
    if not callable(callback):
        raise TypeError(f"{name} must be callable, got {type(callback).__name__}")
