"""The blocking adapter's I/O thread: one select ``IOLoop`` run on a thread of its own, and the
two queues between it and the user's thread.

Owns: the thread and its ``IOLoop``; the *outbox* (calls the user's thread hands to the loop,
run there in order: every call into ``SelectConnection``/``Channel`` happens on the loop's
thread); the *inbox* (what the loop hands back: call results and events for the user's
thread); the *ready* queue (events taken from the inbox while the user's thread was waiting
for something else, kept in arrival order until ``process_data_events`` dispatches them).

Must not: know AMQP, run a user callback, or touch the connection objects itself (the calls it
runs are the blocking connection's and channel's own). Heartbeats and every other protocol
timer run on this thread, so they are serviced whatever the user's thread is doing (pika's
BlockingConnection serviced them only inside its own calls: pika #93, #418, #564, #1104).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from typing import Any, Callable, Deque, Optional, Set, Tuple

from amqpbase import exceptions

from ..select.ioloop import IOLoop

LOGGER = logging.getLogger(__name__)

#: One unit of work or one event: a callable and its positional arguments.
Item = Tuple[Callable[..., Any], Tuple[Any, ...]]

# Items run per loop callback before the loop gets a turn (flush, reads, heartbeats).
_DRAIN_BATCH = 4096
# Outbox length above which a fire-and-forget call (publish, ack) waits for the loop to catch
# up, and below which it goes on: a publisher faster than the socket is held here instead of
# growing the queues without bound.
OUTBOX_HIGH = 8192
_OUTBOX_LOW = 2048
# Bytes queued for the socket above which the loop stops taking from the outbox until the
# kernel has taken some (checked once per batch, polled at _CONGESTED_POLL while above).
_WRITE_HIGH = 4 * 1024 * 1024
_CONGESTED_POLL = 0.001

#: Put in the inbox only to wake the user's thread (a state change it must look at).
WAKE: Item = (lambda: None, ())


class Result:
    """The outcome of one call run on the loop: set once with a value or an exception, from
    the loop's thread; waited for on the user's thread (:meth:`IOThread.wait`)."""

    __slots__ = ("done", "value", "error", "owner", "_io")

    def __init__(self, io: "IOThread", owner: int) -> None:
        self.done = False
        self.value: Any = None
        self.error: Optional[BaseException] = None
        #: The channel number whose close fails this result (0: only the connection's).
        self.owner = owner
        self._io = io

    def set(self, value: Any = None) -> None:
        """Settle with ``value`` (usable directly as a pika completion callback)."""
        if self.done:
            return
        self.value = value
        self.done = True
        self._io.settled(self)

    def fail(self, error: BaseException) -> None:
        """Settle with ``error``, raised on the waiting thread."""
        if self.done:
            return
        self.error = error
        self.done = True
        self._io.settled(self)


class IOThread:
    """The I/O thread and its queues (see the module docstring)."""

    def __init__(self) -> None:
        self.ioloop = IOLoop()
        #: user's thread -> loop: ``(function, args)`` run in order on the loop's thread.
        self.outbox: Deque[Item] = collections.deque()
        #: True while a drain of the outbox is scheduled (set by the user's thread, cleared by
        #: the loop just before it drains, so an append is always drained by someone).
        self.wake_pending = False
        #: loop (and ``add_callback_threadsafe`` callers) -> user's thread.
        self.inbox: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        #: Events moved out of the inbox and not dispatched yet (the user's thread only).
        self.ready: Deque[Item] = collections.deque()
        #: Results not settled yet; failed with the close reason when the connection closes.
        self.outstanding: Set[Result] = set()
        #: Set by the loop when the connection is gone; every later call fails with it.
        self.closed_error: Optional[BaseException] = None
        #: True once the loop's thread has ended (its loop closed).
        self.finished = False
        #: The loop calls this with (function, exception) when a fire-and-forget call raised.
        self.on_call_error: Callable[[Callable[..., Any], BaseException], Any] = _log_call_error
        self._drained = threading.Event()
        self._throttled = False
        self._congested = False
        self._thread = threading.Thread(target=self._run, name="amqpbase-blocking-io", daemon=True)

    # ---------------------------------------------------------------- the loop's thread

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.ioloop.start()
        finally:
            self.finished = True
            self.ioloop.close()
            if self.closed_error is None:
                self.closed_error = exceptions.ConnectionWrongStateError("I/O loop ended")
            self.fail_outstanding(self.closed_error, None)
            self._drained.set()
            self.inbox.put(WAKE)

    def drain(self) -> None:
        """Run what the user's thread queued, in order (a loop callback)."""
        self.wake_pending = False
        outbox = self.outbox
        popleft = outbox.popleft
        for _ in range(_DRAIN_BATCH):
            try:
                function, args = popleft()
            except IndexError:
                break
            try:
                function(*args)
            except Exception as exc:  # noqa: BLE001 - reported to the user's thread
                self.on_call_error(function, exc)
        else:
            if outbox:  # let the loop flush and read before the next batch
                self.wake_pending = True
                self.ioloop.add_callback(self.drain_soon)
        if self._throttled:
            self._drained.set()

    def drain_with_flow_control(self, write_buffer_size: Callable[[], int]) -> None:
        """:meth:`drain`, unless the socket is already ``_WRITE_HIGH`` bytes behind: then poll
        until it has caught up (the outbox waits meanwhile, and so does a throttled user)."""
        if write_buffer_size() > _WRITE_HIGH:
            if not self._congested:
                self._congested = True
            self.ioloop.call_later(
                _CONGESTED_POLL, lambda: self.drain_with_flow_control(write_buffer_size)
            )
            return
        self._congested = False
        self.drain()

    def settled(self, result: Result) -> None:
        self.outstanding.discard(result)
        self.inbox.put(result)

    def fail_outstanding(self, error: BaseException, owner: Optional[int]) -> None:
        """Fail every unsettled result (``owner`` None) or those of one channel."""
        for result in list(self.outstanding):
            if owner is None or result.owner == owner:
                result.fail(error)

    def stop(self) -> None:
        """Stop the loop (from the loop's thread); the thread then closes it and ends."""
        self.ioloop.stop()

    # ---------------------------------------------------------------- the user's thread

    def submit(self, function: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        """Queue ``function(*args)`` for the loop and wake it if no drain is pending."""
        outbox = self.outbox
        outbox.append((function, args))
        if not self.wake_pending:
            self.wake()
        elif len(outbox) > OUTBOX_HIGH:
            self.throttle()

    def wake(self) -> None:
        self.wake_pending = True
        try:
            self.ioloop.add_callback_threadsafe(self.drain_soon)
        except (RuntimeError, OSError) as exc:  # the loop has closed
            raise exceptions.ConnectionWrongStateError("connection is closed") from exc

    def drain_soon(self) -> None:
        """The loop callback a wake-up schedules: the drain, flow-controlled by the hook set
        with :meth:`use_write_buffer_size`."""
        size = self._write_buffer_size
        if size is None:
            self.drain()
        else:
            self.drain_with_flow_control(size)

    _write_buffer_size: Optional[Callable[[], int]] = None

    def use_write_buffer_size(self, size: Callable[[], int]) -> None:
        """Flow-control the drain by ``size()`` (the open connection's ``write_buffer_size``);
        called on the loop's thread once the connection is open."""
        self._write_buffer_size = size

    def throttle(self) -> None:
        """Wait until the loop has taken the outbox below its low mark (or has ended)."""
        self._throttled = True
        try:
            while len(self.outbox) > _OUTBOX_LOW and not self.finished:
                self._drained.clear()
                if len(self.outbox) > _OUTBOX_LOW and not self.finished:
                    self._drained.wait(0.05)
        finally:
            self._throttled = False

    def call(self, function: Callable[..., Any], args: Tuple[Any, ...], owner: int = 0) -> Any:
        """Run ``function(result, *args)`` on the loop and wait for ``result`` to settle
        (raising its error). ``function`` raising settles the result with that error."""
        result = Result(self, owner)
        self.outstanding.add(result)
        if self.closed_error is not None:
            self.outstanding.discard(result)
            raise self.closed_error
        self.submit(_settle_on_error, (function, result, args))
        return self.wait(result)

    def wait(self, result: Result) -> Any:
        """Block until ``result`` settles; events arriving meanwhile wait in :attr:`ready`."""
        get = self.inbox.get
        ready = self.ready
        while not result.done:
            item = get()
            if type(item) is Result or item is WAKE:
                if self.finished and not result.done:
                    result.fail(self.closed_error or exceptions.ConnectionWrongStateError())
                continue
            ready.append(item)
        if result.error is not None:
            raise result.error
        return result.value

    def pump(self, timeout: Optional[float]) -> None:
        """Move what the inbox holds to :attr:`ready`, waiting at most ``timeout`` seconds
        (None: until something arrives; 0: not at all) for the first item."""
        inbox = self.inbox
        ready = self.ready
        try:
            if timeout is None:
                item = inbox.get()
            elif timeout <= 0:
                item = inbox.get_nowait()
            else:
                item = inbox.get(True, timeout)
        except queue.Empty:
            return
        while True:
            if type(item) is not Result and item is not WAKE:
                ready.append(item)
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                return

    def take_ready(self, predicate: Callable[[Item], bool]) -> list[Item]:
        """Remove and return the ready events ``predicate`` selects, in order."""
        kept: Deque[Item] = collections.deque()
        taken: list[Item] = []
        for item in self.ready:
            (taken if predicate(item) else kept).append(item)
        self.ready.clear()
        self.ready.extend(kept)
        return taken

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)


def _settle_on_error(function: Callable[..., Any], result: Result, args: Tuple[Any, ...]) -> None:
    try:
        function(result, *args)
    except Exception as exc:  # noqa: BLE001 - raised on the waiting thread instead
        result.fail(exc)


def _log_call_error(function: Callable[..., Any], error: BaseException) -> None:
    LOGGER.error("call %r failed on the I/O thread: %r", function, error)
