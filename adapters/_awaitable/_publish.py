"""The awaitable of a confirm-mode publish: :class:`PublishFuture`, and :class:`SettledBatch`,
which runs the done-callbacks of the publish futures one ack frame settles from ONE loop
callback instead of one asyncio ``Handle`` per future.

Why: with a window of publishes in flight RabbitMQ settles hundreds with one
``Basic.Ack(multiple)``; a plain ``asyncio.Future`` schedules each future's callbacks with a
``loop.call_soon`` of its own (a pure-Python ``Handle`` made, queued and run: about 0.5 µs per
publish, ``benchmarks/results/awaitable.md``). asyncio's promise is kept: callbacks never run
inside ``set_result``/``cancel``, they run from the loop, later, in the order the futures were
settled, each future's in the order they were added, each in its own ``contextvars`` context
(a task awaiting the future is woken through exactly that path), and an exception in one is
passed to ``loop.call_exception_handler`` as a ``Handle`` would pass it.

A :class:`PublishFuture` IS an ``asyncio.Future`` (a subclass): ``isinstance``,
``asyncio.isfuture``, ``await``, ``gather``, ``wait_for``, ``shield``, ``ensure_future``,
cancellation and Tornado's ``gen``/``IOLoop.add_future`` take it as they take any future; only
``add_done_callback``, ``remove_done_callback``, ``set_result``, ``set_exception`` and
``cancel`` are overridden, to keep the callbacks registered while pending here.

Must not: know AMQP beyond the outcome the channel's settlement engine hands to the token
(``FutureChannel`` owns that contract), or know a loop other than through ``asyncio``.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Callable, List, Optional, Tuple

from amqpbase import exceptions, frame, spec

from .._transport.transport import Transport

_Method = frame.Method
_Unroutable = exceptions.UnroutableError
_copy_context = contextvars.copy_context
_InvalidState = asyncio.InvalidStateError

# The C implementation's methods, called unbound (no attribute lookup through our overrides).
_set_result = asyncio.Future.set_result
_set_exception = asyncio.Future.set_exception
_exception = asyncio.Future.exception
_cancel = asyncio.Future.cancel
_add_done_callback = asyncio.Future.add_done_callback
_remove_done_callback = asyncio.Future.remove_done_callback

_Callbacks = List[Tuple[Callable[[Any], Any], contextvars.Context]]

#: ``PublishFuture.callback0`` when it holds more than one callback (see there).
_MANY: Any = object()


class SettledBatch:
    """The publish futures of one channel settled since the last seal, whose callbacks one
    loop callback runs. The channel seals the batch after each ack/nack frame
    (:meth:`seal`), so the futures of different frames keep their order relative to
    anything else the loop was asked to run between those frames."""

    __slots__ = ("loop", "transport", "futures", "reveal")

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: Optional[Transport],
                 reveal: Callable[[Any], Any]) -> None:
        self.loop = loop
        #: The connection's stream: what the callbacks emit (the next publishes) leaves in
        #: their loop turn (``Transport.flush_behind_callbacks``); None without one.
        self.transport = transport
        #: ``outcome -> outcome`` for an ``UnroutableError``: the owner's view of the returned
        #: messages (``FutureChannel``: ``ReceivedMessage``), once per unroutable publish.
        self.reveal = reveal
        #: The open batch (a list handed to the scheduled loop callback), None when sealed.
        self.futures: Optional[List["PublishFuture"]] = None

    def start(self, future: "PublishFuture") -> None:
        """Open a batch with ``future`` and schedule its run (once per batch)."""
        futures = self.futures = [future]
        self.loop.call_soon(_run_batch, self, futures)
        transport = self.transport
        if transport is not None and not transport.flush_pending:  # no call once pending
            # The callbacks run on the next turn; what they emit (the next publishes) leaves
            # in that same turn (confirm-w1: 2 epoll_waits per message, not 3).
            transport.flush_behind_callbacks()

    def seal(self, _reply: Any = None) -> None:
        """The end of an ack/nack frame's settlements (``confirm_delivery``'s ack/nack
        callback): futures settled later go to a new batch, run after whatever the loop was
        given meanwhile."""
        self.futures = None


def _run_batch(batch: SettledBatch, futures: List["PublishFuture"]) -> None:
    """The one loop callback of a batch (sealed first: what its callbacks settle goes to a
    new one): each future's done-callbacks, in settlement order, each in its context; an
    exception is the loop's exception handler's, as from a ``Handle``. A
    ``SystemExit``/``KeyboardInterrupt`` propagates (as from a ``Handle``) after what is left
    of the batch is scheduled again."""
    if batch.futures is futures:
        batch.futures = None
    index = 0
    try:
        for future in futures:
            index += 1
            callback = future.callback0
            if callback is _MANY:
                callbacks: _Callbacks = future.context0
                future.callback0 = future.context0 = None
                for position, (callback, context) in enumerate(callbacks):
                    try:
                        context.run(callback, future)
                    except (SystemExit, KeyboardInterrupt):
                        if position + 1 < len(callbacks):  # run the rest later
                            future.callback0 = _MANY
                            future.context0 = callbacks[position + 1:]
                            index -= 1
                        raise
                    except BaseException as error:  # noqa: BLE001 - as Handle._run does
                        _report(batch.loop, callback, future, error)
            elif callback is not None:
                context = future.context0
                future.callback0 = future.context0 = None
                try:
                    context.run(callback, future)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as error:  # noqa: BLE001 - as Handle._run does
                    _report(batch.loop, callback, future, error)
    except (SystemExit, KeyboardInterrupt):
        if index < len(futures):
            batch.loop.call_soon(_run_batch, batch, futures[index:])
        raise


def _report(loop: asyncio.AbstractEventLoop, callback: Any, future: Any,
            error: BaseException) -> None:
    """A done-callback raised: the loop's exception handler hears of it (as from a Handle)."""
    loop.call_exception_handler({
        "message": f"Exception in callback {callback!r} of {future!r}",
        "exception": error,
        "future": future,
    })


class PublishFuture(asyncio.Future[Optional[spec.Basic.Ack]]):
    """The future of one confirm-mode publish (``FutureChannel.basic_publish``): resolves
    with the broker's ``spec.Basic.Ack``, or fails with ``NackError``, ``UnroutableError`` or
    the close reason. An ``asyncio.Future`` whose done-callbacks run batched (module
    docstring). Also the ``on_confirm`` token the channel's settlement engine calls once with
    the outcome (hot path: one per confirmed publish, no closure per publish)."""

    # Public to the package: the owner sets ``settled_batch`` and ``callback0 = None`` right
    # after ``PublishFuture(loop=...)`` (hot path: a Python __init__ would cost a frame per
    # publish, about 0.1 µs); users must not touch them. Like the C future, the first
    # callback is held in two slots, not in a list of tuples: no container is allocated for
    # it (at a window of 1,000, allocations also cost cyclic-GC passes over the window).
    __slots__ = ("settled_batch", "callback0", "context0")

    #: The channel's batch its callbacks join when it is done.
    settled_batch: SettledBatch
    #: Callbacks added while pending: None when there are none; the one callback (its
    #: context in ``context0``); or :data:`_MANY` (``context0`` then holds the list of
    #: ``(callback, context)``). Once done, only its batch reads (then clears) them.
    callback0: Any
    context0: Any

    def add_done_callback(self, fn: Callable[["PublishFuture"], object], *,
                          context: Optional[contextvars.Context] = None) -> None:
        """As ``asyncio.Future.add_done_callback``; kept here while pending."""
        if self.done():
            _add_done_callback(self, fn, context=context)  # scheduled now, as asyncio does
            return
        if context is None:
            context = _copy_context()
        first = self.callback0
        if first is None:
            self.callback0 = fn
            self.context0 = context
        elif first is _MANY:
            self.context0.append((fn, context))
        else:
            self.callback0 = _MANY
            self.context0 = [(first, self.context0), (fn, context)]

    def remove_done_callback(self, fn: Callable[["PublishFuture"], object]) -> int:
        """As ``asyncio.Future.remove_done_callback``: once done, the callbacks are scheduled
        and nothing is removed (0)."""
        if self.done():
            return _remove_done_callback(self, fn)
        first = self.callback0
        if first is None:
            return 0
        callbacks = self.context0 if first is _MANY else [(first, self.context0)]
        kept = [entry for entry in callbacks if entry[0] != fn]
        if not kept:
            self.callback0 = self.context0 = None
        elif len(kept) == 1:
            self.callback0, self.context0 = kept[0]
        else:
            self.callback0, self.context0 = _MANY, kept
        return len(callbacks) - len(kept)

    def _scheduled(self) -> None:
        """The future just became done: its callbacks join the channel's open batch."""
        if self.callback0 is not None:
            batch = self.settled_batch
            futures = batch.futures
            if futures is None:
                batch.start(self)
            else:
                futures.append(self)

    def set_result(self, result: Optional[spec.Basic.Ack]) -> None:
        _set_result(self, result)
        self._scheduled()

    def set_exception(self, exception: Any) -> None:
        _set_exception(self, exception)
        self._scheduled()

    def cancel(self, msg: Any = None) -> bool:
        """Detach this future (``docs/api.md``, "Cancellation"): the engine still settles
        the publish."""
        if not _cancel(self, msg):
            return False
        self._scheduled()
        return True

    def __call__(self, outcome: Any) -> None:
        """The settlement engine's ``on_confirm``: the Basic.Ack method frame, or the
        exception the publish failed with. A failure nobody asked for logs nothing (its
        exception is marked retrieved; awaiting it still raises)."""
        try:  # (no done() check first: a call less per publish; a try costs nothing)
            if type(outcome) is _Method:
                _set_result(self, outcome.method)
            else:
                if type(outcome) is _Unroutable:
                    outcome = self.settled_batch.reveal(outcome)
                _set_exception(self, outcome)
                _exception(self)
        except _InvalidState:
            return  # its owner cancelled it: the engine still settles the publish
        if self.callback0 is not None:  # _scheduled() inline (hot path)
            batch = self.settled_batch
            futures = batch.futures
            if futures is None:
                batch.start(self)
            else:
                futures.append(self)
