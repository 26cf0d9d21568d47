"""The loop interface: what a transport and an adapter's hooks need from an event loop.

Each adapter implements :class:`Loop` once, in its own package, over its loop
(``select/loop.py`` over the select ``IOLoop``, ``tornado/loop.py`` over a Tornado ``IOLoop``,
``twisted/loop.py`` over a reactor). The adapter's timer and thread-safe hooks are one call
into it each, and the shared :class:`~.transport.Transport` schedules through it, so every
loop-specific scheduling rule is in one class per loop. The stream itself (connect, read
readiness, writes) is the loop's own business and lives in its transport subclass:
``add_handler``/``update_handler`` on select, ``IOStream`` on Tornado, a ``Protocol`` and a
pull producer on Twisted.

Rules every implementation keeps (the hook contract in ``docs/internals.md``):

* ``call_later`` runs the callback once, on the loop thread, after at least ``delay`` seconds
  (a negative delay is "now"); its exception is logged with the traceback and the loop goes on.
* ``cancel`` of a handle that fired or was cancelled already does nothing.
* ``call_soon`` (loop thread only) runs the callback on a later turn of the loop, never inside
  the call; callbacks run in the order they were given.
* ``call_soon_threadsafe`` may be called from any thread and wakes the loop.
* ``call_before_io`` (loop thread only) runs the callback once after the current handler
  returns and before the loop next waits for I/O: the flush point of coalesced writes.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol


Callback = Callable[[], Any]


class Loop(Protocol):
    """An event loop as a transport and the hooks see it (see the module docstring)."""

    def call_later(self, delay: float, callback: Callback) -> Any:
        """Run ``callback()`` once after ``delay`` seconds; returns an opaque handle."""

    def cancel(self, handle: Any) -> None:
        """Cancel a ``call_later`` handle; a repeat, or after it fired, is a no-op."""

    def call_soon(self, callback: Callback) -> None:
        """From the loop thread: run ``callback()`` on a later turn of the loop."""

    def call_soon_threadsafe(self, callback: Callback) -> None:
        """From any thread: run ``callback()`` on the loop soon, waking it."""

    def call_before_io(self, callback: Callback) -> None:
        """From the loop thread: run ``callback()`` once before the loop next waits for I/O."""


__all__ = ["Callback", "Loop"]
