"""A small event loop on the standard library's :mod:`selectors` (pika 1.x ``IOLoop`` surface).

One iteration of :meth:`IOLoop.start` does, in this order:

1. run the *before-poll* callbacks requested with :meth:`IOLoop.call_before_poll` (the
   select adapter flushes its coalesced writes here: one ``sendmsg`` per connection per
   iteration, whatever number of frames were queued since the previous iteration);
2. wait in ``selector.select()`` until a watched descriptor is ready, the next timer is due or
   another thread wakes the loop (no wait at all when callbacks are already pending);
3. call the I/O handlers of the ready descriptors;
4. run the timers that are due;
5. run the callbacks queued before this step began (callbacks queued by callbacks wait for
   the next iteration, so I/O is never starved).

Exceptions raised by handlers, timers and callbacks are logged with their traceback and the
loop keeps running (internals.md rule 7). Only :meth:`add_callback_threadsafe` (alias
:meth:`add_callback`) and :meth:`stop` may be called from another thread, or from a signal
handler: both wake a loop that is waiting in ``select()`` (Python runs a signal handler on the
main thread between two bytecodes, and re-enters an interrupted ``select()`` with the rest of
its timeout after the handler returns, PEP 475: without a wake-up the stop would wait for the
next I/O or timer).
"""

from __future__ import annotations

import collections
import errno
import heapq
import logging
import selectors
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

LOGGER = logging.getLogger(__name__)

Callback = Callable[[], Any]
Handler = Callable[[int, int], Any]
FileDescriptor = Union[int, Any]  # an int or an object with fileno()

# Cancelled timers are dropped lazily when they reach the top of the heap; the heap is rebuilt
# without them once they are both this numerous and the majority.
_COMPACT_MIN_CANCELLED = 256


class _Timeout:
    """Handle returned by :meth:`IOLoop.call_later`; opaque to callers."""

    __slots__ = ("deadline", "callback", "done")

    def __init__(self, deadline: float, callback: Callback) -> None:
        self.deadline = deadline
        self.callback: Optional[Callback] = callback
        self.done = False  # fired or cancelled

    def __repr__(self) -> str:
        state = "done" if self.done else f"due at {self.deadline:.3f}"
        return f"<_Timeout {state} {self.callback!r}>"


class IOLoop:
    """An I/O loop on :class:`selectors.DefaultSelector` with timers and a thread-safe waker.

    The event constants are pika's: handlers registered with :meth:`add_handler` are called as
    ``handler(fd, events)`` where ``events`` is a mask of :attr:`READ` and :attr:`WRITE`.
    ``selectors`` has no separate error event: an error or hang-up on a descriptor is reported
    as :attr:`READ` and/or :attr:`WRITE` readiness (for the interests registered), and the next
    ``recv``/``send`` on it raises. :attr:`ERROR` is accepted in interest masks for pika
    compatibility and has no further effect.
    """

    READ = 0x0001
    WRITE = 0x0004
    ERROR = 0x0008

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._handlers: Dict[int, Handler] = {}
        self._timers: List[Tuple[float, int, _Timeout]] = []
        self._timer_seq = 0
        self._cancelled = 0
        self._callbacks: Deque[Callback] = collections.deque()
        self._before_poll: List[Callback] = []
        self._running = False
        self._stopping = False
        self._error: Optional[BaseException] = None  # what start() raises once it stopped
        self._closed = False
        self._thread_ident: Optional[int] = None
        self._wake_pending = False
        # True from just before the loop decides how long to wait until select() returned:
        # a call made then, on the loop thread, can only come from a signal handler, and
        # must write the waker (see _run_once for why the flag is raised before the check).
        self._polling = False
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._selector.register(self._waker_r.fileno(), selectors.EVENT_READ)

    # ---------------------------------------------------------------- running and stopping

    def start(self) -> None:
        """Run the loop on the calling thread until :meth:`stop` is called.

        If :meth:`stop` was called while the loop was not running, this returns after one
        iteration. Not re-entrant: starting a running loop raises :class:`RuntimeError`.
        After :meth:`stop_with_error` it raises that error instead of returning (pika's
        default for a connection that cannot open: the error comes out of ``start()``).
        """
        if self._closed:
            raise RuntimeError("IOLoop is closed")
        if self._running:
            raise RuntimeError("IOLoop is already running (not re-entrant)")
        self._running = True
        self._thread_ident = threading.get_ident()
        try:
            while True:
                self._run_once()
                if self._stopping:
                    break
        finally:
            self._stopping = False
            self._running = False
            self._thread_ident = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def stop_with_error(self, error: BaseException) -> None:
        """Stop as :meth:`stop` does, and make :meth:`start` raise ``error`` when it returns
        (the first error wins until then). On the loop thread (a handler, timer or callback,
        whose own exceptions the loop only logs). Not in pika's ``IOLoop``: it is how the
        select adapter raises a connection's open error out of ``start()`` as pika does
        when no ``on_open_error_callback`` was given."""
        if self._error is None:
            self._error = error
        self.stop()

    def stop(self) -> None:
        """Ask :meth:`start` to return after the current iteration; callable from any thread
        and from a signal handler (a graceful shutdown on SIGTERM: see docs/guide-select.md)."""
        self._stopping = True
        if self._polling or threading.get_ident() != self._thread_ident:
            self._wake()

    def close(self) -> None:
        """Release the selector and the waker sockets. Call only after :meth:`start` returned."""
        if self._running:
            raise RuntimeError("close() called on a running IOLoop; stop it first")
        if self._closed:
            return
        self._closed = True
        self._selector.close()
        self._waker_r.close()
        self._waker_w.close()
        self._handlers.clear()
        self._timers.clear()
        self._callbacks.clear()
        self._before_poll.clear()

    # ---------------------------------------------------------------- timers

    def call_later(self, delay: float, callback: Callback) -> _Timeout:
        """Run ``callback()`` once on the loop after ``delay`` seconds; returns a handle."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        timeout = _Timeout(time.monotonic() + max(0.0, float(delay)), callback)
        self._timer_seq += 1
        heapq.heappush(self._timers, (timeout.deadline, self._timer_seq, timeout))
        return timeout

    @property
    def timer_entries(self) -> int:
        """Entries in the timer heap: pending timers plus cancelled ones not yet dropped.
        Cancelled timers are dropped lazily, and the heap is compacted once they are the
        majority and at least 256: this is at most the pending count plus the larger of 255
        and the pending count."""
        return len(self._timers)

    def remove_timeout(self, timeout_handle: _Timeout) -> None:
        """Cancel a timer. Removing it twice, or after it fired, does nothing."""
        if timeout_handle.done:
            return
        timeout_handle.done = True
        timeout_handle.callback = None
        self._cancelled += 1
        if self._cancelled >= _COMPACT_MIN_CANCELLED and self._cancelled * 2 > len(self._timers):
            self._timers = [entry for entry in self._timers if not entry[2].done]
            heapq.heapify(self._timers)
            self._cancelled = 0

    # ---------------------------------------------------------------- callbacks

    def add_callback_threadsafe(self, callback: Callback) -> None:
        """Run ``callback()`` on the loop soon; callable from any thread and from a signal
        handler (wakes the loop)."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if self._closed:
            raise RuntimeError("IOLoop is closed")
        self._callbacks.append(callback)
        if self._wake_pending:
            return
        if self._polling or threading.get_ident() != self._thread_ident:
            self._wake()

    add_callback = add_callback_threadsafe  # pika alias

    def call_before_poll(self, callback: Callback) -> None:
        """Run ``callback()`` once, just before the loop next waits in ``select()``. Call it
        on the loop's thread only (from a handler, timer or callback); it does not wake the
        loop. Not in pika's ``IOLoop``.

        Used by the select adapter to flush the writes queued during this iteration with one
        system call. A before-poll callback that requests another one makes the next poll
        non-blocking, so nothing requested is ever left waiting for an unrelated event.
        """
        self._before_poll.append(callback)

    def _wake(self) -> None:
        self._wake_pending = True
        try:
            self._waker_w.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the socket buffer is full of wake-ups already: the loop will wake
        except OSError:
            if not self._closed:
                raise

    def _on_waker_readable(self) -> None:
        # Drain, THEN lower the flag. Lowered first, a wake-up another thread makes in between
        # (flag raised, byte written) is drained here and leaves the flag raised with no byte
        # pending: every later add_callback_threadsafe then skips its wake-up and waits for
        # unrelated I/O or a timer (BlockingConnection.close() hung in basic_cancel, the
        # guide's worker-thread example stalled). Lowered after, the worst case is one
        # spurious wake-up.
        try:
            while self._waker_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        self._wake_pending = False

    # ---------------------------------------------------------------- I/O handlers

    def add_handler(self, fd: FileDescriptor, handler: Handler, events: int) -> None:
        """Call ``handler(fd, events)`` on the loop whenever ``fd`` is ready for ``events``."""
        fileno = _fileno(fd)
        if fileno in self._handlers:
            raise ValueError(f"a handler is already registered for fd {fileno}")
        self._selector.register(fileno, _to_selector_events(events))
        self._handlers[fileno] = handler

    def update_handler(self, fd: FileDescriptor, events: int) -> None:
        """Change the events watched for ``fd`` (READ, WRITE or both)."""
        fileno = _fileno(fd)
        if fileno not in self._handlers:
            raise KeyError(f"no handler registered for fd {fileno}")
        self._selector.modify(fileno, _to_selector_events(events))

    def remove_handler(self, fd: FileDescriptor) -> None:
        """Stop watching ``fd``. Unknown descriptors are ignored."""
        fileno = _fileno(fd)
        if self._handlers.pop(fileno, None) is None:
            return
        try:
            self._selector.unregister(fileno)
        except (KeyError, ValueError, OSError):  # already closed elsewhere
            pass

    # ---------------------------------------------------------------- one iteration

    def _run_once(self) -> None:
        if self._before_poll:
            pending, self._before_poll = self._before_poll, []
            for callback in pending:
                self._invoke(callback)

        # Raised BEFORE the checks: a signal handler that runs after it wakes the loop
        # itself, one that ran before it left its callback or stop flag for the checks.
        self._polling = True
        if self._callbacks or self._before_poll or self._stopping:
            poll_timeout: Optional[float] = 0.0
        else:
            poll_timeout = self._next_timer_delay()
        try:
            ready = self._selector.select(poll_timeout)
        except InterruptedError:
            ready = []
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise
            ready = []
        finally:
            self._polling = False

        waker_fd = self._waker_r.fileno()
        for key, mask in ready:
            fileno = key.fd
            if fileno == waker_fd:
                self._on_waker_readable()
                continue
            handler = self._handlers.get(fileno)
            if handler is None:  # removed by an earlier handler in this batch
                continue
            events = (self.READ if mask & selectors.EVENT_READ else 0) | (
                self.WRITE if mask & selectors.EVENT_WRITE else 0
            )
            try:
                handler(fileno, events)
            except Exception:  # noqa: BLE001 - rule 7: log, keep the loop alive
                LOGGER.exception("Exception in I/O handler %r for fd %d", handler, fileno)

        if self._timers:
            self._run_due_timers()

        for _ in range(len(self._callbacks)):
            self._invoke(self._callbacks.popleft())

    def _next_timer_delay(self) -> Optional[float]:
        timers = self._timers
        while timers and timers[0][2].done:
            heapq.heappop(timers)
            self._cancelled -= 1
        if not timers:
            return None
        return max(0.0, timers[0][0] - time.monotonic())

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        last_seq = self._timer_seq  # timers added while running wait for the next iteration
        timers = self._timers
        while timers and (timers[0][0] <= now or timers[0][2].done):
            deadline, seq, timeout = timers[0]
            if timeout.done:
                heapq.heappop(timers)
                self._cancelled -= 1
                continue
            if seq > last_seq:
                break
            heapq.heappop(timers)
            callback = timeout.callback
            timeout.done = True
            timeout.callback = None
            if callback is not None:
                self._invoke(callback)
            timers = self._timers  # a remove_timeout() in the callback may compact the heap

    @staticmethod
    def _invoke(callback: Callback) -> None:
        try:
            callback()
        except Exception:  # noqa: BLE001 - rule 7: log, keep the loop alive
            LOGGER.exception("Exception in IOLoop callback %r", callback)


def _fileno(fd: FileDescriptor) -> int:
    return fd if isinstance(fd, int) else int(fd.fileno())


def _to_selector_events(events: int) -> int:
    mask = 0
    if events & IOLoop.READ:
        mask |= selectors.EVENT_READ
    if events & IOLoop.WRITE:
        mask |= selectors.EVENT_WRITE
    if not mask:
        raise ValueError(f"events must include IOLoop.READ and/or IOLoop.WRITE, got {events!r}")
    return mask
