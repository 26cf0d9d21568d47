"""The blocking-API driver: ``BlockingConnection``, one thread (and connection) per producer
and per consumer; the main thread reports and takes the signals.

Owns the threads and their loops. A producer thread publishes what the core allows and
sleeps for the rate limit; in confirm mode the blocking ``basic_publish`` waits for each
confirm (window 1: the options refuse more) and raises ``NackError``/``UnroutableError``,
which become the outcome handed to ``settle``. A consumer thread dispatches with
``process_data_events`` in short slices so it sees the stop promptly. The run's sequence
checker is shared by the consumer threads, so ``record`` runs under one lock (the only
flavour that needs it). Signals land on the main thread, which only sets the stop request.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING, Any, List, Optional

from ..core import COUNT_EVERY, POLL, ConsumerCore, ProducerCore, Run
from . import parameters

_clock = time.monotonic
#: Seconds the tear-down waits for the producer and consumer threads to close.
JOIN_TIMEOUT = 3.0


class BlockingDriver:
    def __init__(self, run: Run) -> None:
        if TYPE_CHECKING:  # mypy sees the repository's adapters/ (docs/internals.md)
            from adapters.blocking import BlockingConnection
        else:
            from amqpbase.adapters.blocking import BlockingConnection

        self.run = run
        self.Connection = BlockingConnection
        self.stop = threading.Event()  # producers and consumers stop
        self.lock = threading.Lock()
        self.ready = threading.Semaphore(0)
        self.threads: List[threading.Thread] = []
        self.stoppers: List[Any] = []  # one per consumer: stop_consuming on its thread

    def thread(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=self.guard, args=(target,) + args, daemon=True,
                                  name=f"amqpbase-perf {args[0]}")
        self.threads.append(thread)
        thread.start()

    def guard(self, target: Any, role: str, *args: Any) -> None:
        try:
            target(role, *args)
        except Exception as error:  # noqa: BLE001 - reported in the result
            self.run.fail(role, error)
            self.ready.release()

    def consumer(self, role: str, core: ConsumerCore) -> None:
        run = self.run
        options = run.options
        with self.Connection(parameters(run, 1 + core.number, role)) as connection:
            channel = connection.channel()
            if options.qos:
                channel.basic_qos(prefetch_count=options.qos)
            manual = not options.autoack
            every = core.ack_every
            state = {"unacked": 0, "last": 0, "cancelled": False}
            record = core.record
            lock = self.lock

            def on_message(ch: Any, method: Any, _properties: Any, body: bytes) -> None:
                if state["cancelled"] and manual:
                    ch.basic_reject(method.delivery_tag, True)  # back for the others
                    return
                with lock:
                    done = record(body)
                if manual:
                    state["unacked"] += 1
                    if state["unacked"] >= every:
                        ch.basic_ack(method.delivery_tag, every > 1)
                        state["unacked"] = 0
                    else:
                        state["last"] = method.delivery_tag
                if done:
                    finish_acks()
                    state["cancelled"] = True
                    ch.basic_cancel(tag)

            def finish_acks() -> None:
                if state["unacked"]:
                    channel.basic_ack(state["last"], True)
                    state["unacked"] = 0

            tag = channel.basic_consume(run.plan.queue, on_message, auto_ack=options.autoack,
                                        arguments=run.plan.consumer_arguments)
            with self.lock:
                self.stoppers.append(lambda: connection.add_callback_threadsafe(
                    channel.stop_consuming))
                stopped = self.stop.is_set()
            self.ready.release()
            if not stopped:
                # Until every consumer of the channel is cancelled: our count (basic_cancel
                # above) or the main thread's stop_consuming (pika's way to stop a consumer
                # from another thread: add_callback_threadsafe wakes start_consuming).
                channel.start_consuming()
            finish_acks()

    def producer(self, role: str, core: ProducerCore, start: threading.Event) -> None:
        from amqpbase.exceptions import AMQPChannelError

        run = self.run
        options = run.options
        plan = run.plan
        with self.Connection(parameters(run, 1 + len(run.consumers) + core.number,
                                        role)) as connection:
            channel = connection.channel()
            confirm = bool(options.confirm)
            if options.mandatory and not confirm:
                channel.add_on_return_callback(core.on_return)
            if confirm:
                channel.confirm_delivery()
            self.ready.release()
            start.wait()
            publish = channel.basic_publish
            body = core.next_body
            exchange, key, props, mandatory = (plan.exchange, plan.routing_key,
                                               plan.properties, options.mandatory)
            while not self.stop.is_set():
                count, wait = core.allowance(_clock())
                if count:
                    if confirm:
                        for _ in range(count):
                            core.outstanding += 1
                            try:
                                publish(exchange, key, body(), props, mandatory)
                                outcome: Any = None
                            except AMQPChannelError as error:  # Nack/Unroutable: an outcome
                                outcome = error
                            core.settle(outcome)
                    else:
                        for _ in range(count):
                            publish(exchange, key, body(), props, mandatory)
                        if mandatory:
                            connection.process_data_events(0)  # run the return callbacks
                elif wait is not None:
                    time.sleep(wait)
                elif core.finished or core.stopping:
                    break
                else:
                    time.sleep(0.01)
            if mandatory and not confirm:
                connection.process_data_events(0.1)

    def main(self) -> None:
        run = self.run
        options = run.options
        plan = run.plan
        stop_requested = threading.Event()

        def handler(_signum: int, _frame: Any) -> None:
            run.request_stop("signal")  # the main thread's next poll (<= 50 ms) acts on it
            stop_requested.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        admin: Optional[Any] = None
        channel: Any = None
        try:
            admin = self.Connection(parameters(run, 0, "set-up"))
            channel = admin.channel()
            if plan.declare_exchange:
                channel.exchange_declare(plan.exchange, options.exchange_type,
                                         durable=plan.durable)
            ok = channel.queue_declare(plan.queue, passive=not plan.declare_queue,
                                       durable=plan.durable,
                                       arguments=plan.queue_arguments or None)
            run.queue_was_empty = ok.method.message_count == 0
            if plan.exchange and plan.declare_queue:
                channel.queue_bind(plan.queue, plan.exchange, routing_key=plan.routing_key)
            for core in run.consumers:
                self.thread(self.consumer, f"consumer {core.number}", core)
            start = threading.Event()
            for producer in run.producers:
                self.thread(self.producer, f"producer {producer.number}", producer, start)
            for _ in self.threads:
                while not self.ready.acquire(timeout=POLL):
                    if run.stop_requested:
                        break
            run.begin()
            start.set()
        except Exception as error:  # noqa: BLE001 - reported in the result, then tear-down
            run.fail("set-up", error)
        while not run.poll():
            stop_requested.wait(POLL)
        while not run.settled():
            time.sleep(0.01)
        with self.lock:
            self.stop.set()
        for stopper in self.stoppers:
            try:
                stopper()
            except Exception:  # noqa: BLE001,S110 - that connection has closed already
                pass
        run.finish()
        deadline = _clock() + JOIN_TIMEOUT
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - _clock()))
        stuck = [thread.name for thread in self.threads if thread.is_alive()]
        if stuck:
            run.warnings.append(
                f"{', '.join(stuck)} did not close within {JOIN_TIMEOUT:.0f} s (left behind; "
                "BlockingConnection.close() was still waiting for the broker)")
        if admin is not None and admin.is_open and channel is not None and channel.is_open:
            try:
                if options.queue_type != "stream":
                    while True:
                        ok = channel.queue_declare(plan.queue, passive=True)
                        if run.count_left(ok.method.message_count):
                            break
                        time.sleep(COUNT_EVERY)
                if plan.declare_queue and not options.keep:
                    run.cleanup["deleted_queue"] = True
                    channel.queue_delete(plan.queue)
                if plan.declare_exchange and not options.keep:
                    run.cleanup["deleted_exchange"] = True
                    channel.exchange_delete(plan.exchange)
            except Exception as error:  # noqa: BLE001
                run.fail("clean-up", error)
        if admin is not None and admin.is_open:
            admin.close()


def run_blocking(run: Run) -> None:
    """Run ``run`` with BlockingConnection threads until it has stopped and cleaned up."""
    BlockingDriver(run).main()
