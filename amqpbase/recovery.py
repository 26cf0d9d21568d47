"""Automatic connection and topology recovery (issue 12): the driver a ``Connection`` runs
when its link is lost, on every loop (only the adapter's timers and stream hooks are used).

Owns :class:`RecoveryDriver`: the cycles (full-jitter delay, endpoints in the cycle's order,
each attempt one new stream of the same ``Connection`` through the machine's incarnation seam,
``ConnectionMachine.recover``), giving up (``max_cycles``, ``give_up_after``, a refused login,
``should_recover``) with ``RecoveryFailedError``, and the restore once a link is up, strictly
in order: channels (same numbers; QoS, confirm and tx modes) -> exchanges -> queues (a
server-named one re-declared and renamed everywhere first) -> bindings -> consumers (original
tags, once each). Entities are restored on a private restore channel, so an entity the broker
refuses (404, 406; 405 RESOURCE_LOCKED is retried within ``entity_retry_timeout``) costs that
channel, never a user's. A restore step that gets no answer within ``restore_timeout`` fails
the attempt (a live node can hold a metadata write until a frozen peer is declared down): the
link is dropped and the next endpoint tried, as for a failed open.

Must not: parse or send frames itself (it uses the channels' and the machine's inputs), buffer
user calls (they raise ``ConnectionRecoveringError``/``ChannelRecoveringError``), republish
anything, or touch the data plane.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from amqpbase import exceptions, frame, spec
from amqpbase.parameters import Parameters
from amqpbase.protocol.recovery import (
    DEFINITIVE_ATTEMPT_ERRORS,
    RecoverableChannel,
    Recovery,
    RecoveryHost,
    RecoveryReport,
    backoff_delay,
    cycle_order,
    is_recoverable,
    resubscribe_attempts,
)
from amqpbase.protocol.topology import (
    BindingRecord,
    ConsumerRecord,
    ExchangeRecord,
    QueueRecord,
    Topology,
)

LOGGER = logging.getLogger("amqpbase.recovery")

#: Pause between tries of an exclusive queue still held by the old connection (405).
LOCKED_RETRY_DELAY = 0.5

Step = Tuple[str, Any]


class ConsumerLostFrame(frame.Method):
    """What a channel's cancel callbacks get for a consumer that recovery could not resume
    or re-subscribe: a Basic.Cancel ``frame.Method`` for its tag, as for a broker cancel (so
    pika-style callbacks reading ``frame.method.consumer_tag`` work unchanged), whose
    ``error`` is the :class:`~amqpbase.exceptions.ConsumerRecoveryFailedError`."""

    __slots__ = ("error",)

    def __init__(self, channel_number: int, consumer_tag: str,
                 error: exceptions.ConsumerRecoveryFailedError) -> None:
        super().__init__(channel_number, spec.Basic.Cancel(consumer_tag, True))
        self.error = error


class _Resubscription:
    """One consumer the broker cancelled, while ``resubscribe_on_cancel`` brings it back."""

    __slots__ = ("record", "channel", "attempts", "started", "timer", "probe")

    def __init__(self, record: ConsumerRecord, channel: RecoverableChannel) -> None:
        self.record = record
        self.channel = channel  # the channel it was on (a later one may reuse the number)
        self.attempts = 0
        self.started = time.monotonic()
        self.timer: Any = None
        self.probe: Optional[RecoverableChannel] = None


class RecoveryDriver:
    """One connection's recovery (see the module docstring). ``active`` while recovering."""

    def __init__(self, host: RecoveryHost, recovery: Recovery,
                 endpoints: Tuple[Parameters, ...]) -> None:
        #: The connection's side of the seam (``protocol/recovery.py``): the only way in.
        self.host = host
        self.connection = host.connection
        self.recovery = recovery
        self.endpoints = endpoints
        self.topology = Topology()
        self.active = False
        self.aborting = False
        self.run = 0  # +1 per recovery and per restore: late callbacks of an old one are ignored
        self.cycle = 0
        self.attempts = 0
        self.order: List[Parameters] = []
        self.index = 0
        self.lost: Optional[Parameters] = None
        self.started = 0.0
        self.last_error: Optional[BaseException] = None
        self.timer: Any = None
        self.give_up_timer: Any = None
        self.confirms_lost = 0
        self.renamed: Dict[str, str] = {}
        self.skipped: List[Tuple[Any, BaseException]] = []
        self.consumers_resumed = 0
        # the restore in progress
        self.steps: List[Step] = []
        self.restore_channel: Optional[RecoverableChannel] = None
        self.retry_spent = 0.0
        # consumers the broker cancelled, being re-subscribed (resubscribe_on_cancel)
        self.resubscriptions: Dict[Tuple[int, str], _Resubscription] = {}
        if recovery.resubscribe_on_cancel:
            self.topology.resubscribe = self._on_broker_cancel
            self.topology.resubscribe_dropped = self._on_resubscribe_dropped
        # the bound on the restore step in progress, and the error of a restore that hit it
        self.step_timer: Any = None
        self.restore_failure: Optional[BaseException] = None

    # ----------------------------------------------------------------------------------------
    # Triggers
    # ----------------------------------------------------------------------------------------

    def wants(self, reason: BaseException) -> bool:
        """Should losing an open link with ``reason`` start (or restart) a recovery?"""
        if self.aborting:
            return False
        if self.restore_failure is not None:
            return True  # we dropped a restore that stalled: go on to the next endpoint
        try:
            return is_recoverable(reason, self.recovery.should_recover)
        except Exception:  # noqa: BLE001 - user code: a failing predicate means no recovery
            LOGGER.exception("should_recover raised; not recovering")
            return False

    def begin(self, reason: BaseException) -> None:
        """The open link is lost with ``reason``: suspend the channels, then cycle 0."""
        host = self.host
        conn = self.connection
        restarting = self.active
        self.active = True
        self.run += 1
        self._cancel_timer()
        self._unwatch()
        self.restore_channel = None
        self.steps = []
        if not restarting:
            self.cycle = 0
            self.attempts = 0
            self.started = time.monotonic()
            self.confirms_lost = 0
            self.renamed = {}
            self.skipped = []
            self.consumers_resumed = 0
            give_up_after = self.recovery.give_up_after
            if give_up_after is not None:
                self.give_up_timer = host.call_later(give_up_after, self._deadline(self.run))
        stalled = self.restore_failure
        if stalled is None:
            # the endpoint whose open link was lost goes last in the next cycle; a stalled
            # restore is a failed attempt and leaves it as it was
            self.lost = conn.params
        self.last_error = reason
        LOGGER.warning("Connection to %s:%s lost (%r); recovering", conn.params.host,
                       conn.params.port, reason)
        self.confirms_lost += host.suspend_channels(reason)
        if not restarting:
            host.notify_started(reason)
        if stalled is not None:
            # the link was dropped by _stalled: report it as this attempt's failure, go on
            self.restore_failure = None
            self.attempt_failed(stalled)
            return
        self._schedule_cycle()

    def begin_after_failed_open(self, reason: BaseException) -> None:
        """``initial_connect``: the first open failed; recover as from a lost link."""
        self.begin(reason)

    def _deadline(self, run_at_start: int) -> Callable[[], None]:
        def expired() -> None:
            self.give_up_timer = None
            if self.active:
                self.give_up(exceptions.RecoveryFailedError(
                    f"no recovery within give_up_after={self.recovery.give_up_after}s "
                    f"({self.attempts} attempt(s) failed)", self.attempts, self.cycle))
        return expired

    # ----------------------------------------------------------------------------------------
    # Cycles and attempts
    # ----------------------------------------------------------------------------------------

    def _schedule_cycle(self) -> None:
        delay = backoff_delay(self.recovery, self.cycle, self.connection.recovery_random.uniform)
        self._later(delay, self._begin_cycle)

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        run = self.run

        def fire() -> None:
            self.timer = None
            if self.active and self.run == run:
                callback()
        self.timer = self.host.call_later(delay, fire)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.host.remove_timeout(self.timer)
            self.timer = None

    def _begin_cycle(self) -> None:
        try:
            self.order = cycle_order(self.recovery, self.endpoints, self.lost,
                                     self.connection.recovery_random.shuffle)
        except Exception as error:  # noqa: BLE001 - the user's endpoint_order callable
            self.give_up(self._failed(f"endpoint_order failed: {error!r}", error))
            return
        self.index = 0
        self._attempt()

    def _attempt(self) -> None:
        endpoint = self.order[self.index]
        LOGGER.info("Recovery: cycle %d, attempt on %s:%s", self.cycle + 1, endpoint.host,
                    endpoint.port)
        self.host.start_attempt(endpoint)

    def attempt_failed(self, error: BaseException) -> None:
        """The machine reported ``OpenFailed`` for the current attempt."""
        conn = self.connection
        if self.aborting:
            self.host.close_for_good(exceptions.ConnectionClosedByClient(200, "Normal shutdown"))
            return
        self.attempts += 1
        self.last_error = error
        endpoint = self.order[self.index] if self.order else conn.params
        if isinstance(error, DEFINITIVE_ATTEMPT_ERRORS):
            self._report_attempt(endpoint, error, 0.0)
            self.give_up(self._failed(f"the broker refused the login on recovery: {error!r}",
                                      error))
            return
        self.index += 1
        if self.index < len(self.order):
            self._report_attempt(endpoint, error, 0.0)
            self._later(0.0, self._attempt)
            return
        self.cycle += 1
        max_cycles = self.recovery.max_cycles
        if max_cycles is not None and self.cycle >= max_cycles:
            self._report_attempt(endpoint, error, None)
            self.give_up(self._failed(f"no endpoint reachable in {self.cycle} cycle(s)", error))
            return
        delay = backoff_delay(self.recovery, self.cycle, conn.recovery_random.uniform)
        self._report_attempt(endpoint, error, delay)
        self._later(delay, self._begin_cycle)

    def _report_attempt(self, endpoint: Parameters, error: BaseException,
                        next_delay: Optional[float]) -> None:
        self.host.notify_attempt_failed(self.attempts, endpoint, error, next_delay)

    def _failed(self, text: str, cause: Optional[BaseException]) -> exceptions.RecoveryFailedError:
        failure = exceptions.RecoveryFailedError(
            f"recovery failed after {self.attempts} attempt(s): {text}", self.attempts,
            self.cycle)
        failure.__cause__ = cause if cause is not None else self.last_error
        return failure

    def give_up(self, failure: BaseException) -> None:
        """Recovery ends for good: the failed callbacks, then the final close (once)."""
        LOGGER.error("Recovery failed: %r", failure)
        self._stop_timers()
        self.run += 1
        self.aborting = True
        self.host.notify_failed(failure)
        self.host.close_after_link(failure)

    def abort(self) -> None:
        """The user's ``close()`` while recovering: no further attempt or restore step; the
        connection ends the running one (if any) and closes for good."""
        self.aborting = True
        self.run += 1
        self._stop_timers()

    def connection_closed(self) -> None:
        """The connection is closed for good: nothing is pending any more (re-subscriptions
        included)."""
        self._stop_timers()

    def _stop_timers(self) -> None:
        self._cancel_timer()
        self._unwatch()
        if self.give_up_timer is not None:
            self.host.remove_timeout(self.give_up_timer)
            self.give_up_timer = None
        self._cancel_resubscriptions()

    # ----------------------------------------------------------------------------------------
    # The restore (the new link is OPEN)
    # ----------------------------------------------------------------------------------------

    def link_up(self) -> None:
        """``Opened`` for a recovery attempt: re-open the channels, then restore."""
        self.run += 1
        run = self.run
        self.retry_spent = 0.0
        channels = self.host.suspended_channels()
        waiting = {handlers.channel.channel_number for handlers in channels}
        recovery = self.recovery
        topology = self.topology
        exchanges, queues, bindings, consumers = topology.snapshot()
        steps: List[Step] = []
        for channel in channels:
            modes = topology.modes.get(channel.channel.channel_number)
            if modes is not None:
                for qos in modes.qos.values():
                    steps.append(("qos", (channel, qos)))
                if modes.confirm:
                    steps.append(("confirm", channel))
                if modes.tx:
                    steps.append(("tx", channel))
        for kind, records in (("exchanges", exchanges), ("queues", queues),
                              ("bindings", bindings)):
            if recovery.restores(kind):
                steps.extend((kind, record) for record in records if self._chosen(record))
        steps.append(("release", None))
        if recovery.restores("consumers"):
            steps.extend(("consumers", record) for record in consumers)
        self.steps = steps

        def opened(channel: Any) -> None:
            if run != self.run:
                return
            waiting.discard(channel.channel_number)
            if not waiting:
                self._open_restore_channel(run)

        if not channels:
            self._open_restore_channel(run)
            return
        self._watch(run, "re-opening the channels")
        for channel in channels:
            channel.reopen(opened)

    def _chosen(self, record: Any) -> bool:
        chooser = self.recovery.topology_filter
        if chooser is None:
            return True
        try:
            return bool(chooser(record))
        except Exception:  # noqa: BLE001 - user code: keep the entity
            LOGGER.exception("topology_filter raised for %r; restoring it", record)
            return True

    def _open_restore_channel(self, run: int) -> None:
        if not any(kind not in ("qos", "confirm", "tx", "release") for kind, _ in self.steps):
            self._next(run)  # nothing needs the restore channel
            return
        handlers = self.host.new_private_channel()
        self.restore_channel = handlers

        self._watch(run, "opening the restore channel")

        def closed(_channel: Any, reason: BaseException) -> None:
            if run == self.run and self.restore_channel is handlers:
                self.restore_channel = None
                self._entity_failed(run, reason)

        handlers.channel.add_on_close_callback(closed)
        handlers.reopen(lambda _ch: self._next(run) if run == self.run else None)

    def _next(self, run: int) -> None:
        """Run the next restore step; each step's reply calls this again."""
        if run != self.run:
            return
        if not self.steps:
            self._finish(run)
            return
        kind, item = self.steps[0]
        go_on = self._advance(run)
        restore = self.restore_channel
        if kind != "release":
            self._watch(run, f"{kind}: {item!r}")
        if kind == "qos":
            channel, (size, count, global_qos) = item
            channel.restore_rpc(spec.Basic.Qos(size, count, global_qos), go_on)
        elif kind == "confirm":
            item.restore_confirm(go_on)
        elif kind == "tx":
            item.restore_rpc(spec.Tx.Select(), go_on)
        elif kind == "release":
            # everything the user's channels depend on is back: they may be used again while
            # the consumers resume (a resumed consumer acks at once)
            self.host.release_channels()
            self.steps.pop(0)
            self._next(run)
        elif kind == "exchanges":
            record: Any = item
            assert restore is not None
            restore.restore_rpc(spec.Exchange.Declare(
                0, record.name, record.exchange_type, False, record.durable,
                record.auto_delete, record.internal, False, record.arguments), go_on)
        elif kind == "queues":
            assert restore is not None
            queue: QueueRecord = item
            name = "" if queue.server_named else queue.name

            def declared(reply: frame.Method) -> None:
                new = reply.method.queue
                if queue.server_named and new != queue.name:
                    self._rename(queue.name, new)
                go_on(reply)
            restore.restore_rpc(spec.Queue.Declare(
                0, name, False, queue.durable, queue.exclusive, queue.auto_delete, False,
                queue.arguments), declared)
        elif kind == "bindings":
            assert restore is not None
            binding: BindingRecord = item
            if binding.destination_kind == "queue":
                restore.restore_rpc(spec.Queue.Bind(
                    0, binding.destination, binding.source, binding.routing_key, False,
                    binding.arguments), go_on)
            else:
                restore.restore_rpc(spec.Exchange.Bind(
                    0, binding.destination, binding.source, binding.routing_key, False,
                    binding.arguments), go_on)
        elif kind == "consumers":
            self._resume_consumer(run, item, go_on)

    def _advance(self, run: int) -> Callable[[Any], None]:
        def go_on(_reply: Any = None) -> None:
            if run != self.run:
                return
            self.steps.pop(0)
            self.retry_spent = 0.0
            self._next(run)
        return go_on

    def _rename(self, old: str, new: str) -> None:
        # every later step names the queue by its new name (bindings, consumers)
        self.topology.rename_queue(old, new)
        self.steps = [self._renamed_step(step, old, new) for step in self.steps]
        first = next((k for k, v in self.renamed.items() if v == old), old)
        self.renamed[first] = new
        LOGGER.info("Recovery: server-named queue %r is now %r", old, new)
        self.host.notify_queue_renamed(old, new)

    @staticmethod
    def _renamed_step(step: Step, old: str, new: str) -> Step:
        kind, item = step
        if kind == "bindings" and item.destination_kind == "queue" and item.destination == old:
            return (kind, item.to_queue(new))
        if kind == "consumers" and item.queue == old:
            return (kind, item.on_queue(new))
        return step

    def _resume_consumer(self, run: int, record: ConsumerRecord, go_on: Callable[[Any], None]
                         ) -> None:
        channel = self.host.channel_handlers(record.channel_number)
        if channel is None or not channel.channel.is_open:
            go_on(None)
            return
        method = spec.Basic.Consume(0, record.queue, record.consumer_tag, False,
                                    record.auto_ack, record.exclusive, False, record.arguments)

        def resumed(reply: frame.Method) -> None:
            self.consumers_resumed += 1
            go_on(reply)

        def consume(_reply: Any = None) -> None:
            if run != self.run:
                return
            if channel.consuming(record.consumer_tag):
                go_on(None)  # already consuming (exactly once)
                return
            channel.restore_consumer(method, record.on_message_callback, resumed)

        restore = self.restore_channel
        if restore is not None and restore.channel.is_open:
            # the queue must exist: a Basic.Consume on a missing queue would cost the
            # user's channel (404); a passive declare costs only the restore channel
            restore.restore_rpc(spec.Queue.Declare(0, record.queue, True), consume)
        else:
            consume()

    def _watch(self, run: int, what: str) -> None:
        """(Re)arm the bound on the restore step just sent (``restore_timeout``)."""
        bound = self.recovery.restore_timeout
        if bound is None:
            return
        if self.step_timer is not None:
            self.host.remove_timeout(self.step_timer)

        def expired() -> None:
            self.step_timer = None
            if run == self.run and self.active:
                self._stalled(what, bound)
        self.step_timer = self.host.call_later(bound, expired)

    def _unwatch(self) -> None:
        if self.step_timer is not None:
            self.host.remove_timeout(self.step_timer)
            self.step_timer = None

    def _stalled(self, what: str, bound: float) -> None:
        """No answer to a restore step within ``restore_timeout``. RabbitMQ (3.x, Mnesia)
        runs a declare of a new queue or exchange and a binding as a transaction over every
        cluster member: while a frozen member is not yet declared down (Erlang
        ``net_ticktime``, 60 s by default) the live node answers nothing. Drop this link (the
        broker cleans up a closed socket; a Connection.Close could wait behind the stalled
        channel) and go on as for a failed open: ``begin`` reports it through the
        attempt-failed callbacks and tries the next endpoint."""
        conn = self.connection
        self.run += 1  # a late answer on this link changes nothing
        self.restore_failure = exceptions.TopologyRecoveryError(
            f"no answer from {conn.params.host}:{conn.params.port} within "
            f"restore_timeout={bound}s while {what}", what)
        LOGGER.warning("Recovery: %s; dropping the link", self.restore_failure)
        self.host.drop_link()

    def _entity_failed(self, run: int, reason: BaseException) -> None:
        """The restore channel was closed by the broker over the current step."""
        if not self.steps:
            return
        kind, item = self.steps[0]
        code = getattr(reason, "reply_code", 0)
        retry_timeout = self.recovery.entity_retry_timeout or 0.0
        if (kind == "queues" and item.exclusive and not item.server_named
                and code == spec.RESOURCE_LOCKED and self.retry_spent < retry_timeout):
            # RabbitMQ has not reaped the old connection's exclusive queue yet: retry
            self.retry_spent += LOCKED_RETRY_DELAY
            self._later(LOCKED_RETRY_DELAY, lambda: self._open_restore_channel(run))
            return
        error: BaseException
        if kind == "consumers":
            error = self._consumer_failed(item, "could not be resumed", reason)
        else:
            error = exceptions.TopologyRecoveryError(
                f"could not restore {item!r}: {reason!r}", item)
        error.__cause__ = reason
        self.skipped.append((item, error))
        LOGGER.error("Recovery: %s", error)
        if self.recovery.on_entity_failure == "fail":
            self.give_up(self._failed(f"an entity could not be restored: {error}", error))
            return
        self.steps.pop(0)
        self.retry_spent = 0.0
        self._open_restore_channel(run)

    def _consumer_failed(self, record: ConsumerRecord, what: str,
                         reason: BaseException) -> exceptions.ConsumerRecoveryFailedError:
        """``record`` cannot be brought back: forget it; its channel's cancel callbacks get a
        Basic.Cancel frame carrying the error (``.error``)."""
        error = exceptions.ConsumerRecoveryFailedError(
            record.consumer_tag, f"consumer {record.consumer_tag!r} on queue {record.queue!r} "
            f"{what}: {reason!r}")
        error.__cause__ = reason
        self.topology.forget_consumer(record.channel_number, record.consumer_tag)
        channel = self.host.channel_handlers(record.channel_number)
        if channel is not None:
            channel.consumer_lost(ConsumerLostFrame(record.channel_number, record.consumer_tag,
                                                    error))
        return error

    # ----------------------------------------------------------------------------------------
    # resubscribe_on_cancel: a consumer the broker cancelled comes back with its own tag
    # ----------------------------------------------------------------------------------------

    def _on_broker_cancel(self, record: ConsumerRecord) -> None:
        """The topology's listener: the broker cancelled ``record`` (RabbitMQ's
        consumer_cancel_notify: its queue was deleted, or the node of its quorum queue's
        leader went down); re-subscribe it after the first cycle's backoff."""
        key = (record.channel_number, record.consumer_tag)
        channel = self.host.channel_handlers(record.channel_number)
        if channel is None:
            self.topology.resubscribing.pop(key, None)
            return
        LOGGER.warning("Consumer %r on queue %r cancelled by the broker; re-subscribing",
                       record.consumer_tag, record.queue)
        previous = self.resubscriptions.pop(key, None)
        if previous is not None and previous.timer is not None:
            self.host.remove_timeout(previous.timer)
        entry = _Resubscription(record, channel)
        self.resubscriptions[key] = entry
        self._schedule_resubscribe(key, entry)

    def _on_resubscribe_dropped(self, key: Tuple[int, str]) -> None:
        """This connection deleted the queue of a consumer awaiting re-subscription: it stays
        cancelled, and its cancel callbacks get the broker's Basic.Cancel (as without
        ``resubscribe_on_cancel``)."""
        entry = self.resubscriptions.pop(key, None)
        if entry is None:
            return
        if entry.timer is not None:
            self.host.remove_timeout(entry.timer)
            entry.timer = None
        entry.probe = None
        if self.host.channel_handlers(key[0]) is entry.channel:
            entry.channel.consumer_lost(frame.Method(key[0], spec.Basic.Cancel(key[1], True)))

    def _schedule_resubscribe(self, key: Tuple[int, str], entry: _Resubscription) -> None:
        delay = backoff_delay(self.recovery, entry.attempts,
                              self.connection.recovery_random.uniform)

        def fire() -> None:
            entry.timer = None
            if self.resubscriptions.get(key) is entry:
                self._resubscribe(key, entry)
        entry.timer = self.host.call_later(delay, fire)

    def _resubscription_wanted(self, key: Tuple[int, str], entry: _Resubscription) -> bool:
        """False (and the entry dropped) when the consumer is no longer to be re-subscribed:
        the user cancelled it, its channel closed, or a consumer with its tag runs again."""
        channel = entry.channel
        if (self.resubscriptions.get(key) is entry and key in self.topology.resubscribing
                and self.host.channel_handlers(key[0]) is channel
                and (channel.channel.is_open or channel.channel.recovering)
                and not channel.consuming(key[1])):
            return True
        if self.resubscriptions.get(key) is entry:
            del self.resubscriptions[key]
        self.topology.resubscribing.pop(key, None)
        return False

    def _resubscribe(self, key: Tuple[int, str], entry: _Resubscription) -> None:
        if not self._resubscription_wanted(key, entry):
            return
        if self.active or entry.channel.channel.recovering:
            # the connection is recovering: try again once it is back (not an attempt)
            self._schedule_resubscribe(key, entry)
            return
        record = entry.record
        # A Basic.Consume on a missing queue would cost the user's channel (404): a passive
        # declare on a private probe channel first costs only that channel.
        probe = self.host.new_private_channel()
        entry.probe = probe

        def probe_closed(_channel: Any, reason: BaseException) -> None:
            if entry.probe is probe:
                entry.probe = None
                self._resubscribe_failed(key, entry, reason)

        def declared(_reply: Any) -> None:
            if entry.probe is not probe:
                return
            entry.probe = None
            probe.channel.close()
            if not self._resubscription_wanted(key, entry) or self.active:
                if self.resubscriptions.get(key) is entry:
                    self._schedule_resubscribe(key, entry)
                return
            method = spec.Basic.Consume(0, record.queue, record.consumer_tag, False,
                                        record.auto_ack, record.exclusive, False,
                                        record.arguments)
            entry.channel.restore_consumer(method, record.on_message_callback, consumed)

        def consumed(_reply: Any) -> None:
            if self.resubscriptions.get(key) is entry:
                del self.resubscriptions[key]
            self.topology.resubscribing.pop(key, None)
            self.topology.record_consumer(record)
            LOGGER.info("Consumer %r re-subscribed to queue %r", record.consumer_tag,
                        record.queue)

        probe.channel.add_on_close_callback(probe_closed)
        probe.reopen(lambda _ch: probe.restore_rpc(
            spec.Queue.Declare(0, record.queue, True), declared))

    def _resubscribe_failed(self, key: Tuple[int, str], entry: _Resubscription,
                            reason: BaseException) -> None:
        if not self._resubscription_wanted(key, entry):
            return
        if self.active:
            self._schedule_resubscribe(key, entry)  # the link dropped: not an attempt
            return
        entry.attempts += 1
        give_up_after = self.recovery.give_up_after
        if (entry.attempts < resubscribe_attempts(self.recovery) and (
                give_up_after is None or time.monotonic() - entry.started < give_up_after)):
            LOGGER.info("Re-subscribing consumer %r: attempt %d failed (%r)",
                        entry.record.consumer_tag, entry.attempts, reason)
            self._schedule_resubscribe(key, entry)
            return
        del self.resubscriptions[key]
        self._consumer_failed(entry.record, f"could not be re-subscribed in {entry.attempts} "
                              "attempt(s)", reason)

    def _cancel_resubscriptions(self) -> None:
        for entry in self.resubscriptions.values():
            if entry.timer is not None:
                self.host.remove_timeout(entry.timer)
                entry.timer = None
            entry.probe = None
        self.resubscriptions.clear()

    def _finish(self, run: int) -> None:
        conn = self.connection
        restore = self.restore_channel
        self.restore_channel = None
        self._unwatch()
        if restore is not None and restore.channel.is_open:
            restore.channel.close()
        self.active = False
        self.run += 1
        if self.give_up_timer is not None:
            self.host.remove_timeout(self.give_up_timer)
            self.give_up_timer = None
        report = RecoveryReport(
            endpoint=conn.params, cycles=self.cycle + 1,
            duration=time.monotonic() - self.started, renamed_queues=dict(self.renamed),
            skipped=list(self.skipped), confirms_lost=self.confirms_lost,
            consumers_resumed=self.consumers_resumed)
        LOGGER.info("Recovered on %s:%s: %r", conn.params.host, conn.params.port, report)
        self.host.notify_recovered(report)


__all__ = ["ConsumerLostFrame", "Recovery", "RecoveryDriver", "RecoveryReport",
           "ExchangeRecord"]
