"""Publisher-confirm bookkeeping of a ``TwistedChannel``: one Deferred per publish, settled
exactly once by the broker's Basic.Ack / Basic.Nack (or failed with the close reason).

Facts relied on (RabbitMQ ``confirms.html`` and AMQP 0-9-1 ``basic.ack``):

- in confirm mode the broker numbers a channel's publishes 1, 2, 3, ... (the callback-API
  channel keeps the same count, ``Channel.next_delivery_tag``);
- an ack or nack with ``multiple`` settles every tag up to its ``delivery_tag``; ``multiple``
  with tag 0 settles everything outstanding;
- acks and nacks are coalesced separately, so ``Nack(2, multiple)`` can arrive before
  ``Ack(1)``: a tag is settled by whichever comes first and ignored afterwards, and only an ack
  ever makes a publish succeed;
- an unroutable ``mandatory`` message is returned (Basic.Return) BEFORE the Basic.Ack that
  confirms it; RabbitMQ sends that ack when it finishes handling the publish, so its
  ``delivery_tag`` is the returned message's own tag.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

from twisted.internet import defer

from amqpbase import exceptions, frame, spec

from ._deferred_tools import ReceivedMessage, fail_with, fire

LOGGER = logging.getLogger("amqpbase.adapters.twisted")


class _Publish:
    """One publish awaiting its confirm: its Deferred (None once the caller cancelled it) and,
    for a mandatory publish, the ``(exchange, routing_key)`` a Basic.Return would quote."""

    __slots__ = ("deferred", "key")

    def __init__(self, deferred: "defer.Deferred[Any]", key: Optional[Tuple[str, str]]) -> None:
        self.deferred: Optional["defer.Deferred[Any]"] = deferred
        self.key = key


class _Returned:
    """A Basic.Return waiting for the ack of its publish. ``upper`` is the last tag published
    when it arrived: the returned publish is one of the tags up to it."""

    __slots__ = ("message", "key", "upper")

    def __init__(self, message: ReceivedMessage, upper: int) -> None:
        self.message = message
        self.key = (message.method.exchange, message.method.routing_key)
        self.upper = upper


class PublishConfirms:
    """The publishes of one channel awaiting their confirm, in tag (= publish) order."""

    def __init__(self) -> None:
        self._pending: Dict[int, _Publish] = {}  # insertion order is ascending tag order
        self._returns: Deque[_Returned] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, tag: int, mandatory_key: Optional[Tuple[str, str]]) -> "defer.Deferred[Any]":
        """The Deferred of publish ``tag``. ``mandatory_key``: ``(exchange, routing_key)`` of
        a mandatory publish, else None. Cancelling it only detaches the caller: the tag stays
        until the broker settles it, so a later ack or return is matched correctly."""
        pending = self._pending

        def detach(_deferred: "defer.Deferred[Any]") -> None:
            record = pending.get(tag)
            if record is not None:
                record.deferred = None

        deferred: "defer.Deferred[Any]" = defer.Deferred(canceller=detach)
        pending[tag] = _Publish(deferred, mandatory_key)
        return deferred

    def on_return(self, message: ReceivedMessage, last_published: int) -> None:
        """A Basic.Return arrived; it fails its publish when the ack for that publish comes."""
        if self._pending:
            self._returns.append(_Returned(message, last_published))

    def on_ack_nack(self, reply: frame.Method) -> None:
        """The channel's ack/nack callback: apply the broker's Basic.Ack / Basic.Nack frame."""
        method = reply.method
        tag = method.delivery_tag
        pending = self._pending
        if method.multiple:
            covered = []
            for pending_tag in pending:  # ascending
                if tag and pending_tag > tag:
                    break
                covered.append(pending_tag)
        elif tag in pending:
            covered = [tag]
        else:
            return  # settled before, by a multiple ack or nack that overtook this one
        if not covered:
            return
        settled = [(pending_tag, pending.pop(pending_tag)) for pending_tag in covered]
        nacked = type(method) is spec.Basic.Nack
        returned = {} if nacked or not self._returns else self._match_returns(tag, settled)
        for pending_tag, record in settled:
            deferred = record.deferred
            if deferred is None:
                continue
            if nacked:
                # NackError(messages): amqpbase keeps no copy of published bodies; ``messages``
                # holds the delivery tag of the nacked publish.
                fail_with(deferred, exceptions.NackError([pending_tag]))
            elif pending_tag in returned:
                fail_with(deferred, exceptions.UnroutableError([returned[pending_tag]]))
            else:
                fire(deferred, method)

    def _match_returns(
        self, ack_tag: int, settled: List[Tuple[int, _Publish]]
    ) -> Dict[int, ReceivedMessage]:
        """Pair the Basic.Returns received so far with the mandatory publishes an ack settles.

        A Return carries no delivery tag: it goes to a settled mandatory publish with the same
        exchange and routing key, published before the return arrived, not above the ack's tag
        (see the module docstring: normally exactly the ack's tag). Returns come in publish
        order, so the newest takes the highest such tag and older ones lower tags. A return
        that can no longer match a pending publish is dropped (the return callbacks saw it).
        """
        matched: Dict[int, ReceivedMessage] = {}
        candidates = [(tag, record.key) for tag, record in settled if record.key is not None]
        ceiling = ack_tag if ack_tag else settled[-1][0]
        kept: Deque[_Returned] = deque()
        for returned in reversed(self._returns):
            limit = min(ceiling, returned.upper)
            chosen = next(
                (
                    tag
                    for tag, key in reversed(candidates)
                    if tag <= limit and key == returned.key and tag not in matched
                ),
                None,
            )
            if chosen is None:
                kept.appendleft(returned)
            else:
                matched[chosen] = returned.message
                ceiling = chosen - 1
        lowest_pending = next(iter(self._pending), None)
        self._returns = deque(
            r for r in kept if lowest_pending is not None and lowest_pending <= r.upper
        )
        return matched

    def fail_all(self, reason: BaseException) -> None:
        """The channel closed: every publish still waiting fails with ``reason``."""
        pending, self._pending = self._pending, {}
        self._returns.clear()
        if pending:
            LOGGER.debug("%d publish(es) unconfirmed at close: %r", len(pending), reason)
        # An errback may run user code that cancels another of these Deferreds: the records
        # are read as we go, so a cancelled one (deferred None) is skipped.
        for record in list(pending.values()):
            if record.deferred is not None:
                fail_with(record.deferred, reason)
