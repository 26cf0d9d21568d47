"""Publisher-confirm settlement (RabbitMQ's Confirm extension), loop-neutral.

Owns :class:`ConfirmTracker`: which confirm-mode publishes (numbered in the channel object's
own numbering, which never repeats across incarnations) the broker has settled with Basic.Ack
or Basic.Nack, including RabbitMQ's ``multiple`` settlements and tag 0, and which are still
unsettled. This is the home of the confirm-settlement engine that per-publish confirm
results will grow into.

Must not: number publishes (the channel owner's publish fast path bumps
``ChannelMachine.next_publish_tag``; publishing costs nothing here), translate broker tags
(the :class:`~.channel_machine.ChannelMachine` applies its ``confirm_offset`` first), send
bytes, call user code or know a loop.
"""

from __future__ import annotations

import logging
from typing import List, Set

# The channel's logger: a confirm the broker should not have sent is the channel's news.
LOGGER = logging.getLogger("amqpbase.channel")


class ConfirmTracker:
    """Which publish tags (this object's numbering) are settled: every tag ``<= floor``, and
    ``above`` the ones settled out of order beyond it. Publishing costs nothing here."""

    __slots__ = ("floor", "above")

    def __init__(self) -> None:
        self.floor = 0
        self.above: Set[int] = set()

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
