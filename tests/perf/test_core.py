"""The measurement core without a broker: the token bucket, the confirm window, outcome
classification, the sequence checks, percentiles, the stop rules and what the correctness
check reports (driven with a hand-moved clock)."""

from __future__ import annotations

import io
import struct
import time
from typing import List

from amqpbase import exceptions, spec
from amqpbase.perf.core import BATCH, Histogram, Run, SequenceChecker, TokenBucket
from amqpbase.perf.options import parse


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_run(*argv: str) -> "tuple[Run, Clock]":
    clock = Clock()
    return Run(parse(list(argv)), out=io.StringIO(), clock=clock), clock


def test_token_bucket_rate_and_burst() -> None:
    bucket = TokenBucket(1000.0, now=0.0)
    assert bucket.take(0.0, 100) == 1  # one token to start with
    assert bucket.take(0.0, 100) == 0
    assert bucket.delay() == 0.002  # 1 ms to the next token, but never a timer under 2 ms
    sent = sum(bucket.take(t / 1000, 100) for t in range(1, 1001))  # 1 s of 1 ms ticks
    assert 990 <= sent <= 1001
    # A late timer (1 s of silence) saves up at most 50 ms worth.
    assert bucket.take(2.0, 10_000) == 50


def test_allowance_window_count_and_stop() -> None:
    run, clock = make_run("-C", "250", "-c", "30")
    producer = run.producers[0]
    assert producer.allowance(clock()) == (30, 0.0)
    producer.outstanding = 30
    assert producer.allowance(clock()) == (0, None) and producer.waiting
    resumed: List[bool] = []
    producer.resume = lambda: resumed.append(True)
    producer.settle(spec.Basic.Ack(1))
    assert resumed == [True] and not producer.waiting and producer.confirmed == 1
    producer.outstanding = 0
    producer.window = 0
    producer.seq = 200
    assert producer.allowance(clock()) == (50, 0.0)  # the rest of the count
    producer.seq = 250
    assert producer.allowance(clock()) == (0, None) and producer.finished
    producer.seq, producer.limit = 0, 0
    assert producer.allowance(clock()) == (BATCH, 0.0)
    producer.stopping = True
    assert producer.allowance(clock()) == (0, None)


def test_outcomes_are_classified() -> None:
    run, _clock = make_run("-c", "10")
    producer = run.producers[0]
    producer.outstanding = 4
    producer.settle(spec.Basic.Ack(1))
    producer.settle(exceptions.NackError([]))
    producer.settle(exceptions.UnroutableError([]))
    producer.settle(exceptions.ChannelClosedByBroker(404, "NOT_FOUND"))
    assert (producer.confirmed, producer.nacked, producer.returned, producer.failed) == \
        (1, 1, 1, 1)
    assert producer.outstanding == 0


def test_body_carries_sequence_and_send_time() -> None:
    run, _clock = make_run("-s", "100")
    producer = run.producers[0]
    before = time.time_ns()
    body = producer.next_body()
    assert len(body) == 100
    run_id, number, seq, sent = struct.unpack_from(">IIQQ", body)
    assert (run_id, number, seq) == (run.plan.run_id, 0, 1)
    assert before <= sent <= time.time_ns()
    consumer = run.consumers[0]
    assert consumer.record(body) is False
    assert consumer.received == 1 and len(consumer.latencies) == 1 and consumer.foreign == 0
    assert consumer.record(b"not ours") is False
    assert consumer.foreign == 1


def test_sequence_checker() -> None:
    checker = SequenceChecker()
    for seq in (1, 2, 4, 5, 3, 3, 7):
        checker.see(0, seq)
    checker.see(1, 1)
    assert checker.unique == 7
    assert checker.duplicates == 1  # the second 3
    assert checker.out_of_order == 1  # 3 after 5
    assert checker.missing == {(0, 6)}


def test_histogram_percentiles() -> None:
    histogram = Histogram()
    histogram.add(list(range(1, 101)))
    assert histogram.min == 1 and histogram.max == 100 and histogram.total == 100
    assert histogram.percentile(0.5) == 50
    p99 = histogram.percentile(0.99)
    assert p99 is not None and 96 <= p99 <= 99  # 5 significant bits: within 3 %


def test_stop_rules() -> None:
    run, clock = make_run("-C", "10", "-c", "5")
    run.begin()
    producer = run.producers[0]
    assert run.poll() is False
    producer.seq = producer.confirmed = 10
    assert run.poll() is False  # the consumer has not received them yet
    clock.now += 5.1  # DRAIN_GRACE later
    assert run.poll() is True
    assert run.stop_reason is not None and run.stop_reason.startswith("count (consumers")
    assert producer.stopping

    run, clock = make_run("-z", "2")
    run.begin()
    clock.now += 1.0
    assert run.poll() is False
    clock.now += 1.0
    assert run.poll() is True and run.stop_reason == "time"

    run, clock = make_run()
    run.begin()
    run.request_stop()
    assert run.poll() is True and run.stop_reason == "signal"


def test_live_line() -> None:
    run, clock = make_run("-d", "t1")
    run.begin()
    run.producers[0].seq = 500
    run.consumers[0].latencies.extend([1_000_000, 2_000_000, 3_000_000])
    clock.now += 1.0
    run.poll()
    line = run.out.getvalue()  # type: ignore[attr-defined]
    assert line.startswith("id: t1, time 1.0 s, sent: 500 msg/s, confirmed: 0 msg/s")
    assert line.rstrip().endswith("min/median/95th/99th consumer latency: 1/2/3/3 ms")


def consistent_run(received: int = 10) -> Run:
    """10 published and confirmed, the first ``received`` of them received, none left."""
    run, _clock = make_run("-C", "10", "-c", "5")
    run.queue_was_empty = True
    run.left_in_queue = 0
    producer = run.producers[0]
    bodies = [producer.next_body() for _ in range(10)]
    for body in bodies[:received]:
        run.consumers[0].record(body)
    producer.confirmed = 10
    return run


def test_consistent_counts_pass() -> None:
    assert consistent_run().problems() == []


def test_check_catches_more_outcomes_than_publishes() -> None:
    run = consistent_run()
    run.producers[0].confirmed = 11
    assert run.problems()[0].startswith("publishes and outcomes differ: 10 published, 11 settled")


def test_check_catches_lost_messages() -> None:
    run = consistent_run(received=7)
    assert "3 confirmed messages were neither received nor left in the queue" in \
        run.problems()[0]


def test_check_catches_duplicates_and_foreign_messages() -> None:
    run = consistent_run()
    producer = run.producers[0]
    producer.seq = 4
    run.consumers[0].record(producer.next_body())  # sequence 5 again
    run.consumers[0].record(b"x" * 40)
    producer.seq = 10
    problems = run.problems()
    assert any(p.startswith("1 duplicate deliveries") for p in problems), problems
    assert any(p.startswith("1 messages not from this run") for p in problems), problems


def test_check_catches_gaps_when_the_queue_cannot_be_counted() -> None:
    run, _clock = make_run("-C", "10", "-c", "5", "--queue-type", "stream", "-q", "5")
    producer = run.producers[0]
    bodies = [producer.next_body() for _ in range(10)]
    producer.confirmed = 10
    for body in bodies[:4] + bodies[6:]:
        run.consumers[0].record(body)
    assert run.problems() == [
        "2 sequence gaps (later messages of a producer arrived, these never did) with only 0 "
        "nacked, returned, unconfirmed or left in the queue"]


def test_result_schema_keys() -> None:
    run = consistent_run()
    run.finish()
    result = run.result()
    assert set(result) == {"schema", "id", "flavour", "options", "queue", "duration_s",
                           "stopped_by", "totals", "rates", "latency_ms", "intervals",
                           "checks", "errors", "warnings", "cleanup"}
    assert result["schema"] == "amqpbase-perf/1"
    assert set(result["totals"]) == {"published", "confirmed", "nacked", "returned",
                                     "unconfirmed", "received", "unique", "duplicates",
                                     "out_of_order", "gaps", "foreign", "left_in_queue"}
    assert set(result["latency_ms"]) == {"min", "median", "p95", "p99", "max", "samples"}
    assert "check: OK, the counts add up" in run.summary(result)
