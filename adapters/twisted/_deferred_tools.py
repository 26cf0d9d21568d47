"""Small building blocks of the Deferred-flavoured Twisted API (see ``deferred_api``).

- :class:`Outcome`: a result (or error) that any number of consumers can ask for, each through
  its own fresh :class:`~twisted.internet.defer.Deferred`, before or after it is known;
- :class:`ClosableDeferredQueue`: pika's consumer queue, a ``DeferredQueue`` that can be closed
  with a reason;
- :class:`ReceivedMessage`: pika's ``(channel, method, properties, body)`` named tuple;
- :func:`fire` / :func:`fail_with`: settle a Deferred we handed out unless its owner cancelled
  it meanwhile.

Nothing here knows AMQP.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Generic, List, NamedTuple, Optional, Tuple, TypeVar

from twisted.internet import defer

if TYPE_CHECKING:  # pragma: no cover
    from ._deferred_channel import TwistedChannel

LOGGER = logging.getLogger("amqpbase.adapters.twisted")

_T = TypeVar("_T")


class ReceivedMessage(NamedTuple):
    """One message handed out by :class:`TwistedChannel` (pika's name and fields).

    - ``channel``: the :class:`TwistedChannel` it arrived on (acknowledge through it);
    - ``method``: ``spec.Basic.Deliver`` (consumers), ``spec.Basic.GetOk`` (``basic_get``) or
      ``spec.Basic.Return`` (returned messages);
    - ``properties``: its ``spec.BasicProperties``;
    - ``body``: ``bytes``.
    """

    channel: "TwistedChannel"
    method: Any
    properties: Any
    body: bytes


def fire(deferred: "defer.Deferred[Any]", result: Any) -> None:
    """``deferred.callback(result)`` unless it has fired already (its owner cancelled it)."""
    if not deferred.called:
        deferred.callback(result)


def fail_with(deferred: "defer.Deferred[Any]", error: BaseException) -> None:
    """``deferred.errback(error)`` unless it has fired already (its owner cancelled it)."""
    if not deferred.called:
        deferred.errback(error)


class Outcome(Generic[_T]):
    """A result that settles once and that every consumer receives, however late it asks.

    A plain Deferred hands its result down ONE callback chain: the second ``yield d`` after a
    callback returned None gets None, and an errback that nobody attached is reported as
    "Unhandled error in Deferred" even if nobody ever wanted the result. An ``Outcome`` instead
    gives each caller of :meth:`deferred` a new Deferred: it fires when the outcome settles, or
    at once (already fired) when it has settled before. An outcome nobody asked for creates no
    Deferred, so an error nobody asked for is never reported as unhandled.

    Cancelling one of those Deferreds detaches only that consumer (it fails with
    ``CancelledError``); the outcome and the other consumers are unaffected.
    """

    __slots__ = ("_waiting", "_result")

    def __init__(self) -> None:
        self._waiting: List["defer.Deferred[_T]"] = []
        # (True, value) or (False, exception) once settled.
        self._result: Optional[Tuple[bool, Any]] = None

    @property
    def settled(self) -> bool:
        """True once :meth:`succeed` or :meth:`fail` has been called."""
        return self._result is not None

    def deferred(self) -> "defer.Deferred[_T]":
        """A new Deferred for the outcome (already fired if the outcome is settled)."""
        result = self._result
        if result is not None:
            ok, value = result
            return defer.succeed(value) if ok else defer.fail(value)
        waiter: "defer.Deferred[_T]" = defer.Deferred(canceller=self._detach)
        self._waiting.append(waiter)
        return waiter

    def _detach(self, waiter: "defer.Deferred[_T]") -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)

    def succeed(self, value: _T) -> None:
        """Settle with ``value``; a repeat is ignored (the first outcome wins)."""
        self._settle((True, value))

    def fail(self, error: BaseException) -> None:
        """Settle with ``error``; a repeat is ignored (the first outcome wins)."""
        self._settle((False, error))

    def _settle(self, result: Tuple[bool, Any]) -> None:
        if self._result is not None:
            return
        self._result = result
        waiting, self._waiting = self._waiting, []
        ok, value = result
        for waiter in waiting:
            if ok:
                fire(waiter, value)
            else:
                fail_with(waiter, value)


class ClosableDeferredQueue(defer.DeferredQueue[_T]):
    """A :class:`~twisted.internet.defer.DeferredQueue` that can be closed with a reason.

    :meth:`close` fails every Deferred waiting in :meth:`get` with the reason; afterwards
    :meth:`get` hands out the items still buffered (unless the close discarded them) and then
    fails at once with the reason. :attr:`closed` is that reason (None while open).
    :meth:`put` on a closed queue raises the reason (like ``DeferredQueue.put`` raises
    ``QueueOverflow``: synchronously).
    """

    def __init__(self, size: Optional[int] = None, backlog: Optional[int] = None) -> None:
        super().__init__(size, backlog)
        #: The close reason, None while the queue is open.
        self.closed: Optional[BaseException] = None

    def _cancelGet(self, d: "defer.Deferred[_T]") -> None:  # noqa: N802 - Twisted's name
        # Tolerant version: close() empties the waiting list before failing its Deferreds, and a
        # callback run by one of those failures may cancel another one.
        if d in self.waiting:
            self.waiting.remove(d)

    def put(self, obj: _T) -> None:
        """Add ``obj``; raises the close reason when the queue is closed."""
        if self.closed is not None:
            raise self.closed
        super().put(obj)

    def get(self) -> "defer.Deferred[_T]":
        """A Deferred firing with the next item; once the queue is closed and drained it has
        already failed with the close reason. Cancelling it removes it from the waiters."""
        if self.closed is not None and not self.pending:
            return defer.fail(self.closed)
        return super().get()

    def close(self, reason: BaseException, discard_pending: bool = True) -> None:
        """Close the queue: every waiting :meth:`get` fails with ``reason``.

        ``discard_pending`` (default True, pika's behaviour) also drops the buffered items;
        with False they stay available to :meth:`get` until drained. Closing a closed queue
        only logs (the first reason stays).
        """
        if self.closed is not None:
            LOGGER.debug("Queue %r already closed with %r; ignoring %r", self, self.closed, reason)
            return
        self.closed = reason
        if discard_pending:
            self.pending = []
        waiting, self.waiting = self.waiting, []
        for waiter in waiting:
            fail_with(waiter, reason)
