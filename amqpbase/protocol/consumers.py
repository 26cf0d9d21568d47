"""Consumer queues of the Deferred and awaitable flavours, loop-neutral: which queue object
belongs to which consumer tag and how each way a consumer ends closes it.

A flavour (``TwistedChannel``, ``FutureChannel``) hands every delivery of a consumer to a
queue object of its loop; the consumer ends by our Basic.Cancel, the broker's Basic.Cancel
(RabbitMQ ``consumer_cancel_notify``: the queue was deleted, its node went down) or a close
of the channel or connection. :class:`ConsumerQueues` decides, once for every flavour, what
each end means for the queue: the reason it is closed with and whether the messages already
in it are dropped.

Must not: call anything (it returns what to close and how; the flavour closes its own queue
objects), know a loop, or send bytes.
"""

from __future__ import annotations

from typing import Dict, Generic, List, Optional, Set, Tuple, TypeVar

from amqpbase import exceptions

_Q = TypeVar("_Q")


class ConsumerQueues(Generic[_Q]):
    """Consumer tag -> its queue object, from ``basic_consume`` until the consumer ends."""

    __slots__ = ("queues", "auto_ack")

    def __init__(self) -> None:
        self.queues: Dict[str, _Q] = {}
        self.auto_ack: Set[str] = set()

    def add(self, tag: str, queue: _Q, auto_ack: bool) -> None:
        self.queues[tag] = queue
        if auto_ack:
            self.auto_ack.add(tag)

    def end(self, tag: str) -> Optional[_Q]:
        """The consumer ``tag`` ended while the channel stays open (our cancel, the broker's,
        or its ``basic_consume`` abandoned): its queue, to close KEEPING what it holds (those
        messages were delivered and can still be acknowledged); None when unknown."""
        self.auto_ack.discard(tag)
        return self.queues.pop(tag, None)

    def end_all(self) -> List[Tuple[_Q, bool]]:
        """The channel closed: every queue with ``discard_pending``. The broker requeues the
        unacknowledged deliveries of a closed channel, so a manual-ack consumer's buffered
        messages are dropped (acking them is impossible now); auto-acked ones exist nowhere
        else, so they stay gettable."""
        queues, self.queues = self.queues, {}
        auto_ack, self.auto_ack = self.auto_ack, set()
        return [(queue, tag not in auto_ack) for tag, queue in queues.items()]

    def is_auto_ack(self, tag: str) -> bool:
        return tag in self.auto_ack


def cancelled_by_us(tag: str) -> exceptions.ConsumerCancelled:
    """The close reason of a consumer queue after our Basic.Cancel."""
    return exceptions.ConsumerCancelled(f"consumer {tag!r} cancelled")


def cancelled_by_broker(tag: str) -> exceptions.ConsumerCancelled:
    """The close reason of a consumer queue after the broker's Basic.Cancel."""
    return exceptions.ConsumerCancelled(f"broker cancelled consumer {tag!r}")
