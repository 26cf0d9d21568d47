"""The loop interface: what a transport and an adapter's hooks need from an event loop.

Each adapter implements it once, in its own package, over its loop (``select/loop.py`` over
the select ``IOLoop``, ``tornado/loop.py`` over a Tornado ``IOLoop``, ``asyncio/loop.py`` over
an asyncio loop, ``twisted/loop.py`` over a reactor). The adapter's timer and thread-safe hooks
are one call into it each, and the shared :class:`~.transport.Transport` schedules through it,
so every loop-specific rule is in one class per loop.

* :class:`Loop`: scheduling, which every loop supplies.
* :class:`ReadinessLoop`: scheduling plus file-descriptor readiness and name resolution, which
  select, Tornado and asyncio supply; the one socket transport (``sockets.py``) runs on it.
  Twisted supplies only :class:`Loop`: its reactor delivers bytes to a ``Protocol`` instead of
  readiness (on IOCP there is none), and a ``TwistedProtocolConnection`` must run on a
  transport Twisted hands it, so its transport subclass is a protocol and a pull producer.

Rules every implementation keeps (the hook contract in ``docs/internals.md``):

* ``call_later`` runs the callback once, on the loop thread, after at least ``delay`` seconds
  (a negative delay is "now"); its exception is logged with the traceback and the loop goes on.
* ``cancel`` of a handle that fired or was cancelled already does nothing.
* ``call_soon`` (loop thread only) runs the callback on a later turn of the loop, never inside
  the call; callbacks run in the order they were given.
* ``call_soon_threadsafe`` may be called from any thread and wakes the loop.
* ``call_before_io`` (loop thread only) runs the callback once after the current handler
  returns and before the loop next waits for I/O: the flush point of coalesced writes.
* ``add_reader``/``add_writer`` (loop thread only) make the loop call ``callback()`` each
  time ``fd`` is readable/writable, until ``remove_reader``/``remove_writer``; adding again
  replaces the callback; the transport never removes what it did not add. An exception in the
  callback is logged with the traceback and the loop goes on.
* ``resolve`` (loop thread only) looks ``host``/``port`` up without blocking the loop and
  later calls ``on_done`` on the loop thread, once, with ``getaddrinfo``-style entries
  ``(family, type, proto, canonname, sockaddr)`` (TCP) or the exception; never from inside
  the call.
"""

from __future__ import annotations

from typing import Any, Callable, List, Protocol, Tuple, Union


Callback = Callable[[], Any]
#: ``resolve``'s answer: ``getaddrinfo`` entries, or what it raised.
Resolved = Union[List[Tuple[Any, ...]], BaseException]


class Loop(Protocol):
    """An event loop as a transport and the hooks see it (see the module docstring). What a
    method returns is ignored unless its docstring says otherwise (a loop's own methods can
    be used as they are: asyncio's return handles, Tornado's ``None``)."""

    def call_later(self, delay: float, callback: Callback) -> Any:
        """Run ``callback()`` once after ``delay`` seconds; returns an opaque handle."""

    def cancel(self, handle: Any) -> None:
        """Cancel a ``call_later`` handle; a repeat, or after it fired, is a no-op."""

    def call_soon(self, callback: Callback) -> Any:
        """From the loop thread: run ``callback()`` on a later turn of the loop."""

    def call_soon_threadsafe(self, callback: Callback) -> Any:
        """From any thread: run ``callback()`` on the loop soon, waking it."""

    def call_before_io(self, callback: Callback) -> Any:
        """From the loop thread: run ``callback()`` once before the loop next waits for I/O."""


class ReadinessLoop(Loop, Protocol):
    """A :class:`Loop` that also reports file-descriptor readiness and resolves names (see the
    module docstring)."""

    def add_reader(self, fd: int, callback: Callback) -> Any:
        """Call ``callback()`` whenever ``fd`` is readable, until :meth:`remove_reader`."""

    def remove_reader(self, fd: int) -> Any:
        """Stop watching ``fd`` for reading."""

    def add_writer(self, fd: int, callback: Callback) -> Any:
        """Call ``callback()`` whenever ``fd`` is writable, until :meth:`remove_writer`."""

    def remove_writer(self, fd: int) -> Any:
        """Stop watching ``fd`` for writing."""

    def resolve(self, host: str, port: int, on_done: Callable[[Resolved], Any]) -> None:
        """Look up ``host``/``port`` off the loop thread; ``on_done(entries or error)`` later,
        on the loop thread."""


__all__ = ["Callback", "Loop", "ReadinessLoop", "Resolved"]
