"""SelectLoop: the loop interface (``adapters/_transport/loop.py``, a ``ReadinessLoop``) over
the select :class:`~.ioloop.IOLoop`: scheduling, readiness through the loop's one handler per
descriptor (``add_handler``/``update_handler``/``remove_handler``), and name resolution on a
worker thread."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from .._transport.loop import Callback, Resolved
from .._transport.sockets import resolve_on_thread
from .ioloop import IOLoop, _Timeout

_READ, _WRITE = IOLoop.READ, IOLoop.WRITE


class _Watch:
    """The reader and writer callbacks of one descriptor, and the handler the IOLoop calls."""

    __slots__ = ("reader", "writer", "registered")

    def __init__(self) -> None:
        self.reader: Optional[Callback] = None
        self.writer: Optional[Callback] = None
        self.registered = False  # add_handler was called for the descriptor

    def mask(self) -> int:
        return (_READ if self.reader is not None else 0) | (_WRITE if self.writer is not None else 0)

    def on_events(self, fd: int, events: int) -> None:
        # Writes first: a flush waiting for room goes out before the reply it may carry the
        # answer to is read (the order the select transport always had).
        writer = self.writer
        if events & _WRITE and writer is not None:
            writer()
        reader = self.reader
        if events & _READ and reader is not None:
            reader()


class SelectLoop:
    """:class:`~amqpbase.adapters._transport.loop.ReadinessLoop` on ``ioloop``.
    ``call_before_io`` is the loop's before-poll hook: every flush requested during one
    iteration runs before the next ``select()``, so one ``sendmsg`` carries them all."""

    __slots__ = ("ioloop", "call_before_io", "call_soon", "call_soon_threadsafe", "watches")

    def __init__(self, ioloop: IOLoop) -> None:
        self.ioloop = ioloop
        # Bound methods of the IOLoop itself: no wrapper call on the way.
        self.call_before_io = ioloop.call_before_poll
        self.call_soon = ioloop.add_callback
        self.call_soon_threadsafe = ioloop.add_callback_threadsafe
        self.watches: Dict[int, _Watch] = {}

    def call_later(self, delay: float, callback: Callback) -> _Timeout:
        return self.ioloop.call_later(delay, callback)

    def cancel(self, handle: Any) -> None:
        self.ioloop.remove_timeout(handle)

    # ------------------------------------------------------------------ readiness

    def add_reader(self, fd: int, callback: Callback) -> None:
        watch = self.watch(fd)
        watch.reader = callback
        self.update(fd, watch)

    def remove_reader(self, fd: int) -> None:
        watch = self.watches.get(fd)
        if watch is not None:
            watch.reader = None
            self.update(fd, watch)

    def add_writer(self, fd: int, callback: Callback) -> None:
        watch = self.watch(fd)
        watch.writer = callback
        self.update(fd, watch)

    def remove_writer(self, fd: int) -> None:
        watch = self.watches.get(fd)
        if watch is not None:
            watch.writer = None
            self.update(fd, watch)

    def watch(self, fd: int) -> _Watch:
        watch = self.watches.get(fd)
        if watch is None:
            watch = self.watches[fd] = _Watch()
        return watch

    def update(self, fd: int, watch: _Watch) -> None:
        """Tell the IOLoop what ``fd`` is watched for now (nothing: the handler goes)."""
        mask = watch.mask()
        if not mask:
            del self.watches[fd]
            if watch.registered:
                self.ioloop.remove_handler(fd)
        elif watch.registered:
            self.ioloop.update_handler(fd, mask)
        else:
            self.ioloop.add_handler(fd, watch.on_events, mask)
            watch.registered = True

    def resolve(self, host: str, port: int, on_done: Callable[[Resolved], Any]) -> None:
        resolve_on_thread(self, host, port, on_done)


__all__ = ["SelectLoop"]
