"""What automatic recovery restores: the topology a connection declared, recorded on each
request's Ok (issue 12), loop-neutral.

Owns :class:`Topology`: exchanges, queues (server-named ones flagged), bindings (queue and
exchange-to-exchange), consumers (with their callbacks: strong references), and each
channel's QoS and confirm/tx modes, in declaration order; what is forgotten on delete,
unbind, cancel, a channel's final close and for auto-delete entities (a queue whose last
consumer went, an exchange whose last binding as source went: RabbitMQ deletes them then);
and the renaming of a server-named queue in the bindings and consumers that name it.

Must not: send anything, call user code (callbacks are opaque values it keeps and hands
back; the one call it makes is to the recovery driver's ``resubscribe`` listener), know a loop
or a clock. The restore itself is ``amqpbase.recovery``'s.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from amqpbase import spec


class ExchangeRecord(NamedTuple):
    """A declared exchange (``kind`` is ``"exchange"`` for filters)."""

    name: str
    exchange_type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: Optional[Dict[str, Any]]
    kind: str = "exchange"


class QueueRecord(NamedTuple):
    """A declared queue; ``server_named``: declared as ``''`` (re-declared so, renamed)."""

    name: str
    server_named: bool
    durable: bool
    exclusive: bool
    auto_delete: bool
    arguments: Optional[Dict[str, Any]]
    kind: str = "queue"

    def renamed(self, name: str) -> "QueueRecord":
        """This queue under the broker's new ``name``."""
        return self._replace(name=name)


class BindingRecord(NamedTuple):
    """A binding: ``destination_kind`` ``"queue"`` (Queue.Bind) or ``"exchange"``
    (Exchange.Bind, RabbitMQ's exchange-to-exchange)."""

    destination_kind: str
    destination: str
    source: str
    routing_key: str
    arguments: Optional[Dict[str, Any]]
    kind: str = "binding"

    def to_queue(self, queue: str) -> "BindingRecord":
        """This binding with ``queue`` as its destination (a renamed server-named queue)."""
        return self._replace(destination=queue)


class ConsumerRecord(NamedTuple):
    """A consumer on channel ``channel_number``, resumed with its original ``consumer_tag``."""

    channel_number: int
    consumer_tag: str
    queue: str
    on_message_callback: Any
    auto_ack: bool
    exclusive: bool
    arguments: Optional[Dict[str, Any]]
    kind: str = "consumer"

    def on_queue(self, queue: str) -> "ConsumerRecord":
        """This consumer on ``queue`` (a renamed server-named queue)."""
        return self._replace(queue=queue)


class ChannelModes:
    """One channel's QoS (per ``global_qos`` flag: the last of each) and modes."""

    __slots__ = ("qos", "confirm", "tx")

    def __init__(self) -> None:
        self.qos: Dict[bool, Tuple[int, int, bool]] = {}
        self.confirm = False
        self.tx = False


def _binding_key(record: BindingRecord) -> Tuple[str, str, str, str, str]:
    return (record.destination_kind, record.destination, record.source, record.routing_key,
            repr(sorted((record.arguments or {}).items())))


class Topology:
    """The recorded topology of one connection (see the module docstring). Dicts keep
    declaration order, which is restore order within each kind."""

    def __init__(self) -> None:
        self.exchanges: Dict[str, ExchangeRecord] = {}
        self.queues: Dict[str, QueueRecord] = {}
        self.bindings: Dict[Tuple[str, str, str, str, str], BindingRecord] = {}
        self.consumers: Dict[Tuple[int, str], ConsumerRecord] = {}
        self.modes: Dict[int, ChannelModes] = {}
        #: ``resubscribe(record)``: set by the recovery driver when ``resubscribe_on_cancel``;
        #: takes over a consumer the broker cancelled (:meth:`cancelled_by_broker`).
        self.resubscribe: Optional[Callable[[ConsumerRecord], None]] = None
        #: (channel number, consumer tag) -> queue of the consumers handed to ``resubscribe``
        #: and not re-subscribed yet; our own cancel or the channel's close takes one out
        #: silently, our own delete of its queue through ``resubscribe_dropped(key)``.
        self.resubscribing: Dict[Tuple[int, str], str] = {}
        self.resubscribe_dropped: Optional[Callable[[Tuple[int, str]], None]] = None

    # ----------------------------------------------------------------------------------------
    # Recording (a request's Ok, or a nowait request when sent)
    # ----------------------------------------------------------------------------------------

    def record(self, channel_number: int, method: Any, reply: Any) -> None:
        """``method`` (a request) succeeded; ``reply`` is its Ok method (None for nowait)."""
        kind = type(method)
        if kind is spec.Exchange.Declare:
            if not method.passive and method.exchange and not method.exchange.startswith("amq."):
                self.exchanges[method.exchange] = ExchangeRecord(
                    method.exchange, method.type, bool(method.durable),
                    bool(method.auto_delete), bool(method.internal), method.arguments)
        elif kind is spec.Exchange.Delete:
            self.forget_exchange(method.exchange)
        elif kind is spec.Queue.Declare:
            if method.passive:
                return
            name = method.queue
            server_named = not name
            if server_named:
                if reply is None:
                    return  # nowait: the broker's name is unknown, nothing to restore
                name = reply.queue
            self.queues[name] = QueueRecord(
                name, server_named, bool(method.durable), bool(method.exclusive),
                bool(method.auto_delete), method.arguments)
        elif kind is spec.Queue.Delete:
            self.forget_queue(method.queue)
        elif kind is spec.Queue.Bind:
            self._bind(BindingRecord("queue", method.queue, method.exchange,
                                     method.routing_key, method.arguments))
        elif kind is spec.Queue.Unbind:
            self._unbind(BindingRecord("queue", method.queue, method.exchange,
                                       method.routing_key, method.arguments))
        elif kind is spec.Exchange.Bind:
            self._bind(BindingRecord("exchange", method.destination, method.source,
                                     method.routing_key, method.arguments))
        elif kind is spec.Exchange.Unbind:
            self._unbind(BindingRecord("exchange", method.destination, method.source,
                                       method.routing_key, method.arguments))
        elif kind is spec.Basic.Qos:
            modes = self.modes.setdefault(channel_number, ChannelModes())
            modes.qos[bool(method.global_qos)] = (
                method.prefetch_size, method.prefetch_count, bool(method.global_qos))
        elif kind is spec.Confirm.Select:
            self.modes.setdefault(channel_number, ChannelModes()).confirm = True
        elif kind is spec.Tx.Select:
            self.modes.setdefault(channel_number, ChannelModes()).tx = True

    def record_consumer(self, record: ConsumerRecord) -> None:
        self.consumers[(record.channel_number, record.consumer_tag)] = record

    def forget_consumer(self, channel_number: int, consumer_tag: str) -> None:
        """Our Basic.Cancel or the broker's: the consumer is gone; RabbitMQ deletes an
        auto-delete queue whose last consumer went, so the queue is forgotten then too."""
        self.resubscribing.pop((channel_number, consumer_tag), None)
        record = self.consumers.pop((channel_number, consumer_tag), None)
        if record is None:
            return
        queue = self.queues.get(record.queue)
        if queue is not None and queue.auto_delete and not any(
            other.queue == record.queue for other in self.consumers.values()
        ):
            self.forget_queue(record.queue)

    def cancelled_by_broker(self, channel_number: int, consumer_tag: str) -> bool:
        """The broker's Basic.Cancel (RabbitMQ ``consumer_cancel_notify``: its queue was
        deleted, or its node went down): the consumer is forgotten. True when a
        :attr:`resubscribe` listener (``resubscribe_on_cancel``) took the record over to
        re-subscribe it; then the queue is kept, since it may come back."""
        listener = self.resubscribe
        if listener is None:
            self.forget_consumer(channel_number, consumer_tag)
            return False
        record = self.consumers.pop((channel_number, consumer_tag), None)
        if record is None:
            return False
        self.resubscribing[(channel_number, consumer_tag)] = record.queue
        listener(record)
        return True

    def forget_channel(self, channel_number: int) -> None:
        """The channel closed for good: its consumers, QoS and modes go (RabbitMQ cancels
        the consumers; an auto-delete queue whose last consumer that was goes too)."""
        for key in [key for key in self.consumers if key[0] == channel_number]:
            self.forget_consumer(*key)
        for pending in [k for k in self.resubscribing if k[0] == channel_number]:
            del self.resubscribing[pending]
        self.modes.pop(channel_number, None)

    def forget_exchange(self, name: str) -> None:
        self.exchanges.pop(name, None)
        for key, binding in list(self.bindings.items()):
            if binding.source == name or (
                binding.destination_kind == "exchange" and binding.destination == name
            ):
                del self.bindings[key]

    def forget_queue(self, name: str) -> None:
        # a consumer awaiting re-subscription to a queue we deleted ourselves stays cancelled
        # (our Queue.DeleteOk and the broker's Basic.Cancel may come in either order)
        for pending in [k for k, queue in self.resubscribing.items() if queue == name]:
            del self.resubscribing[pending]
            if self.resubscribe_dropped is not None:
                self.resubscribe_dropped(pending)
        self.queues.pop(name, None)
        for key, binding in list(self.bindings.items()):
            if binding.destination_kind == "queue" and binding.destination == name:
                self._drop_binding(key)
        for tag_key in [k for k, consumer in self.consumers.items() if consumer.queue == name]:
            del self.consumers[tag_key]

    def _bind(self, record: BindingRecord) -> None:
        self.bindings[_binding_key(record)] = record

    def _unbind(self, record: BindingRecord) -> None:
        self._drop_binding(_binding_key(record))

    def _drop_binding(self, key: Tuple[str, str, str, str, str]) -> None:
        binding = self.bindings.pop(key, None)
        if binding is None:
            return
        # RabbitMQ deletes an auto-delete exchange when its last binding (as source) goes.
        source = self.exchanges.get(binding.source)
        if source is not None and source.auto_delete and not any(
            other.source == binding.source for other in self.bindings.values()
        ):
            self.forget_exchange(binding.source)

    # ----------------------------------------------------------------------------------------
    # Restoring
    # ----------------------------------------------------------------------------------------

    def rename_queue(self, old: str, new: str) -> None:
        """A server-named queue came back as ``new``: rename it everywhere, before any
        binding or consumer naming it is restored."""
        record = self.queues.pop(old, None)
        if record is not None:
            self.queues[new] = record.renamed(new)
        for key, binding in list(self.bindings.items()):
            if binding.destination_kind == "queue" and binding.destination == old:
                del self.bindings[key]
                renamed = binding.to_queue(new)
                self.bindings[_binding_key(renamed)] = renamed
        for tag_key, consumer in list(self.consumers.items()):
            if consumer.queue == old:
                self.consumers[tag_key] = consumer.on_queue(new)
        for pending, queue in list(self.resubscribing.items()):
            if queue == old:
                self.resubscribing[pending] = new

    def snapshot(self) -> Tuple[List[ExchangeRecord], List[QueueRecord], List[BindingRecord],
                                List[ConsumerRecord]]:
        """Copies of the four entity lists, in restore order (exchanges, queues, bindings,
        consumers), each in declaration order."""
        return (list(self.exchanges.values()), list(self.queues.values()),
                list(self.bindings.values()), list(self.consumers.values()))
