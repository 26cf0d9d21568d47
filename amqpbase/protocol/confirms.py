"""Publisher-confirm settlement (RabbitMQ's Confirm extension), loop-neutral.

Owns :class:`ConfirmTracker`, the one settlement engine of every API flavour (callbacks'
``basic_publish(on_confirm=)``, Twisted Deferreds, awaitables):

- which confirm-mode publishes (numbered in the channel object's own numbering, which never
  repeats across incarnations) the broker has settled with Basic.Ack or Basic.Nack, including
  RabbitMQ's ``multiple`` settlements and tag 0, and which are still unsettled (``settle``);
- the per-publish results: a publish registered with a *token* (:meth:`ConfirmTracker.expect`)
  is settled exactly once, as an outcome the owner hands to that token: the Basic.Ack method
  frame, ``NackError``, ``UnroutableError`` (a mandatory publish the broker returned) or the
  close reason (:meth:`~ConfirmTracker.resolve`, :meth:`~ConfirmTracker.abandon`).

RabbitMQ facts relied on (``confirms.html``, AMQP 0-9-1 ``basic.ack``): publishes are numbered
1, 2, ... per channel from Confirm.Select; ``multiple`` settles every tag up to the given one
and ``multiple`` with tag 0 everything outstanding; acks and nacks are coalesced separately, so
``Nack(2, multiple)`` can precede ``Ack(1)``: a tag is settled by whichever comes first, later
ones are ignored, and only an ack makes a publish succeed; an unroutable mandatory message is
returned (Basic.Return) BEFORE the Basic.Ack that confirms it, and that ack's
``delivery_tag`` is the returned publish's own.

Must not: number publishes (the channel owner's publish fast path bumps
``ChannelMachine.next_publish_tag``; publishing without a token costs nothing here), translate
broker tags (the :class:`~.channel_machine.ChannelMachine` applies its ``confirm_offset``
first), send bytes, call user code (tokens are opaque: the owner calls them) or know a loop.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from amqpbase import exceptions, spec

# The channel's logger: a confirm the broker should not have sent is the channel's news.
LOGGER = logging.getLogger("amqpbase.channel")


#: ``(exchange, routing_key)`` of a mandatory publish: what a Basic.Return quotes.
ReturnKey = Tuple[str, str]
#: One settled publish: ``(token, outcome)``; the outcome is the Basic.Ack method frame or
#: the exception the publish failed with.
Settlement = Tuple[Any, Any]

_NACK = spec.Basic.Nack


class _Returned:
    """A Basic.Return waiting for the ack of its publish: the owner's ``payload`` (what
    ``UnroutableError.messages`` holds), its key, and ``upper``, the last tag published when
    it arrived (the returned publish is one of the tags up to it)."""

    __slots__ = ("payload", "key", "upper")

    def __init__(self, payload: Any, key: ReturnKey, upper: int) -> None:
        self.payload = payload
        self.key = key
        self.upper = upper


class ConfirmTracker:
    """Which publish tags (this object's numbering) are settled: every tag ``<= floor``, and
    ``above`` the ones settled out of order beyond it; and the publishes whose owner asked
    for their result (``waiting``: tag -> ``(token, mandatory key or None)``, ascending tag
    order). Publishing without a token costs nothing here."""

    __slots__ = ("floor", "above", "waiting", "returns")

    def __init__(self) -> None:
        self.floor = 0
        self.above: Set[int] = set()
        #: tag -> (token, key): insertion order is ascending tag order (tags only grow).
        self.waiting: Dict[int, Tuple[Any, Optional[ReturnKey]]] = {}
        self.returns: Deque[_Returned] = deque()

    # ----------------------------------------------------------------------------------------
    # Per-publish results
    # ----------------------------------------------------------------------------------------

    def expect(self, tag: int, token: Any, key: Optional[ReturnKey]) -> None:
        """Publish ``tag`` wants its result, handed to ``token`` once. ``key``: the
        ``(exchange, routing_key)`` of a mandatory publish (a Basic.Return may name it), else
        None. A token whose owner lost interest stays until settled: it keeps the pairing of
        later returns with their publishes right (the owner ignores the outcome)."""
        self.waiting[tag] = (token, key)

    def returned(self, payload: Any, key: ReturnKey, last_published: int) -> None:
        """A Basic.Return for ``key`` arrived; the publish it pairs with fails with
        ``UnroutableError([payload])`` when its ack comes. Kept only while a publish waits."""
        if self.waiting:
            self.returns.append(_Returned(payload, key, last_published))

    def resolve(self, inbound: Any) -> List[Settlement]:
        """The waiting publishes a broker Basic.Ack/Nack method frame ``inbound`` (its tag
        already in this object's numbering, see :meth:`ChannelMachine.confirm`) settles, with
        their outcomes, in tag order; each leaves ``waiting`` (settled exactly once). An
        acked publish's outcome is ``inbound`` itself."""
        waiting = self.waiting
        method = inbound.method
        tag = method.delivery_tag
        if method.multiple:
            covered = []
            for waiting_tag in waiting:  # ascending
                if tag and waiting_tag > tag:
                    break
                covered.append(waiting_tag)
            if not covered:
                return []
        elif tag in waiting:
            covered = [tag]
        else:
            return []  # not waiting, or settled before by a multiple ack/nack that overtook it
        settled = [(covered_tag, waiting.pop(covered_tag)) for covered_tag in covered]
        if type(method) is _NACK:
            # NackError(messages): amqpbase keeps no copy of published bodies; ``messages``
            # holds the delivery tag of the nacked publish.
            results: List[Settlement] = [
                (entry[0], exceptions.NackError([settled_tag])) for settled_tag, entry in settled
            ]
            self._drop_stale_returns()
            return results
        if not self.returns:
            return [(entry[0], inbound) for _tag, entry in settled]
        matched = self._match_returns(tag, settled)
        return [
            (entry[0], exceptions.UnroutableError([matched[settled_tag]])
             if settled_tag in matched else inbound)
            for settled_tag, entry in settled
        ]

    def _match_returns(
        self, ack_tag: int, settled: List[Tuple[int, Tuple[Any, Optional[ReturnKey]]]]
    ) -> Dict[int, Any]:
        """Pair the Basic.Returns received so far with the mandatory publishes an ack settles.

        A Return carries no delivery tag: it goes to a settled mandatory publish with the same
        exchange and routing key, published before the return arrived, not above the ack's tag
        (see the module docstring: normally exactly the ack's tag). Returns come in publish
        order, so the newest takes the highest such tag and older ones lower tags. A return
        that can no longer match a waiting publish is dropped (the return callbacks saw it).
        """
        matched: Dict[int, Any] = {}
        candidates = [(tag, entry[1]) for tag, entry in settled if entry[1] is not None]
        ceiling = ack_tag if ack_tag else settled[-1][0]
        kept: Deque[_Returned] = deque()
        for returned in reversed(self.returns):
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
                matched[chosen] = returned.payload
                ceiling = chosen - 1
        self.returns = kept
        self._drop_stale_returns()
        return matched

    def _drop_stale_returns(self) -> None:
        """Forget returns that no waiting publish can pair with any more."""
        if self.returns:
            lowest = next(iter(self.waiting), None)
            self.returns = deque(
                r for r in self.returns if lowest is not None and lowest <= r.upper
            )

    def abandon(self, reason: BaseException) -> List[Settlement]:
        """The channel closed: every waiting publish fails with ``reason`` (internals.md
        rule 8), in tag order; nothing waits afterwards."""
        waiting, self.waiting = self.waiting, {}
        self.returns.clear()
        return [(entry[0], reason) for entry in waiting.values()]

    # ----------------------------------------------------------------------------------------
    # Settled tags (every confirm-mode publish, with or without a token)
    # ----------------------------------------------------------------------------------------

    def settle(self, delivery_tag: int, multiple: bool, last_published: int) -> None:
        """Record a Basic.Ack/Nack for ``delivery_tag`` (``multiple``: all ``<=`` it)."""
        if multiple and delivery_tag == 0:
            # AMQP 0-9-1 basic.ack (1.8.3.13): multiple with tag 0 means "all outstanding".
            delivery_tag = last_published
        if delivery_tag > last_published or delivery_tag < 1:
            LOGGER.warning(
                "Broker settled delivery tag %d but only %d were published; ignored for "
                "bookkeeping",
                delivery_tag,
                last_published,
            )
            return
        if multiple:
            if delivery_tag > self.floor:
                self.floor = delivery_tag
                if self.above:
                    self.above = {t for t in self.above if t > delivery_tag}
        elif delivery_tag == self.floor + 1:
            self.floor = delivery_tag
            above = self.above
            while self.floor + 1 in above:
                self.floor += 1
                above.discard(self.floor)
        elif delivery_tag > self.floor:
            self.above.add(delivery_tag)

    def unsettled(self, last_published: int) -> List[int]:
        """Tags published and not yet settled, ascending."""
        return [t for t in range(self.floor + 1, last_published + 1) if t not in self.above]

    def settle_all(self, last_published: int) -> None:
        """Everything up to ``last_published`` is settled (failed with a close reason)."""
        self.floor = max(self.floor, last_published)
        self.above = {t for t in self.above if t > self.floor}
