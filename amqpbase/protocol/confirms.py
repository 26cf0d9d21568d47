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
from itertools import repeat
from typing import Any, Deque, Dict, Iterable, List, Optional, Sequence, Set, Tuple

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
    for their result (:attr:`tokens`, by tag). Publishing without a token costs nothing
    here."""

    __slots__ = ("floor", "above", "tokens", "first", "holes", "keys", "returns")

    def __init__(self) -> None:
        self.floor = 0
        self.above: Set[int] = set()
        #: The tokens of the publishes waiting for their result, dense by tag: ``tokens[i]``
        #: is tag ``first + i``'s, None for a tag without one (published without a token, or
        #: settled alone out of order); never None at index 0. Truthy exactly while a publish
        #: waits (the data plane's test). A list, not a dict: a ``multiple`` settlement (one
        #: per hundreds of publishes at a wide window) takes its tokens with one slice.
        self.tokens: List[Any] = []
        self.first = 0
        #: How many None entries ``tokens`` holds (0: a settled slice needs no filtering).
        self.holes = 0
        #: tag -> ``(exchange, routing_key)`` of a waiting mandatory publish (ascending).
        self.keys: Dict[int, ReturnKey] = {}
        self.returns: Deque[_Returned] = deque()

    @property
    def waiting(self) -> Dict[int, Any]:
        """tag -> token of every publish waiting for its result, ascending; built on demand
        (tests, diagnostics: the data plane reads :attr:`tokens`)."""
        first = self.first
        return {first + i: token for i, token in enumerate(self.tokens) if token is not None}

    # ----------------------------------------------------------------------------------------
    # Per-publish results
    # ----------------------------------------------------------------------------------------

    def expect(self, tag: int, token: Any, key: Optional[ReturnKey]) -> None:
        """Publish ``tag`` (above every tag expected before) wants its result, handed to
        ``token`` once. ``key``: the ``(exchange, routing_key)`` of a mandatory publish (a
        Basic.Return may name it), else None. A token whose owner lost interest stays until
        settled: it keeps the pairing of later returns with their publishes right (the owner
        ignores the outcome)."""
        tokens = self.tokens
        if tokens:
            gap = tag - self.first - len(tokens)
            if gap:  # publishes without a token in between
                tokens.extend([None] * gap)
                self.holes += gap
        else:
            self.first = tag
        tokens.append(token)
        if key is not None:
            self.keys[tag] = key

    def returned(self, payload: Any, key: ReturnKey, last_published: int) -> None:
        """A Basic.Return for ``key`` arrived; the publish it pairs with fails with
        ``UnroutableError([payload])`` when its ack comes. Kept only while a publish waits."""
        if self.tokens:
            self.returns.append(_Returned(payload, key, last_published))

    def resolve(self, inbound: Any) -> Iterable[Settlement]:
        """The waiting publishes a broker Basic.Ack/Nack method frame ``inbound`` (its tag
        already in this object's numbering, see :meth:`ChannelMachine.confirm`) settles, with
        their outcomes, in tag order; each leaves :attr:`tokens` (settled exactly once). An
        acked publish's outcome is ``inbound`` itself. Iterate the result once, at once."""
        tokens = self.tokens
        if not tokens:
            return ()
        method = inbound.method
        tag = method.delivery_tag
        first = self.first
        if method.multiple:
            count = len(tokens) if not tag else tag - first + 1
            if count <= 0:
                return ()
            if count >= len(tokens):
                settled, self.tokens = tokens, []
                count = len(settled)
            else:
                settled = tokens[:count]
                del tokens[:count]
                self.first = first + count
            if self.holes:
                live = [token for token in settled if token is not None]
                self.holes -= len(settled) - len(live)
                if self.tokens and self.tokens[0] is None:
                    self._trim()
                tags: Sequence[int] = [
                    first + i for i, token in enumerate(settled) if token is not None
                ]
                settled = live
            else:
                tags = range(first, first + count)
        else:
            index = tag - first
            if index < 0 or index >= len(tokens) or tokens[index] is None:
                return ()  # not waiting, or settled before by a multiple that overtook it
            settled = [tokens[index]]
            tags = (tag,)
            if index:
                tokens[index] = None
                self.holes += 1
            else:
                del tokens[0]
                self.first = first + 1
                if tokens and tokens[0] is None:
                    self._trim()
        keys = self.keys
        settled_keys: List[Tuple[int, ReturnKey]] = []
        if keys:  # mandatory publishes wait: those settled now leave ``keys`` (ascending)
            if method.multiple:
                last = tags[-1]
                settled_keys = [(t, keys.pop(t)) for t in [t for t in keys if t <= last]]
            elif tag in keys:
                settled_keys = [(tag, keys.pop(tag))]
        if type(method) is _NACK:
            # NackError(messages): amqpbase keeps no copy of published bodies; ``messages``
            # holds the delivery tag of the nacked publish.
            self._drop_stale_returns()
            return zip(settled, [exceptions.NackError([t]) for t in tags])
        if not self.returns:
            return zip(settled, repeat(inbound))
        if not settled_keys:  # no settled publish can take a return
            self._drop_stale_returns()
            return zip(settled, repeat(inbound))
        matched = self._match_returns(tag, tags[-1], settled_keys)
        return zip(settled, [
            exceptions.UnroutableError([matched[t]]) if t in matched else inbound for t in tags
        ])

    def _trim(self) -> None:
        """Drop the leading None entries of ``tokens`` (its first entry waits again)."""
        tokens = self.tokens
        count = 0
        for token in tokens:
            if token is not None:
                break
            count += 1
        del tokens[:count]
        self.first += count
        self.holes -= count

    def _match_returns(
        self, ack_tag: int, last_settled: int, settled: List[Tuple[int, ReturnKey]]
    ) -> Dict[int, Any]:
        """Pair the Basic.Returns received so far with the mandatory publishes an ack settles
        (``settled``: their ``(tag, key)``, ascending).

        A Return carries no delivery tag: it goes to a settled mandatory publish with the same
        exchange and routing key, published before the return arrived, not above the ack's tag
        (see the module docstring: normally exactly the ack's tag). Returns come in publish
        order, so the newest takes the highest such tag and older ones lower tags. A return
        that can no longer match a waiting publish is dropped (the return callbacks saw it).
        """
        matched: Dict[int, Any] = {}
        ceiling = ack_tag if ack_tag else last_settled
        kept: Deque[_Returned] = deque()
        for returned in reversed(self.returns):
            limit = min(ceiling, returned.upper)
            chosen = next(
                (
                    tag
                    for tag, key in reversed(settled)
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
            lowest = self.first if self.tokens else None
            self.returns = deque(
                r for r in self.returns if lowest is not None and lowest <= r.upper
            )

    def abandon(self, reason: BaseException) -> List[Settlement]:
        """The channel closed: every waiting publish fails with ``reason`` (internals.md
        rule 8), in tag order; nothing waits afterwards. A list (empty: nothing waited)."""
        tokens, self.tokens = self.tokens, []
        self.holes = 0
        self.keys.clear()
        self.returns.clear()
        return [(token, reason) for token in tokens if token is not None]

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
