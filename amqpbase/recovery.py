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
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import invoke
from amqpbase.parameters import Parameters
from amqpbase.protocol.recovery import (
    DEFINITIVE_ATTEMPT_ERRORS,
    Recovery,
    RecoveryReport,
    backoff_delay,
    cycle_order,
    is_recoverable,
)
from amqpbase.protocol.topology import (
    BindingRecord,
    ConsumerRecord,
    ExchangeRecord,
    QueueRecord,
    Topology,
)

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.channel import Channel
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.recovery")

#: Pause between tries of an exclusive queue still held by the old connection (405).
LOCKED_RETRY_DELAY = 0.5

Step = Tuple[str, Any]


class RecoveryDriver:
    """One connection's recovery (see the module docstring). ``active`` while recovering."""

    def __init__(self, connection: "Connection", recovery: Recovery,
                 endpoints: Tuple[Parameters, ...]) -> None:
        self.connection = connection
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
        self.restore_channel: Optional["Channel"] = None
        self.retry_spent = 0.0
        # the bound on the restore step in progress, and the error of a restore that hit it
        self.step_timer: Any = None
        self.restore_failure: Optional[BaseException] = None
        self.orphans: List["Channel"] = []  # restore channels of links lost mid-restore

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
        conn = self.connection
        restarting = self.active
        self.active = True
        self.run += 1
        self._cancel_timer()
        self._unwatch()
        if self.restore_channel is not None:
            # the link died during a restore: its private channel is not the user's, it must
            # not be re-opened with theirs (link_up drops it)
            self.orphans.append(self.restore_channel)
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
                self.give_up_timer = conn._adapter_call_later(give_up_after, self._deadline(
                    self.run))
        stalled = self.restore_failure
        if stalled is None:
            # the endpoint whose open link was lost goes last in the next cycle; a stalled
            # restore is a failed attempt and leaves it as it was
            self.lost = conn.params
        self.last_error = reason
        LOGGER.warning("Connection to %s:%s lost (%r); recovering", conn.params.host,
                       conn.params.port, reason)
        self.confirms_lost += conn._suspend_channels(reason)
        if not restarting:
            for callback in list(conn._recovery_started_callbacks):
                invoke(callback, conn, reason)
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
        self.timer = self.connection._adapter_call_later(delay, fire)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.connection._adapter_remove_timeout(self.timer)
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
        conn = self.connection
        endpoint = self.order[self.index]
        conn.params = endpoint
        LOGGER.info("Recovery: cycle %d, attempt on %s:%s", self.cycle + 1, endpoint.host,
                    endpoint.port)
        conn._run(conn._machine.recover(endpoint))

    def attempt_failed(self, error: BaseException) -> None:
        """The machine reported ``OpenFailed`` for the current attempt."""
        conn = self.connection
        if self.aborting:
            conn._final_close(exceptions.ConnectionClosedByClient(200, "Normal shutdown"))
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
        conn = self.connection
        for callback in list(conn._recovery_attempt_failed_callbacks):
            invoke(callback, conn, self.attempts, endpoint, error, next_delay)

    def _failed(self, text: str, cause: Optional[BaseException]) -> exceptions.RecoveryFailedError:
        failure = exceptions.RecoveryFailedError(
            f"recovery failed after {self.attempts} attempt(s): {text}", self.attempts,
            self.cycle)
        failure.__cause__ = cause if cause is not None else self.last_error
        return failure

    def give_up(self, failure: BaseException) -> None:
        """Recovery ends for good: the failed callbacks, then the final close (once)."""
        conn = self.connection
        LOGGER.error("Recovery failed: %r", failure)
        self._cancel_timer()
        self._unwatch()
        if self.give_up_timer is not None:
            conn._adapter_remove_timeout(self.give_up_timer)
            self.give_up_timer = None
        self.run += 1
        self.aborting = True
        for callback in list(conn._recovery_failed_callbacks):
            invoke(callback, conn, failure)
        machine = conn._machine
        if machine.state.name == "CLOSED":
            conn._final_close(failure)
        else:
            # an attempt or a restore is under way: end it, then close for good
            conn._pending_final = failure
            if machine.state.name == "OPEN":
                conn._run(machine.close(320, "recovery failed", conn.close_timeout))
            elif machine.state.name != "CLOSING":
                conn._run(machine.close(200, "recovery failed", conn.close_timeout))

    def abort(self) -> bool:
        """The user's ``close()`` while recovering. True when the close is complete now
        (between attempts); else the running attempt or restore is being ended."""
        conn = self.connection
        self.aborting = True
        self.run += 1
        self._cancel_timer()
        self._unwatch()
        if self.give_up_timer is not None:
            conn._adapter_remove_timeout(self.give_up_timer)
            self.give_up_timer = None
        return conn._machine.state.name == "CLOSED"

    # ----------------------------------------------------------------------------------------
    # The restore (the new link is OPEN)
    # ----------------------------------------------------------------------------------------

    def link_up(self) -> None:
        """``Opened`` for a recovery attempt: re-open the channels, then restore."""
        conn = self.connection
        self.run += 1
        run = self.run
        self.retry_spent = 0.0
        table = conn._channels
        for orphan in self.orphans:
            if table.get(orphan.channel_number) is orphan:
                del table[orphan.channel_number]
        self.orphans = []
        channels = [ch for _n, ch in sorted(table.items()) if ch.recovering]
        waiting = {ch.channel_number for ch in channels}
        recovery = self.recovery
        topology = self.topology
        exchanges, queues, bindings, consumers = topology.snapshot()
        steps: List[Step] = []
        for channel in channels:
            modes = topology.modes.get(channel.channel_number)
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

        def opened(channel: "Channel") -> None:
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
            channel._reopen(opened)

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
        conn = self.connection
        if not any(kind not in ("qos", "confirm", "tx", "release") for kind, _ in self.steps):
            self._next(run)  # nothing needs the restore channel
            return
        from amqpbase.channel import Channel

        number = conn._next_channel_number()
        channel = Channel(conn, number, None, link=conn._link)
        conn._channels[number] = channel
        self.restore_channel = channel
        self._watch(run, "opening the restore channel")

        def closed(_channel: "Channel", reason: BaseException) -> None:
            if run == self.run and self.restore_channel is channel:
                self.restore_channel = None
                self._entity_failed(run, reason)

        channel.add_on_close_callback(closed)
        channel._reopen(lambda _ch: self._next(run) if run == self.run else None)

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
            channel._restore_rpc(spec.Basic.Qos(size, count, global_qos), go_on)
        elif kind == "confirm":
            item._restore_confirm(go_on)
        elif kind == "tx":
            item._restore_rpc(spec.Tx.Select(), go_on)
        elif kind == "release":
            # everything the user's channels depend on is back: they may be used again while
            # the consumers resume (a resumed consumer acks at once)
            self.connection._release_link()
            self.steps.pop(0)
            self._next(run)
        elif kind == "exchanges":
            record: Any = item
            assert restore is not None
            restore._restore_rpc(spec.Exchange.Declare(
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
            restore._restore_rpc(spec.Queue.Declare(
                0, name, False, queue.durable, queue.exclusive, queue.auto_delete, False,
                queue.arguments), declared)
        elif kind == "bindings":
            assert restore is not None
            binding: BindingRecord = item
            if binding.destination_kind == "queue":
                restore._restore_rpc(spec.Queue.Bind(
                    0, binding.destination, binding.source, binding.routing_key, False,
                    binding.arguments), go_on)
            else:
                restore._restore_rpc(spec.Exchange.Bind(
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
        conn = self.connection
        # every later step names the queue by its new name (bindings, consumers)
        self.topology.rename_queue(old, new)
        self.steps = [self._renamed_step(step, old, new) for step in self.steps]
        first = next((k for k, v in self.renamed.items() if v == old), old)
        self.renamed[first] = new
        LOGGER.info("Recovery: server-named queue %r is now %r", old, new)
        for callback in list(conn._queue_renamed_callbacks):
            invoke(callback, conn, old, new)

    @staticmethod
    def _renamed_step(step: Step, old: str, new: str) -> Step:
        kind, item = step
        if kind == "bindings" and item.destination_kind == "queue" and item.destination == old:
            return (kind, item._replace(destination=new))
        if kind == "consumers" and item.queue == old:
            return (kind, item._replace(queue=new))
        return step

    def _resume_consumer(self, run: int, record: ConsumerRecord, go_on: Callable[[Any], None]
                         ) -> None:
        conn = self.connection
        channel = conn._channels.get(record.channel_number)
        if channel is None or not channel.is_open:
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
            if record.consumer_tag in channel.machine.consumers:
                go_on(None)  # already consuming (exactly once)
                return
            channel._restore_consumer(method, record.on_message_callback, resumed)

        restore = self.restore_channel
        if restore is not None and restore.is_open:
            # the queue must exist: a Basic.Consume on a missing queue would cost the
            # user's channel (404); a passive declare costs only the restore channel
            restore._restore_rpc(spec.Queue.Declare(0, record.queue, True), consume)
        else:
            consume()

    def _watch(self, run: int, what: str) -> None:
        """(Re)arm the bound on the restore step just sent (``restore_timeout``)."""
        bound = self.recovery.restore_timeout
        if bound is None:
            return
        conn = self.connection
        if self.step_timer is not None:
            conn._adapter_remove_timeout(self.step_timer)

        def expired() -> None:
            self.step_timer = None
            if run == self.run and self.active:
                self._stalled(what, bound)
        self.step_timer = conn._adapter_call_later(bound, expired)

    def _unwatch(self) -> None:
        if self.step_timer is not None:
            self.connection._adapter_remove_timeout(self.step_timer)
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
        conn._adapter_disconnect_stream()

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
            error = exceptions.ConsumerRecoveryFailedError(
                item.consumer_tag, f"consumer {item.consumer_tag!r} on queue {item.queue!r} "
                f"could not be resumed: {reason!r}")
            self.topology.forget_consumer(item.channel_number, item.consumer_tag)
            channel = self.connection._channels.get(item.channel_number)
            if channel is not None:
                channel._consumer_lost(item.consumer_tag, error)
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

    def _finish(self, run: int) -> None:
        conn = self.connection
        restore = self.restore_channel
        self.restore_channel = None
        self._unwatch()
        if restore is not None and restore.is_open:
            restore.close()
        self.active = False
        self.run += 1
        if self.give_up_timer is not None:
            conn._adapter_remove_timeout(self.give_up_timer)
            self.give_up_timer = None
        conn._release_link()
        conn._recovering = False
        report = RecoveryReport(
            endpoint=conn.params, cycles=self.cycle + 1,
            duration=time.monotonic() - self.started, renamed_queues=dict(self.renamed),
            skipped=list(self.skipped), confirms_lost=self.confirms_lost,
            consumers_resumed=self.consumers_resumed)
        LOGGER.info("Recovered on %s:%s: %r", conn.params.host, conn.params.port, report)
        for callback in list(conn._recovery_succeeded_callbacks):
            invoke(callback, conn, report)


__all__ = ["Recovery", "RecoveryDriver", "RecoveryReport", "ExchangeRecord"]
