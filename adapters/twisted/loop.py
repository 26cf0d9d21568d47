"""TwistedLoop: the loop interface (``adapters/_transport/loop.py``) over a Twisted reactor.
Scheduling only; the stream is the transport's ``Protocol`` shim and Twisted's TCP transport,
the loop's equivalent of add/remove reader and writer.

Timer and thread-safe callbacks run through :func:`run_logged`, so an exception is logged
here with its traceback, as the select loop does (rule 7), instead of going to Twisted's own
log only. ``callLater`` asserts a delay >= 0: a negative delay means "now", as on select.
``DelayedCall.cancel()`` raises once the call ran or was cancelled, so :meth:`cancel` asks
``active()`` first. ``callFromThread`` wakes the reactor.
"""

from __future__ import annotations

import logging
from typing import Any

from .._transport.loop import Callback

#: The adapter's logger (its records keep the ``<package>.connection`` name).
LOGGER = logging.getLogger(f"{__package__}.connection")

#: A Twisted reactor (IReactorTime, IReactorTCP, IReactorThreads, IReactorFromThreads). zope
#: interfaces are not types for mypy without the mypy-zope plugin, hence ``Any``.
Reactor = Any


def run_logged(callback: Callback) -> None:
    """Run a timer or thread-safe callback; log its exception with the traceback."""
    try:
        callback()
    except Exception:  # noqa: BLE001 - rule 7: log, keep the reactor's work going
        LOGGER.exception("Exception in reactor callback %r", callback)


class TwistedLoop:
    """:class:`~amqpbase.adapters._transport.loop.Loop` on ``reactor``. ``call_soon`` and
    ``call_before_io`` are ``callLater(0)``: the next reactor turn, before it polls again."""

    __slots__ = ("reactor",)

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor

    def call_later(self, delay: float, callback: Callback) -> Any:
        return self.reactor.callLater(max(0.0, delay), run_logged, callback)

    def cancel(self, handle: Any) -> None:
        if handle.active():  # cancel() raises once the call ran or was cancelled
            handle.cancel()

    def call_soon(self, callback: Callback) -> None:
        self.reactor.callLater(0, callback)

    call_before_io = call_soon

    def call_soon_threadsafe(self, callback: Callback) -> None:
        self.reactor.callFromThread(run_logged, callback)


__all__ = ["Reactor", "TwistedLoop", "run_logged"]
