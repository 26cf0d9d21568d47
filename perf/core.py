"""The measurement core every flavour shares: one copy of the producer and consumer logic.

Owns the counters, the token bucket (publish rate per producer), the confirm window, the body
format (run id, producer number, sequence number, send time), the consumer-side checks
(latency samples, duplicates, out-of-order, gaps), the run's stop rules, the live line, the
summary, the JSON report and the correctness check. It does no I/O and knows no loop: a
driver (``perf/drivers``) moves the messages and calls in here. Latency uses
``time.time_ns()`` (wall clock) because producer and consumer may be different processes or
machines: a monotonic clock is not comparable across processes; keep the hosts' clocks in
sync (NTP) when they differ.
"""

from __future__ import annotations

import math
import struct
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Set, TextIO, Tuple

from amqpbase import BasicProperties, exceptions
from amqpbase.streams import stream_consume_arguments

from .options import HEADER_SIZE, Options

#: A body starts with: run id (u32), producer number (u32), sequence (u64, from 1), send
#: time (u64, time.time_ns()). Network byte order.
_HEADER = struct.Struct(">IIQQ")
_unpack_header = _HEADER.unpack_from
_now_ns = time.time_ns

#: Publishes per producer between two returns to the loop: the loop must read confirms and
#: deliveries between bursts.
BATCH = 100
#: Seconds a stopping run waits for outstanding confirms before counting them unconfirmed.
CONFIRM_GRACE = 5.0
#: Seconds after the producers finished that a count-bound run waits for its consumers.
DRAIN_GRACE = 5.0
#: How often drivers call :meth:`Run.poll` (seconds): the stop rules' resolution.
POLL = 0.05
#: Bytes waiting in a connection's write buffer above which an unlimited producer pauses.
WRITE_BACKLOG = 4 * 1024 * 1024
#: The end-of-run queue count: read every COUNT_EVERY s until two readings agree.
COUNT_EVERY = 0.1
COUNT_READINGS = 20
SCHEMA = "amqpbase-perf/1"


class TokenBucket:
    """Publish-rate limit: ``rate`` tokens a second, at most ``burst`` saved up. Refilled from
    the clock at each :meth:`take`, so a late timer only makes the next burst bigger (up to
    ``burst``), and the long-run rate stays ``rate``."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        # 50 ms of messages: the loop's timers are late by a few ms under load.
        self.burst = max(1.0, rate * 0.05)
        self.tokens = 1.0
        self.last = now

    def take(self, now: float, wanted: int) -> int:
        """Take up to ``wanted`` whole tokens; returns how many were taken."""
        tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        taken = min(wanted, int(tokens))
        self.tokens = tokens - taken
        return taken

    def delay(self) -> float:
        """Seconds until the next whole token (at least 2 ms: no busy timer)."""
        return max(0.002, (1.0 - self.tokens) / self.rate)


class Plan:
    """What the run declares and uses, derived once from the options."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.run_id = uuid.uuid4().int & 0xFFFFFFFF
        self.queue = options.queue or f"amqpbase-perf-{uuid.uuid4().hex[:12]}"
        self.exchange = options.exchange
        # Without -k: the queue name (the default exchange routes by it; with -e the queue
        # is bound with it).
        self.routing_key = options.routing_key or self.queue
        stream_or_quorum = options.queue_type != "classic"
        self.durable = options.persistent or stream_or_quorum
        self.queue_arguments: Dict[str, Any] = dict(options.queue_args)
        self.consumer_arguments: Optional[Dict[str, Any]] = (
            stream_consume_arguments(options.stream_offset)
            if options.stream_offset is not None else None)
        self.properties: Optional[BasicProperties] = (
            BasicProperties(delivery_mode=2) if options.persistent else None)
        # The default exchange routes by queue name and cannot be declared; amq.* exchanges
        # exist already (declaring them with other settings is refused, 403).
        self.declare_exchange = bool(self.exchange) and not self.exchange.startswith("amq.") \
            and not options.predeclared
        self.declare_queue = not options.predeclared

    def uri(self, index: int) -> str:
        """The URI of connection ``index``: connections go round-robin over ``--uris``."""
        uris = self.options.uris
        return uris[index % len(uris)]


class ProducerCore:
    """One producer's state: what it may send next, and what became of what it sent."""

    def __init__(self, number: int, plan: Plan, now: float) -> None:
        options = plan.options
        self.number = number
        self.run_id = plan.run_id
        # The whole body in one pack: the header, then zero bytes up to --size.
        self.pack_body = struct.Struct(f">IIQQ{options.size - HEADER_SIZE}x").pack
        self.limit = options.pmessages
        self.window = options.confirm
        self.bucket = TokenBucket(options.rate, now) if options.rate > 0 else None
        self.seq = 0  # the number of messages published (the last sequence number)
        self.confirmed = 0
        self.nacked = 0
        self.returned = 0
        self.failed = 0  # settled with a close reason (the channel or connection ended)
        self.outstanding = 0
        self.stopping = False
        self.waiting = False  # blocked on the confirm window; resume() when it opens
        self.resume: Callable[[], Any] = _nothing
        self.error: Optional[BaseException] = None

    @property
    def finished(self) -> bool:
        """Its message count is sent and settled (never, without a count)."""
        return bool(self.limit) and self.seq >= self.limit and self.outstanding == 0

    def allowance(self, now: float) -> Tuple[int, Optional[float]]:
        """How many messages may go now and, when none, how long to wait: seconds for the
        rate limit, ``None`` for "until :meth:`settle` calls ``resume``" (confirm window) or
        for ever (stopped, or the count is sent)."""
        if self.stopping:
            return 0, None
        wanted = BATCH
        if self.limit:
            wanted = min(wanted, self.limit - self.seq)
            if wanted <= 0:
                return 0, None
        if self.window:
            free = self.window - self.outstanding
            if free <= 0:
                self.waiting = True
                return 0, None
            wanted = min(wanted, free)
        bucket = self.bucket
        if bucket is not None:
            wanted = bucket.take(now, wanted)
            if not wanted:
                return 0, bucket.delay()
        return wanted, 0.0

    def next_body(self) -> bytes:
        """The next message's body (the sequence number and the send time in it)."""
        self.seq = seq = self.seq + 1
        return self.pack_body(self.run_id, self.number, seq, _now_ns())

    def settle(self, outcome: Any) -> None:
        """A publish's outcome: the broker's ack (a frame or a ``Basic.Ack``), or
        ``NackError``, ``UnroutableError`` or the close reason."""
        self.outstanding -= 1
        if not isinstance(outcome, BaseException):
            self.confirmed += 1
        elif isinstance(outcome, exceptions.UnroutableError):
            self.returned += 1
        elif isinstance(outcome, exceptions.NackError):
            self.nacked += 1
        else:
            self.failed += 1
        if self.waiting:
            self.waiting = False
            self.resume()

    def on_return(self, *_args: Any) -> None:
        """A Basic.Return outside confirm mode (a mandatory message no queue took)."""
        self.returned += 1


def _nothing() -> None:
    return None


class SequenceChecker:
    """Per-producer sequence bookkeeping across all consumers of the run: the first
    delivery of each (producer, sequence) is unique; a repeat is a duplicate; one that
    arrives after a later one of its producer is out of order (with several consumers or a
    prefetch that is normal: reported, never a problem); the holes left at the end are gaps."""

    def __init__(self) -> None:
        self.highest: Dict[int, int] = {}
        self.missing: Set[Tuple[int, int]] = set()
        self.unique = 0  # counted here; ConsumerCore.record counts the in-order ones itself
        self.duplicates = 0
        self.out_of_order = 0

    def see(self, producer: int, seq: int) -> None:
        highest = self.highest.get(producer, 0)
        if seq == highest + 1:
            self.highest[producer] = seq
            self.unique += 1
        elif seq > highest:
            self.missing.update((producer, n) for n in range(highest + 1, seq))
            self.highest[producer] = seq
            self.unique += 1
        elif (producer, seq) in self.missing:
            self.missing.discard((producer, seq))
            self.unique += 1
            self.out_of_order += 1
        else:
            self.duplicates += 1


class ConsumerCore:
    """One consumer's counters and latency samples; the sequence checks are the run's."""

    def __init__(self, number: int, plan: Plan, checker: SequenceChecker) -> None:
        options = plan.options
        self.number = number
        self.run_id = plan.run_id
        self.limit = options.cmessages
        self.ack_every = options.multi_ack_every or 1
        self.checker = checker
        self.highest = checker.highest  # shared by every consumer of the run
        self.in_order = 0  # distinct messages that were their producer's next (the rest: checker)
        self.received = 0
        self.foreign = 0
        self.latencies: List[int] = []  # ns, since the reporter last took them
        self.error: Optional[BaseException] = None

    @property
    def finished(self) -> bool:
        return bool(self.limit) and self.received >= self.limit

    def record(self, body: Any) -> bool:
        """Count one delivery; True when this consumer has now reached its message count."""
        self.received = received = self.received + 1
        if len(body) >= HEADER_SIZE:
            run_id, producer, seq, sent_ns = _unpack_header(body)
            if run_id == self.run_id:
                self.latencies.append(_now_ns() - sent_ns)
                # The checker's common case inline (the next message of its producer): one
                # call less per message; the rest goes to SequenceChecker.see.
                highest = self.highest
                if highest.get(producer, 0) == seq - 1:
                    highest[producer] = seq
                    self.in_order += 1
                else:
                    self.checker.see(producer, seq)
                return received == self.limit
        self.foreign += 1
        return received == self.limit


class Histogram:
    """Latency distribution of the whole run: values kept to 5 significant bits (3 %)."""

    def __init__(self) -> None:
        self.counts: Dict[int, int] = {}
        self.total = 0
        self.min: Optional[int] = None
        self.max: Optional[int] = None

    def add(self, values: List[int]) -> None:
        counts = self.counts
        for value in values:
            if value < 0:
                value = 0  # clocks of two hosts disagree: count it as 0
            bits = value.bit_length()
            key = value if bits <= 5 else (value >> (bits - 5)) << (bits - 5)
            counts[key] = counts.get(key, 0) + 1
        if values:
            low, high = min(values), max(values)
            self.min = low if self.min is None else min(self.min, low)
            self.max = high if self.max is None else max(self.max, high)
            self.total += len(values)

    def percentile(self, fraction: float) -> Optional[int]:
        if not self.total:
            return None
        rank = max(1, math.ceil(fraction * self.total))
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                return key
        return self.max


def _ms(ns: Optional[int]) -> Optional[float]:
    return None if ns is None else round(max(ns, 0) / 1e6, 3)


def latency_summary(values: List[int]) -> Dict[str, Optional[float]]:
    """min/median/p95/p99/max in ms of one interval's samples (exact)."""
    if not values:
        return {"min": None, "median": None, "p95": None, "p99": None, "max": None}
    values = sorted(values)
    n = len(values)

    def at(fraction: float) -> int:
        return values[max(0, math.ceil(fraction * n) - 1)]

    return {"min": _ms(values[0]), "median": _ms(at(0.5)), "p95": _ms(at(0.95)),
            "p99": _ms(at(0.99)), "max": _ms(values[-1])}


COUNTERS = ("published", "confirmed", "nacked", "returned", "received")


class Run:
    """A run's producers, consumers, clock, stop rules and report. Drivers create the cores
    through it, call :meth:`poll` every :data:`POLL` seconds on their loop (it prints the
    live line and answers "stop now?"), and :meth:`request_stop` from a signal."""

    def __init__(self, options: Options, out: TextIO = sys.stdout,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.plan = Plan(options)
        self.clock = clock
        self.out = sys.stderr if options.json else out
        self.checker = SequenceChecker()
        now = clock()
        self.producers = [ProducerCore(n, self.plan, now) for n in range(options.producers)]
        self.consumers = [ConsumerCore(n, self.plan, self.checker)
                          for n in range(options.consumers)]
        self.started = now  # reset by :meth:`begin` once everything is connected
        self.ended: Optional[float] = None
        self.finished = False
        self.began = False  # set by begin(): every connection opened
        self.last_report = now
        self.last_totals = {name: 0 for name in COUNTERS}
        self.intervals: List[Dict[str, Any]] = []
        self.histogram = Histogram()
        self.stop_reason: Optional[str] = None
        self.stop_requested: Optional[str] = None
        self.stopping_since: Optional[float] = None
        self.producers_done_at: Optional[float] = None
        self.errors: List[str] = []
        self.warnings: List[str] = []  # trouble that did not fail the run
        self.queue_was_empty: Optional[bool] = None
        self.left_in_queue: Optional[int] = None
        self._readings: List[int] = []
        self.cleanup: Dict[str, Any] = {"deleted_queue": False, "deleted_exchange": False}

    # -- the run's phases --------------------------------------------------------------------

    def connection_uri(self, index: int) -> str:
        """Connection 0 is the set-up connection; consumers follow, then producers."""
        return self.plan.uri(index)

    def begin(self) -> None:
        """Everything is connected and consuming: the clock of the run starts now."""
        self.started = self.last_report = self.clock()
        self.began = True
        for producer in self.producers:
            if producer.bucket is not None:
                producer.bucket.last = self.started

    def request_stop(self, reason: str = "signal") -> None:
        """Ask the run to stop (safe from a signal handler on the loop's thread: it only
        sets a field the next :meth:`poll` reads)."""
        if self.stop_requested is None:
            self.stop_requested = reason

    def fail(self, what: str, error: BaseException) -> None:
        """A connection or channel failed: remember why, and stop."""
        self.errors.append(f"{what}: {type(error).__name__}: {error}")
        self.request_stop("error")

    def poll(self) -> bool:
        """Print a live line when an interval has passed; True when the run should stop now
        (then the producers are told to stop; call :meth:`settled` until it is True)."""
        now = self.clock()
        if self.began and now - self.last_report >= self.options.interval:
            self.report_interval(now)
        if self.stop_reason is None:
            reason = self._stop_reason(now)
            if reason is None:
                return False
            self.stop_reason = reason
            self.stopping_since = self.ended = now
            for producer in self.producers:
                producer.stopping = True
        return True

    def _stop_reason(self, now: float) -> Optional[str]:
        options = self.options
        if self.stop_requested is not None:
            return self.stop_requested
        if options.time and now - self.started >= options.time:
            return "time"
        producers = self.producers
        if producers and not options.pmessages:
            return None  # unbounded producers: only the time or a signal stops them
        if producers and not all(p.finished for p in producers):
            return None
        if producers and self.producers_done_at is None:
            self.producers_done_at = now
        consumers = self.consumers
        if not consumers:
            return "count"
        if options.cmessages:
            return "count" if all(c.finished for c in consumers) else None
        if not producers:
            return None  # consumers without a count: until the time or a signal
        expected = sum(p.confirmed if options.confirm else p.seq - p.returned
                       for p in producers)
        if self.unique() >= expected:
            return "count"
        assert self.producers_done_at is not None
        if now - self.producers_done_at >= DRAIN_GRACE:
            return "count (consumers drained for %.0f s)" % DRAIN_GRACE
        return None

    def unique(self) -> int:
        """Distinct messages of this run received, by every consumer."""
        return self.checker.unique + sum(c.in_order for c in self.consumers)

    def settled(self) -> bool:
        """True when the stopping producers have no confirm outstanding, or the grace period
        is over (what is still outstanding then counts as unconfirmed)."""
        if all(p.outstanding == 0 for p in self.producers):
            return True
        return self.stopping_since is not None and \
            self.clock() - self.stopping_since >= CONFIRM_GRACE

    def finish(self) -> None:
        """Producers and consumers are closed: the last live line. The run's duration ends
        when the stop was decided (what arrives while closing is counted, not timed)."""
        if self.finished:
            return
        self.finished = True
        now = self.clock()
        if self.ended is None:
            self.ended = now
        if self.began and now - self.last_report > 0.2 * self.options.interval:
            self.report_interval(now)
        else:
            self._take_latencies()

    def count_left(self, message_count: int) -> bool:
        """One reading of the queue's message count at the end; True once it is final.
        The broker routes another connection's publishes and requeues a closed consumer's
        unacknowledged messages asynchronously, so the count is read every
        :data:`COUNT_EVERY` s until two readings agree (at most :data:`COUNT_READINGS`)."""
        self._readings.append(message_count)
        self.left_in_queue = message_count
        readings = self._readings
        return len(readings) >= COUNT_READINGS or (len(readings) >= 2 and
                                                    readings[-1] == readings[-2])

    # -- reporting -----------------------------------------------------------------------------

    def totals(self) -> Dict[str, int]:
        producers, consumers = self.producers, self.consumers
        return {
            "published": sum(p.seq for p in producers),
            "confirmed": sum(p.confirmed for p in producers),
            "nacked": sum(p.nacked for p in producers),
            "returned": sum(p.returned for p in producers),
            "unconfirmed": sum(p.outstanding + p.failed for p in producers)
            if self.options.confirm else 0,
            "received": sum(c.received for c in consumers),
            "unique": self.unique(),
            "duplicates": self.checker.duplicates,
            "out_of_order": self.checker.out_of_order,
            "gaps": len(self.checker.missing),
            "foreign": sum(c.foreign for c in consumers),
        }

    def _take_latencies(self) -> List[int]:
        samples: List[int] = []
        for consumer in self.consumers:
            taken, consumer.latencies = consumer.latencies, []
            samples.extend(taken)
        self.histogram.add(samples)
        return samples

    def report_interval(self, now: float) -> None:
        totals = self.totals()
        elapsed = max(now - self.last_report, 1e-9)
        rates = {name: (totals[name] - self.last_totals[name]) / elapsed for name in COUNTERS}
        self.last_totals = {name: totals[name] for name in COUNTERS}
        self.last_report = now
        latency = latency_summary(self._take_latencies())
        self.intervals.append({"t": round(now - self.started, 3),
                               **{name: round(rate, 1) for name, rate in rates.items()},
                               "latency_ms": latency})
        ident = f"id: {self.options.id}, " if self.options.id else ""
        lat = "/".join("-" if latency[k] is None else f"{latency[k]:.3g}"
                       for k in ("min", "median", "p95", "p99"))
        print(f"{ident}time {now - self.started:.1f} s, sent: {rates['published']:.0f} msg/s, "
              f"confirmed: {rates['confirmed']:.0f} msg/s, nacked: {rates['nacked']:.0f} msg/s,"
              f" returned: {rates['returned']:.0f} msg/s, received: {rates['received']:.0f} "
              f"msg/s, min/median/95th/99th consumer latency: {lat} ms",
              file=self.out, flush=True)

    def problems(self) -> List[str]:
        """What does not add up (empty: the counts are consistent)."""
        t = self.totals()
        options = self.options
        found: List[str] = []
        settled = t["confirmed"] + t["nacked"] + t["returned"]
        if options.confirm and settled + t["unconfirmed"] != t["published"]:
            found.append(f"publishes and outcomes differ: {t['published']} published, "
                         f"{settled} settled (confirmed + nacked + returned), "
                         f"{t['unconfirmed']} unconfirmed")
        if t["unique"] > t["published"] and options.producers:
            found.append(f"received {t['unique']} distinct messages of this run but only "
                         f"{t['published']} were published")
        if t["duplicates"]:
            found.append(f"{t['duplicates']} duplicate deliveries (the same producer and "
                         "sequence number received again)")
        fresh = self.queue_was_empty and not options.predeclared
        if t["foreign"] and fresh:
            found.append(f"{t['foreign']} messages not from this run arrived in a queue this "
                         "run declared empty")
        left = self.left_in_queue
        if options.producers and options.consumers and fresh and left is not None:
            expected = t["confirmed"] if options.confirm else t["published"] - t["returned"]
            accounted = t["unique"] + left
            if accounted < expected:
                what = "confirmed" if options.confirm else "published (and not returned)"
                found.append(f"{expected - accounted} {what} messages were neither received "
                             f"nor left in the queue ({t['unique']} received, {left} left)")
            if accounted > t["published"]:
                found.append(f"{accounted} messages received or left in the queue, more than "
                             f"the {t['published']} published")
        elif options.producers and options.consumers and t["gaps"]:
            explained = t["nacked"] + t["returned"] + t["unconfirmed"] + (left or 0)
            if t["gaps"] > explained:
                found.append(f"{t['gaps']} sequence gaps (later messages of a producer arrived, "
                             f"these never did) with only {explained} nacked, returned, "
                             "unconfirmed or left in the queue")
        return found

    def result(self) -> Dict[str, Any]:
        """The JSON report (schema in docs/perf-tool.md; keys are stable)."""
        t = self.totals()
        end = self.ended if self.ended is not None else self.clock()
        duration = max(end - self.started, 1e-9)
        h = self.histogram
        problems = self.problems()
        return {
            "schema": SCHEMA,
            "id": self.options.id,
            "flavour": {"loop": self.options.loop, "api": self.options.api},
            "options": self.options.as_dict(),
            "queue": self.plan.queue,
            "duration_s": round(duration, 3),
            "stopped_by": self.stop_reason,
            "totals": {**t, "left_in_queue": self.left_in_queue},
            "rates": {f"{name}_per_s": round(t[name] / duration, 1) for name in COUNTERS},
            "latency_ms": {"min": _ms(h.min), "median": _ms(h.percentile(0.5)),
                           "p95": _ms(h.percentile(0.95)), "p99": _ms(h.percentile(0.99)),
                           "max": _ms(h.max), "samples": h.total},
            "intervals": self.intervals,
            "checks": {"ok": not problems, "problems": problems},
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "cleanup": dict(self.cleanup),
        }

    def summary(self, result: Dict[str, Any]) -> str:
        """The final table, for people."""
        t, rates, lat = result["totals"], result["rates"], result["latency_ms"]
        lines = [f"amqpbase-perf {self.options.flavour}"
                 + (f" id {self.options.id}" if self.options.id else "")
                 + f": {result['duration_s']:.2f} s, stopped by {result['stopped_by']}, "
                   f"queue {result['queue']}",
                 f"  {'':<14}{'total':>12}{'msg/s':>12}"]
        for name in ("published", "confirmed", "nacked", "returned", "received"):
            lines.append(f"  {name:<14}{t[name]:>12}{rates[name + '_per_s']:>12.0f}")
        for name, label in (("unconfirmed", "unconfirmed"), ("duplicates", "duplicates"),
                            ("out_of_order", "out of order"), ("gaps", "gaps"),
                            ("foreign", "foreign"), ("left_in_queue", "left in queue")):
            value = t[name]
            lines.append(f"  {label:<14}{'-' if value is None else value:>12}")
        if lat["samples"]:
            lines.append(f"  consumer latency ms: min {lat['min']} median {lat['median']} "
                         f"95th {lat['p95']} 99th {lat['p99']} max {lat['max']} "
                         f"({lat['samples']} samples)")
        for error in result["errors"]:
            lines.append(f"  error: {error}")
        for warning in result["warnings"]:
            lines.append(f"  note: {warning}")
        if result["errors"]:
            lines.append("  check: not trusted, the run failed (the counts may be partial)")
        if result["checks"]["ok"]:
            if not result["errors"]:
                lines.append("  check: OK, the counts add up")
        else:
            for problem in result["checks"]["problems"]:
                lines.append(f"  WARNING: {problem}")
        return "\n".join(lines)
